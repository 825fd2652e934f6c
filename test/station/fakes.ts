/**
 * A station in process, without a broker, a model or a camera: a fake link that records what would
 * be published (every message checked against its contract schema), a fake inspector that scores,
 * fails or holds frames on demand, and real review and answer stores in a temp folder. Tests drive
 * its clock with fake timers, so deadlines and trigger timeouts take no real time.
 */
import path from 'node:path';
import pino from 'pino';
import { expect } from 'vitest';
import type { StationConfig } from '../../config/schema.ts';
import { checkConfig } from '../../config/load.ts';
import {
  ErrorSchema,
  ResultSchema,
  ReviewSchema,
  StatusSchema,
  TriggerAckSchema,
  VerdictSchema,
  type ErrorMessage,
  type Result,
  type Review,
  type Status,
  type TriggerAck,
  type VerdictMessage,
} from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import type { InHand } from '../../edge/src/bus/in-hand.ts';
import type { InboundHandlers } from '../../edge/src/bus/inbound.ts';
import { ThresholdHistory } from '../../edge/src/decide/thresholds.ts';
import { PartMemory } from '../../edge/src/parts/memory.ts';
import { InspectionError } from '../../edge/src/reasons.ts';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import { Station } from '../../edge/src/station.ts';
import type { Camera, Inspector, Measured, PartLog, StationBus, StationDeps } from '../../edge/src/station/types.ts';
import { tempDirSync } from '../support/temp.ts';

type Sent =
  | { kind: 'result'; message: Result }
  | { kind: 'review'; message: Review }
  | { kind: 'verdict'; message: VerdictMessage }
  | { kind: 'clear'; partId: string }
  | { kind: 'ack'; message: TriggerAck }
  | { kind: 'error'; message: ErrorMessage }
  | { kind: 'unrecorded'; message: Result };

const valid = (schema: Parameters<typeof checkPayload>[0], message: unknown) => {
  const checked = checkPayload(schema, message);
  expect(checked.ok, checked.ok ? '' : `${(message as { schema?: string }).schema}: ${checked.message}`).toBe(true);
};

/** Records what the station would publish, in order; each message must match its schema. */
export class FakeLink implements StationBus {
  readonly sent: Sent[] = [];
  readonly statuses: Status[] = [];
  readonly taken: string[] = [];
  /** what the station does in order, shared with the fake defect log and observers of a test */
  readonly timeline: string[] = [];
  interrupted: InHand[] = [];
  connected = true;
  outboxDepth = 0;
  handlers: InboundHandlers | null = null;
  readonly decisionTopic = 'loupe/line/cam/decision';
  readonly triggerTopic = 'loupe/line/cam/trigger';
  frameTopic(partId: string): string {
    return `loupe/line/cam/frame/${partId}`;
  }
  take(partId: string): void {
    this.taken.push(partId);
  }
  start(handlers: InboundHandlers): void {
    this.handlers = handlers;
  }
  async stop(offline: Status): Promise<void> {
    this.publishStatus(offline);
  }
  ackTrigger(partId: string, requestId: string | undefined, state: TriggerAck['state']): void {
    const message: TriggerAck = {
      schema: 'loupe/trigger-ack@1',
      line: 'line',
      station: 'cam',
      partId,
      ...(requestId !== undefined ? { requestId } : {}),
      state,
      at: new Date().toISOString(),
    };
    valid(TriggerAckSchema, message);
    this.sent.push({ kind: 'ack', message });
  }
  publishStatus(status: Status): void {
    valid(StatusSchema, status);
    this.statuses.push(status);
  }
  publishResult(result: Result, next?: VerdictMessage | Review): void {
    valid(ResultSchema, result);
    this.timeline.push(`publish ${result.partId}`);
    this.sent.push({ kind: 'result', message: result });
    if (next && 'decidedBy' in next) {
      valid(VerdictSchema, next);
      this.sent.push({ kind: 'verdict', message: next });
    } else if (next) this.publishReview(next);
  }
  publishUnrecorded(result: Result): void {
    valid(ResultSchema, result);
    this.sent.push({ kind: 'unrecorded', message: result });
  }
  publishReview(review: Review): void {
    valid(ReviewSchema, review);
    this.sent.push({ kind: 'review', message: review });
  }
  closeReview(verdict: VerdictMessage): void {
    valid(VerdictSchema, verdict);
    this.sent.push({ kind: 'clear', partId: verdict.partId }, { kind: 'verdict', message: verdict });
  }
  refuse(topic: string, code: ErrorMessage['code'], message: string, partId?: string, requestId?: string): void {
    const error: ErrorMessage = {
      schema: 'loupe/error@1',
      line: 'line',
      station: 'cam',
      at: new Date().toISOString(),
      topic,
      code,
      message,
      ...(partId ? { partId } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
    };
    valid(ErrorSchema, error);
    this.sent.push({ kind: 'error', message: error });
  }

  results(partId?: string): Result[] {
    return this.of<Result>('result').filter((r) => partId === undefined || r.partId === partId);
  }
  verdicts(partId?: string): VerdictMessage[] {
    return this.of<VerdictMessage>('verdict').filter((v) => partId === undefined || v.partId === partId);
  }
  reviews(): Review[] {
    return this.of<Review>('review');
  }
  errors(): ErrorMessage[] {
    return this.of<ErrorMessage>('error');
  }
  acks(): TriggerAck[] {
    return this.of<TriggerAck>('ack');
  }
  private of<T>(kind: Sent['kind']): T[] {
    return this.sent.flatMap((s) => (s.kind === kind && 'message' in s ? [s.message as T] : []));
  }
}

/**
 * Scores a frame whose bytes read `score:<n>` as n; fails a frame reading `unreadable` (reason
 * unreadable_image) or `crash` (a plain error: model_error). While held, frames wait until released.
 */
export class FakeInspector implements Inspector {
  readonly manifest: Inspector['manifest'];
  readonly inspected: string[] = [];
  closed = false;
  private held = false;
  private readonly waiting: (() => void)[] = [];

  constructor(id = 'fake', thresholds = { passBelow: 1, rejectAbove: 2 }) {
    this.manifest = { id, version: '1', thresholds };
  }

  hold(): void {
    this.held = true;
  }

  /** Lets every held frame go on, and the next ones through. */
  release(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  get holding(): number {
    return this.waiting.length;
  }

  async inspect(image: Buffer): Promise<Measured & { score: number }> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const text = image.toString();
    this.inspected.push(text);
    if (text === 'unreadable') throw new InspectionError('unreadable_image', 'not an image');
    if (text === 'crash') throw new Error('the model failed');
    const score = Number(/^score:([\d.]+)/.exec(text)?.[1]);
    return { score, decodeMs: 1, inferMs: 2 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A camera that answers a picture, or fails with camera_lost, on demand. */
export class FakeCamera implements Camera {
  next: Buffer | 'lost' = Buffer.from('score:0.5');
  async capture(): Promise<Buffer> {
    if (this.next === 'lost') throw new InspectionError('camera_lost', 'the camera is not sending');
    return this.next;
  }
}

export const frame = (partId: string, bytes: string, source: 'http' | 'mqtt' = 'http') => ({
  partId,
  image: Buffer.from(bytes),
  source,
  receivedAt: performance.now(),
});

export function stationConfig(station: Record<string, unknown> = {}): StationConfig {
  return checkConfig({ line: 'line', stations: [{ id: 'cam', audit: { share: 0 }, ...station }] }).stations[0];
}

export interface Built {
  station: Station;
  link: FakeLink;
  model: FakeInspector;
  reviews: FileReviewStore;
  dir: string;
  stop(): Promise<void>;
}

/** A started station on fakes; `dir` again after a stop is a restart on the same disk. */
export async function startStation(
  options: {
    config?: Record<string, unknown>;
    dir?: string;
    link?: FakeLink;
    model?: FakeInspector;
    deps?: Partial<StationDeps>;
    defectLog?: PartLog;
  } = {},
): Promise<Built> {
  const dir = options.dir ?? tempDirSync('loupe-station-');
  const link = options.link ?? new FakeLink();
  const model = options.model ?? new FakeInspector();
  const state = path.join(dir, 'reviews');
  const reviews = new FileReviewStore(state);
  const station = new Station({
    config: stationConfig(options.config),
    line: 'line',
    model,
    link,
    imageDir: path.join(dir, 'images'),
    reviews,
    thresholds: new ThresholdHistory(state),
    parts: new PartMemory(state),
    log: pino({ level: 'silent' }),
    random: () => 0.5,
    defectLog: options.defectLog ?? null,
    ...options.deps,
  });
  await station.start();
  return {
    station,
    link,
    model,
    reviews,
    dir,
    stop: async () => {
      await station.stop();
      reviews.close();
    },
  };
}
