/**
 * How a station's MQTT connection is opened and first reached, apart from what travels on it (that
 * is the link's): the client's options (persistent session, pings on their own timer, a retained
 * "offline" as last will), the topics the station listens on, the bounded wait for the first
 * connection at start, and the note that this station has reached this broker URL before, so that a
 * broker unreachable at start is read as an outage and not as a wrong setting.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topics, type StationAddress } from '../../../contract/topics.ts';
import type { Status } from '../../../contract/payloads.ts';
import { connectOptions, type BrokerOptions } from '../../../shared/mqtt.ts';

/** Opens the station's client; it connects (and reconnects) in the background. */
export function connectStation(broker: BrokerOptions, address: StationAddress): MqttClient {
  const offline: Status = {
    schema: 'loupe/status@1',
    line: address.line,
    station: address.station,
    state: 'offline',
    at: new Date().toISOString(),
  };
  return mqtt.connect(broker.url, {
    ...connectOptions(broker, broker.clientId ?? `loupe-${address.line}-${address.station}`),
    clean: false, // persistent session: decisions sent while we were away are delivered on return
    // The keepalive ping goes out on its own timer: rescheduling it on every packet meant clearing
    // and setting a timer three times a part, for a ping a busy connection never needs anyway.
    reschedulePings: false,
    will: { topic: topics.status(address), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
  });
}

/** What a station subscribes to: its triggers, its frames, and decisions (with or without a part id). */
export function inboundTopics(address: StationAddress): string[] {
  return [
    topics.trigger(address),
    `${topics.base(address)}/frame/+`,
    topics.decision(address),
    `${topics.decision(address)}/+`,
  ];
}

/**
 * Resolves on the client's first connection, rejects at its first connection error or after
 * `timeoutMs` (see StationLink.firstConnection).
 */
export function firstConnection(client: MqttClient, url: string, timeoutMs: number): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
      if (error) reject(new Error(`cannot reach the MQTT broker at ${url}: ${error.message}`));
      else resolve();
    };
    const onConnect = () => settle();
    const onError = (error: Error) => settle(error);
    const timer = setTimeout(() => settle(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

const reachedFile = (dir: string) => path.join(dir, 'broker-reached');

/** Whether this station (its outbox directory `dir`) has reached the broker at `url` before. */
export function reachedBefore(dir: string, url: string): boolean {
  const file = reachedFile(dir);
  return existsSync(file) && readFileSync(file, 'utf8') === url;
}

/** Notes that the broker at `url` was reached; a failure to note it is only logged. */
export function rememberReached(dir: string, url: string, log: Logger): void {
  try {
    writeFileSync(reachedFile(dir), url);
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'could not note that the broker was reached');
  }
}
