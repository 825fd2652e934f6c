/** A separate mqtt.js client, as a PLC or MES would be: collects what a station publishes. */
import mqtt, { type MqttClient } from 'mqtt';

export class Collector {
  readonly messages: { topic: string; payload: Buffer; retain: boolean }[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain });
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /**
   * The collector listens before it connects: a persistent session's queued messages arrive right
   * behind the CONNACK, and mqtt.js emits (and acknowledges) them before `connectAsync` resolves.
   */
  static async connect(url: string, topics: string[], options: mqtt.IClientOptions = {}): Promise<Collector> {
    const client = mqtt.connect(url, {
      clientId: `loupe-test-${Math.random().toString(16).slice(2)}`,
      reconnectPeriod: 200,
      ...options,
    });
    const collector = new Collector(client);
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        client.off('connect', onConnect);
        client.off('error', onError);
        if (!error) return resolve();
        client.end(true); // as connectAsync does: a client that failed to connect stops retrying
        reject(error);
      };
      const onConnect = () => settle();
      const onError = (error: Error) => settle(error);
      client.on('connect', onConnect);
      client.on('error', onError);
    });
    await client.subscribeAsync(topics, { qos: 1 });
    return collector;
  }

  json<T>(suffix: string): T[] {
    return this.messages
      .filter((m) => m.topic.endsWith(suffix) && m.payload.length > 0)
      .map((m) => JSON.parse(m.payload.toString()) as T);
  }

  /**
   * Waits for a station's status to say online, as a PLC does before it sends anything: the station
   * says so only once it listens on its inbound topics (docs/mqtt.md), and a message sent before that
   * reaches no one. Needs a subscription that covers `<base>/status`.
   */
  async stationOnline(base: string): Promise<void> {
    await this.waitFor(
      `${base} to say online`,
      () => this.messages.some((m) => m.topic === `${base}/status` && m.payload.includes('"state":"online"')),
      30_000,
    );
  }

  /** Waits until `predicate` holds over the messages so far, or fails after `timeoutMs`. */
  async waitFor<T>(what: string, predicate: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = predicate();
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; got ${this.messages.length} messages: ${this.messages
            .slice(-5)
            .map((m) => `${m.topic} ${m.payload.toString().slice(0, 200)}`)
            .join('\n')}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
