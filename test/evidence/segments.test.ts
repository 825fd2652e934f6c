/**
 * Evidence segments: kept frames and maps appended to a few files a station an hour, found again by
 * part id from another process, through crashes, the change of hour and retention.
 */
import { appendFileSync, mkdirSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SegmentIndex, SegmentWriter, hourOf, isCurrent } from '../../edge/src/evidence/segments.ts';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { sweepImages } from '../../edge/src/log/retention.ts';
import { result } from '../log/fixtures.ts';
import { tempDirSync } from '../support/temp.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const t0 = Date.parse('2026-11-25T10:20:00.000Z');
const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

/** What a part's evidence reads back as, through a fresh index (another process's view). */
function readBack(dir: string, partId: string) {
  const index = new SegmentIndex(dir);
  const location = index.find(partId);
  return {
    image: location?.image ? index.read(location, location.image) : null,
    map: location?.map ? index.read(location, location.map) : null,
  };
}

describe('evidence segments', () => {
  it('append parts one after another to one file and find each by part id, from another reader', () => {
    const dir = tempDirSync('loupe-seg-');
    const writer = new SegmentWriter(dir, 'w1');
    const first = writer.append('P-1', bytes(1000, 1), bytes(64, 2), t0);
    const second = writer.append('P-2', bytes(500, 3), null, t0 + 1000);
    writer.close();
    expect(first).toEqual({
      image: 'evidence-2026-11-25T10-w1.seg#0+1000',
      heatmap: 'evidence-2026-11-25T10-w1.seg#1000+64',
    });
    expect(second).toEqual({ image: 'evidence-2026-11-25T10-w1.seg#1064+500' });
    expect(readdirSync(dir).sort()).toEqual(['evidence-2026-11-25T10-w1.idx', 'evidence-2026-11-25T10-w1.seg']);
    expect(readBack(dir, 'P-1')).toEqual({ image: bytes(1000, 1), map: bytes(64, 2) });
    expect(readBack(dir, 'P-2')).toEqual({ image: bytes(500, 3), map: null });
    expect(new SegmentIndex(dir).find('P-3')).toBeNull();
  });

  it('start a new segment each hour, and a writer never appends to another writer’s files', () => {
    const dir = tempDirSync('loupe-seg-');
    const a = new SegmentWriter(dir, 'a');
    const b = new SegmentWriter(dir, 'b');
    a.append('H-1', bytes(10, 1), null, t0);
    b.append('H-2', bytes(20, 2), null, t0);
    a.append('H-3', bytes(30, 3), null, t0 + HOUR);
    for (const w of [a, b]) w.close();
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.seg'))
        .sort(),
    ).toEqual(['evidence-2026-11-25T10-a.seg', 'evidence-2026-11-25T10-b.seg', 'evidence-2026-11-25T11-a.seg']);
    for (const [partId, n, fill] of [
      ['H-1', 10, 1],
      ['H-2', 20, 2],
      ['H-3', 30, 3],
    ] as const)
      expect(readBack(dir, partId).image).toEqual(bytes(n, fill));
    expect([
      isCurrent('evidence-2026-11-25T10-a.seg', t0 + HOUR),
      isCurrent('evidence-2026-11-25T10-a.seg', t0 + 2 * HOUR),
    ]).toEqual([true, false]);
    expect(hourOf(t0)).toBe('2026-11-25T10');
  });

  it('answer the newest evidence of a part id used again, and see what a running writer appends', () => {
    const dir = tempDirSync('loupe-seg-');
    const writer = new SegmentWriter(dir, 'w');
    const index = new SegmentIndex(dir);
    writer.append('R-1', bytes(10, 1), null, t0);
    expect(index.find('R-1', t0)?.image).toEqual([0, 10]);
    writer.append('R-1', bytes(10, 9), null, t0 + 5000);
    writer.append('R-2', bytes(10, 2), null, t0 + 5000);
    // a miss reads what was appended since; a hit does too once a second has passed
    expect(index.find('R-2', t0 + 100)?.image).toEqual([20, 10]);
    expect(index.find('R-1', t0 + 200)?.image).toEqual([10, 10]);
    writer.close();
  });

  it('skip what a crash cut short and lose nothing written after it', () => {
    const dir = tempDirSync('loupe-seg-');
    const dead = new SegmentWriter(dir, 'dead');
    dead.append('C-1', bytes(100, 1), null, t0);
    dead.close();
    // killed mid-part: its bytes were appended, its index line cut short
    appendFileSync(path.join(dir, 'evidence-2026-11-25T10-dead.seg'), bytes(100, 7));
    appendFileSync(path.join(dir, 'evidence-2026-11-25T10-dead.idx'), '{"partId":"C-2","at":17');
    const next = new SegmentWriter(dir, 'next');
    next.append('C-3', bytes(50, 3), null, t0 + 1000);
    next.close();
    expect(readBack(dir, 'C-1').image).toEqual(bytes(100, 1));
    expect(new SegmentIndex(dir).find('C-2')).toBeNull();
    expect(readBack(dir, 'C-3').image).toEqual(bytes(50, 3));
  });

  it('end a line a failed write cut short before the same writer appends again', () => {
    const dir = tempDirSync('loupe-seg-');
    const writer = new SegmentWriter(dir, 'w');
    writer.append('T-1', bytes(10, 1), null, t0);
    writer.close();
    appendFileSync(path.join(dir, 'evidence-2026-11-25T10-w.idx'), '{"partId":"T-2"');
    const again = new SegmentWriter(dir, 'w');
    again.append('T-3', bytes(10, 3), null, t0 + 1000);
    again.close();
    expect(readBack(dir, 'T-1').image).toEqual(bytes(10, 1));
    expect(readBack(dir, 'T-3').image).toEqual(bytes(10, 3));
  });

  it('throw when the folder is gone, and write again once it is back', () => {
    const dir = tempDirSync('loupe-seg-');
    const writer = new SegmentWriter(dir, 'w');
    writer.append('E-1', bytes(10, 1), null, t0);
    rmSync(dir, { recursive: true });
    // the open files were unlinked with the folder: a new hour opens files and fails
    expect(() => writer.append('E-2', bytes(10, 2), null, t0 + HOUR)).toThrow(/ENOENT/);
    mkdirSync(dir);
    writer.append('E-3', bytes(10, 3), null, t0 + HOUR);
    writer.close();
    expect(readBack(dir, 'E-3').image).toEqual(bytes(10, 3));
  });
});

describe('retention of evidence segments', () => {
  /** Segments in `<images>/line-1/cam-1`, one an hour from `start`, each with the given parts, files dated their hour. */
  async function setUp(hours: { at: number; parts: string[] }[]) {
    const root = tempDirSync('loupe-seg-retention-');
    const imagesDir = path.join(root, 'images');
    const dir = path.join(imagesDir, 'line-1', 'cam-1');
    mkdirSync(dir, { recursive: true });
    const log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
    for (const { at, parts } of hours) {
      const writer = new SegmentWriter(dir, 'w');
      for (const partId of parts) {
        const kept = writer.append(partId, bytes(1000, 1), bytes(200, 2), at);
        log.result(result(partId, new Date(at).toISOString()), {
          image: `line-1/cam-1/${kept.image}`,
          heatmap: `line-1/cam-1/${kept.heatmap}`,
        });
      }
      writer.close();
      const name = `evidence-${hourOf(at)}-w`;
      for (const ext of ['seg', 'idx']) utimesSync(path.join(dir, `${name}.${ext}`), new Date(at), new Date(at));
    }
    const segments = () =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.seg'))
        .sort();
    return { log, imagesDir, dir, segments };
  }

  it('deletes a whole segment once all of it is too old, keeps one holding an open review, and marks its parts expired', async () => {
    const now = t0 + 100 * DAY;
    const { log, imagesDir, dir, segments } = await setUp([
      { at: t0, parts: ['old-1', 'old-2'] },
      { at: t0 + 2 * HOUR, parts: ['old-3', 'old-open'] },
      { at: now - 5 * DAY, parts: ['recent'] },
    ]);
    const reader = new SegmentIndex(dir);
    expect(reader.find('old-1', t0)).not.toBeNull();
    const swept = await sweepImages(imagesDir, log, {
      now,
      maxAgeMs: 90 * DAY,
      quotaBytes: 1e9,
      openParts: () => ['line-1/cam-1/old-open'],
    });
    expect(segments()).toEqual([`evidence-${hourOf(t0 + 2 * HOUR)}-w.seg`, `evidence-${hourOf(now - 5 * DAY)}-w.seg`]);
    expect(swept.parts).toBe(2);
    expect(swept.bytes).toBeGreaterThan(2 * 1200);
    expect(log.get('line-1', 'cam-1', 'old-1')?.image?.expired).toBe(true);
    expect(log.get('line-1', 'cam-1', 'old-2')?.heatmap?.expired).toBe(true);
    expect(log.get('line-1', 'cam-1', 'old-3')?.image?.expired).toBe(false);
    // a reader that knew the deleted segment forgets its parts
    expect(reader.find('old-1', now)).toBeNull();
    expect(reader.find('old-3', now)).not.toBeNull();
    await log.close();
  });

  it('under quota pressure deletes the oldest segments, never the one of this hour or the last, nor a part id kept again since', async () => {
    const now = t0 + 10 * DAY;
    const { log, imagesDir, segments } = await setUp([
      { at: t0, parts: ['a', 'again'] },
      { at: t0 + DAY, parts: ['b'] },
      { at: now - HOUR, parts: ['last-hour'] },
      { at: now - 10 * 60_000, parts: ['this-hour', 'again'] },
    ]);
    const swept = await sweepImages(imagesDir, log, { now, maxAgeMs: 90 * DAY, quotaBytes: 1, openParts: () => [] });
    expect(segments()).toEqual([`evidence-${hourOf(now - HOUR)}-w.seg`, `evidence-${hourOf(now)}-w.seg`]);
    expect(swept.parts).toBe(2); // a and b; "again" is still kept, in this hour's segment
    expect(log.get('line-1', 'cam-1', 'a')?.image?.expired).toBe(true);
    expect(log.get('line-1', 'cam-1', 'again')?.image?.expired).toBe(false);
    await log.close();
  });
});
