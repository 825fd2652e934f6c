import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../edge/src/vision/model.ts';
import { renderHeatmap, renderMap } from '../../edge/src/vision/heatmap.ts';
import { InspectionError } from '../../edge/src/reasons.ts';
import {
  fitQuality,
  fitQualityRanges,
  measureQuality,
  QualityRefusal,
  type QualityRanges,
} from '../../edge/src/vision/quality.ts';
import { floats, model as onnxModel, node, tensorInfo } from '../../lab/onnx.ts';
import { generatePart } from '../../lab/synth.ts';
import { repoRoot } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

const defaultModel = path.join(repoRoot, 'models', 'default');
let tmp: string;
let model: Model;

beforeAll(async () => {
  tmp = await tempDir('loupe-vision-');
  model = await loadModel(defaultModel, { threads: 1 });
});
afterAll(async () => {
  await model?.close();
});

async function modelFolder(name: string, onnx: Uint8Array, manifest: object): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(defaultModel, dir, { recursive: true });
  await writeFile(path.join(dir, 'model.onnx'), onnx);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

async function expectLoadError(dir: string, message: RegExp) {
  await expect(loadModel(dir)).rejects.toThrow(message);
}

describe('the default model', () => {
  it('scores good parts below pass_below and clear defects at or above reject_above, with a map of the input size', async () => {
    const { passBelow, rejectAbove } = model.manifest.thresholds;
    for (let i = 0; i < 4; i++) {
      const good = await model.inspect(
        (await generatePart({ category: 'bracket', seed: 77, index: i, defect: null })).image,
      );
      expect(good.score).toBeLessThan(passBelow);
      expect([good.mapWidth, good.mapHeight]).toEqual([256, 256]);
      expect(good.map.length).toBe(256 * 256);
    }
    const missing = await model.inspect(
      (await generatePart({ category: 'bracket', seed: 77, index: 9, defect: 'missing' })).image,
    );
    expect(missing.score).toBeGreaterThanOrEqual(rejectAbove);
  });

  it('puts the anomaly map where the defect is', async () => {
    const part = await generatePart({ category: 'bracket', seed: 78, index: 1, defect: 'spot' });
    const { map } = await model.inspect(part.image);
    const mask = await sharp(part.mask as Buffer)
      .extractChannel(0)
      .raw()
      .toBuffer();
    let inside = 0;
    let insideN = 0;
    let outside = 0;
    let outsideN = 0;
    for (let i = 0; i < map.length; i++) {
      if (mask[i] > 127) {
        inside += map[i];
        insideN++;
      } else {
        outside += map[i];
        outsideN++;
      }
    }
    expect(inside / insideN).toBeGreaterThan(5 * (outside / outsideN));
  });

  it('resizes frames of another size and handles greyscale and alpha', async () => {
    const part = (await generatePart({ category: 'bracket', seed: 79, index: 0, defect: null })).image;
    const large = await sharp(part).resize(1280, 800, { fit: 'fill' }).jpeg().toBuffer();
    const grey = await sharp(part).greyscale().png().toBuffer();
    const alpha = await sharp(part).ensureAlpha(0.9).png().toBuffer();
    for (const frame of [large, grey, alpha]) {
      const inspection = await model.inspect(frame);
      expect(Number.isFinite(inspection.score)).toBe(true);
      expect(inspection.map.length).toBe(256 * 256);
    }
  });

  it('refuses a truncated JPEG and bytes that are no image as unreadable_image', async () => {
    const jpeg = await sharp((await generatePart({ category: 'bracket', seed: 80, index: 0, defect: null })).image)
      .jpeg()
      .toBuffer();
    for (const bytes of [jpeg.subarray(0, jpeg.length >> 1), Buffer.from('GIF89a not really'), Buffer.alloc(0)]) {
      const error = await model.inspect(bytes).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InspectionError);
      expect((error as InspectionError).code).toBe('unreadable_image');
    }
  });

  it('renders the heatmap over the image at the image size, and the map alone', async () => {
    const part = await generatePart({ category: 'bracket', seed: 81, index: 0, defect: 'scratch' });
    const inspection = await model.inspect(part.image);
    const overlay = await renderHeatmap(part.image, inspection, {
      format: 'jpeg',
      floor: model.manifest.thresholds.passBelow,
    });
    expect(await sharp(overlay).metadata()).toMatchObject({ format: 'jpeg', width: 256, height: 256 });
    const plain = await sharp(part.image).raw().toBuffer();
    const tinted = await sharp(overlay).raw().toBuffer();
    expect(Buffer.compare(plain, tinted)).not.toBe(0);
    expect(await sharp(await renderMap(inspection)).metadata()).toMatchObject({ format: 'png', channels: 4 });
  });
});

describe('other manifest kinds load through the same path', () => {
  it('loads an Anomalib-style export: float NCHW input with ImageNet normalisation, map and score out', async () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const graph = onnxModel({
      name: 'anomalib-like',
      node: [
        node('ReduceMean', ['input'], ['anomaly_map'], { axes: [1], keepdims: 1 }),
        node('ReduceMax', ['anomaly_map'], ['pred_score'], { keepdims: 0 }),
      ],
      input: [tensorInfo('input', [1, 3, 64, 64])],
      output: [tensorInfo('anomaly_map', [1, 1, 64, 64]), tensorInfo('pred_score', [])],
    });
    const dir = await modelFolder('anomalib', graph, {
      id: 'anomalib-padim',
      version: '3',
      kind: 'anomalib',
      input: { name: 'input', width: 64, height: 64, channels: 3, mean, std, resize: 'fill' },
      outputs: { score: 'pred_score', map: 'anomaly_map' },
      thresholds: { passBelow: 0.5, rejectAbove: 0.9 },
    });
    const loaded = await loadModel(dir);
    const grey = await sharp({
      create: { width: 100, height: 80, channels: 3, background: { r: 128, g: 128, b: 128 } },
    })
      .png()
      .toBuffer();
    const inspection = await loaded.inspect(grey);
    const expected = [0, 1, 2].reduce((sum, c) => sum + (128 / 255 - mean[c]) / std[c], 0) / 3;
    expect(inspection.score).toBeCloseTo(expected, 4);
    expect([inspection.mapWidth, inspection.mapHeight]).toEqual([64, 64]);
    await loaded.close();
  });

  it('loads a classifier: the score is one minus the probability of "ok"', async () => {
    // logits = mean brightness × [−4, +4]: bright parts look defective
    const graph = onnxModel({
      name: 'classifier',
      node: [
        node('ReduceMean', ['x'], ['brightness'], { axes: [1, 2, 3], keepdims: 0 }),
        node('Mul', ['brightness', 'w'], ['logits']),
        node('Softmax', ['logits'], ['probs'], { axis: -1 }),
      ],
      initializer: [floats('w', [1, 2], [-4, 4])],
      input: [tensorInfo('x', [1, 1, 32, 32])],
      output: [tensorInfo('probs', [1, 2])],
    });
    const dir = await modelFolder('classifier', graph, {
      id: 'ok-vs-defect',
      version: '1',
      kind: 'classifier',
      input: { name: 'x', width: 32, height: 32, channels: 1, mean: [0], std: [1], resize: 'fill' },
      outputs: { probabilities: 'probs', classes: ['ok', 'defect'] },
      thresholds: { passBelow: 0.3, rejectAbove: 0.8 },
    });
    const loaded = await loadModel(dir);
    const white = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const black = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const p = Math.exp(4) / (Math.exp(4) + Math.exp(-4));
    expect((await loaded.inspect(white)).score).toBeCloseTo(p, 4);
    expect((await loaded.inspect(black)).score).toBeCloseTo(0.5, 4);
    await loaded.close();
  });
});

describe('a model folder that does not hold together fails at load, naming the mismatch', () => {
  it('names a missing manifest and a missing model file', async () => {
    const dir = path.join(tmp, 'empty');
    await cp(defaultModel, dir, { recursive: true });
    await rm(path.join(dir, 'manifest.json'));
    await expectLoadError(dir, /manifest\.json is missing/);
    await cp(path.join(defaultModel, 'manifest.json'), path.join(dir, 'manifest.json'));
    await rm(path.join(dir, 'model.onnx'));
    await expectLoadError(dir, /model\.onnx is missing/);
  });

  it('names an inconsistent manifest', async () => {
    const manifest = JSON.parse(await readFile(path.join(defaultModel, 'manifest.json'), 'utf8'));
    const onnx = await readFile(path.join(defaultModel, 'model.onnx'));
    await expectLoadError(await modelFolder('kind', onnx, { ...manifest, kind: 'yolo' }), /manifest\.json: kind/);
    await expectLoadError(
      await modelFolder('thresholds', onnx, { ...manifest, thresholds: { passBelow: 5, rejectAbove: 1 } }),
      /passBelow \(5\) must not exceed thresholds\.rejectAbove \(1\)/,
    );
    await expectLoadError(
      await modelFolder('channels', onnx, { ...manifest, input: { ...manifest.input, mean: [0] } }),
      /one value per channel/,
    );
  });

  it('names an ONNX input or output that does not match the manifest', async () => {
    const manifest = JSON.parse(await readFile(path.join(defaultModel, 'manifest.json'), 'utf8'));
    const onnx = await readFile(path.join(defaultModel, 'model.onnx'));
    await expectLoadError(
      await modelFolder('size', onnx, { ...manifest, input: { ...manifest.input, width: 128 } }),
      /has shape \[1, 256, 256, 3\], but the manifest says \[1, 256, 128, 3\]/,
    );
    await expectLoadError(
      await modelFolder('name', onnx, { ...manifest, input: { ...manifest.input, name: 'pixels' } }),
      /input\.name "pixels" is not an input of model\.onnx \(inputs: image\)/,
    );
    await expectLoadError(
      await modelFolder('output', onnx, { ...manifest, outputs: { score: 'score', map: 'heat' } }),
      /output "heat" is not an output of model\.onnx/,
    );
    await expectLoadError(
      await modelFolder('format', onnx, { ...manifest, input: { ...manifest.input, format: 'float32-nchw' } }),
      /takes uint8, but the manifest's input\.format float32-nchw gives float32/,
    );
  });

  it('names an ONNX file that onnxruntime cannot load', async () => {
    const manifest = JSON.parse(await readFile(path.join(defaultModel, 'manifest.json'), 'utf8'));
    await expectLoadError(
      await modelFolder('corrupt', Buffer.from('not a protobuf'), manifest),
      /model\.onnx cannot be loaded by onnxruntime/,
    );
  });
});

describe("a model asked to check a frame's quality", () => {
  const good = async (index: number) =>
    (await generatePart({ category: 'bracket', seed: 5, index, defect: null })).image;
  const withRanges = async (name: string, quality: QualityRanges): Promise<Model> => {
    const manifest = JSON.parse(await readFile(path.join(defaultModel, 'manifest.json'), 'utf8'));
    const onnx = await readFile(path.join(defaultModel, 'model.onnx'));
    return loadModel(await modelFolder(name, onnx, { ...manifest, quality }), { threads: 1 });
  };

  it('refuses an unfit frame as image_quality naming the measure, unscored, on its own decode (ranges version 2 and 1)', async () => {
    const fitting = await Promise.all(Array.from({ length: 20 }, (_, i) => good(i)));
    const v2 = await fitQuality(fitting, model.manifest.input);
    const v1 = fitQualityRanges(await Promise.all(fitting.map((image) => measureQuality(image))));
    const dark = await sharp(await good(100))
      .linear(0.35, 0)
      .jpeg()
      .toBuffer();
    for (const [name, quality] of [
      ['v2', v2],
      ['v1', v1],
    ] as const) {
      const checked = await withRanges(name, quality);
      try {
        const error = await checked.inspect(dark, undefined, { quality: true }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(QualityRefusal);
        expect((error as QualityRefusal).code).toBe('image_quality');
        expect((error as QualityRefusal).failed).toContain('mean');
        expect((error as Error).message).toMatch(/^frame not fit to be scored: mean .* \(too dark\)/);
        // a good frame is scored; unasked (eval, shadow, known-good), the model scores any frame
        expect((await checked.inspect(await good(101), undefined, { quality: true })).score).toBeTypeOf('number');
        expect((await checked.inspect(dark)).score).toBeTypeOf('number');
      } finally {
        await checked.close();
      }
    }
  });
});
