/**
 * The broker `loupe start` embeds when no `mqtt.url` is configured, so that one command runs the
 * whole product on one machine. In a plant, stations and dashboards use the plant's broker instead.
 *
 * It authenticates and authorises (access.ts): users from the config, plus one identity per
 * in-process station and dashboard, made at start with a random secret. Anonymous clients connect
 * only when the config says so (the loopback demo does). Malformed topics (empty levels, wildcards)
 * are refused from everyone: the client is disconnected, as MQTT 3.1.1 has no other answer.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Aedes, type Client } from 'aedes';
import {
  ANYONE,
  hashSecret,
  mayPublish,
  maySubscribe,
  verifySecret,
  wellFormedTopic,
  type MqttRole,
  type MqttUser,
} from './access.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /**
   * An identity for a component of this process (a station, the dashboard): the broker knows it,
   * nobody else does. Answers the credentials to connect with.
   */
  internalUser(
    name: string,
    role: MqttRole,
    stations: string[],
    prefixes?: string[],
  ): Promise<{ username: string; password: string }>;
  close(): Promise<void>;
}

export interface BrokerAccess {
  prefix: string;
  users: Map<string, MqttUser>;
  /** anonymous clients connect, and may do anything but publish malformed topics */
  anonymous: boolean;
  /** told of every refusal, for the log */
  refused?: (what: string) => void;
}

/** Authenticated identity of a connected client (`null`: anonymous). */
const identity = new WeakMap<Client, MqttUser>();

export async function startEmbeddedBroker(
  host: string,
  port: number,
  access: BrokerAccess = { prefix: 'loupe', users: new Map(), anonymous: true },
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const users = new Map(access.users);
  aedes.authenticate = (client, username, password, done) => {
    if (username === undefined || username === '') {
      if (access.anonymous) {
        identity.set(client, ANYONE);
        return done(null, true);
      }
      access.refused?.(`anonymous client ${client.id} refused (mqtt.anonymous is off)`);
      return done(Object.assign(new Error('not authorized'), { returnCode: 5 }), false);
    }
    const user = users.get(username);
    const secret = password?.toString('utf8') ?? '';
    // A known name with a wrong secret and an unknown name take the same path and time.
    void verifySecret(secret, user?.hash ?? DECOY).then(
      (ok) => {
        if (!user || !ok) {
          access.refused?.(`client ${client.id} refused: unknown user or wrong password (${username})`);
          return done(Object.assign(new Error('bad user name or password'), { returnCode: 4 }), false);
        }
        identity.set(client, user);
        done(null, true);
      },
      (error: Error) => done(Object.assign(error, { returnCode: 3 as const }), false),
    );
  };
  aedes.authorizePublish = (client, packet, done) => {
    if (!client) return done(null); // a will the broker publishes for a client long gone; it was checked when set
    const user = identity.get(client);
    if (!user || !mayPublish(user, access.prefix, packet.topic)) {
      const why = wellFormedTopic(packet.topic)
        ? `${user?.name || 'anonymous'} may not publish on it`
        : 'malformed topic (empty level or wildcard)';
      access.refused?.(`publish to "${packet.topic}" by ${client.id} refused: ${why}`);
      return done(new Error(`not authorised to publish on ${packet.topic}`));
    }
    done(null);
  };
  aedes.authorizeSubscribe = (client, subscription, done) => {
    const user = identity.get(client);
    if (!user || !maySubscribe(user, access.prefix, subscription.topic)) {
      access.refused?.(`subscription to "${subscription.topic}" by ${client.id} refused`);
      return done(null, null);
    }
    done(null, subscription);
  };
  // noDelay: results are small messages that must leave at once; Nagle + delayed ACK adds ~40 ms to each.
  const server = net.createServer({ noDelay: true }, aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `MQTT port ${host}:${port} is already in use (set --mqtt-port or mqtt.port, or mqtt.url to use that broker)`,
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://${host}:${bound}`,
    port: bound,
    async internalUser(name, role, stations, prefixes) {
      const username = `loupe-internal-${name}-${randomBytes(4).toString('hex')}`;
      const password = randomBytes(24).toString('base64url');
      users.set(username, {
        name: username,
        role,
        stations: new Set(stations),
        decisions: new Set(),
        hash: await hashSecret(password),
        prefixes,
      });
      return { username, password };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        aedes.close();
      }),
  };
}

/** Compared against when the user name is unknown, so timing does not say which names exist. */
const DECOY = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
