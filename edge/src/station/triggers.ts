/**
 * Trigger pairing, the PLC handshake: a trigger is acknowledged at once and gets exactly one result
 * for its part id. Its frame comes from the station's camera, or is waited for (the frame sent under
 * the same part id) until `trigger.frameTimeoutMs`; a frame that does not come sends the part to
 * review as `missing_frame`, a camera that fails as its reason (`camera_lost`). The same trigger
 * again (its requestId, or the broker's redelivery) answers that result again.
 */
import type { Result, Trigger } from '../../../contract/payloads.ts';
import { PartMemory } from '../parts/memory.ts';
import { InspectionError, type ReasonCode } from '../reasons.ts';
import { conclude, unrecorded } from './conclude.ts';
import type { ReviewDesk } from './desk.ts';
import type { Intake } from './intake.ts';
import type { Camera, Frame, Part, StationCore } from './types.ts';

/** The triggers waiting for their frame, by part id. */
export class FrameWaits {
  private readonly waiting = new Map<string, { timer: NodeJS.Timeout; resolve: (frame: Frame | null) => void }>();

  has(partId: string): boolean {
    return this.waiting.has(partId);
  }

  /** Resolves with the frame sent for `partId`, or null when none came within `timeoutMs`. */
  wait(partId: string, timeoutMs: number): Promise<Frame | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(partId);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(partId, { timer, resolve });
    });
  }

  /** Hands a frame to the trigger waiting for it; false when none waits. */
  handOver(frame: Frame): boolean {
    const waiting = this.waiting.get(frame.partId);
    if (!waiting) return false;
    this.waiting.delete(frame.partId);
    clearTimeout(waiting.timer);
    waiting.resolve(frame);
    return true;
  }

  stop(): void {
    for (const waiting of this.waiting.values()) clearTimeout(waiting.timer);
  }
}

export class TriggerPairing {
  constructor(
    private readonly core: StationCore,
    private readonly desk: ReviewDesk,
    private readonly intake: Intake,
    private readonly waits: FrameWaits,
    private readonly camera: Camera | null,
  ) {}

  trigger(trigger: Trigger, redelivered = false): Promise<Result> {
    const { partId, requestId } = trigger;
    const { link, config } = this.core.deps;
    const seen = this.core.parts.forTrigger(partId, requestId, redelivered);
    const inFlight = this.intake.current(partId);
    if (
      seen.kind === 'again' ||
      (inFlight && (redelivered || requestId === undefined || inFlight.requestId === requestId))
    ) {
      link.ackTrigger(partId, requestId, 'answered');
      return Promise.resolve(
        seen.kind === 'again' ? seen.result : (inFlight as { pending: Promise<Result> }).pending,
      ).then((result) => {
        link.publishResult(result);
        return result;
      });
    }
    const refused = this.intake.inUse(partId);
    if (refused) {
      link.refuse(link.triggerTopic, refused.code, refused.message, partId, requestId);
      return Promise.reject(refused);
    }
    const receivedAt = performance.now();
    const part: Part = { partId, source: 'trigger', receivedAt, requestId };
    if (!this.intake.take(partId, 'trigger'))
      return Promise.resolve(unrecorded(this.core, part, { startedAt: receivedAt }));
    link.ackTrigger(partId, requestId, 'accepted');
    const replaces = seen.replaces;
    const frame: Promise<Frame | null> = this.camera
      ? this.camera.capture(partId).then((image) => ({ partId, image, source: 'trigger' as const, receivedAt }))
      : this.waits.wait(partId, config.trigger.frameTimeoutMs);
    const missing = (detail: string, reason: ReasonCode = 'missing_frame') =>
      conclude(this.core, this.desk, { ...part, replaces }, { kind: 'failed', reason, detail, startedAt: receivedAt });
    const pending = frame.then(
      (frame) => {
        if (!frame) return missing(`no frame arrived within ${config.trigger.frameTimeoutMs} ms of the trigger`);
        const fingerprint = PartMemory.fingerprint(frame.image);
        const inFlight = this.intake.current(partId);
        if (inFlight) inFlight.fingerprint = fingerprint; // the same frame sent again meanwhile joins this inspection
        return this.intake.enqueue({ ...frame, requestId, replaces, fingerprint });
      },
      (error: unknown) =>
        missing(
          `camera failed: ${(error as Error).message}`,
          error instanceof InspectionError ? error.code : 'missing_frame',
        ),
    );
    this.intake.track(partId, null, requestId, pending);
    return pending;
  }
}
