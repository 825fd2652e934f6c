/**
 * The golden reference's cost: one answer over 64 accepted parts, the first time (each reference's
 * frame decoded into its thumbnail) and again (thumbnails cached, as the route keeps them), and the
 * aligned image, on the synthetic bracket parts. Run: `npx tsx bench/golden.ts`; figures go to
 * docs/benchmarks.md.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { imageFile, keptImage } from '../edge/src/evidence/files.ts';
import { alignedImage, CANDIDATES, nearestGolden, ThumbnailCache, type Accepted } from '../edge/src/review/golden.ts';
import { defectivePart, goodPart } from '../test/support/parts.ts';

const imagesDir = path.join(os.tmpdir(), `loupe-golden-bench-${process.pid}`);
const dir = path.join(imagesDir, 'l', 's');
await mkdir(dir, { recursive: true });
try {
  await writeFile(imageFile(dir, 'PART'), await defectivePart(1, 'scratch'));
  const accepted: Accepted[] = [];
  for (let i = 0; i < CANDIDATES; i++) {
    await writeFile(imageFile(dir, `G${i}`), await goodPart(i));
    accepted.push({ partId: `G${i}`, at: new Date(Date.now() - i * 1000).toISOString(), score: 1 });
  }
  const where = { line: 'l', station: 's', partId: 'PART' };
  const cache = new ThumbnailCache();
  const timed = async <T>(run: () => Promise<T>) => {
    const start = performance.now();
    const out = await run();
    return { ms: performance.now() - start, out };
  };
  const cold = await timed(() => nearestGolden(imagesDir, accepted, where, cache));
  if (!cold.out.ok) throw new Error(cold.out.message);
  const again: number[] = [];
  for (let i = 0; i < 5; i++) again.push((await timed(() => nearestGolden(imagesDir, accepted, where, cache))).ms);
  const { dx, dy, golden } = cold.out;
  const [reference, part] = await Promise.all([keptImage(dir, golden.golden.partId), keptImage(dir, 'PART')]);
  const image = await timed(() => alignedImage(reference as Buffer, part as Buffer, dx, dy));
  const median = [...again].sort((a, b) => a - b)[2];
  console.log(
    JSON.stringify({
      candidates: CANDIDATES,
      firstMs: Math.round(cold.ms),
      againMedianMs: Math.round(median * 10) / 10,
      alignedImageMs: Math.round(image.ms),
      cpus: os.cpus().length,
      load1: Number(os.loadavg()[0].toFixed(1)),
    }),
  );
} finally {
  await rm(imagesDir, { recursive: true, force: true });
}
