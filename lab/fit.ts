/**
 * Fitting: good parts only. A fifth of them are held out to propose thresholds: `passBelow` just
 * above the highest held-out good score, `rejectAbove` well beyond it. People then move the
 * thresholds with calibration on decided parts.
 *
 * The method is chosen from the good parts too, unless asked for (`auto`): every candidate is
 * fitted and scored on the held-out good parts and on the same parts with defects painted on, and
 * the best on those probes wins, the cheaper one on a tie. The candidates: per-position Gaussians
 * and a memory bank, each on hand-made filter features or on the pretrained backbone's features
 * (lab/extractor.ts). The hand-made memory bank is only tried where the good parts show no fixed
 * layout (lab/method.ts): on an aligned part it cannot beat its Gaussian twin and costs ten times.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../edge/src/vision/manifest.ts';
import { fitQuality } from '../edge/src/vision/quality.ts';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { loadModel } from '../edge/src/vision/model.ts';
import { readImage, trainImages } from './dataset.ts';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { auroc } from './evaluate.ts';
import type { Tap } from './backbone.ts';
import { DEFAULT_TAPS, pretrained } from './extractor.ts';
import { chooseMethod, METHODS_BY_COST, type Method } from './method.ts';
import { fitGaussian, scoringGraph } from './padim.ts';
import { fitPatchcore, patchcoreGraph } from './patchcore.ts';
import { bankGraph, fitStatistics, gaussianGraph, type BankOptions, type Reduction } from './statistics.ts';
import { paintOnto, rng } from './synth.ts';

const METHODS: Record<Method, string> = {
  aligned: 'aligned: per-position Gaussian of a fixed colour + edge filter bank, 6×6 patches, stride 4',
  texture:
    'texture: memory bank (greedy coreset) of multi-scale filter-bank patch features (6×6 and 14×14 patches), nearest-patch distance',
  pretrained: 'pretrained: memory bank (greedy coreset) of PP-OCRv4 detector backbone features, nearest-patch distance',
  'pretrained-aligned':
    'pretrained-aligned: the part located (centred, squared, light levelled), then a per-position Gaussian of PP-OCRv4 detector backbone features',
};

/** The pretrained model's settings (chosen by measurement, docs/model.md). */
export const PRETRAINED: { stride: number; taps: Tap[]; bank: BankOptions } = {
  stride: 8,
  taps: DEFAULT_TAPS,
  bank: { dims: 64, bankSize: 4096, candidates: 60_000 },
};

export type FitMethod = Method | 'auto';

export interface FitOptions {
  data: string;
  out: string;
  id?: string;
  version?: string;
  size?: number;
  heldOutShare?: number;
  /** aligned: a Gaussian per position (objects in a fixture); texture: a memory bank of patches; pretrained(-aligned): the same on pretrained features; auto (default): chosen on probes */
  method?: FitMethod;
  /** where fitting says how far it got (the CLI prints it) */
  onProgress?: (message: string) => void;
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
  probes?: Partial<Record<Method, ProbeResult>>;
  /** why the method was chosen, in a sentence */
  reason?: string;
}

export async function fit(options: FitOptions): Promise<FitReport> {
  const started = performance.now();
  const size = options.size ?? 256;
  const input: Manifest['input'] = {
    name: 'image',
    width: size,
    height: size,
    channels: 3,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    resize: 'fill',
    format: 'uint8-nhwc',
  };
  const files = await trainImages(options.data);
  const heldOut = Math.max(1, Math.round(files.length * (options.heldOutShare ?? 0.2)));
  const fitFiles = files.slice(0, files.length - heldOut);
  const heldOutFiles = files.slice(files.length - heldOut);
  if (fitFiles.length < 2)
    throw new Error(`${options.data}: need at least 3 good images to fit, found ${files.length}`);

  const progress = options.onProgress ?? (() => {});
  const pixels: Uint8Array[] = [];
  for (const file of fitFiles) pixels.push(await framePixels(await readImage(file), input));
  progress(`decoded ${pixels.length} good parts`);
  const shape = { width: size, height: size };
  const requested = options.method ?? 'auto';
  const gaussian = await fitGaussian(shape, pixels);
  const layout = chooseMethod(gaussian.stats);
  const choice: MethodChoice = { requested, positionalShare: round(layout.positionalShare) };
  const wanted = new Set<Method>(
    requested === 'auto'
      ? ['aligned', 'pretrained', 'pretrained-aligned', ...(layout.method === 'texture' ? (['texture'] as const) : [])]
      : [requested],
  );
  const graphs: Partial<Record<Method, Uint8Array>> = { aligned: scoringGraph(shape, gaussian.mean, gaussian.invStd) };
  if (wanted.has('texture')) {
    progress('fitting the hand-made memory bank…');
    const bank = await fitPatchcore(shape, pixels);
    graphs.texture = patchcoreGraph(shape, bank.mean, bank.invStd, bank.memory, bank.size);
  }
  if (wanted.has('pretrained') || wanted.has('pretrained-aligned')) {
    let reduction: Reduction | undefined;
    if (wanted.has('pretrained')) {
      progress('fitting the memory bank on pretrained features…');
      const extractor = pretrained({ stride: PRETRAINED.stride, taps: PRETRAINED.taps });
      const fitted = await fitStatistics(
        extractor,
        shape,
        () => pixels,
        { bank: true, gaussian: false },
        { ...PRETRAINED.bank, onProgress: progress },
      );
      graphs.pretrained = bankGraph(extractor, shape, fitted);
      reduction = fitted.reduction;
    }
    if (wanted.has('pretrained-aligned')) {
      // per-position statistics on a part that may have moved: located first (lab/locate.ts); the
      // same channels, so the bank's reduction serves (the Gaussians subtract their own means)
      progress('fitting per-position Gaussians on pretrained features of the located part…');
      const extractor = pretrained({ stride: PRETRAINED.stride, taps: PRETRAINED.taps, locate: true });
      graphs['pretrained-aligned'] = gaussianGraph(
        extractor,
        shape,
        await fitStatistics(
          extractor,
          shape,
          () => pixels,
          { bank: false, gaussian: true },
          { ...PRETRAINED.bank, reduction, onProgress: progress },
        ),
      );
    }
  }
  let method: Method = requested === 'auto' ? 'aligned' : requested;
  if (requested === 'auto') {
    progress('probing every method on held-out parts…');
    const probe = await probeSet(heldOutFiles, input);
    const probes: Partial<Record<Method, ProbeResult>> = {};
    for (const candidate of METHODS_BY_COST)
      if (graphs[candidate] && wanted.has(candidate))
        probes[candidate] = await runProbe(graphs[candidate], probe, shape);
    choice.probes = probes;
    method = best(probes);
    const winner = probes[method]!;
    choice.reason = `best on ${probe.good.length} held-out good parts and ${probe.painted.length} painted ones: image AUROC ${winner.auroc}, auto-pass ${winner.autoPass} at zero escapes; on a tie the cheaper method`;
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
    fittedOn: {
      data: path.basename(path.resolve(options.data)),
      goodImages: fitFiles.length,
      heldOutImages: heldOutFiles.length,
      method: METHODS[method],
      choice,
    },
    createdBy: 'loupe fit',
  };
  // What a frame fit to be scored looks like (edge/src/vision/quality.ts): learnt from the same good parts.
  manifest.quality = await fitQuality(await Promise.all(fitFiles.map(readImage)));
  await writeManifest(options.out, manifest);

  const model = await loadModel(options.out);
  const heldOutScores: number[] = [];
  for (const file of heldOutFiles) heldOutScores.push((await model.inspect(await readImage(file))).score);
  await model.close();
  const highest = Math.max(...heldOutScores);
  manifest.thresholds = { passBelow: round(highest * 1.15), rejectAbove: round(highest * 2) };
  manifest.fittedOn = {
    ...manifest.fittedOn,
    fitSeconds: round((performance.now() - started) / 1000),
    heldOutMaxScore: round(highest),
  };
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
    const frame = await sharp(await readImage(file))
      .resize(input.width, input.height, { fit: input.resize })
      .png()
      .toBuffer();
    const pixels = await framePixels(frame, input);
    good.push(pixels);
    const grey = isGrey(pixels);
    for (let k = 0; k < 2; k++) {
      const { image } = await paintOnto(frame, PROBE_DEFECTS[(2 * i + k) % PROBE_DEFECTS.length], random);
      // On a grey product the painter's colours would give every defect away by its chroma alone:
      // the probe paints in grey there, so that methods are compared on what a grey defect shows.
      painted.push(await framePixels(grey ? await sharp(image).greyscale().png().toBuffer() : image, input));
    }
  }
  return { good, painted };
}

/** Every pixel's channels within two grey levels of each other: a grey (or greyscale) camera image. */
function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3)
    if (Math.abs(rgb[i] - rgb[i + 1]) > 2 || Math.abs(rgb[i + 1] - rgb[i + 2]) > 2) return false;
  return true;
}

async function runProbe(
  graph: Uint8Array,
  probe: Probe,
  shape: { width: number; height: number },
): Promise<ProbeResult> {
  const session = await ort.InferenceSession.create(graph);
  const score = async (pixels: Uint8Array) =>
    (await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) })).score
      .data[0] as number;
  const good: number[] = [];
  const painted: number[] = [];
  for (const p of probe.good) good.push(await score(p));
  for (const p of probe.painted) painted.push(await score(p));
  await session.release();
  const lowest = Math.min(...painted);
  return { auroc: round(auroc(good, painted)), autoPass: round(good.filter((s) => s < lowest).length / good.length) };
}

/**
 * The method with the highest probe AUROC, then the highest auto-pass share; a dearer method has to
 * be better, not equal (the candidates come cheapest first, and only a strictly better one replaces).
 */
function best(probes: Partial<Record<Method, ProbeResult>>): Method {
  let chosen: Method | null = null;
  for (const method of METHODS_BY_COST) {
    const result = probes[method];
    if (!result) continue;
    const current = chosen ? probes[chosen]! : null;
    if (
      !current ||
      result.auroc > current.auroc ||
      (result.auroc === current.auroc && result.autoPass > current.autoPass)
    )
      chosen = method;
  }
  if (!chosen) throw new Error('no method was probed');
  return chosen;
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
