/**
 * What every Loupe MQTT client shares (stations, dashboards, the plant service, integrations): the
 * broker's address and credentials, and the connection options built from them.
 */
import type { IClientOptions, MqttClient } from 'mqtt';

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
 * must leave at once, and Nagle combined with the peer's delayed ACK holds each for a delayed-ACK
 * period. mqtt.js does not expose the option, so it is set on the socket after every (re)connect.
 */
export function sendWithoutDelay(client: MqttClient): void {
  client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
}
