/**
 * The open reviews survive a restart from the station's store; a review closes with its decision
 * and its announcement in one write; the journals and the lowdb document of earlier versions are
 * migrated once, cut-short lines skipped.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import type { OpenReview } from '../../edge/src/review/book.ts';
import { tempDir } from '../support/temp.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('loupe-store-');
});

const review = (partId: string): OpenReview => ({
  partId,
  score: 12.5,
  reasons: ['borderline'],
  openedAt: 1_764_000_000_000,
  deadline: 1_764_000_600_000,
});
const closing = (partId: string) => ({
  partId,
  score: 12.5,
  verdict: 'reject' as const,
  decidedBy: 'human' as const,
  user: 'ana',
  at: 1_764_000_100_000,
});
const openIds = (store: FileReviewStore) => store.openReviews().map((r) => r.partId);

describe('the open reviews of a station', () => {
  it('come back after a restart, in the order they were opened, without the closed ones', () => {
    const store = new FileReviewStore(dir);
    for (const id of ['R-1', 'R-2', 'R-3']) store.opened(review(id));
    store.closed(closing('R-2'));
    store.close();
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['R-1', 'R-3']);
    expect(again.openReviews()[0]).toEqual(review('R-1'));
    expect(again.closings().map((c) => c.partId)).toEqual(['R-2']);
    again.close();
  });

  it('close a review with its decision and what announces it as one write: a failure while announcing leaves it open and undecided', () => {
    const store = new FileReviewStore(dir);
    for (const id of ['D-1', 'D-2']) store.opened(review(id));
    expect(() =>
      store.closed(closing('D-1'), () => {
        throw new Error('killed');
      }),
    ).toThrow('killed');
    expect(openIds(store)).toEqual(['D-1', 'D-2']);
    store.close();
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['D-1', 'D-2']);
    expect(again.closings()).toEqual([]);
    expect(again.unannounced()).toEqual([]);
    again.close();
  });

  it('give a review an older station decided just before a crash (decided in its day file, open in its journal) back as decided, once', () => {
    writeFileSync(
      path.join(dir, 'open-reviews.jsonl'),
      ['F-1', 'F-2'].map((id) => `${JSON.stringify({ opened: review(id) })}\n`).join(''),
    );
    writeFileSync(
      path.join(dir, `decisions-${new Date(closing('F-1').at).toISOString().slice(0, 10)}.jsonl`),
      `${JSON.stringify(closing('F-1'))}\n`,
    );
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['F-2']);
    expect(again.unannounced()).toEqual([closing('F-1')]);
    again.announced('F-1'); // its clearing and verdict went to the outbox; nothing else happens before the next stop
    expect(again.unannounced()).toEqual([]);
    again.close();
    expect(existsSync(path.join(dir, 'open-reviews.jsonl'))).toBe(false);
    expect(existsSync(path.join(dir, 'open-reviews.jsonl.migrated'))).toBe(true);
    const third = new FileReviewStore(dir);
    expect(openIds(third)).toEqual(['F-2']);
    expect(third.unannounced()).toEqual([]);
    expect(third.closings()).toEqual([closing('F-1')]);
    third.close();
  });

  it('keep a review open when the only decision for its part id is older than it (the id was used again)', () => {
    const store = new FileReviewStore(dir);
    store.opened(review('E-1'));
    store.closed(closing('E-1'));
    store.opened({ ...review('E-1'), openedAt: closing('E-1').at + 60_000 });
    store.close();
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['E-1']);
    expect(again.unannounced()).toEqual([]);
    again.close();
  });

  it('skip a line of an older journal cut short by a crash and keep everything before it', () => {
    writeFileSync(
      path.join(dir, 'open-reviews.jsonl'),
      `${JSON.stringify({ opened: review('C-1') })}\n{"opened":{"partId":"C-2","sco`,
    );
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['C-1']);
    again.opened(review('C-3'));
    again.close();
    expect(openIds(new FileReviewStore(dir))).toEqual(['C-1', 'C-3']);
  });

  it('read the single document earlier versions kept, once', () => {
    writeFileSync(path.join(dir, 'open-reviews.json'), JSON.stringify({ open: [review('L-1'), review('L-2')] }));
    const store = new FileReviewStore(dir);
    expect(openIds(store)).toEqual(['L-1', 'L-2']);
    store.closed(closing('L-1'));
    store.close();
    expect(existsSync(path.join(dir, 'open-reviews.json'))).toBe(false);
    expect(openIds(new FileReviewStore(dir))).toEqual(['L-2']);
  });

  it('keep the decisions of an older day file whose last line a crash cut short', () => {
    writeFileSync(
      path.join(dir, 'open-reviews.jsonl'),
      ['T-1', 'T-2'].map((id) => `${JSON.stringify({ opened: review(id) })}\n`).join('') +
        `${JSON.stringify({ closed: 'T-1' })}\n`,
    );
    writeFileSync(
      path.join(dir, 'decisions-2025-11-24.jsonl'),
      `${JSON.stringify(closing('T-1'))}\n{"partId":"T-0","sco`,
    ); // killed mid-write
    const again = new FileReviewStore(dir);
    again.closed(closing('T-2'));
    again.close();
    expect(new FileReviewStore(dir).closings(3650).map((c) => c.partId)).toEqual(['T-1', 'T-2']);
  });

  it('are not rewritten by a reader (the offline commands beside a running station)', () => {
    const store = new FileReviewStore(dir);
    store.opened(review('W-1'));
    const reader = new FileReviewStore(dir);
    expect(openIds(reader)).toEqual(['W-1']);
    reader.close();
    store.opened(review('W-2')); // still appended to the file the reader read
    store.close();
    expect(openIds(new FileReviewStore(dir))).toEqual(['W-1', 'W-2']);
  });
});

describe('the decided history of a station', () => {
  it('answers a corrected part once, as corrected, for calibration, export and refit', () => {
    const store = new FileReviewStore(dir);
    store.opened(review('C-1'));
    store.closed({ ...closing('C-1'), verdict: 'pass' });
    store.closed(closing('C-2'));
    store.closed({
      ...closing('C-1'),
      at: 1_764_000_200_000,
      corrects: { verdict: 'pass', decidedBy: 'human', user: 'ana', at: 1_764_000_100_000 },
    });
    store.close();
    const history = new FileReviewStore(dir).closings(3650);
    expect(history.map((c) => `${c.partId}:${c.verdict}`)).toEqual(['C-2:reject', 'C-1:reject']);
  });
});
