/**
 * The dashboard's view of the line, built from MQTT alone: station status (retained), pending
 * reviews (retained until decided), recent results and verdicts, the claims of every dashboard on
 * the broker (retained), and the stations' refusals of decisions this dashboard sent, so they reach
 * the person who made them. Listeners (the WebSocket feed) are told of every change as it happens.
 *
 * A decision is published only while the broker is connected, and answered within a bound: with
 * the broker gone it is refused at once (the part stays open; the person tries again), never held.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { allStations, parseTopic, topics } from '../../contract/topics.ts';
import {
  ClaimSchema,
  ErrorSchema,
  ResultSchema,
  ReviewSchema,
  StatusSchema,
  VerdictSchema,
  type Claim as ClaimMessage,
  type Result,
  type Review,
  type Status,
  type VerdictMessage,
} from '../../contract/payloads.ts';
import type { Claim, ClaimBook } from './claims.ts';
import type { FeedEvent } from '../../contract/feed.ts';
import { parsePayload } from '../../contract/validate.ts';
import { connectOptions, sendWithoutDelay, type BrokerOptions } from '../../shared/mqtt.ts';

export type { FeedEvent } from '../../contract/feed.ts';

/** Why a decision did not go out: the route answers it as 503 with this message. */
export class DecisionNotSent extends Error {}

/** How long a decision waits for the broker's acknowledgement before the person is told. */
const DECISION_ACK_MS = 5000;

const key = (line: string, station: string, partId = '') => `${line}/${station}/${partId}`;

export class LineFeed {
  private client: MqttClient | null = null;
  readonly statuses = new Map<string, Status>();
  readonly reviews = new Map<string, Review>();
  readonly recent: Result[] = [];
  /** the last decisions people made (newest first), to show how similar scores were judged */
  readonly decided: VerdictMessage[] = [];
  /** the last verdict of recently closed parts, and their review, by `line/station/partId`: who may correct what */
  readonly closed = new Map<string, { review?: Review; verdict: VerdictMessage }>();
  private readonly closedReviews = new Map<string, Review>();
  /** the broker link as last told to the screens (when it is down, the station statuses are stale) */
  private linkUp = false;
  private readonly listeners = new Set<(event: FeedEvent) => void>();
  /** claims shared with other dashboards: set before start */
  claims: ClaimBook | null = null;
  /** who on this dashboard sent the latest decision on each part, for the station's refusals */
  private readonly sent = new Map<string, string>();

  constructor(
    private readonly broker: BrokerOptions,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    // A random client id: two dashboards (two machines, or one process in tests) with one id would
    // throw each other off the broker, again and again.
    const client = mqtt.connect(
      this.broker.url,
      connectOptions(this.broker, this.broker.clientId ?? `loupe-dashboard-${randomBytes(6).toString('hex')}`),
    );
    this.client = client;
    sendWithoutDelay(client);
    client.on('message', (topic, payload) => this.receive(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'dashboard mqtt error'));
    client.on('connect', () => this.linked(true));
    client.on('close', () => this.linked(false));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`dashboard cannot reach MQTT broker at ${this.broker.url} within 10 s`)),
        10_000,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await client.subscribeAsync(
      [
        allStations.status(this.prefix),
        allStations.review(this.prefix),
        allStations.result(this.prefix),
        allStations.verdict(this.prefix),
        allStations.error(this.prefix),
        allStations.claim(this.prefix),
      ],
      { qos: 1 },
    );
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Bounded: with the broker gone, mqtt.js would wait for acknowledgements for ever. */
  async stop(): Promise<void> {
    const client = this.client;
    client?.removeAllListeners('close'); // a stop is not a lost broker
    this.client = null;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.endAsync(!client.connected),
      new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
    ]);
    clearTimeout(timer);
    if (!client.disconnected) await client.endAsync(true);
  }

  /** how many listeners (live-feed clients) are attached */
  get listening(): number {
    return this.listeners.size;
  }

  private linked(connected: boolean): void {
    if (connected === this.linkUp) return;
    this.linkUp = connected;
    if (!connected) this.log.warn({ url: this.broker.url }, 'dashboard lost the MQTT broker; retrying');
    this.emit({ type: 'broker', connected });
  }

  onEvent(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Publishes a person's decision to the station that owns the review; resolves once the broker
   * has it. Throws DecisionNotSent at once when the broker is unreachable, and after a bound when it
   * does not acknowledge.
   */
  async publishDecision(line: string, station: string, payload: { partId: string; user: string }): Promise<void> {
    const client = this.client;
    if (!client?.connected)
      throw new DecisionNotSent(
        'the dashboard cannot reach the MQTT broker, so your decision was NOT sent; the part stays open. Try again when the line shows online.',
      );
    this.sent.set(key(line, station, payload.partId), payload.user);
    if (this.sent.size > 10_000) this.sent.delete(this.sent.keys().next().value as string);
    let timer: NodeJS.Timeout | undefined;
    const acknowledged = client.publishAsync(
      topics.decision({ prefix: this.prefix, line, station }),
      JSON.stringify(payload),
      { qos: 1 },
    );
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), DECISION_ACK_MS)));
    const outcome = await Promise.race([acknowledged.then(() => 'ok' as const), late]).finally(() =>
      clearTimeout(timer),
    );
    if (outcome === 'late') {
      throw new DecisionNotSent(
        'the broker did not confirm your decision in time; it may still reach the station when the broker is back. If the part is still open then, decide it again (the same decision twice counts once).',
      );
    }
  }

  /** Tells every dashboard on the broker who is deciding a part (retained), or that nobody is (null). */
  shareClaim(line: string, station: string, partId: string, claim: Claim | null): void {
    const client = this.client;
    if (!client?.connected) return; // this dashboard's own claim book still holds it; shared again on the next claim
    const message: ClaimMessage | null = claim
      ? {
          schema: 'loupe/claim@1',
          line,
          station,
          partId,
          holder: claim.user,
          claimedAt: new Date(claim.claimedAt ?? Date.now()).toISOString(),
          expiresAt: new Date(claim.expiresAt).toISOString(),
        }
      : null;
    client.publish(
      topics.claim({ prefix: this.prefix, line, station }, partId),
      message ? JSON.stringify(message) : '',
      { qos: 1, retain: true },
      (error) => {
        if (error) this.log.warn({ err: error.message, partId }, 'claim not shared');
      },
    );
  }

  /** The `count` human decisions at this station whose scores were closest to `score` (on a log scale). */
  similar(station: string, score: number | null, count = 5): VerdictMessage[] {
    if (score === null) return [];
    const distance = (v: VerdictMessage) =>
      Math.abs(Math.log(Math.max(v.score ?? 0, 1e-6)) - Math.log(Math.max(score, 1e-6)));
    return this.decided
      .filter((v) => v.station === station && v.score !== null)
      .sort((a, b) => distance(a) - distance(b))
      .slice(0, count);
  }

  private receiveClaim(line: string, station: string, partId: string, payload: Buffer): void {
    const claims = this.claims;
    if (!claims) return;
    const partKey = key(line, station, partId);
    if (payload.length === 0) {
      const held = claims.holder(partKey);
      if (!held) return;
      claims.release(partKey);
      return this.emit({ type: 'claim-released', line, station, partId });
    }
    const parsed = parsePayload(ClaimSchema, payload);
    if (!parsed.ok) return void this.log.warn({ partId, err: parsed.message }, 'ignored malformed claim');
    const before = claims.holder(partKey);
    const inForce = claims.adopt({
      key: partKey,
      user: parsed.value.holder,
      claimedAt: Date.parse(parsed.value.claimedAt),
      expiresAt: Date.parse(parsed.value.expiresAt),
    });
    if (!inForce || (before && before.user === inForce.user && before.expiresAt === inForce.expiresAt)) return;
    this.emit({
      type: 'claim',
      line,
      station,
      partId,
      holder: inForce.user,
      expiresAt: new Date(inForce.expiresAt).toISOString(),
    });
  }

  emit(event: FeedEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private receive(topic: string, payload: Buffer): void {
    const where = parseTopic(this.prefix, topic);
    if (!where) return;
    if (where.kind === 'claim' && where.partId)
      return this.receiveClaim(where.line, where.station, where.partId, payload);
    if (where.kind === 'error') {
      // A station refused a decision: tell the person of this dashboard who sent it.
      const parsed = parsePayload(ErrorSchema, payload);
      if (!parsed.ok || !parsed.value.partId || !parsed.value.topic.endsWith('/decision')) return;
      const partKey = key(where.line, where.station, parsed.value.partId);
      const user = this.sent.get(partKey);
      if (user === undefined) return;
      this.sent.delete(partKey);
      return this.emit({
        type: 'decision-refused',
        line: where.line,
        station: where.station,
        partId: parsed.value.partId,
        user,
        code: parsed.value.code,
        message: parsed.value.message,
      });
    }
    if (where.kind === 'review' && where.partId) {
      if (payload.length === 0) {
        const k = key(where.line, where.station, where.partId);
        const review = this.reviews.get(k);
        if (review) {
          this.reviews.delete(k);
          remember(this.closedReviews, k, review);
          this.emit({ type: 'review-closed', line: where.line, station: where.station, partId: where.partId });
        }
        // A claim on a closed part means nothing: clear it, here and for the other dashboards.
        if (this.claims?.holder(k)) {
          this.claims.release(k);
          this.shareClaim(where.line, where.station, where.partId, null);
        }
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
      const verdict = parsed.value;
      if (verdict.decidedBy !== 'model') {
        const k = key(verdict.line, verdict.station, verdict.partId);
        remember(this.closed, k, { review: this.closedReviews.get(k) ?? this.reviews.get(k), verdict });
      }
      if (verdict.decidedBy === 'human') {
        // a corrected verdict replaces the one it corrects among the decisions shown as examples
        if (verdict.corrects) {
          const before = this.decided.findIndex(
            (v) => v.partId === verdict.partId && v.station === verdict.station && v.line === verdict.line,
          );
          if (before >= 0) this.decided.splice(before, 1);
        }
        this.decided.unshift(verdict);
        if (this.decided.length > 1000) this.decided.pop();
      }
      return this.emit({ type: 'verdict', verdict: parsed.value });
    }
  }
}

/** Keeps the last thousand entries of a map, newest last. */
function remember<T>(map: Map<string, T>, k: string, value: T): void {
  map.delete(k);
  map.set(k, value);
  if (map.size > 1000) map.delete(map.keys().next().value as string);
}
