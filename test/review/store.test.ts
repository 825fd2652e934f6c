/**
 * The open reviews survive a restart from their journal: appended per change (no write rewrites
 * every open review), cut-short lines skipped, compacted once closed reviews are most of it, and the
 * lowdb document of earlier versions read once.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import type { OpenReview } from '../../edge/src/review/book.ts';
import { tempDir } from '../support/temp.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('loupe-store-');
});

const review = (partId: string): OpenReview => ({ partId, score: 12.5, reasons: ['borderline'], openedAt: 1_764_000_000_000, deadline: 1_764_000_600_000 });
const closing = (partId: string) => ({ partId, score: 12.5, verdict: 'reject' as const, decidedBy: 'human' as const, user: 'ana', at: 1_764_000_100_000 });
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

  it('give a review decided just before a crash, between its decision and its closed mark, back as decided and not open', () => {
    const store = new FileReviewStore(dir);
    for (const id of ['D-1', 'D-2']) store.opened(review(id));
    // killed while announcing the decision: the decision is written, the closed mark is not
    expect(() => store.closed(closing('D-1'), () => { throw new Error('killed'); })).toThrow('killed');
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['D-2']);
    expect(again.unannounced()).toEqual([closing('D-1')]);
    again.opened(review('D-3')); // a station's first write rewrites the journal without it
    again.close();
    const third = new FileReviewStore(dir);
    expect(openIds(third)).toEqual(['D-2', 'D-3']);
    expect(third.unannounced()).toEqual([]);
    third.close();
  });

  it('give such a review back once: once announced, the next start neither opens nor announces it again', () => {
    const store = new FileReviewStore(dir);
    for (const id of ['F-1', 'F-2']) store.opened(review(id));
    expect(() => store.closed(closing('F-1'), () => { throw new Error('killed'); })).toThrow('killed');
    const again = new FileReviewStore(dir);
    expect(again.unannounced()).toEqual([closing('F-1')]);
    again.announced('F-1'); // its clearing and verdict went to the outbox; nothing else happens before the next stop
    expect(again.unannounced()).toEqual([]);
    again.close();
    const third = new FileReviewStore(dir);
    expect(openIds(third)).toEqual(['F-2']);
    expect(third.unannounced()).toEqual([]);
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

  it('are appended one line a change, not rewritten', () => {
    const store = new FileReviewStore(dir);
    for (let i = 0; i < 50; i++) store.opened(review(`A-${i}`));
    store.closed(closing('A-7'));
    const lines = readFileSync(path.join(dir, 'open-reviews.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(51);
    expect(JSON.parse(lines[50])).toEqual({ closed: 'A-7' });
    store.close();
  });

  it('skip a line cut short by a crash and keep everything before it', () => {
    const store = new FileReviewStore(dir);
    store.opened(review('C-1'));
    store.close();
    appendFileSync(path.join(dir, 'open-reviews.jsonl'), '{"opened":{"partId":"C-2","sco');
    const again = new FileReviewStore(dir);
    expect(openIds(again)).toEqual(['C-1']);
    again.opened(review('C-3')); // the first write starts the journal again from the open reviews
    again.close();
    expect(openIds(new FileReviewStore(dir))).toEqual(['C-1', 'C-3']);
  });

  it('start the journal again from the open ones once closed reviews are most of it', () => {
    const store = new FileReviewStore(dir);
    for (let i = 0; i < 1200; i++) store.opened(review(`M-${i}`));
    for (let i = 0; i < 1150; i++) store.closed(closing(`M-${i}`));
    store.close();
    const lines = readFileSync(path.join(dir, 'open-reviews.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(1000); // 2350 changes, compacted along the way
    expect(openIds(new FileReviewStore(dir))).toEqual(Array.from({ length: 50 }, (_, i) => `M-${1150 + i}`));
  });

  it('read the single document earlier versions kept, and leave it once written again', () => {
    writeFileSync(path.join(dir, 'open-reviews.json'), JSON.stringify({ open: [review('L-1'), review('L-2')] }));
    const store = new FileReviewStore(dir);
    expect(openIds(store)).toEqual(['L-1', 'L-2']);
    store.closed(closing('L-1'));
    store.close();
    expect(() => readFileSync(path.join(dir, 'open-reviews.json'))).toThrow(/ENOENT/);
    expect(openIds(new FileReviewStore(dir))).toEqual(['L-2']);
  });

  it('keep a decision logged after a crash cut the previous one short', () => {
    const store = new FileReviewStore(dir);
    store.opened(review('T-1'));
    store.opened(review('T-2'));
    store.closed(closing('T-1'));
    store.close();
    appendFileSync(path.join(dir, 'decisions-2025-11-24.jsonl'), '{"partId":"T-0","sco'); // killed mid-write
    const again = new FileReviewStore(dir);
    again.closed(closing('T-2'));
    again.close();
    expect(new FileReviewStore(dir).closings().map((c) => c.partId)).toEqual(['T-1', 'T-2']);
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
    store.closed({ ...closing('C-1'), at: 1_764_000_200_000, corrects: { verdict: 'pass', decidedBy: 'human', user: 'ana', at: 1_764_000_100_000 } });
    store.close();
    const history = new FileReviewStore(dir).closings(3650);
    expect(history.map((c) => `${c.partId}:${c.verdict}`)).toEqual(['C-2:reject', 'C-1:reject']);
  });
});
