import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
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

const message = (n: number): OutgoingMessage => ({ topic: 'loupe/l/s/result', payload: JSON.stringify({ n }), retain: false });
const dir = () => tempDirSync('loupe-outbox-');

describe('outbox', () => {
  it('writes every message to disk before it is published, and publishes in order', () => {
    const where = dir();
    const outbox = new Outbox(where, 4);
    const publisher = new HeldPublisher();
    outbox.attach(publisher);
    for (let n = 0; n < 10; n++) outbox.send(message(n));
    expect(readFileSync(path.join(where, 'outbox.jsonl'), 'utf8').trim().split('\n')).toHaveLength(10);
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
    const file = path.join(where, 'outbox.jsonl');
    const outbox = new Outbox(where, 8, 10);
    const onDisk: number[] = [];
    const publisher = new HeldPublisher();
    const publish = publisher.publish.bind(publisher);
    publisher.publish = (message, done) => {
      // what the file holds when the first message reaches the wire
      if (onDisk.length === 0) onDisk.push(readFileSync(file, 'utf8').trim().split('\n').length);
      publish(message, done);
    };
    outbox.attach(publisher);
    outbox.send(message(0), message(1), message(2));
    expect(onDisk).toEqual([3]);
    expect(publisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([0, 1, 2]);
    publisher.wire[0].done(); // the first is acknowledged, then the process dies
    await expect.poll(() => Number(readFileSync(path.join(where, 'outbox.ack'), 'utf8'))).toBe(readFileSync(file, 'utf8').indexOf('\n') + 1);
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

  it('after a crash, delivers what was written and not acknowledged, and drops a half-written line', async () => {
    const where = dir();
    const before = new Outbox(where, 1, 10);
    const publisher = new HeldPublisher();
    before.attach(publisher);
    for (let n = 0; n < 3; n++) before.send(message(n));
    publisher.ackAll(); // 0 acknowledged
    await new Promise((r) => setTimeout(r, 50)); // the ack offset reaches the disk
    // the process dies here (no close), in the middle of writing a fourth message
    appendFileSync(path.join(where, 'outbox.jsonl'), '{"topic":"loupe/l/s/res');
    const after = new Outbox(where, 8);
    const republisher = new HeldPublisher();
    after.attach(republisher);
    expect(republisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([1, 2]);
    after.send(message(3));
    expect(JSON.parse(republisher.wire[2].message.payload).n).toBe(3);
    const lines = readFileSync(path.join(where, 'outbox.jsonl'), 'utf8').trim().split('\n');
    expect(lines.every((line) => JSON.parse(line))).toBeTruthy();
    after.close();
  });

  it('starts its file again once everything past 1 MB is delivered, and resumes from the right offset after a crash', async () => {
    const where = dir();
    const before = new Outbox(where, 64, 10);
    const publisher = new HeldPublisher();
    before.attach(publisher);
    const big = (n: number): OutgoingMessage => ({ ...message(n), payload: JSON.stringify({ n, pad: 'x'.repeat(1000) }) });
    const sendAndAck = (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        before.send(big(n));
        publisher.ackAll();
      }
    };
    sendAndAck(0, 900); // under 1 MB: the file stays, and the offset on disk grows to six digits
    await expect.poll(() => readFileSync(path.join(where, 'outbox.ack'), 'utf8').trim()).toMatch(/^\d{6}$/);
    sendAndAck(900, 1100);
    await expect.poll(() => readFileSync(path.join(where, 'outbox.jsonl')).length).toBe(0);
    // The offset shrank from six digits to one: what is left of the old number must not count.
    expect(readFileSync(path.join(where, 'outbox.ack'), 'utf8').trim()).toBe('0');
    before.send(message(5000));
    before.send(message(5001));
    publisher.wire.splice(0, 1)[0].done(); // 5000 acknowledged, 5001 not
    await expect.poll(() => Number(readFileSync(path.join(where, 'outbox.ack'), 'utf8'))).toBeGreaterThan(0);
    // the process dies here, without close
    const after = new Outbox(where, 8);
    const republisher = new HeldPublisher();
    after.attach(republisher);
    expect(republisher.wire.map((w) => JSON.parse(w.message.payload).n)).toEqual([5001]);
    after.close();
    before.close();
  });
});
