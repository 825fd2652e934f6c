/**
 * Claims: a technician takes a review before deciding it, so two people never decide the same part.
 * A claim lasts `ttlSeconds` (a person who walks away does not block the part for ever); a second
 * claim or a decision by someone else meanwhile is refused with who holds it. Claims and the
 * decisions sent are kept in small lowdb files, so a dashboard restart forgets neither.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { jsonDocument } from '../../edge/src/review/store.ts';

export interface Claim {
  key: string;
  user: string;
  expiresAt: number;
}

export type ClaimOutcome = { ok: true; claim: Claim } | { ok: false; holder: Claim };

export class ClaimBook {
  private readonly db: LowSync<{ claims: Claim[] }>;

  constructor(
    private readonly dir: string,
    private readonly ttlSeconds = 120,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dir, { recursive: true });
    this.db = jsonDocument(path.join(dir, 'claims.json'), { claims: [] as Claim[] });
  }

  holder(key: string): Claim | null {
    const claim = this.db.data.claims.find((c) => c.key === key);
    return claim && claim.expiresAt > this.now() ? claim : null;
  }

  /** Every claim still in force. */
  live(): Claim[] {
    return this.db.data.claims.filter((c) => c.expiresAt > this.now());
  }

  /** Claims (or renews one's own claim on) an item. */
  claim(key: string, user: string): ClaimOutcome {
    const held = this.holder(key);
    if (held && held.user !== user) return { ok: false, holder: held };
    const claim: Claim = { key, user, expiresAt: this.now() + this.ttlSeconds * 1000 };
    this.db.data.claims = this.db.data.claims.filter((c) => c.key !== key && c.expiresAt > this.now());
    this.db.data.claims.push(claim);
    this.db.write();
    return { ok: true, claim };
  }

  release(key: string): void {
    const before = this.db.data.claims.length;
    this.db.data.claims = this.db.data.claims.filter((c) => c.key !== key);
    if (this.db.data.claims.length !== before) this.db.write();
  }

  /** The decisions this dashboard sent, one JSON line each: what a person did survives a crash. */
  recordDecision(decision: object): void {
    appendFileSync(path.join(this.dir, 'decisions-sent.jsonl'), `${JSON.stringify({ ...decision, sentAt: new Date(this.now()).toISOString() })}\n`);
  }
}
