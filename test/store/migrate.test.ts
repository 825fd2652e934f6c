/**
 * A data folder written by a station from before the store: on the first start every kind of state
 * it kept in journals (the outbox and its delivery offset, parts in hand, open reviews, decided
 * reviews by day, part answers, category and second-opinion lines) is in the store, the old files are
 * renamed `*.migrated`, and a second start neither loses nor repeats anything.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { Outbox } from '../../edge/src/bus/outbox.ts';
import { PartsInHand } from '../../edge/src/bus/in-hand.ts';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import { PartMemory } from '../../edge/src/parts/memory.ts';
import { CategoryBook } from '../../edge/src/review/suggest.ts';
import { SecondOpinions } from '../../edge/src/review/second.ts';
import { StationStore } from '../../edge/src/store/store.ts';
import { tempDirSync } from '../support/temp.ts';

const now = Date.now();
const line = (value: unknown) => `${JSON.stringify(value)}\n`;
const result = (partId: string): Result =>
  ({
    schema: 'loupe/result@1',
    line: 'l',
    station: 's',
    partId,
    verdict: 'pass',
    score: 1,
    thresholds: { passBelow: 2, rejectAbove: 9 },
    model: { id: 'm', version: '1' },
    reasons: [],
    source: 'http',
    timings: { queueMs: 0, decodeMs: 0, inferMs: 0, totalMs: 0 },
    at: new Date(now).toISOString(),
  }) as Result;
const review = (partId: string) => ({
  partId,
  score: 5,
  reasons: ['borderline'],
  openedAt: now - 60_000,
  deadline: now + 600_000,
});
const closing = (partId: string) => ({
  partId,
  score: 5,
  verdict: 'reject',
  decidedBy: 'human',
  user: 'ana',
  at: now - 120_000,
});

/** The files a station of the previous version leaves, in its two folders. */
function olderStation(): { outboxDir: string; stateDir: string } {
  const data = tempDirSync('loupe-migrate-');
  const outboxDir = path.join(data, 'outbox', 'l', 's');
  const stateDir = path.join(data, 'reviews', 'l', 's');
  mkdirSync(outboxDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const delivered = line({ topic: 'loupe/l/s/result', payload: JSON.stringify(result('P-1')), retain: false });
  writeFileSync(
    path.join(outboxDir, 'outbox.jsonl'),
    delivered +
      line({ topic: 'loupe/l/s/result', payload: JSON.stringify(result('P-2')), retain: false }) +
      line({ topic: 'loupe/l/s/verdict', payload: '{"partId":"P-2"}', retain: false }),
  );
  writeFileSync(path.join(outboxDir, 'outbox.ack'), String(Buffer.byteLength(delivered)).padEnd(16));
  writeFileSync(
    path.join(outboxDir, 'in-hand.jsonl'),
    line({ in: { partId: 'P-2', source: 'mqtt', at: '2026-12-04T08:00:00.000Z' } }) +
      line({ in: { partId: 'P-3', source: 'trigger', at: '2026-12-04T08:00:01.000Z' } }),
  );
  writeFileSync(
    path.join(stateDir, 'open-reviews.jsonl'),
    line({ opened: review('R-1') }) +
      line({ opened: review('R-2') }) +
      line({ closed: 'R-2' }) +
      line({ opened: review('R-3') }),
  );
  writeFileSync(
    path.join(stateDir, `decisions-${new Date(now - 120_000).toISOString().slice(0, 10)}.jsonl`),
    line(closing('R-2')),
  );
  writeFileSync(
    path.join(stateDir, 'answers.jsonl'),
    line({ partId: 'P-1', frame: 'f1', result: result('P-1'), at: now - 1000 }) +
      line({ partId: 'OLD', frame: 'f0', result: result('OLD'), at: now - 48 * 3_600_000 }),
  );
  const features = [0.1, 0.2, 0.3];
  writeFileSync(
    path.join(stateDir, 'categories.jsonl'),
    Array.from(
      { length: 6 },
      (_, i) => line({ partId: `C-${i}`, features, at: now }) + line({ partId: `C-${i}`, category: 'crack', at: now }),
    ).join(''),
  );
  writeFileSync(
    path.join(stateDir, 'second-opinions.jsonl'),
    line({
      queued: { partId: 'S-1', score: 5, first: { verdict: 'reject', user: 'ana', category: 'crack', at: now } },
    }),
  );
  return { outboxDir, stateDir };
}

/** A station's start, as cli/run.ts opens its state. */
function start(dirs: { outboxDir: string; stateDir: string }) {
  const store = StationStore.at(dirs.stateDir, { legacyDirs: [dirs.outboxDir] });
  const views = {
    store,
    outbox: new Outbox(store),
    inHand: new PartsInHand(store),
    reviews: new FileReviewStore(dirs.stateDir, store),
    parts: new PartMemory(store),
    categories: new CategoryBook(dirs.stateDir),
    second: new SecondOpinions(dirs.stateDir, 0.5),
  };
  return {
    ...views,
    stop() {
      views.outbox.close();
      views.inHand.close();
      views.reviews.close();
      views.parts.close();
      store.close();
    },
  };
}

describe('a data folder from before the store', () => {
  it('is migrated into the store on the first start, its files renamed, and a second start repeats nothing', () => {
    const dirs = olderStation();
    const first = start(dirs);
    // the outbox: only what was not acknowledged is still owed
    expect(first.outbox.depth).toBe(2);
    // P-2's result is in the outbox: answered; P-3 never was, and goes to review as interrupted
    expect(first.inHand.left.map((part) => part.partId)).toEqual(['P-3']);
    expect(first.reviews.openReviews().map((r) => r.partId)).toEqual(['R-1', 'R-3']);
    expect(first.reviews.closings().map((c) => c.partId)).toEqual(['R-2']);
    expect(first.parts.get('P-1')?.partId).toBe('P-1');
    expect(first.parts.get('OLD')).toBeUndefined(); // outside the window
    expect(first.categories.suggest([0.1, 0.2, 0.3])?.category).toBe('crack');
    expect(first.second.share).toBe(0.5);
    first.stop();
    for (const dir of [dirs.outboxDir, dirs.stateDir]) {
      const names = readdirSync(dir);
      expect(
        names.filter((name) => name.endsWith('.jsonl') || name.endsWith('.ack')),
        dir,
      ).toEqual([]);
    }
    expect(existsSync(path.join(dirs.outboxDir, 'outbox.jsonl.migrated'))).toBe(true);
    expect(existsSync(path.join(dirs.stateDir, 'answers.jsonl.migrated'))).toBe(true);

    const second = start(dirs);
    expect(second.outbox.depth).toBe(2);
    expect(second.inHand.left.map((part) => part.partId)).toEqual(['P-3']);
    expect(second.reviews.openReviews().map((r) => r.partId)).toEqual(['R-1', 'R-3']);
    expect(second.reviews.closings().map((c) => c.partId)).toEqual(['R-2']);
    expect(second.categories.suggest([0.1, 0.2, 0.3])?.category).toBe('crack');
    second.stop();
  });

  it('takes a file once even when the process died between the migration and the renames', () => {
    const dirs = olderStation();
    const first = start(dirs);
    expect(first.outbox.depth).toBe(2);
    first.stop();
    // as if the renames never happened: the files are back under their names
    for (const name of ['outbox.jsonl', 'outbox.ack'])
      writeFileSync(path.join(dirs.outboxDir, name), readFileSync(path.join(dirs.outboxDir, `${name}.migrated`)));
    const second = start(dirs);
    expect(second.outbox.depth).toBe(2);
    second.stop();
    expect(existsSync(path.join(dirs.outboxDir, 'outbox.jsonl'))).toBe(false);
  });
});
