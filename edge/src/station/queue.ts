/**
 * The station's one bounded queue in front of its model: frames wait here, at most `concurrency`
 * are inspected at once, and a frame that finds the queue full (or the process's frame memory at
 * its cap) is not inspected: it goes to review as `overload`. An inspection comes to a typed
 * outcome, scored or failed with its reason; either way the part is concluded (conclude.ts).
 */
import type { Result } from '../../../contract/payloads.ts';
import { rule } from '../decide/policy.ts';
import { InspectionError } from '../reasons.ts';
import { conclude } from './conclude.ts';
import type { ReviewDesk } from './desk.ts';
import type { Frame, Inspection, Inspector, StationCore } from './types.ts';

interface Waiting {
  frame: Frame;
  resolve: (result: Promise<Result>) => void;
}

export class InspectionQueue {
  private readonly waiting: Waiting[] = [];
  private running = 0;
  private full = false;
  /** frames being inspected, per model: a swapped-out model is closed when its count reaches zero */
  private readonly onModel = new Map<Inspector, number>();

  constructor(
    private readonly core: StationCore,
    private readonly desk: ReviewDesk,
  ) {}

  /** frames waiting, not yet handed to the model */
  get queued(): number {
    return this.waiting.length;
  }

  /** frames waiting or being inspected */
  get depth(): number {
    return this.waiting.length + this.running;
  }

  get overloaded(): boolean {
    return this.full;
  }

  /** Inspects a frame in its turn and concludes it; a frame that cannot wait is concluded as `overload`. */
  enqueue(frame: Frame): Promise<Result> {
    const { frameBytes, config, log } = this.core.deps;
    const overload = (detail: string) =>
      conclude(this.core, this.desk, frame, {
        kind: 'failed',
        reason: 'overload',
        detail,
        startedAt: performance.now(),
      });
    if (frameBytes && !frameBytes.take(frame.image.length)) {
      log.warn(
        { partId: frame.partId, bytes: frame.image.length, inUse: frameBytes.inUse },
        'frames in memory at their cap; part sent to review without inspection',
      );
      return overload(`frames in memory at their cap (${frameBytes.capacity} bytes)`);
    }
    if (this.waiting.length >= config.queue.maxDepth) {
      frameBytes?.give(frame.image.length);
      if (!this.full) {
        this.full = true;
        this.core.publishStatus();
      }
      log.warn(
        { partId: frame.partId, queueDepth: this.waiting.length },
        'queue full; part sent to review without inspection',
      );
      return overload(`station queue full (${config.queue.maxDepth} frames waiting)`);
    }
    return new Promise((resolve) => {
      this.waiting.push({ frame, resolve });
      this.pump();
    });
  }

  /** Resolves once no frame is on `model` any more (frames already handed to it finish on it). */
  async drained(model: Inspector): Promise<void> {
    // Only the frames already on the model are waited for, not the queue, which may never empty.
    while ((this.onModel.get(model) ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    this.onModel.delete(model);
  }

  private pump(): void {
    const { config, frameBytes } = this.core.deps;
    while (this.running < config.queue.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as Waiting;
      this.running += 1;
      const concluded = this.inspect(next.frame).then((inspection) => this.concludeOnce(next.frame, inspection));
      next.resolve(concluded);
      void concluded
        .catch(() => undefined) // the part's caller has the rejection
        .finally(() => {
          this.running -= 1;
          frameBytes?.give(next.frame.image.length);
          if (this.full && this.waiting.length === 0) {
            this.full = false;
            this.core.publishStatus();
          }
          this.pump();
        });
    }
  }

  /** Concludes a scored part; one whose record fails on the way is concluded again as `model_error`. */
  private async concludeOnce(frame: Frame, inspection: Inspection): Promise<Result> {
    try {
      return await conclude(this.core, this.desk, frame, inspection);
    } catch (error) {
      if (inspection.kind !== 'scored') throw error;
      const detail = (error as Error).message;
      this.core.deps.log.warn(
        { partId: frame.partId, reason: 'model_error', err: detail },
        'part could not be inspected; sent to review',
      );
      return conclude(this.core, this.desk, frame, {
        kind: 'failed',
        reason: 'model_error',
        detail,
        startedAt: inspection.startedAt,
      });
    }
  }

  /** Scores a frame and rules on the score; answers why not when it cannot. Never throws. */
  private async inspect(frame: Frame): Promise<Inspection> {
    const startedAt = performance.now();
    const { qualityGate, config, imageDir, log } = this.core.deps;
    const model = this.core.model(); // the model this frame is inspected by, even if a swap happens meanwhile
    try {
      if (frame.unfit) throw new InspectionError(frame.unfit.reason, frame.unfit.detail);
      this.onModel.set(model, (this.onModel.get(model) ?? 0) + 1);
      // The audit draw comes first, so the inspector knows which scores keep evidence: from
      // pass_below up, or any score of a part drawn for audit.
      const draw = this.core.random();
      const thresholds = this.core.thresholds();
      const evidence = {
        dir: imageDir,
        partId: frame.partId,
        thresholds,
        from: draw < config.audit.share ? -Infinity : thresholds.passBelow,
      };
      // The model's worker checks the frame's quality on its own decode and refuses an unfit one unscored.
      const inspection = qualityGate
        ? qualityGate.watch(model.manifest.quality, model.inspect(frame.image, evidence, { quality: true }))
        : model.inspect(frame.image, evidence);
      const measured = await inspection.finally(() => this.onModel.set(model, (this.onModel.get(model) ?? 1) - 1));
      const ruling = rule(
        measured.score,
        { thresholds: this.core.thresholds(), autoReject: config.autoReject, auditShare: config.audit.share },
        draw,
      );
      return {
        kind: 'scored',
        score: measured.score,
        ruling,
        measured,
        scoredBy: { id: model.manifest.id, version: String(model.manifest.version) },
        startedAt,
      };
    } catch (error) {
      const reason = error instanceof InspectionError ? error.code : 'model_error';
      const detail = (error as Error).message;
      log.warn({ partId: frame.partId, reason, err: detail }, 'part could not be inspected; sent to review');
      return { kind: 'failed', reason, detail, startedAt };
    }
  }
}
