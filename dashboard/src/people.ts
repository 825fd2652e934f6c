/**
 * The people who may use the dashboard, their roles and their sessions. Passwords are kept as
 * scrypt hashes (salted, memory-hard); sessions are random ids kept server-side, so logging out or
 * removing a person ends their session at once. Both live in small lowdb files under the dashboard's
 * data folder, so a restart logs no one out. `loupe people` changes the same files while a dashboard
 * runs: each file is read again when it changed on disk since this process last read or wrote it.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { privateDocument } from './private-file.ts';
import { HashGate, LoginThrottle } from './throttle.ts';

export const ROLES = ['technician', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A role includes every role before it: a manager can do what a technician does. */
export const allows = (held: Role, needed: Role) => ROLES.indexOf(held) >= ROLES.indexOf(needed);

export interface Person {
  name: string;
  role: Role;
  /** `scrypt$N$r$p$salt$hash`, salt and hash in base64 */
  password: string;
  createdAt: string;
}

export interface Session {
  id: string;
  name: string;
  role: Role;
  /** the token state-changing requests must echo in `x-csrf-token` */
  csrf: string;
  expiresAt: number;
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
export const NAME_PATTERN = '^[A-Za-z0-9._@-]{1,64}$';
export const MIN_PASSWORD = 10;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(
      password.normalize('NFKC'),
      salt,
      KEY_LENGTH,
      { ...options, maxmem: 128 * options.N! * options.r! * 2 },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export type LoginOutcome =
  | { ok: true; session: Session }
  | { ok: false; code: 'bad_credentials' | 'locked' | 'busy'; message: string; retryAfterS?: number };

export class People {
  private readonly people: LowSync<{ people: Person[] }>;
  private readonly sessions: LowSync<{ sessions: Session[] }>;
  /** failed logins per source, per name and per both (throttle.ts): slows guessing, locks no one out */
  private readonly throttle: LoginThrottle;
  /** password hashing a login flood may start at once (throttle.ts) */
  readonly hashing = new HashGate();
  /** a hash to compare against when the name is unknown, so timing does not reveal who exists */
  private decoy: Promise<string> | null = null;

  constructor(
    dir: string,
    private readonly sessionHours: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    // Password hashes and session ids: files readable by their owner only (0600, in a 0700 folder).
    this.people = privateDocument(dir, 'people.json', { people: [] as Person[] });
    this.sessions = privateDocument(dir, 'sessions.json', { sessions: [] as Session[] });
    this.throttle = new LoginThrottle(now);
    this.peopleFile = path.join(dir, 'people.json');
    this.sessionsFile = path.join(dir, 'sessions.json');
    this.seen.set(this.peopleFile, mtime(this.peopleFile));
    this.seen.set(this.sessionsFile, mtime(this.sessionsFile));
  }

  private readonly peopleFile: string;
  private readonly sessionsFile: string;
  /** each file's modification time as this process last read or wrote it */
  private readonly seen = new Map<string, number>();

  /** Reads a file again when another process (`loupe people`) changed it. */
  private fresh<T>(db: LowSync<T>, file: string): void {
    const now = mtime(file);
    if (now === this.seen.get(file)) return;
    db.read();
    this.seen.set(file, now);
  }

  private save<T>(db: LowSync<T>, file: string): void {
    db.write();
    this.seen.set(file, mtime(file));
  }

  get count(): number {
    this.fresh(this.people, this.peopleFile);
    return this.people.data.people.length;
  }

  list(): Omit<Person, 'password'>[] {
    this.fresh(this.people, this.peopleFile);
    return this.people.data.people.map(({ name, role, createdAt }) => ({ name, role, createdAt }));
  }

  /** Whether `name` is the only admin (removing them would leave nobody able to manage people). */
  isLastAdmin(name: string): boolean {
    const admins = this.list().filter((p) => p.role === 'admin');
    return admins.length === 1 && admins[0].name === name;
  }

  /** Sets a person's password and ends their sessions. */
  async setPassword(
    name: string,
    password: string,
  ): Promise<{ ok: true } | { ok: false; code: 'unknown_person' | 'weak_password'; message: string }> {
    if (password.length < MIN_PASSWORD)
      return { ok: false, code: 'weak_password', message: `a password needs at least ${MIN_PASSWORD} characters` };
    const hash = await hashPassword(password);
    this.fresh(this.people, this.peopleFile);
    const person = this.people.data.people.find((p) => p.name === name);
    if (!person) return { ok: false, code: 'unknown_person', message: `no person called "${name}"` };
    person.password = hash;
    this.save(this.people, this.peopleFile);
    this.endSessionsOf(name);
    return { ok: true };
  }

  private endSessionsOf(name: string): void {
    this.fresh(this.sessions, this.sessionsFile);
    this.sessions.data.sessions = this.sessions.data.sessions.filter((s) => s.name !== name);
    this.save(this.sessions, this.sessionsFile);
  }

  async add(
    name: string,
    role: Role,
    password: string,
  ): Promise<{ ok: true } | { ok: false; code: 'exists' | 'weak_password' | 'invalid_name'; message: string }> {
    if (!new RegExp(NAME_PATTERN).test(name))
      return {
        ok: false,
        code: 'invalid_name',
        message: `a name is 1 to 64 letters, digits or . _ @ - (got "${name}")`,
      };
    if (password.length < MIN_PASSWORD)
      return { ok: false, code: 'weak_password', message: `a password needs at least ${MIN_PASSWORD} characters` };
    const hash = await hashPassword(password);
    this.fresh(this.people, this.peopleFile);
    if (this.people.data.people.some((p) => p.name === name))
      return { ok: false, code: 'exists', message: `there is already a person called "${name}"` };
    this.people.data.people.push({ name, role, password: hash, createdAt: new Date(this.now()).toISOString() });
    this.save(this.people, this.peopleFile);
    return { ok: true };
  }

  remove(name: string): boolean {
    this.fresh(this.people, this.peopleFile);
    const before = this.people.data.people.length;
    this.people.data.people = this.people.data.people.filter((p) => p.name !== name);
    if (before === this.people.data.people.length) return false;
    this.save(this.people, this.peopleFile);
    this.endSessionsOf(name);
    return true;
  }

  /** `source` is where the attempt comes from (the client's address): throttling is per source and name. */
  async login(name: string, password: string, source = 'local'): Promise<LoginOutcome> {
    const allowed = this.throttle.check(source, name);
    if (!allowed.ok) {
      return {
        ok: false,
        code: 'locked',
        message: `too many failed logins from here; wait ${allowed.retryAfterS} s (another device can still log in)`,
        retryAfterS: allowed.retryAfterS,
      };
    }
    if (allowed.holdMs > 0) await this.sleep(allowed.holdMs);
    this.fresh(this.people, this.peopleFile);
    const person = this.people.data.people.find((p) => p.name === name);
    this.decoy ??= hashPassword(randomBytes(12).toString('base64'));
    const decoy = await this.decoy;
    const matches = await this.hashing.run(() => verifyPassword(password, person?.password ?? decoy));
    if (matches === null)
      return { ok: false, code: 'busy', message: 'too many logins at once; try again in a moment', retryAfterS: 1 };
    if (!person || !matches) {
      this.throttle.failed(source, name);
      return { ok: false, code: 'bad_credentials', message: 'unknown name or wrong password' };
    }
    this.throttle.succeeded(source, name);
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      name,
      role: person.role,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: this.now() + this.sessionHours * 3_600_000,
    };
    this.fresh(this.sessions, this.sessionsFile);
    this.sessions.data.sessions = this.sessions.data.sessions.filter((s) => s.expiresAt > this.now());
    this.sessions.data.sessions.push(session);
    this.save(this.sessions, this.sessionsFile);
    return { ok: true, session };
  }

  /** The live session with this id; `expired` when it existed but its time is up. */
  session(id: string): Session | 'expired' | null {
    this.fresh(this.sessions, this.sessionsFile);
    const session = this.sessions.data.sessions.find((s) => s.id === id);
    if (!session) return null;
    return session.expiresAt > this.now() ? session : 'expired';
  }

  logout(id: string): void {
    this.fresh(this.sessions, this.sessionsFile);
    this.sessions.data.sessions = this.sessions.data.sessions.filter((s) => s.id !== id);
    this.save(this.sessions, this.sessionsFile);
  }
}

/** A file's modification time in ms, or 0 when it does not exist. */
function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0; // not written yet: lowdb answers the defaults
  }
}
