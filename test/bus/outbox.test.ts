import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Outbox, type OutgoingMessage, type Publisher } from '../../edge/src/bus/outbox.ts';
import { tempDirSync } from '../support/temp.ts';

/** A publisher whose acknowledgements the test releases by hand, like a broker that is slow or gone. */
class HeldPublisher implements Publisher {
  connected = true;
  readonly wire: { message: OutgoingMessage; done: (error?: Error) => void }[] = [];
  publish(message: OutgoingMessage, done: (error?: Error) => void): void {
    this.wire.push({ message, done });
  }
  ackAll(): void {
    for (const w of this.wire.splice(0)) w.done();
  }
}

const message = (n: number): OutgoingMessage => ({
  topic: 'loupe/l/s/result',
  payload: JSON.stringify({ n }),
  retain: false,
});
const dir = () => tempDirSync('loupe-outbox-');
/** What the store holds on disk, read through a connection of its own, as a restarted process would. */
const onDisk = (where: string): number[] => {
  const db = new Database(path.join(where, 'station.db'), { readonly: true });
  try {
    return (db.prepare('SELECT payload FROM outbox ORDER BY seq').all() as { payload: string }[]).map(
      (row) => JSON.parse(row.payload).n,
    );
  } finally {
    db.close();
  }
};

describe('outbox', () => {
  it('writes every message to disk before it is published, and publishes in order', () => {
    const where = dir();
    const outbox = new Outbox(where, 4);
    const publisher = new HeldPublisher();
    outbox.attach(publisher);
    for (let n = 0; n < 10; n++) outbox.send(message(n));
    expect(onDisk(where)).toHaveLength(10);
    // at most the window is on the wire, oldest first
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([0, 1, 2, 3]);
    publisher.ackAll();
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([4, 5, 6, 7]);
    publisher.ackAll();
    publisher.ackAll();
    expect(outbox.depth).toBe(0);
    outbox.close();
  });

  it('writes messages sent together in one go: all are on disk before the first is published, and each is acknowledged on its own', async () => {
    const where = dir();
    const outbox = new Outbox(where, 8, 10);
    const seen: number[] = [];
    const publisher = new HeldPublisher();
    const publish = publisher.publish.bind(publisher);
    publisher.publish = (message, done) => {
      // what the file holds when the first message reaches the wire
      if (seen.length === 0) seen.push(onDisk(where).length);
      publish(message, done);
    };
    outbox.attach(publisher);
    outbox.send(message(0), message(1), message(2));
    expect(seen).toEqual([3]);
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([0, 1, 2]);
    publisher.wire[0].done(); // the first is acknowledged, then the process dies
    await expect.poll(() => onDisk(where)).toEqual([1, 2]);
    const after = new Outbox(where, 8);
    const republisher = new HeldPublisher();
    after.attach(republisher);
    expect(republisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([1, 2]);
    outbox.close();
    after.close();
  });

  it('holds messages while the broker is away and sends them in order when it is back', () => {
    const outbox = new Outbox(dir(), 8);
    const publisher = new HeldPublisher();
    publisher.connected = false;
    outbox.attach(publisher);
    for (let n = 0; n < 5; n++) outbox.send(message(n));
    expect(publisher.wire).toHaveLength(0);
    expect(outbox.depth).toBe(5);
    publisher.connected = true;
    outbox.resume();
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([0, 1, 2, 3, 4]);
    outbox.close();
  });

  it('sends a message again when its publish failed, without letting later ones overtake it in the acknowledged prefix', () => {
    const outbox = new Outbox(dir(), 2);
    const publisher = new HeldPublisher();
    outbox.attach(publisher);
    outbox.send(message(0));
    outbox.send(message(1));
    const [first, second] = publisher.wire.splice(0);
    second.done(); // acknowledged out of order
    expect(outbox.depth).toBe(2); // 0 is not acknowledged, so 1 is not forgotten yet
    first.done(new Error('connection closed'));
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([0]);
    publisher.ackAll();
    expect(outbox.depth).toBe(0);
    outbox.close();
  });

  it('after a crash, delivers what was written and not acknowledged', async () => {
    const where = dir();
    const before = new Outbox(where, 1, 10);
    const publisher = new HeldPublisher();
    before.attach(publisher);
    for (let n = 0; n < 3; n++) before.send(message(n));
    publisher.ackAll(); // 0 acknowledged
    await expect.poll(() => onDisk(where)).toEqual([1, 2]); // forgotten once acknowledged
    // the process dies here (no close)
    const after = new Outbox(where, 8);
    const republisher = new HeldPublisher();
    after.attach(republisher);
    expect(republisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([1, 2]);
    after.send(message(3));
    expect(JSON.parse(republisher.wire[2].message.payload).n).toBe(3);
    after.close();
  });

  it('sends nothing of a transition that failed, and everything of one that committed, only once committed', () => {
    const where = dir();
    const outbox = new Outbox(where, 8);
    const publisher = new HeldPublisher();
    outbox.attach(publisher);
    expect(() =>
      outbox.store.transition(() => {
        outbox.send(message(0), message(1));
        throw new Error('the part could not be recorded');
      }),
    ).toThrow('could not be recorded');
    expect(publisher.wire).toHaveLength(0);
    expect(onDisk(where)).toEqual([]);
    outbox.store.transition(() => {
      outbox.send(message(2));
      expect(publisher.wire).toHaveLength(0); // not on the wire before it is committed
      outbox.send(message(3));
    });
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([2, 3]);
    expect(onDisk(where)).toEqual([2, 3]);
    outbox.close();
  });
});
