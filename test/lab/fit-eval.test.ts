import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticDataset } from '../../lab/dataset.ts';
import { auroc } from '../../lab/evaluate.ts';
import { fit } from '../../lab/fit.ts';
import { generatePart } from '../../lab/synth.ts';
import { loadModel } from '../../edge/src/vision/model.ts';
import { runLoupe } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { tempDir } from '../support/temp.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await tempDir('loupe-lab-');
});

describe('synthetic parts', () => {
  it('are the same for the same seed and differ for another', async () => {
    const a = await generatePart({ category: 'bracket', seed: 3, index: 5, defect: 'crack' });
    const b = await generatePart({ category: 'bracket', seed: 3, index: 5, defect: 'crack' });
    const c = await generatePart({ category: 'bracket', seed: 4, index: 5, defect: 'crack' });
    expect(a.image.equals(b.image)).toBe(true);
    expect(a.mask?.equals(b.mask as Buffer)).toBe(true);
    expect(a.image.equals(c.image)).toBe(false);
  });

  it('writes the MVTec AD layout with a mask for every defective image', async () => {
    await writeSyntheticDataset({ out: path.join(tmp, 'layout'), seed: 2, count: 4, categories: ['brushed'] });
    const root = path.join(tmp, 'layout', 'brushed');
    expect((await readdir(path.join(root, 'train', 'good'))).length).toBe(4);
    expect((await readdir(path.join(root, 'test'))).sort()).toEqual([
      'contamination',
      'crack',
      'good',
      'scratch',
      'spot',
    ]);
    for (const defect of ['contamination', 'crack', 'scratch', 'spot']) {
      const images = await readdir(path.join(root, 'test', defect));
      const masks = await readdir(path.join(root, 'ground_truth', defect));
      expect(masks.sort()).toEqual(images.map((f) => f.replace('.png', '_mask.png')).sort());
    }
  });
});

describe('auroc', () => {
  it('is 1 for a perfect separation, 0.5 for ties, and counts ranks', () => {
    expect(auroc([1, 2, 3], [4, 5])).toBe(1);
    expect(auroc([1, 1], [1, 1])).toBe(0.5);
    expect(auroc([1, 3], [2, 4])).toBe(0.75);
  });
});

describe('fit → eval round trip through the CLI', () => {
  // one `loupe fit --method auto` on 40 synthetic brackets, shared by the tests below
  let fitting: Promise<{ data: string; out: string; fitted: Awaited<ReturnType<typeof runLoupe>> }> | undefined;
  const fitOnce = () =>
    (fitting ??= (async () => {
      const data = path.join(tmp, 'ds');
      expect(
        (await runLoupe(['synth', '--out', data, '--seed', '12', '--count', '40', '--category', 'bracket'])).code,
      ).toBe(0);
      const out = path.join(tmp, 'model');
      return { data, out, fitted: await runLoupe(['fit', '--data', path.join(data, 'bracket'), '--out', out]) };
    })());

  it('fits on good parts only and finds defects it has never seen', async () => {
    const { data, out, fitted } = await fitOnce();
    expect(fitted.code, fitted.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      kind: 'loupe-padim',
      fittedOn: { goodImages: 32, heldOutImages: 8, choice: { requested: 'auto' } },
    });
    // a bracket in a fixture: the method chosen by itself is the per-position one
    expect(fitted.stdout).toContain('method aligned (auto');
    expect(manifest.fittedOn.method).toMatch(/^aligned/);
    expect(manifest.thresholds.passBelow).toBeGreaterThan(manifest.fittedOn.heldOutMaxScore);
    expect(manifest.thresholds.rejectAbove).toBeGreaterThan(manifest.thresholds.passBelow);

    const evaluated = await runLoupe(['eval', '--model', out, '--data', path.join(data, 'bracket'), '--json']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const e = JSON.parse(evaluated.stdout);
    expect(Object.keys(e)).toEqual(
      expect.arrayContaining(['imageAuroc', 'pixelAuroc', 'perDefect', 'autoPassAtZeroEscape', 'inferenceMsPerImage']),
    );
    expect(e.imageAuroc).toBeGreaterThan(0.95);
    expect(e.pixelAuroc).toBeGreaterThan(0.9);
    expect(Object.keys(e.perDefect).sort()).toEqual(['contamination', 'crack', 'missing', 'scratch', 'spot']);
    expect(e.autoPassAtZeroEscape).toBeGreaterThan(0.5);
    expect(e.inferenceMsPerImage).toBeGreaterThan(0);
    // auto fits and probes every method, the pretrained ones included
    expect(Object.keys(manifest.fittedOn.choice.probes).sort()).toEqual([
      'aligned',
      'pretrained',
      'pretrained-aligned',
    ]);
    // and says why, the probes' JPEG deliveries included
    expect(manifest.fittedOn.choice.reason).toContain('JPEG');
  }, 240_000);

  it('proposes a pass threshold that good parts delivered as camera JPEGs stay below', async () => {
    const { out, fitted } = await fitOnce();
    expect(fitted.code, fitted.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    const model = await loadModel(out);
    try {
      // other brackets than those fitted on, compressed as a camera would (quality 92, test/support/parts.ts)
      for (let i = 0; i < 6; i++) {
        const { score } = await model.inspect(await goodPart(i, 'jpeg'));
        expect(score, `good part ${i} as JPEG`).toBeLessThan(manifest.thresholds.passBelow);
      }
    } finally {
      await model.close();
    }
  }, 240_000);

  it('sets the pass threshold of a compression-sensitive model so that good JPEG parts pass', async () => {
    // the located pretrained Gaussians, fitted on PNG parts, score the same parts higher as JPEG
    const { data } = await fitOnce();
    const out = path.join(tmp, 'pretrained-aligned');
    const report = await fit({ data: path.join(data, 'bracket'), out, method: 'pretrained-aligned' });
    const model = await loadModel(out);
    try {
      for (let i = 0; i < 6; i++) {
        const png = (await model.inspect(await goodPart(i, 'png'))).score;
        const jpeg = (await model.inspect(await goodPart(i, 'jpeg'))).score;
        expect(jpeg, `good part ${i}: JPEG scores above PNG`).toBeGreaterThan(png);
        expect(jpeg, `good part ${i} as JPEG`).toBeLessThan(report.manifest.thresholds.passBelow);
      }
    } finally {
      await model.close();
    }
  }, 240_000);

  it('names a dataset folder that is not in the MVTec layout', async () => {
    const result = await runLoupe(['fit', '--data', path.join(tmp, 'nowhere'), '--out', path.join(tmp, 'x')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('no images in train/good');
  });
});
