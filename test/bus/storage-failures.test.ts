/**
 * The disk failing under the outbox, in process: a short write (the disk filled up under it) and a
 * failed fsync are noticed, reported to the station's storage health, and never taken for success.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Outbox, type OutgoingMessage, type Publisher } from '../../edge/src/bus/outbox.ts';
import { PartsInHand } from '../../edge/src/bus/in-hand.ts';
import { StorageFull, StorageHealth } from '../../edge/src/storage/health.ts';
import { tempDirSync } from '../support/temp.ts';

/** What the injected file system does: fail fsyncs, or write half of a write and then find the disk full. */
const inject = vi.hoisted(() => ({ fsyncFails: false, shortWrites: false }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  let partial = false;
  const writeSync = ((fd: number, buffer: Buffer | string, ...rest: unknown[]) => {
    if (!inject.shortWrites || typeof buffer === 'string') return (fs.writeSync as (...args: unknown[]) => number)(fd, buffer, ...rest);
    if (partial) throw noSpace();
    partial = true;
    const [offset = 0, length = buffer.length - (offset as number), position = null] = rest as [number?, number?, (number | null)?];
    return fs.writeSync(fd, buffer, offset, Math.max(1, Math.floor((length as number) / 2)), position);
  }) as typeof fs.writeSync;
  const fsync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    if (inject.fsyncFails) return setImmediate(() => callback(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })));
    return fs.fsync(fd, callback);
  }) as typeof fs.fsync;
  const reset = () => (partial = false);
  return { ...fs, default: { ...fs, writeSync, fsync }, writeSync, fsync, __reset: reset };
});

class Wire implements Publisher {
  connected = false;
  publish(_message: OutgoingMessage, done: (error?: Error) => void): void {
    done();
  }
}

const message = (n: number): OutgoingMessage => ({ topic: 'loupe/l/s/result', payload: JSON.stringify({ n }), retain: false });
const until = async (what: string, predicate: () => boolean) => {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(predicate(), what).toBe(true);
};

describe('the disk failing under a station', () => {
  it('marks the station unhealthy on a failed fsync, and stays so after later fsyncs succeed', async () => {
    const dir = tempDirSync('loupe-fsync-');
    const storage = new StorageHealth(null);
    const outbox = new Outbox(dir, 4, 10, { storage });
    outbox.attach(new Wire());
    inject.fsyncFails = true;
    outbox.send(message(1));
    await until('storage failed', () => storage.state === 'failed');
    expect(storage.detail).toContain('outbox.jsonl');
    expect(storage.ok).toBe(false);
    inject.fsyncFails = false;
    outbox.send(message(2));
    await new Promise((resolve) => setTimeout(resolve, 50)); // more ticks: a later fsync succeeds
    expect(storage.state).toBe('failed'); // never as if the failed data were now safe
    outbox.close();
  });

  it('undoes a short write to the outbox, reports the disk full, and recovers when space is back', async () => {
    const dir = tempDirSync('loupe-short-write-');
    const storage = new StorageHealth(dir, 20);
    const outbox = new Outbox(dir, 4, 10, { storage });
    outbox.send(message(1));
    inject.shortWrites = true;
    expect(() => outbox.send(message(2), message(3))).toThrow(StorageFull);
    expect(storage.state).toBe('full');
    inject.shortWrites = false;
    ((await import('node:fs')) as unknown as { __reset(): void }).__reset();
    // Nothing of the refused messages is on disk: a restart never finds half of them, or one never sent.
    expect(readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8')).toBe(`${JSON.stringify(message(1))}\n`);
    await until('storage ok again', () => storage.ok);
    outbox.send(message(4));
    outbox.close();
    const lines = readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(JSON.parse(line).payload).n);
    expect(lines).toEqual([1, 4]);
    storage.close();
  });

  it('does not take a part it could not write to the parts in hand', async () => {
    const dir = tempDirSync('loupe-in-hand-full-');
    const storage = new StorageHealth(null);
    const inHand = new PartsInHand(dir, storage);
    inject.shortWrites = true;
    expect(() => inHand.take('P-1', 'mqtt')).toThrow(StorageFull);
    inject.shortWrites = false;
    ((await import('node:fs')) as unknown as { __reset(): void }).__reset();
    expect(storage.state).toBe('full');
    inHand.take('P-2', 'mqtt'); // space again: the next part is whole, not joined to half of the last
    inHand.close();
    expect(new PartsInHand(dir).left.map((part) => part.partId)).toEqual(['P-2']);
  });
});
