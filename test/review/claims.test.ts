import { describe, expect, it } from 'vitest';
import { ClaimBook } from '../../dashboard/src/claims.ts';
import { tempDirSync } from '../support/temp.ts';

describe('claims', () => {
  it('refuses a second claim with who holds it, lets the claim expire, and survives a restart', () => {
    const dir = tempDirSync('loupe-claims-');
    let now = 1_000_000;
    const book = new ClaimBook(dir, 60, () => now);
    expect(book.claim('l/s/p1', 'ana')).toMatchObject({ ok: true });
    expect(book.claim('l/s/p1', 'ben')).toMatchObject({ ok: false, holder: { user: 'ana' } });
    expect(book.claim('l/s/p1', 'ana')).toMatchObject({ ok: true }); // renewing one's own claim
    const restarted = new ClaimBook(dir, 60, () => now);
    expect(restarted.holder('l/s/p1')?.user).toBe('ana');
    now += 61_000;
    expect(restarted.claim('l/s/p1', 'ben')).toMatchObject({ ok: true, claim: { user: 'ben' } });
  });
});
