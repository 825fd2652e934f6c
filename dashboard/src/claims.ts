/**
 * Claims: a technician takes a review before deciding it, so two people never decide the same part.
 * A claim lasts `ttlSeconds` (a person who walks away does not block the part for ever); a second
 * claim or a decision by someone else meanwhile is refused with who holds it. Claims and the
 * decisions sent are kept in small lowdb files, so a dashboard restart forgets neither.
 *
 * Dashboards on one broker share claims: each publishes its claims retained on `…/claim/{partId}`
 * (feed.ts) and adopts the others' here. Two claims made at the same moment on two dashboards are
 * settled the same way on both: the earlier claim wins, then the smaller name.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { jsonDocument } from '../../shared/json-document.ts';

export interface Claim {
  key: string;
  user: string;
  expiresAt: number;
  /** when this holder first claimed it (a renewal keeps it), to settle two simultaneous claims */
  claimedAt?: number;
}

export type ClaimOutcome = { ok: true; claim: Claim } | { ok: false; holder: Claim };

export class ClaimBook {
  private readonly db: LowSync<{ claims: Claim[] }>;

  constructor(
    private readonly dir: string,
    readonly ttlSeconds = 120,
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
    const claim: Claim = {
      key,
      user,
      expiresAt: this.now() + this.ttlSeconds * 1000,
      claimedAt: held?.claimedAt ?? this.now(),
    };
    this.db.data.claims = this.db.data.claims.filter((c) => c.key !== key && c.expiresAt > this.now());
    this.db.data.claims.push(claim);
    this.db.write();
    return { ok: true, claim };
  }

  /**
   * A claim made on another dashboard (or this one's, echoed by the broker). Answers the claim in
   * force afterwards, or null when there is none.
   */
  adopt(claim: Claim): Claim | null {
    if (claim.expiresAt <= this.now()) return this.holder(claim.key);
    const held = this.holder(claim.key);
    if (held && held.user !== claim.user && before(held, claim)) return held;
    if (held && held.user === claim.user && held.expiresAt >= claim.expiresAt) return held;
    this.db.data.claims = this.db.data.claims.filter((c) => c.key !== claim.key && c.expiresAt > this.now());
    this.db.data.claims.push({
      key: claim.key,
      user: claim.user,
      expiresAt: claim.expiresAt,
      claimedAt: claim.claimedAt,
    });
    this.db.write();
    return claim;
  }

  release(key: string): void {
    const before = this.db.data.claims.length;
    this.db.data.claims = this.db.data.claims.filter((c) => c.key !== key);
    if (this.db.data.claims.length !== before) this.db.write();
  }

  /** The decisions this dashboard sent, one JSON line each: what a person did survives a crash. */
  recordDecision(decision: object): void {
    appendFileSync(
      path.join(this.dir, 'decisions-sent.jsonl'),
      `${JSON.stringify({ ...decision, sentAt: new Date(this.now()).toISOString() })}\n`,
    );
  }
}

/** Whether claim `a` was made before `b` (ties: the smaller name), the same answer on every dashboard. */
function before(a: Claim, b: Claim): boolean {
  const at = (c: Claim) => c.claimedAt ?? 0;
  return at(a) !== at(b) ? at(a) < at(b) : a.user < b.user;
}
