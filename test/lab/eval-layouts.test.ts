/**
 * `loupe eval` on the datasets people have: without ground_truth masks (image scores only, said so),
 * a flat folder of images (the expected layout explained, no stack trace), and the split the model's
 * own thresholds would give.
 */
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listImages, writeSyntheticDataset } from '../../lab/dataset.ts';
import { evaluate } from '../../lab/evaluate.ts';
import { repoRoot, runLoupe } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

const MODEL = path.join(repoRoot, 'models', 'default');

describe('loupe eval', () => {
  it('scores a dataset without masks on images only, and splits it at the model thresholds', async () => {
    const dir = await tempDir('loupe-eval-');
    await writeSyntheticDataset({ out: dir, seed: 5, count: 8, categories: ['bracket'] });
    await rm(path.join(dir, 'bracket', 'ground_truth'), { recursive: true, force: true });
    const e = await evaluate(MODEL, path.join(dir, 'bracket'));
    expect(e.imageAuroc).toBeGreaterThan(0.5);
    expect(e.pixelAuroc).toBeNull();
    expect(e.pixelNote).toContain('no ground_truth masks');
    const t = e.atThresholds;
    expect(t.pass + t.review + t.reject).toBe(e.images);
    expect(t.thresholds.passBelow).toBeLessThanOrEqual(t.thresholds.rejectAbove);
  }, 60_000);

  it('says what layout it expects for a flat folder of images, without a stack trace', async () => {
    const source = await tempDir('loupe-eval-src-');
    await writeSyntheticDataset({ out: source, seed: 5, count: 4, categories: ['bracket'] });
    const flat = await tempDir('loupe-eval-flat-');
    for (const file of (await listImages(path.join(source, 'bracket', 'train', 'good'))).slice(0, 3))
      await copyFile(file, path.join(flat, path.basename(file)));
    const outcome = await runLoupe(['eval', '--model', MODEL, '--data', flat], {}, 30_000);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('holds 3 images directly');
    expect(outcome.stderr).toContain('CATEGORY/test/good');
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
