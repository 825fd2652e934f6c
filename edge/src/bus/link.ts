/**
 * The one MQTT connection of a station: it announces the station (retained status, last will
 * "offline"), receives triggers, frames and decisions, and publishes results, reviews and verdicts.
 * Inbound payloads are validated against the contract; anything unusable is answered on the error
 * topic and goes no further.
 */
import { mkdirSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topics, type StationAddress } from '../../../contract/topics.ts';
import {
  type ErrorMessage,
  type LogMessage,
  type Result,
  type Review,
  type Status,
  type TriggerAck,
  type VerdictMessage,
} from '../../../contract/payloads.ts';
import { connectOptions, sendWithoutDelay, type BrokerOptions } from '../../../shared/mqtt.ts';
import { connectStation, firstConnection, inboundTopics, reachedBefore, rememberReached } from './connection.ts';
import { receive, type InboundHandlers } from './inbound.ts';
import { PartsInHand, type InHand } from './in-hand.ts';
import { Outbox, type OutgoingMessage } from './outbox.ts';
import { StationStore } from '../store/store.ts';
import { StorageFull, type StorageHealth } from '../storage/health.ts';

// Their home is shared/mqtt.ts and ./inbound.ts; named here too for the modules that import them from the link.
export { connectOptions, sendWithoutDelay, type BrokerOptions, type InboundHandlers };

export class StationLink {
  private client: MqttClient | null = null;
  private readonly outbox: Outbox;
  private readonly inHand: PartsInHand;
  /** where the outbox and the parts in hand are kept */
  readonly store: StationStore;
  private readonly ownsStore: boolean;
  /** parts a previous process took and never answered: the station answers them at start */
  readonly interrupted: InHand[];
  /** this station has reached this broker URL before: unreachable at start is an outage, not a wrong setting */
  readonly reachedBefore: boolean;

  constructor(
    private readonly broker: BrokerOptions,
    private readonly address: StationAddress,
    private readonly outboxDir: string,
    private readonly log: Logger,
    /** told of a full disk and of a failed fsync (edge/src/storage/health.ts) */
    storage?: StorageHealth,
    /** the station's store (edge/src/store/); without one, a store in `outboxDir` */
    store?: StationStore,
  ) {
    mkdirSync(outboxDir, { recursive: true });
    this.reachedBefore = reachedBefore(outboxDir, broker.url);
    // The outbox and the parts in hand share the station's store: a result and its answered mark are one write.
    this.store = store ?? StationStore.at(outboxDir, { storage });
    this.ownsStore = !store;
    this.inHand = new PartsInHand(this.store, storage);
    this.outbox = new Outbox(this.store, undefined, undefined, { storage });
    this.interrupted = this.inHand.left;
    if (this.outbox.depth > 0)
      log.info({ messages: this.outbox.depth }, 'outbox holds messages from before the restart; delivering them first');
    if (this.interrupted.length > 0)
      log.warn(
        { parts: this.interrupted.length },
        'parts were in hand when the station stopped; they go to review as interrupted',
      );
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
    if (!this.client) return Promise.reject(new Error('the station link is not started'));
    return firstConnection(this.client, this.broker.url, timeoutMs);
  }

  get outboxDepth(): number {
    return this.outbox.depth;
  }

  /**
   * Connects in the background: a station inspects parts whether or not the broker is reachable,
   * and what it owes the line waits in the outbox.
   */
  start(handlers: InboundHandlers, online: () => Status): void {
    const client = connectStation(this.broker, this.address);
    this.client = client;
    sendWithoutDelay(client);
    const refuse = this.refuse.bind(this);
    client.on('message', (topic, payload, packet) =>
      receive(this.address, handlers, refuse, this.broker.maxFrameBytes, topic, payload, packet.dup),
    );
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('offline', () =>
      this.log.warn({ outbox: this.outbox.depth }, 'mqtt broker unreachable; results and verdicts wait in the outbox'),
    );
    client.on('connect', (connack) => {
      this.log.info({ url: this.broker.url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      if (!this.reachedBefore) rememberReached(this.outboxDir, this.broker.url, this.log);
      // "online" is said once the station listens: a PLC that waits for it never sends into the void.
      if (!connack.sessionPresent) {
        client.subscribe(inboundTopics(this.address), { qos: 1 }, (error) => {
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
      publish: (message, done) =>
        client.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, (error) =>
          done(error ?? undefined),
        ),
    });
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
        client
          .publishAsync(topics.status(this.address), JSON.stringify(offline), { qos: 1, retain: true })
          .catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
      ]);
      clearTimeout(timer);
      // Give messages on the wire a moment to be acknowledged; the rest stay in the outbox.
      await new Promise((resolve) => setTimeout(resolve, this.outbox.depth > 0 ? 200 : 0));
    }
    await client.endAsync(true);
    this.inHand.close();
    this.outbox.close();
    if (this.ownsStore) this.store.close();
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
    const ack: TriggerAck = {
      schema: 'loupe/trigger-ack@1',
      line: this.address.line,
      station: this.address.station,
      partId,
      ...(requestId !== undefined ? { requestId } : {}),
      state,
      at: new Date().toISOString(),
    };
    this.sendOrPublish(this.message(topics.triggerAck(this.address), ack, false));
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
   * the outbox with the part's answered mark in one transaction (the caller's, when it has one): a
   * crash leaves all of them or none.
   */
  publishResult(result: Result, next?: VerdictMessage | Review): void {
    const messages = [this.message(topics.result(this.address), result, false)];
    if (next?.schema === 'loupe/review@1')
      messages.push(this.message(topics.review(this.address, next.partId), next, true));
    else if (next) messages.push(this.message(topics.verdict(this.address), next, false));
    this.store.transition(() => {
      this.outbox.send(...messages);
      this.inHand.answer(result.partId);
    }, 'the outbox');
  }
  /**
   * A part's fail-safe result when the disk could not record it (reason storage_full): published
   * at once, not through the outbox, and kept by mqtt.js in memory until the broker has it. A part
   * taken before the disk filled is marked answered (written once there is space again).
   */
  publishUnrecorded(result: Result): void {
    this.publishNow(this.message(topics.result(this.address), result, false));
    this.inHand.answer(result.partId);
  }
  /** A review published again (at start): through the outbox, or at once when the disk is full. */
  publishReview(review: Review): void {
    this.sendOrPublish(this.message(topics.review(this.address, review.partId), review, true));
  }
  /**
   * A review decided (or expired): an empty retained message that removes the review from the broker,
   * and the part's verdict, in one write to the outbox. In two, a crash between them left the review
   * cleared and closed on disk, and the restart never sent the verdict.
   */
  closeReview(verdict: VerdictMessage): void {
    this.outbox.send(
      { topic: topics.review(this.address, verdict.partId), payload: '', retain: true },
      this.message(topics.verdict(this.address), verdict, false),
    );
  }
  /** A defect-log event or tally for the plant: through the outbox, like everything the station owes. */
  publishLog(message: LogMessage): void {
    this.outbox.send(this.message(topics.log(this.address), message, false));
  }
  publishError(error: Omit<ErrorMessage, 'schema' | 'line' | 'station' | 'at'>): void {
    const message: ErrorMessage = {
      schema: 'loupe/error@1',
      line: this.address.line,
      station: this.address.station,
      at: new Date().toISOString(),
      ...error,
    };
    this.sendOrPublish(this.message(topics.error(this.address), message, false));
  }

  /**
   * Through the outbox; when the disk is full, at once (mqtt.js keeps it in memory until the broker
   * has it): for messages that tell, not record (acks, refusals, reviews published again).
   */
  private sendOrPublish(message: OutgoingMessage): void {
    try {
      this.outbox.send(message);
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      this.publishNow(message);
    }
  }

  private publishNow(message: OutgoingMessage): void {
    this.client?.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, (error) => {
      if (error) this.log.warn({ err: error.message, topic: message.topic }, 'publish failed');
    });
  }

  private message(topic: string, payload: object, retain: boolean): OutgoingMessage {
    return { topic, payload: JSON.stringify(payload), retain };
  }

  refuse(topic: string, code: ErrorMessage['code'], message: string, partId?: string, requestId?: string): void {
    this.log.warn({ topic, code, partId, requestId }, `refused inbound message: ${message}`);
    this.publishError({
      topic,
      code,
      message,
      ...(partId ? { partId } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
    });
  }
}
