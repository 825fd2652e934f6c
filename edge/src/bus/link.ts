/**
 * The one MQTT connection of a station: it announces the station (retained status, last will
 * "offline"), receives triggers, frames and decisions, and publishes results, reviews and verdicts.
 * Inbound payloads are validated against the contract; anything unusable is answered on the error
 * topic and goes no further.
 */
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import { topics, isPartId, type StationAddress } from '../../../contract/topics.ts';
import {
  DecisionSchema,
  TriggerSchema,
  type Decision,
  type ErrorMessage,
  type Result,
  type Review,
  type Status,
  type Trigger,
  type VerdictMessage,
} from '../../../contract/payloads.ts';
import { parsePayload } from '../../../contract/validate.ts';

export interface BrokerOptions {
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
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
  trigger(trigger: Trigger): void;
  frame(partId: string, image: Buffer): void;
  decision(decision: Decision): void;
}

export class StationLink {
  private client: MqttClient | null = null;
  private handlers: InboundHandlers | null = null;

  constructor(
    private readonly broker: BrokerOptions,
    private readonly address: StationAddress,
    private readonly log: Logger,
  ) {}

  async start(handlers: InboundHandlers, online: () => Status): Promise<void> {
    this.handlers = handlers;
    const offline: Status = { schema: 'loupe/status@1', line: this.address.line, station: this.address.station, state: 'offline', at: new Date().toISOString() };
    const options: IClientOptions = {
      clientId: this.broker.clientId ?? `loupe-${this.address.line}-${this.address.station}`,
      username: this.broker.username,
      password: this.broker.password,
      clean: false, // persistent session: decisions sent while we were away are delivered on return
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: { topic: topics.status(this.address), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
    };
    const client = mqtt.connect(this.broker.url, options);
    this.client = client;
    sendWithoutDelay(client);
    client.on('message', (topic, payload) => this.receive(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('offline', () => this.log.warn('mqtt broker unreachable; publishes are queued until it is back'));
    client.on('connect', () => {
      this.log.info({ url: this.broker.url }, 'mqtt connected');
      this.publish(topics.status(this.address), online(), true);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot reach MQTT broker at ${this.broker.url} within 10 s`)), 10_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await client.subscribeAsync([topics.trigger(this.address), `${topics.base(this.address)}/frame/+`, topics.decision(this.address)], { qos: 1 });
  }

  async stop(offline: Status): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    await client.publishAsync(topics.status(this.address), JSON.stringify(offline), { qos: 1, retain: true }).catch(() => undefined);
    await client.endAsync();
  }

  get decisionTopic(): string {
    return topics.decision(this.address);
  }

  publishStatus(status: Status): void {
    this.publish(topics.status(this.address), status, true);
  }
  publishResult(result: Result): void {
    this.publish(topics.result(this.address), result, false);
  }
  publishReview(review: Review): void {
    this.publish(topics.review(this.address, review.partId), review, true);
  }
  /** An empty retained message removes the retained review from the broker. */
  clearReview(partId: string): void {
    this.client?.publish(topics.review(this.address, partId), '', { qos: 1, retain: true });
  }
  publishVerdict(verdict: VerdictMessage): void {
    this.publish(topics.verdict(this.address), verdict, false);
  }
  publishError(error: Omit<ErrorMessage, 'schema' | 'line' | 'station' | 'at'>): void {
    const message: ErrorMessage = { schema: 'loupe/error@1', line: this.address.line, station: this.address.station, at: new Date().toISOString(), ...error };
    this.publish(topics.error(this.address), message, false);
  }

  private publish(topic: string, payload: object, retain: boolean): void {
    this.client?.publish(topic, JSON.stringify(payload), { qos: 1, retain }, (error) => {
      if (error) this.log.error({ topic, err: error.message }, 'publish failed');
    });
  }

  private receive(topic: string, payload: Buffer): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const base = topics.base(this.address);
    const kind = topic.slice(base.length + 1);
    if (kind.startsWith('frame/')) {
      const partId = kind.slice('frame/'.length);
      if (!isPartId(partId)) return this.refuse(topic, 'invalid_part_id', `part id "${partId}" is not allowed: letters, digits and . _ : -, at most 128 characters`);
      return handlers.frame(partId, payload);
    }
    if (kind === 'trigger') {
      const parsed = parsePayload(TriggerSchema, payload);
      if (!parsed.ok) return this.refuse(topic, parsed.code, parsed.message);
      return handlers.trigger(parsed.value);
    }
    if (kind === 'decision') {
      const parsed = parsePayload(DecisionSchema, payload);
      if (!parsed.ok) return this.refuse(topic, parsed.code, parsed.message);
      return handlers.decision(parsed.value);
    }
  }

  refuse(topic: string, code: ErrorMessage['code'], message: string, partId?: string): void {
    this.log.warn({ topic, code, partId }, `refused inbound message: ${message}`);
    this.publishError({ topic, code, message, ...(partId ? { partId } : {}) });
  }
}
