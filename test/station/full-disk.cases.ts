import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StationStore } from '../../edge/src/store/store.ts';
import { tempDirSync } from '../support/temp.ts';
import { StorageFull, StorageHealth } from '../../edge/src/storage/health.ts';
import { frame, startStation, type Built } from './fakes.ts';

describe('a station whose disk is full', () => {
  let built: Built | null = null;
  afterEach(async () => {
    await built?.stop();
    built = null;
  });

  it('answers a frame review (storage_full) at once, without a record or an inspection, never a pass', async () => {
    const storage = new StorageHealth(null);
    built = await startStation({ deps: { storage } });
    storage.full('a test', new Error('ENOSPC'));
    const result = await built.station.submit(frame('f-1', 'score:0.1'));
    expect(result).toMatchObject({ verdict: 'review', reasons: ['storage_full'], score: null });
    expect(built.link.sent.map((s) => s.kind)).toEqual(['unrecorded']);
    expect(built.link.taken).toEqual([]);
    expect(built.model.inspected).toEqual([]);
    expect(built.station.status('online')).toMatchObject({ storage: 'full' });
  });

  it('refuses a decision it cannot record, and the review keeps waiting for the person', async () => {
    const storage = new StorageHealth(null);
    built = await startStation({ deps: { storage } });
    await built.station.submit(frame('f-2', 'score:1.5'));
    built.reviews.closed = () => {
      throw new StorageFull('the decisions');
    };
    built.station.decide({ partId: 'f-2', decision: 'accept', user: 'ana' });
    expect(built.link.errors()).toEqual([expect.objectContaining({ code: 'storage_full', partId: 'f-2' })]);
    expect(built.link.verdicts()).toEqual([]);
    expect(built.station.openPartIds()).toEqual(['f-2']);
  });
});

describe("a part's record in the station's store", () => {
  it('is one write: when its result cannot be written, neither its answer nor its review is kept, and it is answered storage_full', async () => {
    const dir = tempDirSync('loupe-station-store-');
    const store = StationStore.at(path.join(dir, 'reviews'));
    const storage = new StorageHealth(null);
    const built = await startStation({ dir, deps: { storage, store } });
    const publish = built.link.publishResult.bind(built.link);
    built.link.publishResult = (result, next) => {
      if (result.partId === 'w-1') throw new StorageFull('the outbox');
      publish(result, next);
    };
    const result = await built.station.submit(frame('w-1', 'score:1.5')); // a borderline part: a review
    expect(result).toMatchObject({ verdict: 'review', reasons: ['storage_full'] });
    const count = (table: string) =>
      (store.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE part_id = 'w-1'`).get() as { n: number }).n;
    expect([count('answers'), count('open_reviews')]).toEqual([0, 0]);
    await built.stop();
    store.close();
  });
});
