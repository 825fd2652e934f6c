/**
 * `loupe model import`: small graphs written with each export's contract stand in for real Anomalib
 * and YOLO exports. Each imported model must score an image as that tool's own inferencer would:
 * the reference here follows Anomalib's inferencer step by step (read 0..1 RGB, its transform, the
 * raw graph in onnxruntime, `normalize_min_max`), computed apart from Loupe's code path.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { importModel, ImportError } from '../../lab/import.ts';
import { floats, model as onnxModel, node, onnx, tensorInfo } from '../../lab/onnx.ts';
import { loadModel } from '../../edge/src/vision/model.ts';
import { checkKnownGood, KnownGoodError, recordReferences } from '../../edge/src/vision/known-good.ts';
import { InspectionPool } from '../../edge/src/vision/pool.ts';
import modelCommand from '../../cli/model.ts';
import { runLoupe, writeConfig } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

const SIZE = 32;
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
let tmp: string;
let images: Buffer[];

/** Pixel noise around a level: RGB PNGs of the model's size, so no resize stands between the two paths. */
async function image(seed: number, level: number): Promise<Buffer> {
  const pixels = Buffer.alloc(SIZE * SIZE * 3);
  let s = seed;
  for (let i = 0; i < pixels.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    pixels[i] = Math.max(0, Math.min(255, level + ((s >> 8) % 61) - 30));
  }
  return sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .png()
    .toBuffer();
}

/** What Anomalib's inferencers feed the graph: RGB on 0..1, then (x − mean) / std, planar. */
async function anomalibInput(png: Buffer, norm = { mean: [0, 0, 0], std: [1, 1, 1] }): Promise<ort.Tensor> {
  const rgb = await sharp(png).removeAlpha().raw().toBuffer();
  const data = new Float32Array(3 * SIZE * SIZE);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < SIZE * SIZE; i++)
      data[c * SIZE * SIZE + i] = (rgb[i * 3 + c] / 255 - norm.mean[c]) / norm.std[c];
  return new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]);
}

/** anomalib.utils.normalization.min_max.normalize, in double precision */
function normalizeMinMax(x: number, threshold: number, min: number, max: number): number {
  return Math.max(Math.min((x - threshold) / (max - min) + 0.5, 1), 0);
}

async function run(
  bytes: Uint8Array,
  input: string,
  tensor: ort.Tensor,
): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run({ [input]: tensor });
  } finally {
    await session.release();
  }
}

/** The raw anomaly map of the stand-in models: the square of the mean over channels, per pixel. */
function rawMapNodes(input: string, map: string) {
  return [
    node('ReduceMean', [input], ['mean_c'], { axes: [1], keepdims: 1 }),
    node('Mul', ['mean_c', 'mean_c'], [map]),
  ];
}

beforeAll(async () => {
  tmp = await tempDir('loupe-import-');
  images = await Promise.all([image(1, 60), image(2, 120), image(3, 140), image(4, 200)]);
});

describe('an Anomalib 2.x export', () => {
  let bytes: Uint8Array;
  beforeAll(async () => {
    // Like 2.x: normalisation inside, post-processing inside (threshold 0.35, min 0.05, max 0.9 on the raw map).
    const nodes = [
      node('Sub', ['input', 'mean'], ['centred']),
      node('Div', ['centred', 'std'], ['normalised_input']),
      ...rawMapNodes('normalised_input', 'raw_map'),
      node('ReduceMax', ['raw_map'], ['raw_score'], { keepdims: 0 }),
      node('Sub', ['raw_score', 't'], ['s1']),
      node('Div', ['s1', 'range'], ['s2']),
      node('Add', ['s2', 'half'], ['s3']),
      node('Clip', ['s3', 'zero', 'one'], ['pred_score']),
      node('Sub', ['raw_map', 't'], ['m1']),
      node('Div', ['m1', 'range'], ['m2']),
      node('Add', ['m2', 'half'], ['m3']),
      node('Clip', ['m3', 'zero', 'one'], ['anomaly_map']),
      node('Greater', ['pred_score', 'half'], ['pred_label']),
    ];
    const initializer = [
      floats('mean', [1, 3, 1, 1], IMAGENET.mean),
      floats('std', [1, 3, 1, 1], IMAGENET.std),
      floats('t', [], [0.35]),
      floats('range', [], [0.85]),
      floats('half', [], [0.5]),
      floats('zero', [], [0]),
      floats('one', [], [1]),
    ];
    const graph = {
      name: 'anomalib2',
      node: nodes,
      initializer,
      input: [tensorInfo('input', [1, 3, 'height', 'width'])],
      output: [
        tensorInfo('pred_score', []),
        tensorInfo('pred_label', [], onnx.TensorProto.DataType.BOOL),
        tensorInfo('anomaly_map', [1, 1, 'height', 'width']),
      ],
    };
    bytes = onnxModel(graph, 'pytorch');
    await mkdir(path.join(tmp, 'a2', 'weights', 'onnx'), { recursive: true });
    await writeFile(path.join(tmp, 'a2', 'weights', 'onnx', 'model.onnx'), bytes);
  });

  it('is recognised by its outputs and scores every image as Anomalib 2.x does, within 1e-4', async () => {
    const out = path.join(tmp, 'models', 'a2');
    const imported = await importModel({ source: path.join(tmp, 'a2'), out, size: SIZE });
    expect(imported.kind).toBe('anomalib-2');
    expect(imported.manifest.outputs).toEqual({ score: 'pred_score', map: 'anomaly_map' });
    const model = await loadModel(out, { threads: 1 });
    const scores: number[] = [];
    try {
      for (const png of images) {
        const theirs = (await run(bytes, 'input', await anomalibInput(png))).pred_score.data as Float32Array;
        const ours = await model.inspect(png);
        expect(Math.abs(ours.score - theirs[0])).toBeLessThan(1e-4);
        scores.push(ours.score);
      }
    } finally {
      await model.close();
    }
    // The images span both sides of Anomalib's threshold, so the comparison is not between two clipped values.
    expect(scores.some((s) => s > 0 && s < 0.5) && scores.some((s) => s > 0.5 && s < 1)).toBe(true);
  });
});

describe('an Anomalib 1.x export with metadata.json', () => {
  let bytes: Uint8Array;
  let metadata: Record<string, unknown>;
  beforeAll(async () => {
    // Like a 1.x PaDiM: normalised input in, only the raw anomaly map out ("output").
    bytes = onnxModel(
      {
        name: 'anomalib1',
        node: rawMapNodes('input', 'output'),
        input: [tensorInfo('input', [1, 3, SIZE, SIZE])],
        output: [tensorInfo('output', [1, 1, SIZE, SIZE])],
      },
      'pytorch',
    );
    const rawScores: number[] = [];
    for (const png of images)
      rawScores.push(
        Math.max(...((await run(bytes, 'input', await anomalibInput(png, IMAGENET))).output.data as Float32Array)),
      );
    const sorted = [...rawScores].sort((a, b) => a - b);
    metadata = {
      task: 'segmentation',
      transform: {
        __version__: '1.3.1',
        transform: {
          __class_fullname__: 'Compose',
          transforms: [
            { __class_fullname__: 'Resize', always_apply: true, p: 1, height: SIZE, width: SIZE, interpolation: 1 },
            {
              __class_fullname__: 'Normalize',
              always_apply: false,
              p: 1,
              mean: IMAGENET.mean,
              std: IMAGENET.std,
              max_pixel_value: 255,
            },
            { __class_fullname__: 'ToTensorV2', always_apply: true, p: 1, transpose_mask: false },
          ],
        },
      },
      image_threshold: (sorted[1] + sorted[2]) / 2,
      pixel_threshold: (sorted[1] + sorted[2]) / 2.5,
      'pred_scores.min': sorted[0] * 0.5,
      'pred_scores.max': sorted[3] * 1.5,
      'anomaly_maps.min': 0,
      'anomaly_maps.max': sorted[3] * 1.5,
    };
    await mkdir(path.join(tmp, 'a1', 'weights', 'onnx'), { recursive: true });
    await writeFile(path.join(tmp, 'a1', 'weights', 'onnx', 'model.onnx'), bytes);
    await writeFile(path.join(tmp, 'a1', 'weights', 'onnx', 'metadata.json'), JSON.stringify(metadata));
  });

  it("is recognised by its metadata.json, takes its transform, and scores as the 1.x inferencer's normalize_min_max, within 1e-4", async () => {
    const out = path.join(tmp, 'models', 'a1');
    const imported = await importModel({ source: path.join(tmp, 'a1'), out });
    expect(imported.kind).toBe('anomalib-1');
    expect(imported.manifest.input).toMatchObject({
      width: SIZE,
      height: SIZE,
      mean: IMAGENET.mean,
      std: IMAGENET.std,
    });
    const m = metadata as Record<string, number>;
    const model = await loadModel(out, { threads: 1 });
    try {
      for (const png of images) {
        const map = (await run(bytes, 'input', await anomalibInput(png, IMAGENET))).output.data as Float32Array;
        const theirs = normalizeMinMax(Math.max(...map), m.image_threshold, m['pred_scores.min'], m['pred_scores.max']);
        const ours = await model.inspect(png);
        expect(Math.abs(ours.score - theirs)).toBeLessThan(1e-4);
        // the map as the 1.x inferencer normalises it, with the pixel threshold
        const i = 17 * SIZE + 5;
        expect(
          Math.abs(
            ours.map[i] - normalizeMinMax(map[i], m.pixel_threshold, m['anomaly_maps.min'], m['anomaly_maps.max']),
          ),
        ).toBeLessThan(1e-4);
      }
    } finally {
      await model.close();
    }
  });

  it('refuses an export whose metadata.json has no image_threshold, saying so', async () => {
    const dir = path.join(tmp, 'a1-broken');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), bytes);
    await writeFile(path.join(dir, 'metadata.json'), JSON.stringify({ task: 'segmentation' }));
    await expect(importModel({ source: dir, out: path.join(tmp, 'models', 'a1-broken') })).rejects.toThrow(
      /no image_threshold/,
    );
  });
});

describe('a YOLO classification export', () => {
  const names = "{0: 'good', 1: 'scratch', 2: 'dent'}";
  const weights = [2, -1, 0.5, -3, 1, 2, 1, 0.5, -2];
  function yolo(withSoftmax: boolean): Uint8Array {
    const nodes = [
      node('GlobalAveragePool', ['images'], ['pooled']),
      node('Flatten', ['pooled'], ['features'], { axis: 1 }),
      node('MatMul', ['features', 'w'], [withSoftmax ? 'logits' : 'output0']),
      ...(withSoftmax ? [node('Softmax', ['logits'], ['output0'], { axis: 1 })] : []),
    ];
    const graph = {
      name: 'yolo-cls',
      node: nodes,
      initializer: [floats('w', [3, 3], weights)],
      input: [tensorInfo('images', [1, 3, SIZE, SIZE])],
      output: [tensorInfo('output0', [1, 3])],
    };
    const m = onnx.ModelProto.decode(onnxModel(graph, 'pytorch'));
    m.metadataProps = [
      { key: 'author', value: 'Ultralytics' },
      { key: 'task', value: 'classify' },
      { key: 'names', value: names },
    ];
    return onnx.ModelProto.encode(m).finish();
  }

  it('maps the named good class to ok and scores one minus its softmax probability', async () => {
    const bytes = yolo(true);
    await writeFile(path.join(tmp, 'best.onnx'), bytes);
    const out = path.join(tmp, 'models', 'yolo');
    const imported = await importModel({ source: path.join(tmp, 'best.onnx'), out, okClass: 'good' });
    expect(imported.kind).toBe('yolo-classify');
    expect(imported.manifest.outputs.classes).toEqual(['ok', 'scratch', 'dent']);
    const model = await loadModel(out, { threads: 1 });
    try {
      for (const png of images) {
        const p = (await run(bytes, 'images', await anomalibInput(png))).output0.data as Float32Array;
        expect(Math.abs((await model.inspect(png)).score - (1 - p[0]))).toBeLessThan(1e-4);
      }
    } finally {
      await model.close();
    }
  });

  it('appends a softmax when the export ends in logits, and needs the good class named when none is ok-like', async () => {
    const bytes = yolo(false);
    const dir = path.join(tmp, 'yolo-logits');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), bytes);
    const out = path.join(tmp, 'models', 'yolo-logits');
    const imported = await importModel({ source: dir, out });
    expect(imported.notes.join(' ')).toMatch(/"good" taken as the good class/);
    const model = await loadModel(out, { threads: 1 });
    try {
      const logits = (await run(bytes, 'images', await anomalibInput(images[2]))).output0.data as Float32Array;
      const e = [...logits].map((v) => Math.exp(v));
      expect(Math.abs((await model.inspect(images[2])).score - (1 - e[0] / (e[0] + e[1] + e[2])))).toBeLessThan(1e-4);
    } finally {
      await model.close();
    }
    const m = onnx.ModelProto.decode(bytes);
    m.metadataProps = [
      { key: 'task', value: 'classify' },
      { key: 'names', value: "{0: 'pristine', 1: 'scratch'}" },
    ];
    await writeFile(path.join(dir, 'model.onnx'), onnx.ModelProto.encode(m).finish());
    await expect(importModel({ source: dir, out: path.join(tmp, 'models', 'unnamed') })).rejects.toThrow(ImportError);
  });
});

describe('the known-good check', () => {
  it('passes a model that reproduces its reference scores, and names the image and the difference when it does not', async () => {
    const out = path.join(tmp, 'models', 'a1');
    await mkdir(path.join(out, 'references'), { recursive: true });
    const files: string[] = [];
    for (const [i, png] of images.entries()) {
      files.push(`references/part-${i}.png`);
      await writeFile(path.join(out, files[i]), png);
    }
    const model = await loadModel(out, { threads: 1 });
    await recordReferences(out, model, files);
    await model.close();

    // Checked through the inspection pool, as a station checks it before it goes online.
    const pool = await InspectionPool.start(out, 1);
    try {
      expect((await checkKnownGood(out, pool)).map((c) => c.file)).toEqual(files);
    } finally {
      await pool.close();
    }

    // A manifest edited by hand (another normalisation): the station must refuse the model.
    const manifestFile = path.join(out, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { input: { std: number[] } };
    manifest.input.std = [0.25, 0.25, 0.25];
    await writeFile(manifestFile, JSON.stringify(manifest));
    const changed = await InspectionPool.start(out, 1);
    try {
      const error = await checkKnownGood(out, changed).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KnownGoodError);
      expect((error as Error).message).toMatch(
        /references\/part-\d\.png scores [\d.]+, expected [\d.]+ \(off by [\d.e-]+, tolerance 0\.0001\)/,
      );
    } finally {
      await changed.close();
    }
  });

  it('refuses a model whose reference image is missing', async () => {
    const out = path.join(tmp, 'models', 'a2');
    await writeFile(
      path.join(out, 'references.json'),
      JSON.stringify({ images: [{ file: 'references/gone.png', score: 0.5 }] }),
    );
    const model = await loadModel(out, { threads: 1 });
    try {
      await expect(checkKnownGood(out, model)).rejects.toThrow(/references\/gone\.png: cannot be read \(ENOENT\)/);
    } finally {
      await model.close();
    }
  });
});

describe('loupe model and a station with a changed model', () => {
  it('imports an export with its known-good images, and an edge process refuses to go online once the model no longer reproduces them', async () => {
    const refs = path.join(tmp, 'refs');
    await mkdir(refs, { recursive: true });
    await writeFile(path.join(refs, 'good-1.png'), images[1]);
    const out = path.join(tmp, 'models', 'cli-a1');
    const imported = await runLoupe(['model', 'import', path.join(tmp, 'a1'), '--out', out, '--references', refs]);
    expect(imported.stdout + imported.stderr).toMatch(/imported anomalib-1 export[\s\S]*1 reference images recorded/);
    expect(imported.code).toBe(0);
    const said: string[] = [];
    const quiet = [
      vi.spyOn(console, 'log').mockImplementation((m: string) => void said.push(m)),
      vi.spyOn(console, 'error').mockImplementation((m: string) => void said.push(m)),
    ];
    expect(await modelCommand(['check', out])).toBe(0);

    // The graph replaced by another one with the same inputs and outputs: it loads, but scores otherwise.
    const other = onnx.ModelProto.decode(await readFile(path.join(out, 'model.onnx')));
    const threshold = other.graph?.initializer?.find((t) => t.name === 'loupe_score_threshold');
    if (!threshold) throw new Error('the imported graph has no loupe_score_threshold');
    threshold.rawData = new Uint8Array(Float32Array.of(-1).buffer);
    await writeFile(path.join(out, 'model.onnx'), onnx.ModelProto.encode(other).finish());

    expect(await modelCommand(['check', out])).toBe(1);
    quiet.forEach((spy) => spy.mockRestore());
    expect(said.at(-1)).toMatch(/references\/good-1\.png scores [\d.]+, expected [\d.]+ \(off by/);
    const dataDir = await tempDir('loupe-known-good-');
    const { file } = await writeConfig(
      { dataDir, http: { port: 0 }, mqtt: { url: 'mqtt://127.0.0.1:1' }, stations: [{ id: 'station-1', model: out }] },
      dataDir,
    );
    const edge = await runLoupe(['edge', '--config', file]);
    expect(edge.code).toBe(1);
    expect(edge.stdout + edge.stderr).toMatch(
      /model [^"\n]*: does not reproduce its reference scores: references\/good-1\.png scores [\d.]+, expected [\d.]+ \(off by [\d.e-]+, tolerance 0\.0001\)/,
    );
    expect(edge.stdout + edge.stderr).not.toMatch(/station online/);
  }, 120_000);
});
