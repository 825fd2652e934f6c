/**
 * Fitting: good parts only. A fifth of them are held out to propose thresholds: `passBelow` just
 * above the highest held-out good score, `rejectAbove` well beyond it. People then move the
 * thresholds with calibration on decided parts.
 *
 * The method is chosen from the good parts too, unless asked for: an aligned category (features
 * stay at their place) gets per-position Gaussians; a category without layout gets whichever of
 * the two finds defects painted onto its held-out good parts better (a plain, unimodal texture
 * such as brushed metal is served well and cheaply by the Gaussian; stone or grass needs the
 * memory bank).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../edge/src/vision/manifest.ts';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { loadModel } from '../edge/src/vision/model.ts';
import { readImage, trainImages } from './dataset.ts';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { auroc } from './evaluate.ts';
import { chooseMethod, type Method } from './method.ts';
import { fitGaussian, scoringGraph } from './padim.ts';
import { fitPatchcore, patchcoreGraph } from './patchcore.ts';
import { paintOnto, rng } from './synth.ts';

const METHODS = {
  aligned: 'aligned: per-position Gaussian of a fixed colour + edge filter bank, 6×6 patches, stride 4',
  texture: 'texture: memory bank (greedy coreset) of multi-scale filter-bank patch features (6×6 and 14×14 patches), nearest-patch distance',
};

export type FitMethod = Method | 'auto';

export interface FitOptions {
  data: string;
  out: string;
  id?: string;
  version?: string;
  size?: number;
  heldOutShare?: number;
  /** aligned: a Gaussian per position (objects in a fixture); texture: a memory bank of patches; auto (default): chosen from the good parts */
  method?: FitMethod;
}

export interface FitReport {
  manifest: Manifest;
  fitSeconds: number;
  heldOutScores: number[];
  method: Method;
  /** how the method was chosen: the layout statistic, and the probe results when both were tried */
  choice: MethodChoice;
}

export interface MethodChoice {
  requested: FitMethod;
  positionalShare: number;
  probes?: Record<Method, ProbeResult>;
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
  const requested = options.method ?? 'auto';
  const gaussian = await fitGaussian(shape, pixels);
  const layout = chooseMethod(gaussian.stats);
  const choice: MethodChoice = { requested, positionalShare: round(layout.positionalShare) };
  const graphs: Partial<Record<Method, Uint8Array>> = { aligned: scoringGraph(shape, gaussian.mean, gaussian.invStd) };
  if (requested === 'texture' || (requested === 'auto' && layout.method === 'texture')) {
    const bank = await fitPatchcore(shape, pixels);
    graphs.texture = patchcoreGraph(shape, bank.mean, bank.invStd, bank.memory, bank.size);
  }
  let method: Method = requested === 'auto' ? layout.method : requested;
  if (requested === 'auto' && layout.method === 'texture' && graphs.texture) {
    const probe = await probeSet(heldOutFiles, input);
    choice.probes = { aligned: await runProbe(graphs.aligned!, probe, shape), texture: await runProbe(graphs.texture, probe, shape) };
    method = better(choice.probes.texture, choice.probes.aligned) ? 'texture' : 'aligned';
  }
  const graph = graphs[method]!;
  await mkdir(options.out, { recursive: true });
  await writeFile(path.join(options.out, 'model.onnx'), graph);
  const manifest: Manifest = {
    id: options.id ?? path.basename(path.resolve(options.out)),
    version: options.version ?? '1',
    kind: 'loupe-padim',
    input,
    outputs: { score: 'score', map: 'anomaly_map' },
    thresholds: { passBelow: 0, rejectAbove: 0 },
    fittedOn: { data: path.basename(path.resolve(options.data)), goodImages: fitFiles.length, heldOutImages: heldOutFiles.length, method: METHODS[method], choice },
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
  return { manifest, fitSeconds: (performance.now() - started) / 1000, heldOutScores, method, choice };
}

/** What a candidate does on the probe set: held-out good parts, and the same parts with a painted defect. */
export interface ProbeResult {
  auroc: number;
  /** share of held-out good parts below the lowest painted one */
  autoPass: number;
}

interface Probe {
  good: Uint8Array[];
  painted: Uint8Array[];
}

const PROBE_DEFECTS = ['scratch', 'spot', 'crack', 'contamination'];

async function probeSet(files: string[], input: Manifest['input']): Promise<Probe> {
  const random = rng(20_251);
  const good: Uint8Array[] = [];
  const painted: Uint8Array[] = [];
  for (const [i, file] of files.entries()) {
    const frame = await sharp(await readImage(file)).resize(input.width, input.height, { fit: input.resize }).png().toBuffer();
    good.push(await framePixels(frame, input));
    for (let k = 0; k < 2; k++) {
      const { image } = await paintOnto(frame, PROBE_DEFECTS[(2 * i + k) % PROBE_DEFECTS.length], random);
      painted.push(await framePixels(image, input));
    }
  }
  return { good, painted };
}

async function runProbe(graph: Uint8Array, probe: Probe, shape: { width: number; height: number }): Promise<ProbeResult> {
  const session = await ort.InferenceSession.create(graph);
  const score = async (pixels: Uint8Array) => (await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) })).score.data[0] as number;
  const good: number[] = [];
  const painted: number[] = [];
  for (const p of probe.good) good.push(await score(p));
  for (const p of probe.painted) painted.push(await score(p));
  await session.release();
  const lowest = Math.min(...painted);
  return { auroc: round(auroc(good, painted)), autoPass: round(good.filter((s) => s < lowest).length / good.length) };
}

/** The texture model costs ten times the inference of the Gaussian: it has to be better, not equal. */
function better(texture: ProbeResult, aligned: ProbeResult): boolean {
  return texture.auroc > aligned.auroc || (texture.auroc === aligned.auroc && texture.autoPass > aligned.autoPass);
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
