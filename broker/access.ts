/**
 * Who may speak on the embedded broker. Without this, any client that reaches the broker could
 * publish a decision under any name and get a defective part passed, or forge results, reviews,
 * status and verdicts. Users come from the config (`mqtt.users`), their secrets from the environment
 * or a file (or given as a scrypt hash), and are kept in memory as scrypt hashes only. Each user has
 * a role and the stations it is granted; the rules below are the ones docs/security.md spells out
 * and the Mosquitto ACL in docs/mosquitto/ repeats, so an external broker enforces the same.
 *
 * Pure functions of (user, topic): the broker (embedded.ts) calls them, tests call them directly.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const MQTT_ROLES = ['station', 'plc', 'dashboard', 'observer'] as const;
export type MqttRole = (typeof MQTT_ROLES)[number];

/** A user as the config gives it. Exactly one secret source. */
export interface MqttUserConfig {
  name: string;
  role: MqttRole;
  /** station ids this user speaks for (station role), triggers and sends frames to (plc), or reads; `*` = every station */
  stations?: string[];
  /** station ids this user may decide reviews for, on `…/decision/{name}` */
  decisions?: string[];
  /** `scrypt$N$r$p$salt$hash` (from `npx tsx broker/hash.ts`) */
  passwordHash?: string;
  /** environment variable holding the password */
  passwordEnv?: string;
  /** file holding the password (first line) */
  passwordFile?: string;
}

export interface MqttUser {
  name: string;
  role: MqttRole;
  stations: Set<string>;
  decisions: Set<string>;
  hash: string;
  /** topic prefixes outside Loupe's tree this user may publish and read (an internal Sparkplug B client) */
  prefixes?: string[];
}

/** Everyone, for the loopback demo (`mqtt.anonymous: true`); malformed topics are still refused. */
export const ANYONE: MqttUser = {
  name: '',
  role: 'dashboard',
  stations: new Set(['*']),
  decisions: new Set(['*']),
  hash: '',
};

const SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

function scrypt(secret: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(secret, salt, 32, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(secret, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * Reads every user's secret (hash as given; env or file hashed here, the clear text not kept) and
 * throws a message naming the user and what is wrong.
 */
export async function loadUsers(
  configured: MqttUserConfig[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Map<string, MqttUser>> {
  const users = new Map<string, MqttUser>();
  for (const [index, user] of configured.entries()) {
    const where = `mqtt.users[${index}] (${user.name})`;
    const sources = [user.passwordHash, user.passwordEnv, user.passwordFile].filter((s) => s !== undefined).length;
    if (sources !== 1) throw new Error(`${where}: give exactly one of passwordHash, passwordEnv, passwordFile`);
    if (users.has(user.name)) throw new Error(`${where}: the name is used twice`);
    let hash = user.passwordHash;
    if (hash !== undefined && !/^scrypt\$\d+\$\d+\$\d+\$[^$]+\$[^$]+$/.test(hash))
      throw new Error(
        `${where}.passwordHash: not a scrypt$N$r$p$salt$hash string (make one with: npx tsx broker/hash.ts)`,
      );
    if (user.passwordEnv !== undefined) {
      const secret = env[user.passwordEnv];
      if (!secret) throw new Error(`${where}.passwordEnv: environment variable ${user.passwordEnv} is not set`);
      hash = await hashSecret(secret);
    }
    if (user.passwordFile !== undefined) {
      let secret: string;
      try {
        secret = readFileSync(user.passwordFile, 'utf8').split('\n')[0].trim();
      } catch (error) {
        throw new Error(`${where}.passwordFile: cannot read ${user.passwordFile}: ${(error as Error).message}`);
      }
      if (!secret) throw new Error(`${where}.passwordFile: ${user.passwordFile} is empty`);
      hash = await hashSecret(secret);
    }
    users.set(user.name, {
      name: user.name,
      role: user.role,
      stations: new Set(user.stations ?? []),
      decisions: new Set(user.decisions ?? []),
      hash: hash as string,
    });
  }
  return users;
}

/**
 * A topic a client may publish to at all: no wildcards, no empty level, no NUL, within our tree
 * or not. An empty level (`…/frame/`) would reach a station as a frame without a part id.
 */
export function wellFormedTopic(topic: string): boolean {
  if (topic.length === 0 || topic.length > 512) return false;
  if (topic.includes('+') || topic.includes('#') || topic.includes(String.fromCharCode(0))) return false;
  return !topic.split('/').includes('');
}

interface Address {
  line: string;
  station: string;
  kind: string;
  rest: string[];
}

/** `{prefix}/{line}/{station}/{kind}[/…]` split, or null when the topic is not under the prefix. */
function address(prefix: string, topic: string): Address | null {
  if (!topic.startsWith(`${prefix}/`)) return null;
  const [line, station, kind, ...rest] = topic.slice(prefix.length + 1).split('/');
  if (!line || !station || !kind) return null;
  return { line, station, kind, rest };
}

const granted = (set: Set<string>, station: string) => set.has('*') || set.has(station);

/** What a station publishes about itself (besides `review/{partId}` and `trigger/ack`); `log` feeds the plant. */
const STATION_OUT = new Set(['status', 'result', 'verdict', 'error', 'log']);

/**
 * Whether `user` may publish on `topic`. A station speaks only for itself (status, result, review,
 * verdict, error); a PLC triggers and sends frames to its stations; a decision comes only on
 * `…/decision/{user}` from a user granted decisions for that station, so the name the station
 * records is the one the broker authenticated. The plain `…/decision` topic is a dashboard's: it
 * relays people it authenticated itself. Claims are the dashboards' shared state.
 */
export function mayPublish(user: MqttUser, prefix: string, topic: string): boolean {
  if (!wellFormedTopic(topic)) return false;
  if (user === ANYONE) return true;
  if (user.prefixes?.some((p) => topic.startsWith(p))) return true;
  const at = address(prefix, topic);
  if (!at) return false;
  const { station, kind, rest } = at;
  if (kind === 'decision' && rest.length === 1) return rest[0] === user.name && granted(user.decisions, station);
  switch (user.role) {
    case 'station':
      if (!granted(user.stations, station)) return false;
      return (
        (STATION_OUT.has(kind) && rest.length === 0) ||
        (kind === 'review' && rest.length === 1) ||
        (kind === 'trigger' && rest.length === 1 && rest[0] === 'ack')
      );
    case 'plc':
      if (!granted(user.stations, station)) return false;
      return (kind === 'trigger' && rest.length === 0) || (kind === 'frame' && rest.length === 1);
    case 'dashboard':
      if (!granted(user.stations, station)) return false;
      return (kind === 'decision' && rest.length === 0) || (kind === 'claim' && rest.length === 1);
    default:
      return false;
  }
}

/**
 * Whether `user` may subscribe to `filter`. Anyone granted a station may read what is said about
 * it; a wildcard in the line or station level needs the `*` grant. Nobody outside the prefix.
 */
export function maySubscribe(user: MqttUser, prefix: string, filter: string): boolean {
  if (user === ANYONE) return true;
  if (user.prefixes?.some((p) => filter.startsWith(p))) return true;
  if (!filter.startsWith(`${prefix}/`)) return false;
  const [line, station] = filter.slice(prefix.length + 1).split('/');
  if (user.stations.has('*') || user.decisions.has('*')) return true;
  if (
    line === undefined ||
    station === undefined ||
    [line, station].some((level) => level === '+' || level === '#' || level === '')
  )
    return false;
  return granted(user.stations, station) || granted(user.decisions, station);
}
