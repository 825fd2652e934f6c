/**
 * The plant service's intake: a shared subscription to every station's log topic (several plant
 * instances split the load; the broker hands each message to one of them), a spool on disk, and
 * batched writes to PostgreSQL.
 *
 * Why a spool: mqtt.js acknowledges a QoS 1 message once its handler returns and takes the next
 * message only then, so acknowledging after the database commit would mean one commit per
 * message. Instead each message is appended to a spool file (the edge's outbox, same format and
 * guarantees) before the handler returns, and the spool is drained to PostgreSQL in batches; a
 * batch leaves the spool only when its transaction has committed. A plant service killed at any
 * point loses nothing: what the broker saw acknowledged is on disk, and what is on disk is written
 * again at start (the store skips events it already holds). When PostgreSQL is down, messages keep
 * being accepted into the spool and the writes are retried.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { LogSchema, type LogMessage } from '../../contract/payloads.ts';
import { plantLogSubscription } from '../../contract/topics.ts';
import { parsePayload } from '../../contract/validate.ts';
import { connectOptions, sendWithoutDelay, type BrokerOptions } from '../../shared/mqtt.ts';
import { Outbox, type OutgoingMessage } from '../../edge/src/bus/outbox.ts';
import type { PlantStore, WriteOutcome } from './store.ts';

export interface IntakeOptions {
  broker: BrokerOptions;
  /** topic prefix of the stations, may hold `+` (e.g. `loupe/+` for every site) */
  prefix: string;
  /** the shared subscription's group: instances with the same group split the messages */
  group?: string;
  spoolDir: string;
  /** most messages in one transaction */
  batchSize?: number;
  /** longest wait for a batch to fill */
  batchMs?: number;
  /** wait before writing again after PostgreSQL refused a batch */
  retryMs?: number;
  /** batches written at once, each in its own transaction (rows are locked in one order, so they never deadlock) */
  writers?: number;
  /** told of each committed batch (tests, the benchmark) */
  committed?: (messages: readonly LogMessage[], outcome: WriteOutcome) => void;
}

export class PlantIntake {
  private client: MqttClient | null = null;
  private readonly spool: Outbox;
  private batch: { message: LogMessage; done: (error?: Error) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** batches being written now (at most `writers`) */
  private writing = 0;
  private paused = false;
  private stopped = false;
  /** messages refused because they did not match loupe/log@1 */
  refused = 0;
  /** events written and repeated since start */
  readonly totals = { added: 0, repeated: 0, tallies: 0, batches: 0 };

  constructor(
    private readonly store: PlantStore,
    private readonly options: IntakeOptions,
    private readonly log: Logger,
  ) {
    const batchSize = options.batchSize ?? 1000;
    this.spool = new Outbox(options.spoolDir, batchSize * ((options.writers ?? 2) + 1));
    if (this.spool.depth > 0)
      log.info(
        { messages: this.spool.depth },
        'plant spool holds messages from before the restart; writing them first',
      );
  }

  get spoolDepth(): number {
    return this.spool.depth;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    const writable = () => !this.paused && !this.stopped;
    this.spool.attach({
      get connected() {
        return writable();
      },
      publish: (message, done) => this.take(message, done),
    });
    const { broker, prefix, group } = this.options;
    // A persistent session keeps the subscription and queues for us while we are away. Mosquitto 2.0
    // forgets a session's shared subscription when it restarts (plain ones it keeps), and a second
    // SUBSCRIBE of the same shared subscription into a live session stops its delivery: so mqtt.js's
    // own resubscribe is off and the subscription is made once on every connect (docs/plant.md).
    const client = mqtt.connect(broker.url, {
      ...connectOptions(broker, broker.clientId ?? `loupe-plant-${process.pid}`),
      clean: false,
      resubscribe: false,
    });
    this.client = client;
    sendWithoutDelay(client);
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('offline', () =>
      this.log.warn('plant broker unreachable; the stations keep their log events until it returns'),
    );
    client.on('message', (topic, payload) => this.receive(topic, payload));
    const topic = plantLogSubscription(prefix, group);
    client.on('connect', (connack) => {
      this.log.info({ url: broker.url, topic, sessionPresent: connack.sessionPresent }, 'plant intake connected');
      client.subscribe(
        topic,
        { qos: 1 },
        (error) => error && this.log.error({ err: error.message }, 'subscribe failed'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  /** On disk before the handler returns (and mqtt.js acknowledges it); checked when it is taken into a batch. */
  private receive(topic: string, payload: Buffer): void {
    this.spool.send({ topic, payload: payload.toString(), retain: false });
  }

  private take(message: OutgoingMessage, done: (error?: Error) => void): void {
    const parsed = parsePayload(LogSchema, message.payload);
    if (!parsed.ok) {
      // Not a log message this version knows: acknowledged and dropped (it can never be written), said loudly.
      this.refused += 1;
      this.log.warn({ topic: message.topic, err: parsed.message }, 'log message refused: not loupe/log@1');
      done();
      return;
    }
    this.batch.push({ message: parsed.value, done });
    if (this.batch.length >= (this.options.batchSize ?? 1000)) this.flushSoon(0);
    else this.flushSoon(this.options.batchMs ?? 20);
  }

  private flushSoon(ms: number): void {
    if (this.writing >= (this.options.writers ?? 2)) return; // a write in progress starts the next one when it ends
    if (this.timer && ms > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private async flush(): Promise<void> {
    if (this.writing >= (this.options.writers ?? 2) || this.batch.length === 0) return;
    this.writing += 1;
    const batch = this.batch.splice(0, this.options.batchSize ?? 1000);
    const messages = batch.map((b) => b.message);
    let failure: Error | undefined;
    try {
      const outcome = await this.store.write(messages);
      this.totals.added += outcome.added;
      this.totals.repeated += outcome.repeated;
      this.totals.tallies += outcome.tallies;
      this.totals.batches += 1;
      this.options.committed?.(messages, outcome);
    } catch (error) {
      failure = error as Error;
      this.log.error(
        { err: failure.message, messages: batch.length },
        'PostgreSQL refused a batch; it stays in the spool and is written again',
      );
      this.paused = true;
      setTimeout(() => {
        this.paused = false;
        this.spool.resume();
      }, this.options.retryMs ?? 1000).unref();
    }
    this.writing -= 1;
    // After a failure the later messages go back too, so the spool writes them again in order.
    for (const b of failure ? [...batch, ...this.batch.splice(0)] : batch) b.done(failure);
    if (this.batch.length > 0 && !this.paused)
      this.flushSoon(this.batch.length >= (this.options.batchSize ?? 1000) ? 0 : (this.options.batchMs ?? 20));
  }

  /** Stops taking messages; what was acknowledged and not yet written stays in the spool for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(true);
    for (let i = 0; i < 200 && this.writing > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    if (this.timer) clearTimeout(this.timer);
    this.spool.close();
  }
}
