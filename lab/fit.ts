/**
 * Fitting: good parts only. A fifth of them are held out to propose thresholds: `passBelow` just
 * above the highest held-out good score, as stored or as a camera's JPEG, `rejectAbove` well beyond
 * it. People then move the thresholds with calibration on decided parts.
 *
 * The method is chosen from the good parts too, unless asked for (`auto`): every candidate is
 * fitted and scored on the held-out good parts and on the same parts with defects painted on, and
 * the best on those probes wins, the cheaper one on a tie or by too small a margin (lab/probes.ts).
 * The candidates: per-position Gaussians and a memory bank, each on hand-made filter features or on
 * the pretrained backbone's features (lab/extractor.ts). The hand-made memory bank is only tried where the good parts show no fixed
 * layout (lab/method.ts): on an aligned part it cannot beat its Gaussian twin and costs ten times.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../edge/src/vision/manifest.ts';
import { fitQualityOnInput } from '../edge/src/vision/quality.ts';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { loadModel } from '../edge/src/vision/model.ts';
import { readImage, trainImages } from './dataset.ts';
import { TAPS, type Tap } from './backbone.ts';
import { DEFAULT_TAPS, pretrained } from './extractor.ts';
import { atImageLevel, fitFused, fusedGraph, type Combine } from './fusion.ts';
import { chooseMethod, METHODS_BY_COST, type Method } from './method.ts';
import { fitGaussian, scoringGraph } from './padim.ts';
import { fitPatchcore, patchcoreGraph } from './patchcore.ts';
import {
  bankGraph,
  fitStatistics,
  gaussianGraph,
  type BankOptions,
  type BankSearch,
  type Reduction,
} from './statistics.ts';
import { cameraJpeg, chooseOnProbes, probeSet, reasonFor, runProbe, type ProbeResult } from './probes.ts';

const METHODS: Record<Method, string> = {
  aligned: 'aligned: per-position Gaussian of a fixed colour + edge filter bank, 6×6 patches, stride 4',
  texture:
    'texture: memory bank (greedy coreset) of multi-scale filter-bank patch features (6×6 and 14×14 patches), nearest-patch distance',
  pretrained: 'pretrained: memory bank (greedy coreset) of PP-OCRv4 detector backbone features, nearest-patch distance',
  'pretrained-aligned':
    'pretrained-aligned: the part located (centred, squared, light levelled), then a per-position Gaussian of PP-OCRv4 detector backbone features',
  fused:
    "fused: a memory bank of PP-OCRv4 detector backbone features and one of multi-scale filter-bank features, each map in its good parts' units, the larger of the two at each patch",
};

/**
 * The fused model's settings (lab/fusion.ts; docs/model.md, "A sixth look"): the hand-made bank's grid
 * and how the maps meet. `fused` is fitted only when asked for (`--method fused`), never by `auto`.
 */
export const FUSED: { handmadeStride: number; combine: Combine; imageLevel: boolean } = {
  handmadeStride: 4,
  combine: 'max',
  imageLevel: true,
};

/** The pretrained model's settings (chosen by measurement, docs/model.md). */
export const PRETRAINED: PretrainedSettings = {
  stride: 8,
  taps: DEFAULT_TAPS,
  bank: { dims: 64, bankSize: 4096, candidates: 60_000 },
  search: { int8: true },
};

export interface PretrainedSettings {
  stride: number;
  taps: Tap[];
  bank: BankOptions;
  search: BankSearch;
}

/**
 * The same three taps on the stride-4 grid (4,096 patches a 256-pixel frame) with a bank of 8,192,
 * searched in int8 tiles: finer marks on grey textures, at line speed but at about three times
 * the shipped model's `session.run` (docs/model.md, "A sixth look"). Not the default:
 * `loupe fit --pretrained stride4`, or `fit({ pretrained: PRETRAINED_STRIDE4 })`.
 */
export const PRETRAINED_STRIDE4: PretrainedSettings = {
  stride: 4,
  taps: DEFAULT_TAPS,
  bank: { dims: 64, bankSize: 8192, candidates: 60_000, maxShare: 1 / 2 },
  search: { int8: true, rows: 256, chunk: 1024 },
};

/**
 * The two stride-4 taps alone (`p2o.Add.27`, `p2o.Add.43`) with the same bank and search: better than
 * the three on the grey sets, worse on other-defects grass (docs/model.md, "A sixth look").
 */
export const PRETRAINED_STRIDE4_PAIR: PretrainedSettings = {
  ...PRETRAINED_STRIDE4,
  taps: [TAPS.s4a, TAPS.s4],
};

/** Settings of the pretrained candidates by name (`loupe fit --pretrained NAME`). */
export const PRETRAINED_SETTINGS: Record<string, PretrainedSettings> = {
  shipped: PRETRAINED,
  stride4: PRETRAINED_STRIDE4,
  'stride4-pair': PRETRAINED_STRIDE4_PAIR,
};

export type FitMethod = Method | 'auto';

export interface FitOptions {
  data: string;
  out: string;
  id?: string;
  version?: string;
  size?: number;
  heldOutShare?: number;
  /** aligned: a Gaussian per position (objects in a fixture); texture: a memory bank of patches; pretrained(-aligned): the same on pretrained features; fused: a pretrained and a hand-made bank in one graph; auto (default): chosen on probes */
  method?: FitMethod;
  /** where fitting says how far it got (the CLI prints it) */
  onProgress?: (message: string) => void;
  /** the pretrained candidates' features, bank and search (default PRETRAINED) */
  pretrained?: PretrainedSettings;
}

export interface FitReport {
  manifest: Manifest;
  fitSeconds: number;
  /** each held-out good part's score as stored, then as a camera's JPEG */
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

/** The input every graph Loupe writes takes: the decoded frame as bytes, size × size, RGB. */
export function bytesInput(size: number): Manifest['input'] {
  return {
    name: 'image',
    width: size,
    height: size,
    channels: 3,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    resize: 'fill',
    format: 'uint8-nhwc',
  };
}

export async function fit(options: FitOptions): Promise<FitReport> {
  const started = performance.now();
  const size = options.size ?? 256;
  const input = bytesInput(size);
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
  const settings = options.pretrained ?? PRETRAINED;
  const gaussian = await fitGaussian(shape, pixels);
  const layout = chooseMethod(gaussian.stats);
  const choice: MethodChoice = { requested, positionalShare: round(layout.positionalShare) };
  const wanted = new Set<Method>(
    requested === 'auto'
      ? ['aligned', 'pretrained', 'pretrained-aligned', ...(layout.method === 'texture' ? (['texture'] as const) : [])]
      : [requested],
  );
  const graphs: Partial<Record<Method, Uint8Array>> = {};
  // The candidates are fitted side by side (each progress line names its method), and with `auto` each
  // is probed as soon as it is fitted: while one feeds onnxruntime, another's coreset runs on its worker
  // thread (lab/kcentre.ts). One onnxruntime thread each, so that they share the cores rather than fight
  // over them. The located Gaussians borrow the bank's reduction (the same channels; the Gaussians
  // subtract their own means), so they wait for it.
  const tagged = (method: Method) => (message: string) => progress(`${method}: ${message}`);
  const threads = 1;
  const probing = requested === 'auto' ? probeSet(heldOutFiles, input) : null;
  probing?.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  const probed: Partial<Record<Method, ProbeResult>> = {};
  const fitted = async (method: Method, graph: Uint8Array) => {
    graphs[method] = graph;
    if (!probing) return;
    tagged(method)('probing on held-out parts…');
    probed[method] = await runProbe(graph, await probing, shape, threads);
  };
  const fits: Promise<void>[] = [fitted('aligned', scoringGraph(shape, gaussian.mean, gaussian.invStd))];
  if (wanted.has('texture'))
    fits.push(
      (async () => {
        const say = tagged('texture');
        say('fitting the hand-made memory bank…');
        const bank = await fitPatchcore(shape, pixels, undefined, undefined, say);
        await fitted('texture', patchcoreGraph(shape, bank.mean, bank.invStd, bank.memory, bank.size));
      })(),
    );
  let reductionFitted: (reduction: Reduction | undefined) => void = () => {};
  const reduction = new Promise<Reduction | undefined>((resolve) => (reductionFitted = resolve));
  if (wanted.has('pretrained'))
    fits.push(
      (async () => {
        const say = tagged('pretrained');
        say('fitting the memory bank on pretrained features…');
        const extractor = pretrained({ stride: settings.stride, taps: settings.taps });
        const statistics = await fitStatistics(
          extractor,
          shape,
          () => pixels,
          { bank: true, gaussian: false },
          { ...settings.bank, threads, onReduction: reductionFitted, onProgress: say },
        );
        await fitted('pretrained', bankGraph(extractor, shape, statistics, settings.search));
      })().finally(() => reductionFitted(undefined)),
    );
  else reductionFitted(undefined);
  if (wanted.has('pretrained-aligned'))
    fits.push(
      (async () => {
        const say = tagged('pretrained-aligned');
        const borrowed = await reduction;
        say('fitting per-position Gaussians on pretrained features of the located part…');
        const extractor = pretrained({ stride: settings.stride, taps: settings.taps, locate: true });
        const statistics = await fitStatistics(
          extractor,
          shape,
          () => pixels,
          { bank: false, gaussian: true },
          { ...settings.bank, threads, reduction: borrowed, onProgress: say },
        );
        await fitted('pretrained-aligned', gaussianGraph(extractor, shape, statistics));
      })(),
    );
  if (wanted.has('fused'))
    fits.push(
      (async () => {
        const say = tagged('fused');
        say('fitting a pretrained and a hand-made memory bank, each with its good parts’ units…');
        const branches = await fitFused(shape, () => pixels, {
          pretrained: {
            extractor: pretrained({ stride: PRETRAINED.stride, taps: PRETRAINED.taps }),
            bank: PRETRAINED.bank,
            search: PRETRAINED.search,
          },
          handmade: { stride: FUSED.handmadeStride },
          threads,
          onProgress: say,
        });
        await fitted('fused', fusedGraph(shape, FUSED.imageLevel ? atImageLevel(branches) : branches, FUSED.combine));
      })(),
    );
  await Promise.all(fits);
  let method: Method = requested === 'auto' ? 'aligned' : requested;
  if (probing) {
    const probe = await probing;
    const probes: Partial<Record<Method, ProbeResult>> = {};
    for (const candidate of METHODS_BY_COST)
      if (probed[candidate] && wanted.has(candidate)) probes[candidate] = probed[candidate];
    choice.probes = probes;
    const chosen = chooseOnProbes(probes);
    method = chosen.method;
    choice.reason = reasonFor(method, chosen.passedOver, probes, probe);
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
      method:
        settings !== PRETRAINED && method.startsWith('pretrained')
          ? `${METHODS[method]} (${settings.taps.map((t) => t.name).join(' + ')}, stride-${settings.stride} grid, bank ${settings.bank.bankSize ?? 4096} × ${settings.bank.dims ?? 64})`
          : METHODS[method],
      choice,
    },
    createdBy: 'loupe fit',
  };
  // What a frame fit to be scored looks like (edge/src/vision/quality.ts): learnt from the same good parts.
  manifest.quality = fitQualityOnInput(pixels, input);
  await writeManifest(options.out, manifest);

  const model = await loadModel(options.out);
  const heldOutScores: number[] = [];
  // as stored and as a camera's JPEG: a good part must pass however it is delivered
  for (const file of heldOutFiles) {
    const image = await readImage(file);
    heldOutScores.push((await model.inspect(image)).score, (await model.inspect(await cameraJpeg(image))).score);
  }
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

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
