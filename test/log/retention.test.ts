import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { sweepImages } from '../../edge/src/log/retention.ts';
import { result } from './fixtures.ts';
import { tempDir } from '../support/temp.ts';

const DAY = 86_400_000;
const now = Date.parse('2026-11-25T12:00:00.000Z');

/** Kept evidence of parts on disk, each `ageDays` old, 1000 bytes of image and 200 of map. */
async function keep(imagesDir: string, parts: { partId: string; ageDays: number }[], log: DefectLog) {
  const dir = path.join(imagesDir, 'line-1', 'cam-1');
  await mkdir(dir, { recursive: true });
  for (const { partId, ageDays } of parts) {
    const time = new Date(now - ageDays * DAY);
    await writeFile(path.join(dir, `${partId}.img`), Buffer.alloc(1000, 1));
    await writeFile(path.join(dir, `${partId}.map`), Buffer.alloc(200, 2));
    await utimes(path.join(dir, `${partId}.img`), time, time);
    await utimes(path.join(dir, `${partId}.map`), time, time);
    log.result(result(partId, time.toISOString()), {
      image: `line-1/cam-1/${partId}.img`,
      heatmap: `line-1/cam-1/${partId}.map`,
    });
  }
  return dir;
}

async function setUp(parts: { partId: string; ageDays: number }[]) {
  const root = await tempDir('loupe-retention-');
  const log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
  const imagesDir = path.join(root, 'images');
  const dir = await keep(imagesDir, parts, log);
  const remaining = async () => [...new Set((await readdir(dir)).map((f) => f.split('.')[0]))].sort();
  return { log, imagesDir, remaining };
}

describe('image retention', () => {
  it('deletes images older than the retention days, but never those of a review still open', async () => {
    const { log, imagesDir, remaining } = await setUp([
      { partId: 'old-open', ageDays: 100 },
      { partId: 'old-decided', ageDays: 95 },
      { partId: 'recent', ageDays: 10 },
    ]);
    const swept = await sweepImages(imagesDir, log, {
      now,
      maxAgeMs: 90 * DAY,
      quotaBytes: 1e9,
      openParts: () => ['line-1/cam-1/old-open'],
    });
    expect(swept).toEqual({ parts: 1, bytes: 1200 });
    expect(await remaining()).toEqual(['old-open', 'recent']);
    expect(log.get('line-1', 'cam-1', 'old-decided')?.image).toEqual({
      path: 'line-1/cam-1/old-decided.img',
      expired: true,
    });
    expect(log.get('line-1', 'cam-1', 'old-decided')?.timeline.at(-1)?.kind).toBe('expired');
    expect(log.get('line-1', 'cam-1', 'old-open')?.image?.expired).toBe(false);
    await log.close();
    // the expiry is in the log's files, not only in memory
    const reopened = await DefectLog.open(log.dir);
    expect(reopened.get('line-1', 'cam-1', 'old-decided')?.heatmap?.expired).toBe(true);
  });

  it('deletes the oldest images first until the folder is under its quota, skipping open reviews and fresh files', async () => {
    const { log, imagesDir, remaining } = await setUp([
      { partId: 'a', ageDays: 5 },
      { partId: 'b', ageDays: 4 },
      { partId: 'c', ageDays: 3 },
      { partId: 'd', ageDays: 2 },
      { partId: 'e', ageDays: 0 }, // written just now: its review may not be recorded yet
    ]);
    // 5 parts × 1200 bytes = 6000; quota 2500 must leave at most two parts
    const swept = await sweepImages(imagesDir, log, {
      now,
      maxAgeMs: 90 * DAY,
      quotaBytes: 2500,
      openParts: () => new Set(['line-1/cam-1/a']),
    });
    expect(await remaining()).toEqual(['a', 'e']);
    expect(swept).toEqual({ parts: 3, bytes: 3600 });
    expect(['b', 'c', 'd'].map((id) => log.get('line-1', 'cam-1', id)?.image?.expired)).toEqual([true, true, true]);
    await log.close();
  });
});
