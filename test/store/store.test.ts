/**
 * The station's store: a transition is all or nothing, memory follows only a commit, a transition
 * inside another joins it, and a database that cannot be read is kept aside rather than stop a start.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StationStore } from '../../edge/src/store/store.ts';
import { tempDirSync } from '../support/temp.ts';

const count = (store: StationStore, table: string) =>
  (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('the station store', () => {
  it('writes a transition whole or not at all, and applies memory only after the commit', () => {
    const store = StationStore.at(tempDirSync('loupe-store-'));
    const applied: string[] = [];
    expect(() =>
      store.transition(() => {
        store.db.prepare('INSERT INTO in_hand VALUES (?, ?, ?)').run('P-1', 'mqtt', 'now');
        store.transition(() =>
          store.db.prepare('INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, 0)').run('t', '{}'),
        ); // joins
        store.after(() => applied.push('P-1'));
        throw new Error('killed');
      }),
    ).toThrow('killed');
    expect([count(store, 'in_hand'), count(store, 'outbox'), applied.length]).toEqual([0, 0, 0]);
    store.transition(() => {
      store.db.prepare('INSERT INTO in_hand VALUES (?, ?, ?)').run('P-2', 'mqtt', 'now');
      store.after(() => applied.push('P-2'));
      expect(applied).toEqual([]); // not before the commit
    });
    expect(applied).toEqual(['P-2']);
    expect(count(store, 'in_hand')).toBe(1);
    store.close();
  });

  it('keeps a database it cannot read aside, says so, and starts empty', () => {
    const dir = tempDirSync('loupe-store-damaged-');
    writeFileSync(path.join(dir, 'station.db'), Buffer.alloc(8192, 0x5a));
    const store = StationStore.at(dir);
    expect(count(store, 'outbox')).toBe(0);
    store.close();
    expect(readdirSync(dir).some((name) => name.startsWith('station.db.damaged-'))).toBe(true);
  });
});
