import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageFile } from '../../edge/src/evidence/files.ts';
import {
  acceptedIn,
  alignedImage,
  compare,
  nearestGolden,
  shiftImage,
  thumbnailOf,
  THUMB,
} from '../../edge/src/review/golden.ts';
import type { Entry } from '../../edge/src/log/entry.ts';
import { tempDir } from '../support/temp.ts';

const SIZE = THUMB * 4;

/** A grey frame with a dark square at (x, y) and, when asked, a bright bar (a defect) across it. */
async function frame(x: number, y: number, bar = false): Promise<Buffer> {
  const square = `<rect x="${x}" y="${y}" width="60" height="60" fill="#202020"/>`;
  const stripe = bar ? `<rect x="20" y="150" width="150" height="10" fill="#ffffff"/>` : '';
  return sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}"><rect width="100%" height="100%" fill="#909090"/>${square}${stripe}</svg>`,
    ),
  )
    .png()
    .toBuffer();
}

/** A log entry as the golden reference reads it. */
const entry = (
  partId: string,
  final: { verdict: 'pass' | 'reject'; decidedBy: 'human' | 'model'; at: string; user?: string },
  options: { station?: string; expired?: boolean; image?: boolean } = {},
) =>
  ({
    line: 'l',
    station: options.station ?? 's',
    partId,
    score: 5,
    image: options.image === false ? null : { path: 'x', expired: options.expired ?? false },
    final,
  }) as unknown as Entry;

describe('golden reference', () => {
  it('finds how far the reference must move to lie over the part', async () => {
    const part = await thumbnailOf(await frame(80, 60));
    const reference = await thumbnailOf(await frame(72, 64)); // the square 8 px left and 4 px down: 2 and -1 cells
    const match = compare(part!, reference!);
    expect(match).toMatchObject({ dx: 2, dy: -1 });
    expect(match.difference).toBeLessThan(compare(part!, (await thumbnailOf(await frame(20, 120)))!).difference);
  });

  it('is not misled by a lamp a little brighter', async () => {
    const part = await thumbnailOf(await frame(80, 60));
    const brighter = await thumbnailOf(
      await sharp(await frame(80, 60))
        .linear(1, 25)
        .png()
        .toBuffer(),
    );
    expect(compare(part!, brighter!).difference).toBeLessThan(1);
  });

  it('moves pixels by whole pixels, repeating the edge it uncovers', () => {
    const pixels = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 3 x 3, one channel
    expect([...shiftImage(pixels, 3, 3, 1, 1, 0)]).toEqual([1, 1, 2, 4, 4, 5, 7, 7, 8]);
    expect([...shiftImage(pixels, 3, 3, 1, 0, -1)]).toEqual([4, 5, 6, 7, 8, 9, 7, 8, 9]);
  });

  it('takes only parts a person accepted at the same station whose frame is still kept, newest first, never the part itself', () => {
    const entries = [
      entry('A', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:00:00Z', user: 'ana' }),
      entry('B', { verdict: 'pass', decidedBy: 'model', at: '2026-12-05T01:01:00Z' }),
      entry('C', { verdict: 'reject', decidedBy: 'human', at: '2026-12-05T01:02:00Z' }),
      entry('D', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:03:00Z' }, { expired: true }),
      entry('E', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:04:00Z' }, { station: 'other' }),
      entry('F', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:05:00Z' }),
      entry('SELF', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:06:00Z' }),
      entry('G', { verdict: 'pass', decidedBy: 'human', at: '2026-12-05T01:07:00Z' }, { image: false }),
    ];
    expect(acceptedIn(entries, 'l', 's', 'SELF').map((a) => a.partId)).toEqual(['F', 'A']);
    expect(acceptedIn(entries, 'l', 's', 'SELF')[1]).toMatchObject({ partId: 'A', user: 'ana', score: 5 });
  });

  it('picks the accepted part that looks most like the part, and serves it aligned at the part size', async () => {
    const imagesDir = await tempDir('loupe-golden-');
    const dir = path.join(imagesDir, 'l', 's');
    await mkdir(dir, { recursive: true });
    await writeFile(imageFile(dir, 'PART'), await frame(80, 60, true));
    await writeFile(imageFile(dir, 'NEAR'), await frame(72, 64));
    await writeFile(imageFile(dir, 'FAR'), await frame(10, 130));
    await writeFile(imageFile(dir, 'BROKEN'), Buffer.from('not an image'));
    const accepted = ['FAR', 'BROKEN', 'NEAR'].map((partId) => ({ partId, at: '2026-12-05T01:00:00Z', score: 4 }));
    const found = await nearestGolden(imagesDir, accepted, { line: 'l', station: 's', partId: 'PART' });
    if (!found.ok) throw new Error(found.message);
    expect(found.golden).toMatchObject({
      partId: 'PART',
      golden: { partId: 'NEAR' },
      considered: 2,
      shift: { x: 2 / THUMB, y: -1 / THUMB },
      imageUrl: '/api/parts/l/s/PART/golden/image',
    });
    const aligned = await alignedImage(await frame(72, 64), await frame(80, 60, true), found.dx, found.dy);
    expect(await sharp(aligned).metadata()).toMatchObject({ format: 'png', width: SIZE, height: SIZE });
    // Moved: the square now starts where the part's does (80, 60), not where the reference's did (72, 64).
    const { data } = await sharp(aligned).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(data[62 * SIZE + 82]).toBeLessThan(60);
    expect(data[62 * SIZE + 74]).toBeGreaterThan(120);

    expect(await nearestGolden(imagesDir, [], { line: 'l', station: 's', partId: 'PART' })).toMatchObject({
      ok: false,
      code: 'no_golden',
    });
    expect(await nearestGolden(imagesDir, accepted, { line: 'l', station: 's', partId: 'NONE' })).toMatchObject({
      ok: false,
      code: 'not_found',
    });
  });
});
