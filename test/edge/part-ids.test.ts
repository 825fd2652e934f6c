/**
 * A part id used again: a PLC counter that resets at shift start, a camera power-cycled. A new frame
 * under an old id is inspected (its result says what it replaces); the same frame or trigger delivered
 * again gets the same answer, also after a restart, for parts the model decided by itself too.
 */
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { run } from '../../cli/run.ts';
import { checkConfig } from '../../config/load.ts';
import type { Result } from '../../contract/payloads.ts';
import { partIdFromFile } from '../../edge/src/ingest/folder.ts';
import { PartMemory } from '../../edge/src/parts/memory.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { tempDir } from '../support/temp.ts';

const result = (partId: string, verdict: Result['verdict'], at = '2026-12-04T08:00:00.000Z'): Result => ({
  schema: 'loupe/result@1',
  line: 'l',
  station: 's',
  partId,
  verdict,
  score: 1,
  thresholds: { passBelow: 1, rejectAbove: 2 },
  model: { id: 'm', version: '1' },
  reasons: [],
  source: 'mqtt',
  timings: { queueMs: 0, decodeMs: 0, inferMs: 0, totalMs: 0 },
  at,
});

describe('part ids used again', () => {
  it('tells a redelivered frame from a new frame under the same id, across a restart', async () => {
    const dir = await tempDir('loupe-parts-');
    const first = new PartMemory(dir);
    const a = PartMemory.fingerprint(Buffer.from('frame a'));
    const b = PartMemory.fingerprint(Buffer.from('frame b'));
    expect(first.forFrame('P-1', a)).toEqual({ kind: 'new' });
    first.answered('P-1', a, undefined, result('P-1', 'pass'));
    first.close();
    const after = new PartMemory(dir);
    expect(after.forFrame('P-1', a)).toEqual({ kind: 'again', result: result('P-1', 'pass') });
    expect(after.forFrame('P-1', b)).toEqual({ kind: 'new', replaces: result('P-1', 'pass') });
    after.close();
  });

  it('answers a trigger again only for its requestId or a broker redelivery', async () => {
    const memory = new PartMemory(await tempDir('loupe-parts-'));
    memory.answered('T-1', null, 'req-1', result('T-1', 'reject'));
    expect(memory.forTrigger('T-1', 'req-1', false).kind).toBe('again');
    expect(memory.forTrigger('T-1', 'req-2', false)).toEqual({ kind: 'new', replaces: result('T-1', 'reject') });
    expect(memory.forTrigger('T-1', undefined, false).kind).toBe('new'); // a PLC counter reset sends the same trigger bytes
    expect(memory.forTrigger('T-1', undefined, true).kind).toBe('again'); // the broker's DUP redelivery
    memory.close();
  });

  it('forgets answers after the window and beyond the count', async () => {
    let now = 0;
    const memory = new PartMemory(await tempDir('loupe-parts-'), { keepHours: 1, maxParts: 2 }, () => now);
    for (const id of ['A', 'B', 'C']) memory.answered(id, 'f', undefined, result(id, 'pass'));
    expect(memory.get('A')).toBeUndefined();
    expect(memory.get('C')).toBeDefined();
    now = 3_600_001;
    expect(memory.forFrame('C', 'f')).toEqual({ kind: 'new' });
    memory.close();
  });

  it('never maps two different file names to one part id', () => {
    expect(partIdFromFile('P-1.jpg')).toBe('P-1');
    expect(partIdFromFile('a b.jpg')).not.toBe(partIdFromFile('a_b.jpg'));
    expect(partIdFromFile('a b.jpg')).not.toBe(partIdFromFile('a?b.jpg'));
    expect(partIdFromFile('ü.png')).not.toBe(partIdFromFile('é.png'));
    expect(partIdFromFile('a b.jpg')).toBe(partIdFromFile('a b.jpg'));
  });

  it('inspects a new frame under an auto-passed id after a restart, and answers the same frame again', async () => {
    const dir = await tempDir('loupe-parts-run-');
    const config = checkConfig({
      line: 'ids',
      dataDir: path.join(dir, 'data'),
      mqtt: { port: 0 },
      http: { port: 0 },
      dashboard: { admin: { user: 'admin', password: 'admin-password-for-tests' } },
      // everything passes: the model decides by itself, no review remembers the part
      stations: [
        { id: 'cam-1', thresholds: { passBelow: 1e9, rejectAbove: 2e9 }, audit: { share: 0 }, queue: { workers: 1 } },
      ],
    });
    const post = async (httpUrl: string, partId: string, image: Buffer) =>
      (await (
        await fetch(new URL(`/api/stations/cam-1/frames?partId=${partId}`, httpUrl), {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: new Uint8Array(image),
        })
      ).json()) as Result;
    const frame = await goodPart(1);
    let running = await run(config, { broker: true, edge: true, dashboard: false }, pino({ level: 'silent' }));
    const first = await post(running.httpUrl, 'N-1', frame);
    expect(first).toMatchObject({ verdict: 'pass' });
    expect(first.replaces).toBeUndefined();
    await running.stop();

    running = await run(config, { broker: true, edge: true, dashboard: false }, pino({ level: 'silent' }));
    try {
      expect(await post(running.httpUrl, 'N-1', frame)).toEqual(first); // redelivered: the same answer, to the millisecond
      const reused = await post(running.httpUrl, 'N-1', await defectivePart(1, 'scratch')); // the counter reset: another part
      expect(reused).toMatchObject({
        verdict: 'pass',
        replaces: { verdict: 'pass', score: first.score, at: first.at },
      });
      expect(reused.score).not.toBe(first.score);
    } finally {
      await running.stop();
    }
  }, 60_000);
});
