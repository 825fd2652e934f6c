/**
 * The broker `loupe start` embeds when no `mqtt.url` is configured, so that one command runs the
 * whole product on one machine. In a plant, stations and dashboards use the plant's broker instead.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(host: string, port: number): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  // noDelay: results are small messages that must leave at once; Nagle + delayed ACK adds ~40 ms to each.
  const server = net.createServer({ noDelay: true }, aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`MQTT port ${host}:${port} is already in use (set --mqtt-port or mqtt.port, or mqtt.url to use that broker)`) : error),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        aedes.close();
      }),
  };
}
