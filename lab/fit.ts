/**
 * Fitting: good parts only. A fifth of them are held out to propose thresholds: `passBelow` just
 * above the highest held-out good score, `rejectAbove` well beyond it. People then move the
 * thresholds with calibration on decided parts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../edge/src/vision/manifest.ts';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { loadModel } from '../edge/src/vision/model.ts';
import { readImage, trainImages } from './dataset.ts';
import { fitGaussian, scoringGraph } from './padim.ts';
import { fitPatchcore, patchcoreGraph } from './patchcore.ts';

const METHODS = {
  aligned: 'aligned: per-position Gaussian of a fixed colour + edge filter bank, 6×6 patches, stride 4',
  texture: 'texture: one full-covariance Gaussian of multi-scale brightness statistics (6×6 and 14×14 patches), whitened distance',
};

export interface FitOptions {
  data: string;
  out: string;
  id?: string;
  version?: string;
  size?: number;
  heldOutShare?: number;
  /** aligned: a Gaussian per position (objects in a fixture); texture: one Gaussian for every position */
  method?: 'aligned' | 'texture';
}

export interface FitReport {
  manifest: Manifest;
  fitSeconds: number;
  heldOutScores: number[];
}

export async function fit(options: FitOptions): Promise<FitReport> {
  const started = performance.now();
  const size = options.size ?? 256;
  const input: Manifest['input'] = { name: 'image', width: size, height: size, channels: 3, mean: [0, 0, 0], std: [1, 1, 1], resize: 'fill', format: 'uint8-nhwc' };
  const files = await trainImages(options.data);
  const heldOut = Math.max(1, Math.round(files.length * (options.heldOutShare ?? 0.2)));
  const fitFiles = files.slice(0, files.length - heldOut);
  const heldOutFiles = files.slice(files.length - heldOut);
  if (fitFiles.length < 2) throw new Error(`${options.data}: need at least 3 good images to fit, found ${files.length}`);

  const pixels: Uint8Array[] = [];
  for (const file of fitFiles) pixels.push(await framePixels(await readImage(file), input));
  const shape = { width: size, height: size };
  const method = options.method ?? 'aligned';
  let graph: Uint8Array;
  if (method === 'texture') {
    const { mean, invStd, memory, size: bankSize } = await fitPatchcore(shape, pixels);
    graph = patchcoreGraph(shape, mean, invStd, memory, bankSize);
  } else {
    const { mean, invStd } = await fitGaussian(shape, pixels);
    graph = scoringGraph(shape, mean, invStd);
  }
  await mkdir(options.out, { recursive: true });
  await writeFile(path.join(options.out, 'model.onnx'), graph);
  const manifest: Manifest = {
    id: options.id ?? path.basename(path.resolve(options.out)),
    version: options.version ?? '1',
    kind: 'loupe-padim',
    input,
    outputs: { score: 'score', map: 'anomaly_map' },
    thresholds: { passBelow: 0, rejectAbove: 0 },
    fittedOn: { data: path.basename(path.resolve(options.data)), goodImages: fitFiles.length, heldOutImages: heldOutFiles.length, method: METHODS[method] },
    createdBy: 'loupe fit',
  };
  await writeManifest(options.out, manifest);

  const model = await loadModel(options.out);
  const heldOutScores: number[] = [];
  for (const file of heldOutFiles) heldOutScores.push((await model.inspect(await readImage(file))).score);
  await model.close();
  const highest = Math.max(...heldOutScores);
  manifest.thresholds = { passBelow: round(highest * 1.15), rejectAbove: round(highest * 2) };
  manifest.fittedOn = { ...manifest.fittedOn, fitSeconds: round((performance.now() - started) / 1000), heldOutMaxScore: round(highest) };
  await writeManifest(options.out, manifest);
  return { manifest, fitSeconds: (performance.now() - started) / 1000, heldOutScores };
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
