/**
 * The disk failing under the station's store, in process: a write the disk cannot take (SQLITE_FULL,
 * here from a page limit) is refused as StorageFull, reported to the station's storage health, and
 * leaves nothing of itself behind; once there is space the next write is whole.
 */
import { describe, expect, it } from 'vitest';
import { Outbox, type OutgoingMessage, type Publisher } from '../../edge/src/bus/outbox.ts';
import { PartsInHand } from '../../edge/src/bus/in-hand.ts';
import { StationStore } from '../../edge/src/store/store.ts';
import { StorageFull, StorageHealth } from '../../edge/src/storage/health.ts';
import { tempDirSync } from '../support/temp.ts';

class Wire implements Publisher {
  connected = false;
  publish(_message: OutgoingMessage, done: (error?: Error) => void): void {
    done();
  }
}

const message = (n: number, pad = 0): OutgoingMessage => ({
  topic: 'loupe/l/s/result',
  payload: JSON.stringify({ n, pad: 'x'.repeat(pad) }),
  retain: false,
});

/** Lets the database grow no further than it is: the next write that needs a page finds the disk full. */
function fill(store: StationStore): () => void {
  const pages = store.db.pragma('page_count', { simple: true }) as number;
  store.db.pragma(`max_page_count = ${pages}`);
  return () => store.db.pragma('max_page_count = 1073741823');
}

describe('the disk failing under a station', () => {
  it('refuses messages the disk cannot take, reports the disk full, and keeps nothing of them', () => {
    const dir = tempDirSync('loupe-store-full-');
    const storage = new StorageHealth(null);
    const store = StationStore.at(dir, { storage });
    const outbox = new Outbox(store, 4, 10, { storage });
    outbox.attach(new Wire());
    outbox.send(message(1));
    const space = fill(store);
    expect(() => outbox.send(message(2, 20_000), message(3, 20_000))).toThrow(StorageFull);
    expect(storage.state).toBe('full');
    expect(outbox.depth).toBe(1);
    space();
    outbox.send(message(4));
    outbox.close();
    store.close();
    const again = StationStore.at(dir);
    expect(
      (again.db.prepare('SELECT payload FROM outbox ORDER BY seq').all() as { payload: string }[]).map(
        (row) => JSON.parse(row.payload).n,
      ),
    ).toEqual([1, 4]);
    again.close();
  });

  it('does not take a part it could not write to the parts in hand', () => {
    const dir = tempDirSync('loupe-in-hand-full-');
    const storage = new StorageHealth(null);
    const store = StationStore.at(dir, { storage });
    const inHand = new PartsInHand(store, storage);
    // fill the last page with parts, then one more needs a page the disk does not have
    const space = fill(store);
    let refused: unknown = null;
    let refusedId = '';
    for (let i = 0; i < 10_000 && !refused; i++) {
      refusedId = `P-${i}-${'x'.repeat(200)}`;
      try {
        inHand.take(refusedId, 'mqtt');
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(StorageFull);
    expect(storage.state).toBe('full');
    space();
    inHand.take('P-last', 'mqtt');
    inHand.close();
    store.close();
    const left = new PartsInHand(dir).left.map((part) => part.partId);
    expect(left.at(-1)).toBe('P-last');
    expect(left).not.toContain(refusedId);
  });
});
