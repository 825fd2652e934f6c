/**
 * Real photographs: Debian's python3-skimage ships brick, grass and gravel textures. .ci/run unpacks
 * them and sets LOUPE_SKIMAGE_DATA; locally the suite skips with a message when they are missing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../lab/evaluate.ts';
import { fit } from '../../lab/fit.ts';
import { TEXTURES, writeTextureDataset } from '../../scripts/textures.ts';
import { inCI } from '../support/system.ts';

const data = process.env.LOUPE_SKIMAGE_DATA ?? '/tmp/loupe-skimage/usr/lib/python3/dist-packages/skimage/data';
const present = TEXTURES.every((t) => existsSync(path.join(data, `${t}.png`)));
if (!present) {
  const message = `skimage textures not found in ${data}; get them with: apt-get download python3-skimage && dpkg -x python3-skimage_*.deb /tmp/loupe-skimage (or set LOUPE_SKIMAGE_DATA)`;
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`SKIPPED: ${message}`);
}

describe.skipIf(!present)('the texture model on real photographs', () => {
  let tmp = '';
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('finds painted defects on brick, grass and gravel it was never shown (mean image AUROC ≥ 0.95)', async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'loupe-textures-'));
    await writeTextureDataset({ skimage: data, out: tmp, seed: 23, count: 40, apart: true });
    const aurocs: number[] = [];
    for (const texture of TEXTURES) {
      const modelDir = path.join(tmp, `model-${texture}`);
      // as `loupe fit` does by default: the method is chosen from the good parts, not told
      const report = await fit({ data: path.join(tmp, texture), out: modelDir });
      expect(report.method, `${texture}: ${JSON.stringify(report.choice)}`).toBe('texture');
      const e = await evaluate(modelDir, path.join(tmp, texture));
      aurocs.push(e.imageAuroc);
      expect(e.imageAuroc, texture).toBeGreaterThan(0.9);
    }
    expect(aurocs.reduce((a, b) => a + b) / aurocs.length).toBeGreaterThanOrEqual(0.95);
  }, 240_000);
});
