import { readdir, readFile, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { result } from './fixtures.ts';
import { tempDir } from '../support/temp.ts';

const logDir = () => tempDir('loupe-log-');

describe('defect log store', () => {
  it('keeps each day in its own partition, and a write touches only the files of its day', async () => {
    const dir = await logDir();
    const log = await DefectLog.open(dir, { flushMs: 5 });
    log.result(result('p-1', '2026-11-24T10:00:00.000Z'));
    log.result(result('p-2', '2026-11-24T10:01:00.000Z', { verdict: 'pass', reasons: [] }));
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-2',
      verdict: 'pass',
      decidedBy: 'model',
      at: '2026-11-24T10:01:00.000Z',
    });
    await log.close();
    expect(await readdir(dir)).toEqual(['2026-11-24']);
    const dayOne = path.join(dir, '2026-11-24', 'parts.jsonl');
    const before = await stat(dayOne);

    const next = await DefectLog.open(dir, { flushMs: 5 });
    next.result(result('p-3', '2026-11-25T08:00:00.000Z', { verdict: 'reject' }));
    await next.close();
    expect((await readdir(dir)).sort()).toEqual(['2026-11-24', '2026-11-25']);
    // a reject by the model is stored; its final verdict was not given yet, so nothing is counted that hour
    expect(await readdir(path.join(dir, '2026-11-25'))).toEqual(['parts.jsonl']);
    const after = await stat(dayOne);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
    // the plain auto-pass was counted, not stored
    const reopened = await DefectLog.open(dir);
    expect(reopened.all().map((e) => e.partId)).toEqual(['p-1', 'p-3']);
    expect(
      reopened
        .countsBetween()
        .map((c) => [new Date(c.minute).toISOString(), c.outcome, c.n])
        .sort(),
    ).toEqual([
      ['2026-11-24T10:00:00.000Z', 'review/model', 1],
      ['2026-11-24T10:01:00.000Z', 'pass/model', 1],
    ]);
  });
});

describe('defect log writes', () => {
  it('gathers a burst of parts into one append and one counts document, and writes nothing before the timer', async () => {
    const dir = await logDir();
    const log = await DefectLog.open(dir, { flushMs: 40, countsEveryMs: 0 });
    for (let i = 0; i < 100; i++)
      log.result(result(`p-${i}`, `2026-11-25T09:00:${String(i % 60).padStart(2, '0')}.000Z`));
    expect(log.fileWrites).toBe(0);
    expect(log.all()).toHaveLength(100); // queryable at once, before any write
    await expect(readdir(dir)).resolves.toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(log.fileWrites).toBe(2);
    const lines = (await readFile(path.join(dir, '2026-11-25', 'parts.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(100);
    const counts = JSON.parse(await readFile(path.join(dir, '2026-11-25', 'counts-09.json'), 'utf8')) as {
      series: Record<string, number[]>;
    };
    // 100 reviews over the minute's 60 seconds: all in minute 0 of 09:00
    expect(counts.series['line-1|cam-1|review/model']).toEqual([100, ...new Array(59).fill(0)]);
    await log.close();
  });

  it('writes what is still gathered when closed', async () => {
    const dir = await logDir();
    const log = await DefectLog.open(dir, { flushMs: 60_000 });
    log.result(result('p-1', '2026-11-25T09:00:00.000Z', { verdict: 'reject' }));
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-1',
      verdict: 'reject',
      decidedBy: 'model',
      at: '2026-11-25T09:00:00.000Z',
    });
    await log.close();
    const again = await DefectLog.open(dir);
    expect(again.get('line-1', 'cam-1', 'p-1')?.final).toMatchObject({ verdict: 'reject', decidedBy: 'model' });
  });
});

describe('damaged partition files', () => {
  it('keeps the good lines of a JSONL file whose last line was cut short, moves the file aside and reports it', async () => {
    const dir = await logDir();
    const log = await DefectLog.open(dir, { flushMs: 5 });
    log.result(result('p-1', '2026-11-24T10:00:00.000Z'));
    log.result(result('p-2', '2026-11-24T10:00:01.000Z'));
    log.result(result('p-3', '2026-11-25T10:00:00.000Z'));
    await log.close();
    const file = path.join(dir, '2026-11-24', 'parts.jsonl');
    const text = await readFile(file, 'utf8');
    const cut = text.slice(0, text.length - 40); // a crash in the middle of the second line
    await writeFile(file, cut);

    const reopened = await DefectLog.open(dir);
    expect(reopened.all().map((e) => e.partId)).toEqual(['p-1', 'p-3']);
    expect(reopened.problems).toHaveLength(1);
    expect(reopened.problems[0].file).toBe(file);
    expect(reopened.problems[0].message).toContain('the last, cut short');
    expect(await readFile(reopened.problems[0].movedTo, 'utf8')).toBe(cut);
    // the partition holds the good line again, so new events append cleanly after it
    reopened.decision(
      'line-1',
      'cam-1',
      { partId: 'p-1', user: 'ana', decision: 'reject', category: 'dent' },
      '2026-11-24T10:05:00.000Z',
    );
    await reopened.close();
    const third = await DefectLog.open(dir);
    expect(third.problems).toEqual([]);
    expect(third.get('line-1', 'cam-1', 'p-1')?.decision).toMatchObject({ user: 'ana', category: 'dent' });
  });

  it('moves aside a counts document that is not JSON and loads the rest', async () => {
    const dir = await logDir();
    const log = await DefectLog.open(dir, { flushMs: 5 });
    log.result(result('p-1', '2026-11-24T10:00:00.000Z'));
    log.result(result('p-2', '2026-11-24T11:00:00.000Z'));
    await log.close();
    const file = path.join(dir, '2026-11-24', 'counts-10.json');
    await writeFile(file, '{"series": {"line-1|cam-1|review/model": [1, 0, 0, ');

    const lines: string[] = [];
    const logger = pino(
      new Writable({
        write: (chunk, _encoding, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const reopened = await DefectLog.open(dir, { logger });
    expect(reopened.problems.map((p) => p.file)).toEqual([file]);
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 50, file, movedTo: reopened.problems[0].movedTo }),
    ]);
    expect(reopened.problems[0].movedTo).toMatch(/counts-10\.json\.corrupt-/);
    expect(reopened.all()).toHaveLength(2);
    expect(reopened.countsBetween().map((c) => new Date(c.minute).toISOString())).toEqual(['2026-11-24T11:00:00.000Z']);
    expect((await readdir(path.join(dir, '2026-11-24'))).filter((f) => f.includes('.corrupt-'))).toHaveLength(1);
  });
});
