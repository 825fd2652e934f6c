/**
 * One durable store per station: everything structured a station must not forget (the messages it
 * owes the line, the parts in hand, the open reviews and the decided ones, the answers it gave, the
 * advice it keeps) lives in one SQLite database in WAL mode, `station.db` in the station's state
 * folder. Before it, each of these was its own hand-written journal, and crash windows between them
 * were closed one by one by ordering writes by hand. Here a state transition of a part (its result
 * with its verdict or its review, the review's closing with its verdict, the outbox records with
 * them) is one transaction: a crash leaves all of it or none, by construction. Recovery at start is
 * one read of the tables. Evidence blobs stay in files; lowdb keeps the small documents (people,
 * thresholds history, settings). See docs/decisions.md#one-store.
 *
 * Modules write through `transition()`; what they change in memory they hand to `after()`, which
 * runs once the transaction has committed (and never when it rolled back). A transition inside
 * another joins it. A full disk (SQLITE_FULL) is thrown as StorageFull and reported to the station's
 * storage health; a failed write or fsync (SQLITE_IOERR) makes the station unhealthy.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StorageFull, type StorageHealth } from '../storage/health.ts';
import { damagedMoved } from '../../../shared/damaged.ts';
import { migrate } from './migrate.ts';

/** The file a station's store is kept in, inside its state folder. */
export const STORE_FILE = 'station.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL, retain INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS in_hand (part_id TEXT PRIMARY KEY, source TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS open_reviews (part_id TEXT PRIMARY KEY, review TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, part_id TEXT NOT NULL, day TEXT NOT NULL, closing TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_day ON decisions (day);
CREATE TABLE IF NOT EXISTS answers (part_id TEXT PRIMARY KEY, at INTEGER NOT NULL, answer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advice (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS advice_kind ON advice (kind, seq);
`;

export interface StoreOptions {
  /** told of a full disk and of a failed write */
  storage?: StorageHealth;
  /** other folders whose state files of the older formats are migrated into this store (the outbox's) */
  legacyDirs?: string[];
  /** how often what was committed is checkpointed to the database file, against power loss */
  syncMs?: number;
}

/** Open stores by file, shared by the modules of one station in one process. */
const opened = new Map<string, StationStore>();

export class StationStore {
  readonly db: Database.Database;
  readonly file: string;
  private storage: StorageHealth | undefined;
  private users = 1;
  private depth = 0;
  private pending: (() => void)[] = [];
  private dirty = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly dir: string,
    options: StoreOptions,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, STORE_FILE);
    this.storage = options.storage;
    this.db = openDatabase(this.file);
    migrate(this, [dir, ...(options.legacyDirs ?? [])]);
    this.timer = setInterval(() => this.checkpoint(), options.syncMs ?? 1000);
    this.timer.unref();
  }

  /**
   * The store kept in `dir`, opened once per process: every module of a station that opens it gets
   * the same connection, so their writes can share a transaction. Each `at` is matched by a `close`.
   */
  static at(dir: string, options: StoreOptions = {}): StationStore {
    const file = path.resolve(dir, STORE_FILE);
    const open = opened.get(file);
    if (open) {
      open.users += 1;
      open.storage ??= options.storage;
      return open;
    }
    const store = new StationStore(path.resolve(dir), options);
    opened.set(file, store);
    return store;
  }

  /**
   * Runs `write` as one atomic write: everything it writes is committed together, or nothing is when
   * it throws (a full disk throws StorageFull). Inside another transition it joins that one.
   * `what` names the write in a full-disk report.
   */
  transition<T>(write: () => T, what = 'the station state'): T {
    if (this.depth > 0) return write();
    this.depth = 1;
    let value: T;
    try {
      value = this.db.transaction(write)();
    } catch (error) {
      this.pending = [];
      throw this.failure(error, what);
    } finally {
      this.depth = 0;
    }
    this.dirty = true;
    const committed = this.pending;
    this.pending = [];
    for (const apply of committed) apply();
    return value;
  }

  /** Runs `apply` once the current transition has committed; at once outside a transition. */
  after(apply: () => void): void {
    if (this.depth > 0) this.pending.push(apply);
    else apply();
  }

  /** Inside a transition (so a write joins it rather than starting its own). */
  get inTransition(): boolean {
    return this.depth > 0;
  }

  /**
   * Copies what was committed into the database file and syncs it: a commit survives a killed process
   * at once, a power loss once checkpointed. A failure here is reported, never thrown (on a timer).
   */
  checkpoint(): void {
    if (!this.dirty || !this.db.open) return;
    this.dirty = false;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (error) {
      this.failure(error, 'the station state checkpoint');
    }
  }

  close(): void {
    this.users -= 1;
    if (this.users > 0 || !this.db.open) return;
    clearInterval(this.timer);
    opened.delete(this.file);
    this.dirty = true;
    this.checkpoint();
    this.db.close();
  }

  /** The error to throw for a failed write: StorageFull for a full disk, reported to the storage health. */
  private failure(error: unknown, what: string): unknown {
    const code = (error as { code?: string }).code ?? '';
    if (error instanceof StorageFull || code === 'SQLITE_FULL' || code === 'ENOSPC') {
      this.storage?.full(what, error);
      return error instanceof StorageFull ? error : Object.assign(new StorageFull(what), { cause: error });
    }
    if (code.startsWith('SQLITE_IOERR')) this.storage?.fsyncFailed(this.file, error);
    return error;
  }
}

/** Opens (or creates) the database; one that is not a database is moved aside and started again. */
function openDatabase(file: string): Database.Database {
  const attempt = () => {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok')
        throw Object.assign(new Error(`integrity check: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  };
  try {
    return attempt();
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code !== 'SQLITE_NOTADB' && !code.startsWith('SQLITE_CORRUPT')) throw error;
    damagedMoved(
      file,
      `is not a readable database (${(error as Error).message})`,
      'the station state (outbox, parts in hand, reviews, answers)',
    );
    // Its write-ahead log belongs to it, not to the database started in its place.
    if (existsSync(`${file}-wal`))
      damagedMoved(
        `${file}-wal`,
        'belongs to a database that could not be read',
        'the station state (write-ahead log)',
      );
    rmSync(`${file}-shm`, { force: true });
    return attempt();
  }
}
