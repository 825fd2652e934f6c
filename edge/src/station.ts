/**
 * One station: frames from every ingest source go through one bounded queue, are inspected by the
 * model, decided by the policy and published on the bus. Reviews wait for a person until their
 * deadline. Every part gets exactly one result, whatever goes wrong.
 */
import type { FrameBytes } from './ingest/frame-bytes.ts';
import { whatIf, type WhatIf } from './review/what-if.ts';
import type { DriftWatch } from './review/drift.ts';
import type { SecondOpinions } from './review/second.ts';
import { featuresOf, type CategoryBook, type Suggestion, type SuggestionAccuracy } from './review/suggest.ts';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { StationConfig, Thresholds } from '../../config/schema.ts';
import type { Decision as DecisionMessage, Drift, Reason, Result, Review, Status, Trigger, VerdictMessage } from '../../contract/payloads.ts';
import { decide, failSafe, type Decision } from './decide/policy.ts';
import { InspectionError, type ReasonCode } from './reasons.ts';
import type { QualityGate, QualityRanges } from './vision/quality.ts';
import { ReviewBook, type Closing } from './review/book.ts';
import type { ReviewStore } from './review/store.ts';
import { propose, type Proposal } from './decide/calibrate.ts';
import type { ThresholdHistory, ThresholdVersion } from './decide/thresholds.ts';
import type { StationLink } from './bus/link.ts';
import type { EdgeMetrics } from './health/metrics.ts';
import type { DefectLog } from './log/defect-log.ts';
import { SOFTWARE_VERSION } from './software.ts';
import { keepEvidenceSync, type EvidenceRequest, type Kept } from './evidence/files.ts';
import { PartIdInUse, PartMemory, type Seen } from './parts/memory.ts';
import type { StationObserver } from './integrations/observer.ts';
import { StorageFull, StorageHealth } from './storage/health.ts';

/** What the station needs from a loaded model (edge/src/vision/model.ts provides it). */
export interface Inspector {
  readonly manifest: { id: string; version: string | number; thresholds: Thresholds; quality?: QualityRanges };
  /**
   * `evidence`: keep the part's frame and map when its score reaches `from`, if this inspector can
   * (an inspection worker can; it then answers what it kept and no map). Others ignore it.
   */
  inspect(image: Buffer, evidence?: EvidenceRequest): Promise<Measured & { score: number }>;
}

/** What an inspection measured: its timings and, when the model ran, the anomaly map. */
export interface Measured {
  score?: number;
  decodeMs: number;
  inferMs: number;
  map?: Float32Array;
  mapWidth?: number;
  mapHeight?: number;
  /** the evidence the inspector kept itself */
  kept?: Kept;
  /** the anomaly map's features for category suggestions, when the inspector kept the map itself */
  features?: number[];
}

/**
 * Something that can take a picture on demand (the synthetic camera, edge/src/cameras/). A camera
 * that cannot answer rejects with an InspectionError whose code is the part's reason (`camera_lost`).
 */
export interface Camera {
  capture(partId: string): Promise<Buffer>;
}

export interface Frame {
  partId: string;
  image: Buffer;
  source: 'http' | 'folder' | 'mqtt' | 'synthetic' | 'trigger' | 'camera';
  receivedAt: number;
  /** the trigger's requestId, echoed in the result and the model's verdict */
  requestId?: string;
  /** the earlier answer under this part id that this frame's result replaces */
  replaces?: Result;
  /** the frame's fingerprint (edge/src/parts/memory.ts), kept with its answer to tell a redelivery */
  fingerprint?: string;
  /** set when the frame must not be scored (a frame no trigger matched): the part goes to review with this reason */
  unfit?: { reason: ReasonCode; detail: string };
}

interface Waiting {
  frame: Frame;
  resolve: (result: Result) => void;
}

export class Station {
  readonly id: string;
  private readonly book = new ReviewBook();
  /** every part's last answer, kept for a window (edge/src/parts/memory.ts) */
  private readonly parts: PartMemory;
  /** whether the disk still records (edge/src/storage/health.ts) */
  readonly storage: StorageHealth;
  /** reviews decided while the disk was full, whose verdict waits for space (their decision is on disk) */
  private readonly unannounced: (Closing & { requestId?: string })[] = [];
  private readonly inFlight = new Map<string, { pending: Promise<Result>; fingerprint: string | null; requestId?: string }>();
  private readonly awaitingFrame = new Map<string, { timer: NodeJS.Timeout; resolve: (frame: Frame | null) => void }>();
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  private readonly queue: Waiting[] = [];
  private running = 0;
  private overloaded = false;
  private lastFrameAt: number | null = null;
  /** frames being inspected, per model: a swapped-out model is closed when its count reaches zero */
  private readonly onModel = new Map<Inspector, number>();
  private statusTimer: NodeJS.Timeout | null = null;
  camera: Camera | null = null;
  metrics: EdgeMetrics | null = null;
  /** the process-wide cap on bytes of frames in memory (ingest/frame-bytes.ts) */
  frameBytes: FrameBytes | null = null;
  /** checks that a frame is fit to be scored against the model's quality ranges (edge/src/vision/quality.ts) */
  qualityGate: QualityGate | null = null;
  /** status fields owned by other units (camera health, image quality alert) */
  statusExtras: (() => Partial<Status>) | null = null;
  /** where every result, human decision and final verdict is logged for quality managers */
  defectLog: Pick<DefectLog, 'result' | 'decision' | 'verdict'> | null = null;
  /** integrations besides the MQTT contract (OPC UA, Sparkplug B): told of each result and final verdict */
  readonly observers = new Set<StationObserver>();

  constructor(
    private readonly config: StationConfig,
    private readonly line: string,
    private model: Inspector,
    private readonly link: StationLink,
    private readonly imageDir: string,
    private readonly state: { reviews: ReviewStore; thresholds: ThresholdHistory; parts?: PartMemory; storage?: StorageHealth; drift?: DriftWatch; categories?: CategoryBook; second?: SecondOpinions },
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.id = config.id;
    this.parts = state.parts ?? new PartMemory(null);
    this.storage = state.storage ?? new StorageHealth(null);
    this.storage.onChange((storage) => {
      this.link.publishStatus(this.status('online'));
      if (storage === 'ok') this.announceHeld();
    });
  }

  /** In force: the last approved version, else the configuration, else the model's proposal. */
  get thresholds(): Thresholds {
    const approved = this.state.thresholds.current;
    if (approved) return { passBelow: approved.passBelow, rejectAbove: approved.rejectAbove };
    return this.config.thresholds ?? this.model.manifest.thresholds;
  }

  /** Proposes thresholds from people's decisions; nothing changes until someone approves. */
  proposal(): Proposal {
    const closings = this.state.reviews.closings(30);
    // Learnt from the settled answer where two people disagreed.
    return propose(this.state.second?.learnFrom(closings) ?? closings, this.thresholds, this.state.reviews.scoreHistogram(), { auditShare: this.config.audit.share });
  }

  /** What other thresholds would have done to the decided history; nothing changes. */
  whatIf(ask: { passBelow?: number; rejectAbove?: number; steps?: number }): WhatIf {
    return whatIf(this.id, this.state.reviews.closings(30), this.thresholds, this.state.reviews.scoreHistogram(), { ...ask, auditShare: this.config.audit.share });
  }

  approveThresholds(thresholds: Thresholds, approvedBy: string, basis?: string): ThresholdVersion {
    const version = this.state.thresholds.approve(thresholds, approvedBy, basis);
    this.state.drift?.rebase(); // other thresholds pass other parts: the drift reference starts again
    this.log.info({ thresholds, approvedBy, version: version.version }, 'thresholds changed');
    this.link.publishStatus(this.status('online'));
    return version;
  }

  get thresholdVersions(): ThresholdVersion[] {
    return this.state.thresholds.versions;
  }

  /**
   * Swaps the model between two frames: frames already handed to the old model finish on it, every
   * later frame goes to the new one; none is dropped or scored twice.
   */
  async swapModel(next: Inspector & { close(): Promise<void> }): Promise<void> {
    const previous = this.model as Inspector & { close?: () => Promise<void> };
    this.model = next;
    this.state.drift?.rebase(); // another model's scores do not compare with the old one's
    this.log.info({ from: previous.manifest.id + '@' + previous.manifest.version, to: next.manifest.id + '@' + next.manifest.version }, 'model swapped');
    this.link.publishStatus(this.status('online'));
    // Only the frames already on the old model are waited for, not the queue, which may never empty.
    while ((this.onModel.get(previous) ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    this.onModel.delete(previous);
    await previous.close?.();
  }

  /** Part ids of the reviews waiting for a person (their images must stay). */
  openPartIds(): string[] {
    return this.book.pending().map((review) => review.partId);
  }

  get connected(): boolean {
    return this.link.connected;
  }

  get modelRef(): { id: string; version: string } {
    return refOf(this.model);
  }

  async start(): Promise<void> {
    await mkdir(this.imageDir, { recursive: true });
    // What was decided and what was waiting before a restart comes back first.
    for (const closing of this.state.reviews.closings()) {
      this.book.remember(closing);
      if (closing.result) this.parts.seed(closing.partId, closing.result);
    }
    const now = Date.now();
    for (const review of this.state.reviews.openReviews()) {
      this.book.openReview(review);
      if (review.result) this.parts.seed(review.partId, review.result);
      // Published again: a broker that lost its retained messages (or a dashboard that never saw them) learns of it.
      if (review.message) this.link.publishReview(review.message);
      this.deadlines.set(review.partId, setTimeout(() => this.expire(review.partId), Math.max(0, review.deadline - now)));
    }
    if (this.book.openCount > 0) this.log.info({ open: this.book.openCount }, 'reviews open before the restart are waiting again');
    for (const closing of this.state.reviews.unannounced()) {
      this.log.warn({ partId: closing.partId, verdict: closing.verdict }, 'review decided just before the station stopped; its verdict goes out now');
      this.unannounced.push(closing);
    }
    this.announceHeld();
    for (const part of this.link.interrupted) {
      const known = this.parts.get(part.partId);
      if (known) this.link.publishResult(known); // concluded just before the crash: its result again
      else {
        const frame: Frame = { partId: part.partId, image: Buffer.alloc(0), source: part.source as Frame['source'], receivedAt: performance.now() };
        this.track(part.partId, null, undefined, this.conclude(frame, failSafe('interrupted'), null, { decodeMs: 0, inferMs: 0 }, frame.receivedAt, `the station stopped while this part was in hand (taken ${part.at}); its frame was not kept`));
      }
    }
    this.link.start(
      {
        trigger: (trigger, redelivered) => void this.trigger(trigger, redelivered).catch(() => undefined), // refusals are answered on the error topic
        frame: (partId, image) => void this.submit({ partId, image, source: 'mqtt', receivedAt: performance.now() }).catch(() => undefined),
        decision: (decision) => this.decide(decision),
      },
      () => this.status('online'),
    );
    this.statusTimer = setInterval(() => this.link.publishStatus(this.status('online')), this.config.statusIntervalSeconds * 1000);
    this.metrics?.watch({
      id: this.id,
      queueDepth: () => this.queue.length + this.running,
      openReviews: () => this.book.openCount,
      outboxDepth: () => this.link.outboxDepth,
      brokerConnected: () => this.link.connected,
    });
    this.log.info({ thresholds: this.thresholds, model: this.modelRef }, 'station online');
  }

  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    for (const waiting of this.awaitingFrame.values()) clearTimeout(waiting.timer);
    await this.link.stop(this.status('offline'));
    this.parts.close();
    this.state.drift?.close();
    // The model in force may not be the one the station started with (a swap): close that one.
    await (this.model as Inspector & { close?: () => Promise<void> }).close?.();
  }

  /** Publishes the retained status now (a unit owning some of its fields saw them change). */
  publishStatus(): void {
    this.link.publishStatus(this.status('online'));
  }

  status(state: 'online' | 'offline'): Status {
    const storage = this.storage.state;
    return {
      schema: 'loupe/status@1',
      line: this.line,
      station: this.id,
      state,
      software: SOFTWARE_VERSION,
      model: this.modelRef,
      modelLoaded: state === 'online',
      queueDepth: this.queue.length + this.running,
      overloaded: this.overloaded,
      openReviews: this.book.openCount,
      outboxDepth: this.link.outboxDepth,
      storage,
      ...(this.storage.detail ? { storageDetail: this.storage.detail } : {}),
      ...this.driftStatus(),
      lastFrameAgeMs: this.lastFrameAt === null ? null : Math.round(performance.now() - this.lastFrameAt),
      ...this.statusExtras?.(),
      at: new Date().toISOString(),
    };
  }

  private driftStatus(): { drift?: Drift } {
    const drift = this.state.drift?.assess();
    return drift ? { drift } : {};
  }

  /**
   * Inspects one frame and resolves with its result. The same frame delivered again (same part id,
   * same bytes) answers its result again; a different frame under an id already answered is a new
   * part and is inspected (its result says what it replaces). Rejects with PartIdInUse while another
   * frame under the id is being inspected or waits for a person.
   */
  submit(frame: Frame): Promise<Result> {
    this.lastFrameAt = frame.receivedAt;
    const waitingTrigger = this.awaitingFrame.get(frame.partId);
    if (waitingTrigger) {
      // A trigger is waiting for this frame: hand it over, the trigger's inspection answers both.
      this.awaitingFrame.delete(frame.partId);
      clearTimeout(waitingTrigger.timer);
      waitingTrigger.resolve(frame);
      return this.inFlight.get(frame.partId)?.pending ?? this.inspectOnce(frame);
    }
    return this.inspectOnce(frame);
  }

  /**
   * PLC handshake: a trigger is acknowledged at once, and gets exactly one result for its part id.
   * The same trigger again (its requestId, or the broker's redelivery) answers that result again.
   */
  trigger(trigger: Trigger, redelivered = false): Promise<Result> {
    const { partId, requestId } = trigger;
    const seen = this.parts.forTrigger(partId, requestId, redelivered);
    const inFlight = this.inFlight.get(partId);
    if (seen.kind === 'again' || (inFlight && (redelivered || requestId === undefined || inFlight.requestId === requestId))) {
      this.link.ackTrigger(partId, requestId, 'answered');
      return Promise.resolve(seen.kind === 'again' ? seen.result : (inFlight as { pending: Promise<Result> }).pending).then((result) => {
        this.link.publishResult(result);
        return result;
      });
    }
    const refused = this.inUse(partId);
    if (refused) {
      this.link.refuse(this.link.triggerTopic, refused.code, refused.message, partId, requestId);
      return Promise.reject(refused);
    }
    const receivedAt = performance.now();
    if (!this.takeOrRefuse(partId, 'trigger')) {
      return Promise.resolve(this.unrecorded({ partId, image: Buffer.alloc(0), source: 'trigger', receivedAt, requestId }, null, receivedAt));
    }
    this.link.ackTrigger(partId, requestId, 'accepted');
    const replaces = seen.replaces;
    const framePromise: Promise<Frame | null> = this.camera
      ? this.camera.capture(partId).then((image) => ({ partId, image, source: 'trigger' as const, receivedAt }))
      : new Promise((resolve) => {
          const timer = setTimeout(() => {
            this.awaitingFrame.delete(partId);
            resolve(null);
          }, this.config.trigger.frameTimeoutMs);
          this.awaitingFrame.set(partId, { timer, resolve });
        });
    const missing = (detail: string, reason: ReasonCode = 'missing_frame') =>
      this.conclude({ partId, image: Buffer.alloc(0), source: 'trigger', receivedAt, requestId, replaces }, failSafe(reason), null, { decodeMs: 0, inferMs: 0 }, receivedAt, detail);
    const pending = framePromise.then(
      (frame) => {
        if (!frame) return missing(`no frame arrived within ${this.config.trigger.frameTimeoutMs} ms of the trigger`);
        const fingerprint = PartMemory.fingerprint(frame.image);
        const inFlight = this.inFlight.get(partId);
        if (inFlight) inFlight.fingerprint = fingerprint; // the same frame sent again meanwhile joins this inspection
        return this.enqueue({ ...frame, requestId, replaces, fingerprint });
      },
      (error: unknown) => missing(`camera failed: ${(error as Error).message}`, error instanceof InspectionError ? error.code : 'missing_frame'),
    );
    this.track(partId, null, requestId, pending);
    return pending;
  }

  private inspectOnce(frame: Frame): Promise<Result> {
    const fingerprint = PartMemory.fingerprint(frame.image);
    const seen: Seen = this.parts.forFrame(frame.partId, fingerprint);
    if (seen.kind === 'again') {
      this.log.info({ partId: frame.partId, source: frame.source }, 'same frame received again; answering its result again');
      // Over MQTT the answer is the result topic (a frame sent again by the broker, or by a PLC that
      // missed the result); over HTTP it is the response.
      if (frame.source === 'mqtt') this.link.publishResult(seen.result);
      return Promise.resolve(seen.result);
    }
    const inFlight = this.inFlight.get(frame.partId);
    if (inFlight && inFlight.fingerprint === fingerprint) return inFlight.pending; // its result is published once, when it is concluded
    const refused = this.inUse(frame.partId);
    if (refused) {
      if (frame.source === 'mqtt') this.link.refuse(this.link.frameTopic(frame.partId), refused.code, refused.message, frame.partId);
      else this.log.warn({ partId: frame.partId, source: frame.source }, refused.message);
      return Promise.reject(refused);
    }
    if (seen.replaces) this.log.info({ partId: frame.partId, source: frame.source, earlier: seen.replaces.at }, 'new frame under a part id already answered; inspecting it');
    if (!this.takeOrRefuse(frame.partId, frame.source)) return Promise.resolve(this.unrecorded({ ...frame, fingerprint }, null, frame.receivedAt));
    const pending = this.enqueue({ ...frame, replaces: seen.replaces, fingerprint });
    this.track(frame.partId, fingerprint, undefined, pending);
    return pending;
  }

  /**
   * Takes a part (on disk before the message that brought it is acknowledged); false when the disk
   * is full: nothing about the part can be recorded, and it is answered fail-safe without inspection.
   */
  private takeOrRefuse(partId: string, source: string): boolean {
    if (this.storage.state === 'full') return false;
    try {
      this.link.take(partId, source);
      return true;
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      this.storage.full('the parts in hand', error);
      return false;
    }
  }

  /**
   * The answer to a part the disk could not record: review, reason storage_full, published at once
   * (not through the outbox, which cannot take it) and remembered in memory only. Never a pass.
   */
  private unrecorded(frame: Frame, score: number | null, startedAt: number, scoredBy = this.modelRef): Result {
    const result = this.resultOf(frame, failSafe('storage_full'), score, { decodeMs: 0, inferMs: 0 }, startedAt, `the station disk is full: this part could not be recorded (${this.storage.detail ?? 'no space left'}); hold it for a person`, scoredBy);
    this.log.warn({ partId: frame.partId, source: frame.source }, 'disk full; part answered review (storage_full) without a record');
    this.parts.rememberOnly(frame.partId, frame.fingerprint ?? null, frame.requestId, result);
    this.defectLog?.result(result); // the log's last word on the part, as the line's (kept in memory until the disk takes it)
    this.link.publishUnrecorded(result);
    this.metrics?.frames.inc({ station: this.id, source: frame.source, verdict: result.verdict, reason: 'storage_full' });
    return result;
  }

  /** Sends the verdicts of reviews decided while the disk was full, once it can record them. */
  private announceHeld(): void {
    while (this.unannounced.length > 0) {
      const closing = this.unannounced[0];
      try {
        this.link.closeReview(this.verdictOf(closing));
        this.state.reviews.announced(closing.partId);
      } catch (error) {
        if (error instanceof StorageFull) return; // again when space is back
        throw error;
      }
      this.unannounced.shift();
    }
  }

  /** Why a new frame under `partId` cannot be taken now: another is in inspection or waits for a person. */
  private inUse(partId: string): PartIdInUse | null {
    if (this.inFlight.has(partId) || this.awaitingFrame.has(partId)) return new PartIdInUse(partId, 'inspecting');
    if (this.book.get(partId)) return new PartIdInUse(partId, 'review');
    return null;
  }

  /** Remembers a part while it is inspected (its answer is remembered by `conclude`). */
  private track(partId: string, fingerprint: string | null, requestId: string | undefined, pending: Promise<Result>): void {
    this.inFlight.set(partId, { pending, fingerprint, requestId });
    void pending.then(() => this.inFlight.delete(partId));
  }

  private enqueue(frame: Frame): Promise<Result> {
    if (this.frameBytes && !this.frameBytes.take(frame.image.length)) {
      this.log.warn({ partId: frame.partId, bytes: frame.image.length, inUse: this.frameBytes.inUse }, 'frames in memory at their cap; part sent to review without inspection');
      return this.conclude(frame, failSafe('overload'), null, { decodeMs: 0, inferMs: 0 }, performance.now(), `frames in memory at their cap (${this.frameBytes.capacity} bytes)`);
    }
    if (this.queue.length >= this.config.queue.maxDepth) {
      this.frameBytes?.give(frame.image.length);
      if (!this.overloaded) {
        this.overloaded = true;
        this.link.publishStatus(this.status('online'));
      }
      this.log.warn({ partId: frame.partId, queueDepth: this.queue.length }, 'queue full; part sent to review without inspection');
      return this.conclude(frame, failSafe('overload'), null, { decodeMs: 0, inferMs: 0 }, performance.now(), `station queue full (${this.config.queue.maxDepth} frames waiting)`);
    }
    return new Promise((resolve) => {
      this.queue.push({ frame, resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.config.queue.concurrency && this.queue.length > 0) {
      const next = this.queue.shift() as Waiting;
      this.running += 1;
      void this.inspect(next.frame)
        .then(next.resolve)
        .finally(() => {
          this.running -= 1;
          this.frameBytes?.give(next.frame.image.length);
          if (this.overloaded && this.queue.length === 0) {
            this.overloaded = false;
            this.link.publishStatus(this.status('online'));
          }
          this.pump();
        });
    }
  }

  private async inspect(frame: Frame): Promise<Result> {
    const startedAt = performance.now();
    try {
      const model = this.model; // the model this frame is inspected by, even if a swap happens meanwhile
      if (frame.unfit) throw new InspectionError(frame.unfit.reason, frame.unfit.detail);
      await this.qualityGate?.check(frame.image, model.manifest.quality);
      this.onModel.set(model, (this.onModel.get(model) ?? 0) + 1);
      // The audit draw comes first, so the inspector knows which scores keep evidence: from
      // pass_below up, or any score of a part drawn for audit.
      const draw = this.random();
      const thresholds = this.thresholds;
      const evidence = { dir: this.imageDir, partId: frame.partId, thresholds, from: draw < this.config.audit.share ? -Infinity : thresholds.passBelow };
      const inspection = await model.inspect(frame.image, evidence).finally(() => this.onModel.set(model, (this.onModel.get(model) ?? 1) - 1));
      const decision = decide(inspection.score, { thresholds: this.thresholds, autoReject: this.config.autoReject, auditShare: this.config.audit.share }, draw);
      return await this.conclude(frame, decision, inspection.score, inspection, startedAt, undefined, refOf(model));
    } catch (error) {
      const reason: Reason = error instanceof InspectionError ? error.code : 'model_error';
      const message = (error as Error).message;
      this.log.warn({ partId: frame.partId, reason, err: message }, 'part could not be inspected; sent to review');
      return this.conclude(frame, failSafe(reason), null, { decodeMs: 0, inferMs: 0 }, startedAt, message);
    }
  }

  private resultOf(frame: Frame, decision: Decision, score: number | null, timing: Measured, startedAt: number, detail?: string, scoredBy = this.modelRef): Result {
    const now = performance.now();
    const result: Result = {
      schema: 'loupe/result@1',
      line: this.line,
      station: this.id,
      partId: frame.partId,
      verdict: decision.verdict,
      score,
      thresholds: this.thresholds,
      model: scoredBy,
      reasons: decision.reasons,
      source: frame.source,
      ...(frame.requestId !== undefined ? { requestId: frame.requestId } : {}),
      ...(frame.replaces ? { replaces: { verdict: frame.replaces.verdict, score: frame.replaces.score, at: frame.replaces.at } } : {}),
      timings: { queueMs: round(startedAt - frame.receivedAt), decodeMs: round(timing.decodeMs), inferMs: round(timing.inferMs), totalMs: round(now - frame.receivedAt) },
      at: new Date().toISOString(),
    };
    if (detail) result.detail = detail;
    return result;
  }

  private async conclude(frame: Frame, decision: Decision, score: number | null, timing: Measured, startedAt: number, detail?: string, scoredBy = this.modelRef): Promise<Result> {
    const now = performance.now();
    const result = this.resultOf(frame, decision, score, timing, startedAt, detail, scoredBy);
    if (score !== null) this.state.reviews.scored(score);
    if (this.storage.state === 'full') return this.unrecorded(frame, score, startedAt, scoredBy);
    this.state.drift?.observe({ verdict: decision.verdict, score });
    // A review is on disk before any message about the part goes out: a crash in between cannot
    // leave a part the line was told is waiting for a person, with no one knowing.
    const evidence = decision.verdict !== 'pass' ? this.evidenceOf(result, frame.image, timing) : {};
    const suggestion = decision.verdict !== 'pass' && score !== null ? this.suggest(frame.partId, score, timing) : null;
    this.defectLog?.result(result, evidence);
    try {
      // Remembered before the result goes out: a redelivery after a crash right after it gets this answer.
      this.parts.answered(frame.partId, frame.fingerprint ?? null, frame.requestId, result);
      // What follows the result: the review a person is to decide (on disk before anyone is told), or
      // the model's verdict.
      const next =
        decision.verdict === 'review'
          ? this.recordReview(result, suggestion)
          : this.verdictOf({ partId: frame.partId, verdict: decision.verdict, decidedBy: 'model', score, at: Date.now(), requestId: frame.requestId, ...(suggestion && decision.verdict === 'reject' ? { suggestion } : {}) }, false);
      try {
        this.link.publishResult(result, next);
        // In the defect log once it is in the outbox: a verdict the full disk kept from the line is not logged.
        if ('decidedBy' in next) this.defectLog?.verdict(next);
        this.tell(result, 'decidedBy' in next ? next : null);
      } catch (error) {
        if (next.schema === 'loupe/review@1') this.unopen(frame.partId);
        throw error;
      }
    } catch (error) {
      // The disk filled up while the part was recorded: nothing of it went out; it is answered fail-safe.
      if (!(error instanceof StorageFull)) throw error;
      this.storage.full(`the record of part ${frame.partId}`, error);
      return this.unrecorded(frame, score, startedAt, scoredBy);
    }
    this.metrics?.frames.inc({ station: this.id, source: frame.source, verdict: result.verdict, reason: result.reasons[0] ?? '' });
    if (score !== null) this.metrics?.inference.observe({ station: this.id }, (timing.decodeMs + timing.inferMs) / 1000);
    this.metrics?.endToEnd.observe({ station: this.id }, (now - frame.receivedAt) / 1000);
    // One line per part only at debug: the defect log keeps every part, and a line per part at info
    // would be millions a day in the journal of a busy line.
    this.log.debug({ partId: frame.partId, verdict: result.verdict, score, reasons: result.reasons, ms: result.timings.totalMs }, 'result');
    return result;
  }

  /**
   * The image and anomaly map of a part someone may look at, as the inspector kept them or kept here
   * (a part no worker kept: unreadable, overloaded, or thresholds changed while it was inspected); a
   * failure is logged, never fatal. Answers where they are, relative to the images folder
   * (`<line>/<station>/<segment>#<offset>+<length>`), for the log.
   */
  private evidenceOf(result: Result, image: Buffer, measured: Measured): { image?: string; heatmap?: string } {
    const { map, mapWidth, mapHeight } = measured;
    const kept = measured.kept ?? keepEvidenceSync({ dir: this.imageDir, partId: result.partId, thresholds: result.thresholds }, image, map && mapWidth && mapHeight ? { map, mapWidth, mapHeight } : null);
    for (const error of kept.errors ?? []) this.log.error({ partId: result.partId, err: error }, 'could not keep the evidence of a part');
    const relative = (file: string) => `${this.line}/${this.id}/${file}`;
    return { ...(kept.image ? { image: relative(kept.image) } : {}), ...(kept.heatmap ? { heatmap: relative(kept.heatmap) } : {}) };
  }

  /** A category suggested for a part the model rejects or sends to a person, recorded with its features. */
  private suggest(partId: string, score: number, measured: Measured): Suggestion | null {
    const book = this.state.categories;
    const features = book ? (measured.features ?? featuresOf(score, measured.map, measured.mapWidth, measured.mapHeight)) : null;
    if (!book || !features) return null;
    const suggestion = book.suggest(features);
    book.featured(partId, features, suggestion, Date.now());
    return suggestion;
  }

  /** Second opinions, disputes and agreement; null when the station asks for none. */
  get secondOpinions(): SecondOpinions | null {
    return this.state.second ?? null;
  }

  /** How often people chose the suggested category; null when the station does not suggest. */
  suggestionAccuracy(): SuggestionAccuracy | null {
    return this.state.categories?.accuracy(this.id) ?? null;
  }

  private recordReview(result: Result, suggestion: Suggestion | null = null): Review {
    const now = Date.now();
    const deadline = now + this.config.review.deadlineSeconds * 1000;
    const review: Review = {
      schema: 'loupe/review@1',
      line: this.line,
      station: this.id,
      partId: result.partId,
      score: result.score,
      thresholds: result.thresholds,
      model: result.model,
      reasons: result.reasons,
      openedAt: new Date(now).toISOString(),
      deadline: new Date(deadline).toISOString(),
      defaultAction: this.config.review.defaultAction,
      categories: this.config.defectCategories,
      ...(suggestion ? { suggestion } : {}),
    };
    const open = { partId: result.partId, score: result.score, reasons: result.reasons, openedAt: now, deadline, message: review, result };
    this.state.reviews.opened(open); // on disk before anyone is told
    this.book.openReview(open);
    this.deadlines.set(
      result.partId,
      setTimeout(() => this.expire(result.partId), deadline - now),
    );
    return review;
  }

  /** A review opened on disk whose result could not be sent: it is not waiting for anyone. */
  private unopen(partId: string): void {
    clearTimeout(this.deadlines.get(partId));
    this.deadlines.delete(partId);
    const closing = this.book.expire(partId, 'hold', Date.now());
    // Recorded as held when the disk allows; a restart otherwise finds it open and asks a person again.
    if (closing) this.tryClose(closing);
  }

  private expire(partId: string): void {
    this.deadlines.delete(partId);
    const review = this.book.get(partId);
    const closing = this.book.expire(partId, this.config.review.defaultAction, Date.now());
    if (!closing || !review) return;
    this.log.info({ partId, verdict: closing.verdict }, 'review deadline passed; default action applied');
    if (this.tryClose(closing) === 'not_recorded') {
      // The disk is full: the review stays open, and its deadline is tried again.
      this.book.reopen(review);
      this.deadlines.set(partId, setTimeout(() => this.expire(partId), 5000));
    }
  }

  decide(decision: DecisionMessage): void {
    if (decision.category !== undefined && !this.config.defectCategories.includes(decision.category)) {
      this.link.refuse(this.link.decisionTopic, 'invalid_payload', `part ${decision.partId}: category "${decision.category}" is not one of ${this.config.defectCategories.join(', ')}`, decision.partId, decision.requestId);
      return;
    }
    const outcome = this.book.decide(decision, Date.now());
    switch (outcome.kind) {
      case 'decided': {
        clearTimeout(this.deadlines.get(decision.partId));
        this.deadlines.delete(decision.partId);
        this.log.info({ partId: decision.partId, verdict: outcome.closing.verdict, user: decision.user }, 'review decided');
        const logDecision = () => this.defectLog?.decision(this.line, this.id, decision, new Date(outcome.closing.at).toISOString());
        if (this.tryClose(outcome.closing, decision.requestId, logDecision) === 'not_recorded') {
          // Nothing was written: the review is open again and the person is told to try again.
          this.book.reopen(outcome.review);
          this.deadlines.set(decision.partId, setTimeout(() => this.expire(decision.partId), Math.max(0, outcome.review.deadline - Date.now())));
          this.link.refuse(this.link.decisionTopic, 'storage_full', `part ${decision.partId}: the station disk is full and cannot record the decision; the review stays open, decide again once space is back`, decision.partId, decision.requestId);
          return;
        }
        if (this.state.second && this.state.second.share > 0 && this.state.second.consider(outcome.closing, this.random())) this.log.info({ partId: decision.partId }, 'queued for a second opinion');
        if (decision.decision === 'reject' && decision.category) this.state.categories?.labelled(decision.partId, decision.category, decision.user, outcome.closing.at);
        return;
      }
      case 'corrected':
        this.log.warn({ partId: decision.partId, verdict: outcome.closing.verdict, was: outcome.previous.verdict, user: decision.user }, 'decision corrected');
        this.defectLog?.decision(this.line, this.id, decision, new Date(outcome.closing.at).toISOString());
        if (this.tryClose(outcome.closing, decision.requestId) === 'not_recorded') {
          this.link.refuse(this.link.decisionTopic, 'storage_full', `part ${decision.partId}: the station disk is full and cannot record the correction; send it again once space is back`, decision.partId, decision.requestId);
        }
        return;
      case 'duplicate':
        this.log.info({ partId: decision.partId }, 'same decision received again; nothing changes');
        return;
      case 'conflict':
        this.link.refuse(this.link.decisionTopic, 'conflict', outcome.message, decision.partId, decision.requestId);
        return;
      case 'unknown':
        this.link.refuse(this.link.decisionTopic, 'unknown_part', outcome.message, decision.partId, decision.requestId);
        return;
    }
  }

  /**
   * Records a closing: the decision on disk before the verdict goes out, and the review marked
   * closed after. On a full disk: `not_recorded` when the decision could not be written (nothing
   * happened), `held` when it was written but its verdict could not be (sent once space is back).
   */
  private tryClose(closing: Closing, requestId?: string, recorded?: () => void): 'closed' | 'held' | 'not_recorded' {
    let written = false;
    try {
      this.state.reviews.closed(closing, () => {
        written = true;
        // What the caller logs once the closing is on disk comes before the verdict in the part's timeline.
        recorded?.();
        const verdict = this.verdictOf({ ...closing, requestId });
        this.link.closeReview(verdict);
        this.tell(null, verdict);
      });
      return 'closed';
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      this.storage.full(`the decision of part ${closing.partId}`, error);
      if (!written) return 'not_recorded';
      this.unannounced.push({ ...closing, ...(requestId !== undefined ? { requestId } : {}) });
      return 'held';
    }
  }

  /** Tells the observers; one that throws is logged and changes nothing for the part. */
  private tell(result: Result | null, verdict: VerdictMessage | null): void {
    for (const observer of this.observers) {
      try {
        if (result) observer.result?.(result);
        if (verdict) observer.verdict?.(verdict);
      } catch (error) {
        this.log.error({ err: (error as Error).message, partId: (result ?? verdict)?.partId }, 'an integration failed on a message; the MQTT contract is not affected');
      }
    }
  }

  /**
   * A part's verdict message, recorded in the defect log before it goes out. Its fields are picked
   * one by one: a closing carries more (the part's result) than the verdict schema allows.
   */
  private verdictOf(v: { partId: string; verdict: VerdictMessage['verdict']; decidedBy: VerdictMessage['decidedBy']; score: number | null; at: number; user?: string; category?: string; note?: string; requestId?: string; corrects?: Closing['corrects']; suggestion?: Suggestion }, logged = true): VerdictMessage {
    const message: VerdictMessage = { schema: 'loupe/verdict@1', line: this.line, station: this.id, partId: v.partId, verdict: v.verdict, decidedBy: v.decidedBy, score: v.score, at: new Date(v.at).toISOString() };
    for (const key of ['user', 'category', 'note', 'requestId'] as const) if (v[key] !== undefined) message[key] = v[key];
    if (v.corrects) message.corrects = { ...v.corrects, at: new Date(v.corrects.at).toISOString() };
    if (v.suggestion) message.suggestion = { category: v.suggestion.category, confidence: v.suggestion.confidence };
    if (logged) this.defectLog?.verdict(message);
    return message;
  }
}

function refOf(model: Inspector): { id: string; version: string } {
  return { id: model.manifest.id, version: String(model.manifest.version) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
