/**
 * One station: frames from every ingest source go through one bounded queue, are inspected by the
 * model, ruled on by the policy and published on the bus. Reviews wait for a person until their
 * deadline. Every part gets exactly one result, whatever goes wrong.
 *
 * This class wires the units and owns what they share (the model in force, the thresholds in
 * force, the status); each concern has its own home under ./station/: intake (frames in), queue
 * (inspection), conclude (the ordered steps of a concluded part), desk (reviews), triggers (the
 * PLC handshake) and recovery (at start). Everything it works with arrives in one StationDeps.
 */
import { mkdir } from 'node:fs/promises';
import type { Thresholds } from '../../config/schema.ts';
import type { Decision, Result, Status, Trigger } from '../../contract/payloads.ts';
import { propose, type Proposal } from './decide/calibrate.ts';
import type { ThresholdVersion } from './decide/thresholds.ts';
import type { StationObserver } from './integrations/observer.ts';
import { PartMemory } from './parts/memory.ts';
import type { SecondOpinions } from './review/second.ts';
import type { SuggestionAccuracy } from './review/suggest.ts';
import { whatIf, type WhatIf } from './review/what-if.ts';
import { SOFTWARE_VERSION } from './software.ts';
import { refOf } from './station/conclude.ts';
import { ReviewDesk } from './station/desk.ts';
import { Intake } from './station/intake.ts';
import { InspectionQueue } from './station/queue.ts';
import { recover } from './station/recovery.ts';
import { FrameWaits, TriggerPairing } from './station/triggers.ts';
import type { Closable, Frame, Inspector, ModelRef, StationCore, StationDeps } from './station/types.ts';
import { StorageHealth } from './storage/health.ts';

export type { Camera, Frame, Inspector, Measured, StationDeps } from './station/types.ts';

export class Station {
  readonly id: string;
  /** whether the disk still records (edge/src/storage/health.ts) */
  readonly storage: StorageHealth;
  /** integrations besides the MQTT contract (OPC UA, Sparkplug B): told of each result and final verdict */
  readonly observers: Set<StationObserver>;
  private model: Inspector;
  private readonly core: StationCore;
  private readonly desk: ReviewDesk;
  private readonly queue: InspectionQueue;
  private readonly waits = new FrameWaits();
  private readonly intake: Intake;
  private readonly pairing: TriggerPairing;
  private lastFrameAt: number | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private recovering: Promise<Result[]> = Promise.resolve([]);

  constructor(private readonly deps: StationDeps) {
    this.id = deps.config.id;
    this.model = deps.model;
    this.storage = deps.storage ?? new StorageHealth(null);
    this.observers = new Set(deps.observers ?? []);
    this.core = {
      deps,
      at: { line: deps.line, station: deps.config.id },
      parts: deps.parts ?? new PartMemory(null),
      storage: this.storage,
      observers: this.observers,
      random: deps.random ?? Math.random,
      thresholds: () => this.thresholds,
      model: () => this.model,
      publishStatus: () => this.publishStatus(),
    };
    this.desk = new ReviewDesk(this.core);
    this.queue = new InspectionQueue(this.core, this.desk);
    this.intake = new Intake(this.core, this.desk, this.queue, this.waits);
    this.pairing = new TriggerPairing(this.core, this.desk, this.intake, this.waits, deps.camera ?? null);
    this.storage.onChange((storage) => {
      this.publishStatus();
      if (storage === 'ok') this.desk.announceHeld();
    });
  }

  /** In force: the last approved version, else the configuration, else the model's proposal. */
  get thresholds(): Thresholds {
    const approved = this.deps.thresholds.current;
    if (approved) return { passBelow: approved.passBelow, rejectAbove: approved.rejectAbove };
    return this.deps.config.thresholds ?? this.model.manifest.thresholds;
  }

  /** Proposes thresholds from people's decisions; nothing changes until someone approves. */
  proposal(): Proposal {
    return propose(this.desk.settledClosings(), this.thresholds, this.deps.reviews.scoreHistogram(), {
      auditShare: this.deps.config.audit.share,
    });
  }

  /** What other thresholds would have done to the decided history; nothing changes. */
  whatIf(ask: { passBelow?: number; rejectAbove?: number; steps?: number }): WhatIf {
    return whatIf(this.id, this.desk.settledClosings(), this.thresholds, this.deps.reviews.scoreHistogram(), {
      ...ask,
      auditShare: this.deps.config.audit.share,
    });
  }

  approveThresholds(thresholds: Thresholds, approvedBy: string, basis?: string): ThresholdVersion {
    const version = this.deps.thresholds.approve(thresholds, approvedBy, basis);
    this.deps.drift?.rebase(); // other thresholds pass other parts: the drift reference starts again
    this.deps.log.info({ thresholds, approvedBy, version: version.version }, 'thresholds changed');
    this.publishStatus();
    return version;
  }

  get thresholdVersions(): ThresholdVersion[] {
    return this.deps.thresholds.versions;
  }

  /**
   * Swaps the model between two frames: frames already handed to the old model finish on it, every
   * later frame goes to the new one; none is dropped or scored twice.
   */
  async swapModel(next: Inspector & { close(): Promise<void> }): Promise<void> {
    const previous = this.model as Closable;
    this.model = next;
    this.deps.drift?.rebase(); // another model's scores do not compare with the old one's
    this.deps.log.info(
      {
        from: previous.manifest.id + '@' + previous.manifest.version,
        to: next.manifest.id + '@' + next.manifest.version,
      },
      'model swapped',
    );
    this.publishStatus();
    await this.queue.drained(previous);
    await previous.close?.();
  }

  /** The answers to the parts interrupted by the last stop, once they are concluded (after start). */
  get recovered(): Promise<Result[]> {
    return this.recovering;
  }

  /** Part ids of the reviews waiting for a person (their images must stay). */
  openPartIds(): string[] {
    return this.desk.openPartIds();
  }

  get connected(): boolean {
    return this.deps.link.connected;
  }

  /** frames waiting for the model (not yet handed to it) */
  get waiting(): number {
    return this.queue.queued;
  }

  get modelRef(): ModelRef {
    return refOf(this.core);
  }

  /** Second opinions, disputes and agreement; null when the station asks for none. */
  get secondOpinions(): SecondOpinions | null {
    return this.deps.second ?? null;
  }

  /** How often people chose the suggested category; null when the station does not suggest. */
  suggestionAccuracy(): SuggestionAccuracy | null {
    return this.deps.categories?.accuracy(this.id) ?? null;
  }

  async start(): Promise<void> {
    const { link, config, metrics, log } = this.deps;
    await mkdir(this.deps.imageDir, { recursive: true });
    this.recovering = Promise.all(recover(this.core, this.desk, this.intake));
    link.start(
      {
        trigger: (trigger, redelivered) => void this.trigger(trigger, redelivered).catch(() => undefined), // refusals are answered on the error topic
        frame: (partId, image) =>
          void this.submit({ partId, image, source: 'mqtt', receivedAt: performance.now() }).catch(() => undefined),
        decision: (decision) => this.decide(decision),
      },
      () => this.status('online'),
    );
    this.statusTimer = setInterval(() => this.publishStatus(), config.statusIntervalSeconds * 1000);
    metrics?.watch({
      id: this.id,
      queueDepth: () => this.queue.depth,
      openReviews: () => this.desk.openCount,
      outboxDepth: () => link.outboxDepth,
      brokerConnected: () => link.connected,
    });
    log.info({ thresholds: this.thresholds, model: this.modelRef }, 'station online');
  }

  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.desk.stop();
    this.waits.stop();
    await this.deps.link.stop(this.status('offline'));
    this.core.parts.close();
    this.deps.drift?.close();
    // The model in force may not be the one the station started with (a swap): close that one.
    await (this.model as Closable).close?.();
  }

  /** Publishes the retained status now (a unit owning some of its fields saw them change). */
  publishStatus(): void {
    this.deps.link.publishStatus(this.status('online'));
  }

  status(state: 'online' | 'offline'): Status {
    const drift = this.deps.drift?.assess();
    return {
      schema: 'loupe/status@1',
      line: this.deps.line,
      station: this.id,
      state,
      software: SOFTWARE_VERSION,
      model: this.modelRef,
      modelLoaded: state === 'online',
      queueDepth: this.queue.depth,
      overloaded: this.queue.overloaded,
      openReviews: this.desk.openCount,
      outboxDepth: this.deps.link.outboxDepth,
      storage: this.storage.state,
      ...(this.storage.detail ? { storageDetail: this.storage.detail } : {}),
      ...(drift ? { drift } : {}),
      lastFrameAgeMs: this.lastFrameAt === null ? null : Math.round(performance.now() - this.lastFrameAt),
      ...this.deps.statusExtras?.(),
      at: new Date().toISOString(),
    };
  }

  /** Inspects one frame and resolves with its result (see Intake.submit for the rules on part ids). */
  submit(frame: Frame): Promise<Result> {
    this.lastFrameAt = frame.receivedAt;
    return this.intake.submit(frame);
  }

  /** The PLC handshake (see TriggerPairing). */
  trigger(trigger: Trigger, redelivered = false): Promise<Result> {
    return this.pairing.trigger(trigger, redelivered);
  }

  /** A person's decision on a review (see ReviewDesk.decide). */
  decide(decision: Decision): void {
    this.desk.decide(decision);
  }
}
