/**
 * Where a frame enters the station, from any ingest source: the same frame again answers its result
 * again, a new frame under an id already answered is a new part (its result says what it replaces),
 * and a frame under an id still being inspected or waiting for a person is refused. A part is taken
 * (on disk) before it is queued; when the disk cannot take it, it is answered fail-safe.
 */
import type { Result } from '../../../contract/payloads.ts';
import { PartIdInUse, PartMemory } from '../parts/memory.ts';
import { StorageFull } from '../storage/health.ts';
import { unrecorded } from './conclude.ts';
import type { ReviewDesk } from './desk.ts';
import type { InspectionQueue } from './queue.ts';
import type { FrameWaits } from './triggers.ts';
import type { Frame, StationCore } from './types.ts';

interface InFlight {
  pending: Promise<Result>;
  fingerprint: string | null;
  requestId?: string;
}

export class Intake {
  private readonly inFlight = new Map<string, InFlight>();

  constructor(
    private readonly core: StationCore,
    private readonly desk: ReviewDesk,
    private readonly queue: InspectionQueue,
    private readonly waits: FrameWaits,
  ) {}

  /**
   * Inspects one frame and resolves with its result. The same frame delivered again (same part id,
   * same bytes) answers its result again; a different frame under an id already answered is a new
   * part and is inspected. Rejects with PartIdInUse while another frame under the id is being
   * inspected or waits for a person. A frame a trigger waits for is handed to it: the trigger's
   * inspection answers both.
   */
  submit(frame: Frame): Promise<Result> {
    if (this.waits.handOver(frame)) return this.inFlight.get(frame.partId)?.pending ?? this.inspectOnce(frame);
    return this.inspectOnce(frame);
  }

  /** The part under `partId` being inspected now, if any. */
  current(partId: string): InFlight | undefined {
    return this.inFlight.get(partId);
  }

  /** Why a new frame under `partId` cannot be taken now: another is in inspection or waits for a person. */
  inUse(partId: string): PartIdInUse | null {
    if (this.inFlight.has(partId) || this.waits.has(partId)) return new PartIdInUse(partId, 'inspecting');
    if (this.desk.isOpen(partId)) return new PartIdInUse(partId, 'review');
    return null;
  }

  /**
   * Takes a part (on disk before the message that brought it is acknowledged); false when the disk
   * is full: nothing about the part can be recorded, and it is answered fail-safe without inspection.
   */
  take(partId: string, source: string): boolean {
    if (this.core.storage.state === 'full') return false;
    try {
      this.core.deps.link.take(partId, source);
      return true;
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      this.core.storage.full('the parts in hand', error);
      return false;
    }
  }

  /** Remembers a part while it is inspected (its answer is remembered when it is concluded). */
  track(partId: string, fingerprint: string | null, requestId: string | undefined, pending: Promise<Result>): void {
    this.inFlight.set(partId, { pending, fingerprint, requestId });
    void pending.then(
      () => this.inFlight.delete(partId),
      () => this.inFlight.delete(partId),
    );
  }

  enqueue(frame: Frame): Promise<Result> {
    return this.queue.enqueue(frame);
  }

  private inspectOnce(frame: Frame): Promise<Result> {
    const { link, log } = this.core.deps;
    const fingerprint = PartMemory.fingerprint(frame.image);
    const seen = this.core.parts.forFrame(frame.partId, fingerprint);
    if (seen.kind === 'again') {
      log.info({ partId: frame.partId, source: frame.source }, 'same frame received again; answering its result again');
      // Over MQTT the answer is the result topic (a frame sent again by the broker, or by a PLC that
      // missed the result); over HTTP it is the response.
      if (frame.source === 'mqtt') link.publishResult(seen.result);
      return Promise.resolve(seen.result);
    }
    const inFlight = this.inFlight.get(frame.partId);
    if (inFlight && inFlight.fingerprint === fingerprint) return inFlight.pending; // its result is published once, when it is concluded
    const refused = this.inUse(frame.partId);
    if (refused) {
      if (frame.source === 'mqtt')
        link.refuse(link.frameTopic(frame.partId), refused.code, refused.message, frame.partId);
      else log.warn({ partId: frame.partId, source: frame.source }, refused.message);
      return Promise.reject(refused);
    }
    if (seen.replaces)
      log.info(
        { partId: frame.partId, source: frame.source, earlier: seen.replaces.at },
        'new frame under a part id already answered; inspecting it',
      );
    if (!this.take(frame.partId, frame.source))
      return Promise.resolve(unrecorded(this.core, { ...frame, fingerprint }, { startedAt: frame.receivedAt }));
    const pending = this.queue.enqueue({ ...frame, replaces: seen.replaces, fingerprint });
    this.track(frame.partId, fingerprint, undefined, pending);
    return pending;
  }
}
