/**
 * The dashboard's view of the line, built from MQTT alone: station status (retained), pending
 * reviews (retained until decided), and recent results and verdicts. Listeners (the WebSocket
 * feed) are told of every change as it happens.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { allStations, parseTopic } from '../../contract/topics.ts';
import { ResultSchema, ReviewSchema, StatusSchema, VerdictSchema, type Result, type Review, type Status, type VerdictMessage } from '../../contract/payloads.ts';
import { parsePayload } from '../../contract/validate.ts';
import { connectOptions, sendWithoutDelay, type BrokerOptions } from '../../edge/src/bus/link.ts';

export type FeedEvent =
  | { type: 'status'; status: Status }
  | { type: 'review'; review: Review }
  | { type: 'review-closed'; station: string; line: string; partId: string }
  | { type: 'result'; result: Result }
  | { type: 'verdict'; verdict: VerdictMessage }
  | { type: 'claim'; line: string; station: string; partId: string; holder: string; expiresAt: string }
  | { type: 'claim-released'; line: string; station: string; partId: string };

const key = (line: string, station: string, partId = '') => `${line}/${station}/${partId}`;

export class LineFeed {
  private client: MqttClient | null = null;
  readonly statuses = new Map<string, Status>();
  readonly reviews = new Map<string, Review>();
  readonly recent: Result[] = [];
  /** the last decisions people made (newest first), to show how similar scores were judged */
  readonly decided: VerdictMessage[] = [];
  private readonly listeners = new Set<(event: FeedEvent) => void>();

  constructor(
    private readonly broker: BrokerOptions,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const client = mqtt.connect(this.broker.url, connectOptions(this.broker, this.broker.clientId ?? `loupe-dashboard-${process.pid}`));
    this.client = client;
    sendWithoutDelay(client);
    client.on('message', (topic, payload) => this.receive(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'dashboard mqtt error'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dashboard cannot reach MQTT broker at ${this.broker.url} within 10 s`)), 10_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await client.subscribeAsync([allStations.status(this.prefix), allStations.review(this.prefix), allStations.result(this.prefix), allStations.verdict(this.prefix)], { qos: 1 });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
  }

  onEvent(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a person's decision to the station that owns the review. */
  async publishDecision(line: string, station: string, payload: object): Promise<void> {
    if (!this.client) throw new Error('dashboard is not connected to the broker');
    await this.client.publishAsync(`${this.prefix}/${line}/${station}/decision`, JSON.stringify(payload), { qos: 1 });
  }

  /** The `count` human decisions at this station whose scores were closest to `score` (on a log scale). */
  similar(station: string, score: number | null, count = 5): VerdictMessage[] {
    if (score === null) return [];
    const distance = (v: VerdictMessage) => Math.abs(Math.log(Math.max(v.score ?? 0, 1e-6)) - Math.log(Math.max(score, 1e-6)));
    return this.decided
      .filter((v) => v.station === station && v.score !== null)
      .sort((a, b) => distance(a) - distance(b))
      .slice(0, count);
  }

  emit(event: FeedEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private receive(topic: string, payload: Buffer): void {
    const where = parseTopic(this.prefix, topic);
    if (!where) return;
    if (where.kind === 'review' && where.partId) {
      if (payload.length === 0) {
        if (this.reviews.delete(key(where.line, where.station, where.partId))) this.emit({ type: 'review-closed', line: where.line, station: where.station, partId: where.partId });
        return;
      }
      const parsed = parsePayload(ReviewSchema, payload);
      if (!parsed.ok) return void this.log.warn({ topic, err: parsed.message }, 'ignored malformed review');
      this.reviews.set(key(where.line, where.station, where.partId), parsed.value);
      return this.emit({ type: 'review', review: parsed.value });
    }
    if (where.kind === 'status') {
      const parsed = parsePayload(StatusSchema, payload);
      if (!parsed.ok) return;
      this.statuses.set(key(where.line, where.station), parsed.value);
      return this.emit({ type: 'status', status: parsed.value });
    }
    if (where.kind === 'result') {
      const parsed = parsePayload(ResultSchema, payload);
      if (!parsed.ok) return;
      this.recent.unshift(parsed.value);
      if (this.recent.length > 200) this.recent.pop();
      return this.emit({ type: 'result', result: parsed.value });
    }
    if (where.kind === 'verdict') {
      const parsed = parsePayload(VerdictSchema, payload);
      if (!parsed.ok) return;
      if (parsed.value.decidedBy === 'human') {
        this.decided.unshift(parsed.value);
        if (this.decided.length > 1000) this.decided.pop();
      }
      return this.emit({ type: 'verdict', verdict: parsed.value });
    }
  }
}
