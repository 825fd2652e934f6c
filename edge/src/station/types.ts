/**
 * The words the station's units share: what a frame is, what the station needs from a model, a
 * camera and the bus, what an inspection comes to (scored, or failed with its reason), and the one
 * dependencies object a station is built from. Kept apart so that each unit (intake, queue,
 * conclusion, review desk, trigger pairing, recovery) imports the words, not each other.
 */
import type { Logger } from 'pino';
import type { StationConfig, Thresholds } from '../../../config/schema.ts';
import type { Reason, Result, Status } from '../../../contract/payloads.ts';
import type { StationLink } from '../bus/link.ts';
import type { Ruling } from '../decide/policy.ts';
import type { ThresholdHistory } from '../decide/thresholds.ts';
import type { Kept, EvidenceRequest } from '../evidence/files.ts';
import type { EdgeMetrics } from '../health/metrics.ts';
import type { FrameBytes } from '../ingest/frame-bytes.ts';
import type { StationObserver } from '../integrations/observer.ts';
import type { DefectLog } from '../log/defect-log.ts';
import type { PartMemory } from '../parts/memory.ts';
import type { ReasonCode } from '../reasons.ts';
import type { DriftWatch } from '../review/drift.ts';
import type { SecondOpinions } from '../review/second.ts';
import type { ReviewStore } from '../review/store.ts';
import type { CategoryBook } from '../review/suggest.ts';
import type { StorageHealth } from '../storage/health.ts';
import type { StationStore } from '../store/store.ts';
import type { QualityGate, QualityRanges } from '../vision/quality.ts';

/** What the station needs from a loaded model (edge/src/vision/model.ts provides it). */
export interface Inspector {
  readonly manifest: { id: string; version: string | number; thresholds: Thresholds; quality?: QualityRanges };
  /**
   * `evidence`: keep the part's frame and map when its score reaches `from`, if this inspector can
   * (an inspection worker can; it then answers what it kept and no map). Others ignore it.
   * `options.quality`: check the frame against `manifest.quality` on the pixels decoded for the model
   * and refuse an unfit one (a QualityRefusal, edge/src/vision/quality.ts) instead of scoring it.
   */
  inspect(
    image: Buffer,
    evidence?: EvidenceRequest,
    options?: { quality?: boolean },
  ): Promise<Measured & { score: number }>;
}

/** An inspector that may hold something to release (a worker): closed once it is swapped out or the station stops. */
export type Closable = Inspector & { close?: () => Promise<void> };

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

/** A part the station has in hand: where it came from and when, and what its answer must echo. */
export interface Part {
  partId: string;
  source: 'http' | 'folder' | 'mqtt' | 'synthetic' | 'trigger' | 'camera';
  receivedAt: number;
  /** the trigger's requestId, echoed in the result and the model's verdict */
  requestId?: string;
  /** the earlier answer under this part id that this part's result replaces */
  replaces?: Result;
  /** the frame's fingerprint (edge/src/parts/memory.ts), kept with its answer to tell a redelivery */
  fingerprint?: string;
  /** the frame's bytes; absent when no frame came (a trigger's frame missing, a part interrupted) */
  image?: Buffer;
}

export interface Frame extends Part {
  image: Buffer;
  /** set when the frame must not be scored (a frame no trigger matched): the part goes to review with this reason */
  unfit?: { reason: ReasonCode; detail: string };
}

export interface ModelRef {
  id: string;
  version: string;
}

/**
 * What became of a part's inspection: scored by a model and ruled on by the policy, or failed with
 * the reason it goes to a person (never a pass). `startedAt`: when the inspection began, or when the
 * station gave up on it (performance.now()).
 */
export type Inspection =
  | { kind: 'scored'; score: number; ruling: Ruling; measured: Measured; scoredBy: ModelRef; startedAt: number }
  | { kind: 'failed'; reason: Reason; detail: string; startedAt: number };

/** The part of the station's MQTT link the station uses (a test gives a fake that records). */
export type StationBus = Pick<
  StationLink,
  | 'interrupted'
  | 'connected'
  | 'outboxDepth'
  | 'decisionTopic'
  | 'triggerTopic'
  | 'frameTopic'
  | 'take'
  | 'start'
  | 'stop'
  | 'ackTrigger'
  | 'publishStatus'
  | 'publishResult'
  | 'publishUnrecorded'
  | 'publishReview'
  | 'closeReview'
  | 'refuse'
>;

/** Where each result, human decision and final verdict is logged for quality managers. */
export type PartLog = Pick<DefectLog, 'result' | 'decision' | 'verdict'>;

export interface Address {
  line: string;
  station: string;
}

/**
 * What the station's units share: its dependencies (with the defaults filled in), its address, and
 * what the station itself keeps (the model in force, the thresholds in force, its status).
 */
export interface StationCore {
  readonly deps: StationDeps;
  readonly at: Address;
  readonly parts: PartMemory;
  readonly storage: StorageHealth;
  readonly observers: ReadonlySet<StationObserver>;
  readonly random: () => number;
  thresholds(): Thresholds;
  model(): Inspector;
  publishStatus(): void;
}

/** Everything a station works with, given at once when it is built; nothing is set on it later. */
export interface StationDeps {
  config: StationConfig;
  line: string;
  model: Inspector;
  link: StationBus;
  /** the folder of this station's kept frames and maps */
  imageDir: string;
  reviews: ReviewStore;
  /** the station's store (edge/src/store/): the steps of a part marked `together` are one transition of it */
  store?: Pick<StationStore, 'transition'>;
  thresholds: ThresholdHistory;
  log: Logger;
  /** every part's last answer, kept for a window; in memory only when absent */
  parts?: PartMemory;
  /** whether the disk still records; always ok when absent */
  storage?: StorageHealth;
  drift?: DriftWatch;
  categories?: CategoryBook;
  second?: SecondOpinions;
  /** takes a picture when a trigger comes; without one, a trigger waits for its frame */
  camera?: Camera | null;
  metrics?: EdgeMetrics | null;
  /** the process-wide cap on bytes of frames in memory (ingest/frame-bytes.ts) */
  frameBytes?: FrameBytes | null;
  /** checks that a frame is fit to be scored against the model's quality ranges */
  qualityGate?: QualityGate | null;
  /** status fields owned by other units (camera health, image quality alert) */
  statusExtras?: (() => Partial<Status>) | null;
  defectLog?: PartLog | null;
  /** integrations besides the MQTT contract (OPC UA, Sparkplug B) that are told from the start */
  observers?: StationObserver[];
  /** a candidate model in shadow (edge/src/vision/shadow.ts): offered each scored frame once its result is out, never waited for */
  shadow?: { offer(result: Result, image: Buffer): void } | null;
  /** the audit draw and the second-opinion draw; injected so tests are deterministic */
  random?: () => number;
}
