/**
 * Login throttling that slows guessing without letting anyone lock a person out. A per-name lock
 * (five failures lock the name) let anyone who knows a name keep its owner from logging in; here:
 *
 * - per source and name: five failures free, then each further attempt from that source on that
 *   name must wait a delay that doubles (1 s, 2 s, 4 s, … up to 15 min), answered 429 at once;
 * - per source, across names (password spraying): twenty failures free, then the same doubling;
 * - per name, across sources: after five failures every attempt on the name is held a little before
 *   it is checked (doubling from 250 ms, at most 2 s): a guesser with many addresses is slowed,
 *   while the right password from a new source still gets in.
 *
 * A success clears the source's failures on that name. Pure: time comes in as `now`.
 */

export type ThrottleVerdict = { ok: true; holdMs: number } | { ok: false; retryAfterS: number };

const WINDOW_MS = 15 * 60_000;
const MAX_LOCK_MS = 15 * 60_000;
const FREE_PER_PAIR = 5;
const FREE_PER_SOURCE = 20;
const FREE_PER_NAME = 5;
const MAX_HOLD_MS = 2000;
/** Bounds the memory an attacker can make this use with made-up names and sources. */
const MAX_KEYS = 10_000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** May `source` try to log in as `name` now; if so, how long to hold the attempt first. */
  check(source: string, name: string): ThrottleVerdict {
    const now = this.now();
    const waits = [
      this.lockLeft(`p\u0000${source}\u0000${name}`, FREE_PER_PAIR, now),
      this.lockLeft(`s\u0000${source}`, FREE_PER_SOURCE, now),
    ];
    const wait = Math.max(...waits);
    if (wait > 0) return { ok: false, retryAfterS: Math.ceil(wait / 1000) };
    const overName = this.recent(`n\u0000${name}`, now).length - FREE_PER_NAME;
    return { ok: true, holdMs: overName <= 0 ? 0 : Math.min(MAX_HOLD_MS, 250 * 2 ** (overName - 1)) };
  }

  failed(source: string, name: string): void {
    const now = this.now();
    for (const key of [`p\u0000${source}\u0000${name}`, `s\u0000${source}`, `n\u0000${name}`]) {
      const list = this.recent(key, now);
      list.push(now);
      this.failures.set(key, list.slice(-64));
    }
    if (this.failures.size > MAX_KEYS) this.prune(now);
  }

  succeeded(source: string, name: string): void {
    this.failures.delete(`p\u0000${source}\u0000${name}`);
  }

  private lockLeft(key: string, free: number, now: number): number {
    const list = this.recent(key, now);
    if (list.length < free) return 0;
    const lockMs = Math.min(MAX_LOCK_MS, 1000 * 2 ** (list.length - free));
    return list[list.length - 1] + lockMs - now;
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((at) => at > now - WINDOW_MS);
  }

  private prune(now: number): void {
    for (const [key, list] of this.failures) if (!list.some((at) => at > now - WINDOW_MS)) this.failures.delete(key);
    // Still too many: forget the oldest entries (a Map iterates in insertion order).
    for (const key of this.failures.keys()) {
      if (this.failures.size <= MAX_KEYS) break;
      this.failures.delete(key);
    }
  }
}

/**
 * Bounds the password hashing a login flood can start: scrypt runs on libuv's thread pool, the
 * same few threads that decode camera frames and write evidence, so unbounded logins would slow
 * inspection. `run` lets `limit` hashes run at once and `queue` wait; beyond that it refuses.
 */
export class HashGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** the most hashes that ran at once (for tests and metrics) */
  peak = 0;

  constructor(
    private readonly limit = 1,
    private readonly queue = 8,
  ) {}

  /** Runs `work` when a slot is free; `null` at once when too many wait already. */
  async run<T>(work: () => Promise<T>): Promise<T | null> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.queue) return null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running += 1;
    this.peak = Math.max(this.peak, this.running);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes on; `running` stays
      else this.running -= 1;
    }
  }
}
