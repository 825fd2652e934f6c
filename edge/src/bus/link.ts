/**
 * The one MQTT connection of a station: it announces the station (retained status, last will
 * "offline"), receives triggers, frames and decisions, and publishes results, reviews and verdicts.
 * Inbound payloads are validated against the contract; anything unusable is answered on the error
 * topic and goes no further.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import { topics, isPartId, isUserName, type StationAddress } from '../../../contract/topics.ts';
import {
  DecisionSchema,
  TriggerSchema,
  type Decision,
  type ErrorMessage,
  type LogMessage,
  type Result,
  type Review,
  type Status,
  type Trigger,
  type TriggerAck,
  type VerdictMessage,
} from '../../../contract/payloads.ts';
import { parsePayload } from '../../../contract/validate.ts';
import { PartsInHand, type InHand } from './in-hand.ts';
import { Outbox, type OutgoingMessage } from './outbox.ts';

export interface BrokerOptions {
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  /** TLS: PEM contents of the CA, client certificate and key */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  /** largest frame accepted over MQTT, the same limit as HTTP ingest (http.bodyLimitBytes) */
  maxFrameBytes?: number;
}

/** The mqtt.js options every Loupe connection shares: credentials, TLS, reconnect. */
export function connectOptions(broker: BrokerOptions, clientId: string): IClientOptions {
  return {
    clientId,
    username: broker.username,
    password: broker.password,
    ca: broker.ca,
    cert: broker.cert,
    key: broker.key,
    rejectUnauthorized: broker.rejectUnauthorized ?? true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  };
}

/**
 * Turns off Nagle's algorithm on the client's socket: results and verdicts are small messages that
 * must leave at once, and Nagle combined with the peer's delayed ACK holds each for ~40 ms.
 * mqtt.js does not expose the option, so it is set on the socket after every (re)connect.
 */
export function sendWithoutDelay(client: MqttClient): void {
  client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
}

export interface InboundHandlers {
  /** `redelivered`: the broker sent this message again (MQTT DUP flag) */
  trigger(trigger: Trigger, redelivered: boolean): void;
  frame(partId: string, image: Buffer): void;
  decision(decision: Decision): void;
}

export class StationLink {
  private client: MqttClient | null = null;
  private handlers: InboundHandlers | null = null;
  private readonly outbox: Outbox;
  private readonly inHand: PartsInHand;
  /** parts a previous process took and never answered: the station answers them at start */
  readonly interrupted: InHand[];
  /** this station has reached this broker URL before: unreachable at start is an outage, not a wrong setting */
  readonly reachedBefore: boolean;
  private readonly reachedFile: string;

  constructor(
    private readonly broker: BrokerOptions,
    private readonly address: StationAddress,
    outboxDir: string,
    private readonly log: Logger,
  ) {
    this.reachedFile = path.join(outboxDir, 'broker-reached');
    this.reachedBefore = existsSync(this.reachedFile) && readFileSync(this.reachedFile, 'utf8') === broker.url;
    const inHand = new PartsInHand(outboxDir);
    // A part whose result reached the outbox before the crash, but not its answered mark, is answered.
    const unanswered = new Set(inHand.left.map((part) => part.partId));
    const resultTopic = topics.result(address);
    this.outbox = new Outbox(outboxDir, undefined, undefined, {
      beforeSync: () => inHand.flush(),
      written: unanswered.size === 0 ? undefined : (message) => {
        if (message.topic !== resultTopic) return;
        const partId = /"partId":"([^"]+)"/.exec(message.payload)?.[1];
        if (partId && unanswered.delete(partId)) inHand.answer(partId);
      },
    });
    this.inHand = inHand;
    this.interrupted = inHand.left.filter((part) => unanswered.has(part.partId));
    if (this.outbox.depth > 0) log.info({ messages: this.outbox.depth }, 'outbox holds messages from before the restart; delivering them first');
    if (this.interrupted.length > 0) log.warn({ parts: this.interrupted.length }, 'parts were in hand when the station stopped; they go to review as interrupted');
  }

  /**
   * Records a part the station has accepted and owes a result. Called from the message handler, so
   * it is on disk before mqtt.js acknowledges the frame or trigger that brought it.
   */
  take(partId: string, source: string): void {
    this.inHand.take(partId, source);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * At start only: resolves on the first connection, rejects at the first connection error or after
   * `timeoutMs`, so a process that cannot reach its broker says so and exits instead of lingering.
   * Once connected, a lost broker is retried for ever (the outbox keeps what is owed); so is a broker
   * this station has reached before at this URL (`reachedBefore`: a restart during an outage).
   */
  firstConnection(timeoutMs: number): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the station link is not started'));
    if (client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        if (error) reject(new Error(`cannot reach the MQTT broker at ${this.broker.url}: ${error.message}`));
        else resolve();
      };
      const onConnect = () => settle();
      const onError = (error: Error) => settle(error);
      const timer = setTimeout(() => settle(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  }

  get outboxDepth(): number {
    return this.outbox.depth;
  }

  /**
   * Connects in the background: a station inspects parts whether or not the broker is reachable,
   * and what it owes the line waits in the outbox.
   */
  start(handlers: InboundHandlers, online: () => Status): void {
    this.handlers = handlers;
    const offline: Status = { schema: 'loupe/status@1', line: this.address.line, station: this.address.station, state: 'offline', at: new Date().toISOString() };
    const client = mqtt.connect(this.broker.url, {
      ...connectOptions(this.broker, this.broker.clientId ?? `loupe-${this.address.line}-${this.address.station}`),
      clean: false, // persistent session: decisions sent while we were away are delivered on return
      // The keepalive ping goes out on its own timer: rescheduling it on every packet meant clearing
      // and setting a timer three times a part, for a ping a busy connection never needs anyway.
      reschedulePings: false,
      will: { topic: topics.status(this.address), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
    });
    this.client = client;
    sendWithoutDelay(client);
    client.on('message', (topic, payload, packet) => this.receive(topic, payload, packet.dup));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('offline', () => this.log.warn({ outbox: this.outbox.depth }, 'mqtt broker unreachable; results and verdicts wait in the outbox'));
    client.on('connect', (connack) => {
      this.log.info({ url: this.broker.url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      if (!this.reachedBefore) this.rememberReached();
      // "online" is said once the station listens: a PLC that waits for it never sends into the void.
      if (!connack.sessionPresent) {
        client.subscribe([topics.trigger(this.address), `${topics.base(this.address)}/frame/+`, topics.decision(this.address), `${topics.decision(this.address)}/+`], { qos: 1 }, (error) => {
          if (error) this.log.error({ err: error.message }, 'subscribe failed');
          this.publishStatus(online());
        });
      } else this.publishStatus(online());
      this.outbox.resume();
    });
    this.outbox.attach({
      get connected() {
        return client.connected;
      },
      publish: (message, done) => client.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, (error) => done(error ?? undefined)),
    });
  }

  private rememberReached(): void {
    try {
      writeFileSync(this.reachedFile, this.broker.url);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'could not note that the broker was reached');
    }
  }

  async stop(offline: Status): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    if (client.connected) {
      // Bounded: a broker that just died never acknowledges, and a station must still stop (the
      // last will says offline for it then).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.publishAsync(topics.status(this.address), JSON.stringify(offline), { qos: 1, retain: true }).catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
      ]);
      clearTimeout(timer);
      // Give messages on the wire a moment to be acknowledged; the rest stay in the outbox.
      await new Promise((resolve) => setTimeout(resolve, this.outbox.depth > 0 ? 200 : 0));
    }
    await client.endAsync(true);
    this.inHand.close();
    this.outbox.close();
  }

  get decisionTopic(): string {
    return topics.decision(this.address);
  }

  get triggerTopic(): string {
    return topics.trigger(this.address);
  }

  frameTopic(partId: string): string {
    return topics.frame(this.address, partId);
  }

  /**
   * Tells the sender of a trigger at once that the station has it (`accepted`: a result follows;
   * `answered`: the same trigger again, its result is published again). Through the outbox, in order
   * with the result that follows.
   */
  ackTrigger(partId: string, requestId: string | undefined, state: TriggerAck['state']): void {
    const ack: TriggerAck = { schema: 'loupe/trigger-ack@1', line: this.address.line, station: this.address.station, partId, ...(requestId !== undefined ? { requestId } : {}), state, at: new Date().toISOString() };
    this.outbox.send(this.message(topics.triggerAck(this.address), ack, false));
  }

  /** Status is state, not history: only the latest matters, so it skips the outbox (retained, last will). */
  publishStatus(status: Status): void {
    const client = this.client;
    if (!client?.connected) return;
    client.publish(topics.status(this.address), JSON.stringify(status), { qos: 1, retain: true }, (error) => {
      if (error) this.log.warn({ err: error.message }, 'status publish failed');
    });
  }
  /**
   * A part's result and, when there is one, what follows it: its verdict, or its review. Both go to
   * the outbox in one write. Written one after the other, a crash between the two writes left the
   * result on disk without its verdict: the restart found the part answered and never sent it.
   */
  publishResult(result: Result, next?: VerdictMessage | Review): void {
    const messages = [this.message(topics.result(this.address), result, false)];
    if (next?.schema === 'loupe/review@1') messages.push(this.message(topics.review(this.address, next.partId), next, true));
    else if (next) messages.push(this.message(topics.verdict(this.address), next, false));
    this.outbox.send(...messages);
    this.inHand.answer(result.partId);
  }
  publishReview(review: Review): void {
    this.outbox.send(this.message(topics.review(this.address, review.partId), review, true));
  }
  /**
   * A review decided (or expired): an empty retained message that removes the review from the broker,
   * and the part's verdict, in one write to the outbox. In two, a crash between them left the review
   * cleared and closed on disk, and the restart never sent the verdict.
   */
  closeReview(verdict: VerdictMessage): void {
    this.outbox.send({ topic: topics.review(this.address, verdict.partId), payload: '', retain: true }, this.message(topics.verdict(this.address), verdict, false));
  }
  /** A defect-log event or tally for the plant: through the outbox, like everything the station owes. */
  publishLog(message: LogMessage): void {
    this.outbox.send(this.message(topics.log(this.address), message, false));
  }
  publishError(error: Omit<ErrorMessage, 'schema' | 'line' | 'station' | 'at'>): void {
    const message: ErrorMessage = { schema: 'loupe/error@1', line: this.address.line, station: this.address.station, at: new Date().toISOString(), ...error };
    this.outbox.send(this.message(topics.error(this.address), message, false));
  }

  private message(topic: string, payload: object, retain: boolean): OutgoingMessage {
    return { topic, payload: JSON.stringify(payload), retain };
  }

  private receive(topic: string, payload: Buffer, redelivered: boolean): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const base = topics.base(this.address);
    const kind = topic.slice(base.length + 1);
    if (kind.startsWith('frame/')) {
      const partId = kind.slice('frame/'.length);
      if (!isPartId(partId)) return this.refuse(topic, 'invalid_part_id', `part id "${partId}" is not allowed: letters, digits and . _ : -, at most 128 characters`);
      const limit = this.broker.maxFrameBytes;
      if (limit !== undefined && payload.length > limit) {
        return this.refuse(topic, 'frame_too_large', `frame of part ${partId} is ${payload.length} bytes; the limit is ${limit} bytes (http.bodyLimitBytes), the same as over HTTP`, partId);
      }
      return handlers.frame(partId, payload);
    }
    if (kind === 'trigger') {
      const parsed = parsePayload(TriggerSchema, payload);
      if (!parsed.ok) return this.refuseParsed(topic, parsed, payload);
      return handlers.trigger(parsed.value, redelivered);
    }
    if (kind === 'decision' || kind.startsWith('decision/')) {
      const parsed = parsePayload(DecisionSchema, payload);
      if (!parsed.ok) return this.refuseParsed(topic, parsed, payload);
      // On `decision/{user}` the broker checked who may publish there (docs/security.md): the name
      // recorded is that identity, whatever the payload says.
      const speaker = kind === 'decision' ? null : kind.slice('decision/'.length);
      if (speaker !== null && !isUserName(speaker)) return this.refuse(topic, 'invalid_payload', `"${speaker}" is not a user name: letters, digits and . _ @ -, at most 64 characters`, parsed.value.partId);
      return handlers.decision(speaker === null ? parsed.value : { ...parsed.value, user: speaker });
    }
  }

  /** An invalid trigger or decision: the refusal names the part and echoes the requestId when the payload has them. */
  private refuseParsed(topic: string, parsed: { code: ErrorMessage['code']; message: string }, payload: Buffer): void {
    const { partId, requestId } = namedIn(payload);
    this.refuse(topic, parsed.code, partId ? `part ${partId}: ${parsed.message}` : parsed.message, partId, requestId);
  }

  refuse(topic: string, code: ErrorMessage['code'], message: string, partId?: string, requestId?: string): void {
    this.log.warn({ topic, code, partId, requestId }, `refused inbound message: ${message}`);
    this.publishError({ topic, code, message, ...(partId ? { partId } : {}), ...(requestId !== undefined ? { requestId } : {}) });
  }
}

/** The part id and request id a payload names, when it is a JSON object that has them as strings. */
function namedIn(payload: Buffer): { partId?: string; requestId?: string } {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString());
  } catch {
    return {};
  }
  if (typeof data !== 'object' || data === null) return {};
  const { partId, requestId } = data as Record<string, unknown>;
  return {
    ...(typeof partId === 'string' && partId.length > 0 && partId.length <= 128 ? { partId } : {}),
    ...(typeof requestId === 'string' && requestId.length > 0 && requestId.length <= 128 ? { requestId } : {}),
  };
}
