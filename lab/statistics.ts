/**
 * The two statistics of the PatchCore / PaDiM family, fitted on the features of any extractor
 * (lab/extractor.ts) and written with it as one ONNX graph with Loupe's two outputs (score, map):
 *
 * - a memory bank: a greedy k-centre coreset of good patches; a patch's anomaly is its distance to
 *   the nearest one. For textures and parts that move: a normal patch only has to resemble some
 *   normal patch, wherever it was.
 * - per-position Gaussians (PaDiM, diagonal): for parts in a fixture, where the same feature is
 *   always at the same place.
 *
 * Features are first reduced: centred (the hand-made ones also standardised), then projected at
 * random to fewer dimensions — both folded into one 1×1 convolution in the graph.
 * The bank's search can be coarse-to-fine: distances to a few hundred centroids of the bank, then
 * only to the members of the nearest few (`coarse`), instead of to every entry.
 *
 * Fitting runs the extractor twice: once over a few good parts to fit the reduction, then over all
 * of them (and their augmented copies) through the reduced graph, so raw features of every part
 * are never held at once.
 */
import * as ort from 'onnxruntime-node';
import type { onnx as types } from 'onnx-proto';
import { extract, type FeatureExtractor, type GraphPiece } from './extractor.ts';
import { floats, int8s, ints, MICROSOFT, model, node, tensorInfo } from './onnx.ts';
import { gridOf, imageInput, mapOutputs, type Shape } from './stages.ts';
import { kCentreInWorker } from './kcentre.ts';
import { normalisation, smooth, type Normalisation } from './frame-edge.ts';
import { rng } from './synth.ts';
import {
  gauss,
  learnedDirections,
  orthonormalise,
  scatter,
  type LearnedProjectionOptions,
} from './learned-projection.ts';
import { perturb, PERTURBATIONS } from './perturb.ts';
import { covariance, whitening, type WhitenOptions } from './whiten.ts';

export interface Reduction {
  /** per raw channel */
  mean: Float32Array;
  invStd: Float32Array;
  /** dims × channels, row-major */
  projection: Float32Array;
  dims: number;
}

export interface BankOptions {
  dims?: number;
  bankSize?: number;
  /** good patches the coreset is chosen from */
  candidates?: number;
  /** coarse-to-fine search: centroids of the bank, and how many nearest centroids' members are searched; absent: every entry */
  coarse?: { centroids: number; probe: number } | null;
  seed?: number;
  /** divide each raw channel by its spread on good patches before the projection (default: only for hand-made features) */
  standardise?: boolean;
  /** the bank holds at most this share of its candidates (default an eighth) */
  maxShare?: number;
  onProgress?: (message: string) => void;
  /** a reduction already fitted (on the same extractor's channels), so that its pass is not run again */
  reduction?: Reduction;
  /** hears the reduction as soon as it is fitted (another fit can borrow it) */
  onReduction?: (reduction: Reduction) => void;
  /** onnxruntime threads per session (default: as many as cores) */
  threads?: number;
  /**
   * learn the projection from good parts and generic perturbations of them (lab/learned-projection.ts)
   * instead of drawing it at random; absent: random
   */
  learn?: LearnedProjectionOptions | null;
  /** map each distance class from the edge onto the inside's distribution, measured leaving one of the first `parts` good parts out at a time (lab/frame-edge.ts); absent: none */
  normalise?: { rings: number; parts: number; tail?: number } | null;
  /** whiten the centred channels on good patches before the projection (lab/whiten.ts); absent: centred only */
  whiten?: WhitenOptions | null;
  /** hears the smoothed leave-one-out maps the normalisation was measured on (gh × gw each, before it) */
  onCalibration?: (maps: Float32Array[]) => void;
}

export interface FittedStatistics {
  reduction: Reduction;
  bank?: { memory: Float32Array; size: number; normalise?: Normalisation };
  gaussian?: { mean: Float32Array; invStd: Float32Array };
}

/** A source of good frames at the model's shape (uint8 HWC), iterable more than once. */
export type Frames = () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

const REDUCTION_FIT_IMAGES = 24;

/** Fits the reduction on the first good parts, then the bank and/or the Gaussians on all of them. */
export async function fitStatistics(
  extractor: FeatureExtractor,
  shape: Shape,
  frames: Frames,
  want: { bank: boolean; gaussian: boolean },
  options: BankOptions = {},
): Promise<FittedStatistics> {
  const random = rng(options.seed ?? 1);
  const progress = options.onProgress ?? (() => {});
  const dims = Math.min(options.dims ?? 64, extractor.channels);
  const { gw, gh } = gridOf(shape, extractor.stride);
  const positions = gw * gh;

  // 1. the reduction, unless given; 2. reduced features of every part: candidates for the bank, sums for the Gaussians
  const reduction =
    options.reduction ??
    (await fitReductionOn(
      extractor,
      shape,
      frames,
      dims,
      random,
      options.standardise ?? extractor.kind === 'handmade',
      progress,
      extractor.blocks,
      options.threads,
      options.learn ?? undefined,
      options.whiten,
    ));
  options.onReduction?.(reduction);
  const session = await ort.InferenceSession.create(reducedGraph(extractor, shape, reduction), {
    intraOpNumThreads: options.threads ?? 0,
    graphOptimizationLevel: 'all',
  });
  const candidates: Float32Array[] = [];
  const sources: number[] = [];
  const calibration: Float32Array[] = [];
  const calibrate = want.bank && options.normalise ? options.normalise.parts : 0;
  const candidatesPerImage = Math.max(64, Math.ceil((options.candidates ?? 60_000) / 160));
  const sum = want.gaussian ? new Float64Array(dims * positions) : null;
  const sumSq = want.gaussian ? new Float64Array(dims * positions) : null;
  let count = 0;
  const started = performance.now();
  for await (const pixels of frames()) {
    const out = await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) });
    const f = out.reduced.data as Float32Array;
    if (want.bank) {
      for (let k = 0; k < candidatesPerImage; k++) {
        const p = Math.floor(random() * positions);
        const v = new Float32Array(dims);
        for (let d = 0; d < dims; d++) v[d] = f[d * positions + p];
        candidates.push(v);
        sources.push(count);
      }
      if (count < calibrate) calibration.push(Float32Array.from(f));
    }
    if (sum && sumSq) {
      for (let i = 0; i < f.length; i++) {
        sum[i] += f[i];
        sumSq[i] += f[i] * f[i];
      }
    }
    count++;
    if (count % 20 === 0)
      progress(`features of ${count} parts (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
  await session.release();
  const fitted: FittedStatistics = { reduction };
  if (sum && sumSq) {
    const mean = new Float32Array(dims * positions);
    const invStd = new Float32Array(dims * positions);
    for (let i = 0; i < mean.length; i++) {
      mean[i] = sum[i] / count;
      // a floor of a tenth of a standardised unit: a position where good parts never vary does not turn noise into alarms
      invStd[i] = 1 / Math.max(Math.sqrt(Math.max(0, sumSq[i] / count - mean[i] * mean[i])), 0.1);
    }
    fitted.gaussian = { mean, invStd };
  }
  if (want.bank) {
    const order = shuffleCap(
      candidates.map((_, i) => i),
      options.candidates ?? 60_000,
      random,
    );
    const pool = order.map((i) => candidates[i]);
    // at most an eighth of the candidates: a bank as large as its pool is the pool, and costs the coreset's time for nothing
    const size = Math.min(
      options.bankSize ?? 4096,
      Math.max(256, Math.round(pool.length * (options.maxShare ?? 1 / 8))),
      pool.length,
    );
    progress(`coreset of ${size} from ${pool.length} patches…`);
    const coresetStarted = performance.now();
    const onChosen = (m: number) =>
      progress(`coreset: ${m} of ${size} (${((performance.now() - coresetStarted) / 1000).toFixed(1)} s)`);
    const chosen = new Int32Array(size);
    const memory = await coreset(pool, dims, size, onChosen, chosen);
    fitted.bank = { memory, size };
    if (options.normalise && calibration.length > 1) {
      const source = Int32Array.from(chosen, (i) => sources[order[i]]);
      const maps: Float32Array[] = [];
      const leaveOut = await leaveOneOutSearch(memory, size, dims);
      for (const [part, features] of calibration.entries())
        maps.push(smooth(await leaveOut.run(features, positions, source, part), gw, gh));
      await leaveOut.release();
      fitted.bank.normalise = normalisation(maps, gw, gh, options.normalise.rings, options.normalise.tail);
      options.onCalibration?.(maps);
      progress(`distances by position measured on ${maps.length} parts, each left out of the bank`);
    }
  }
  return fitted;
}

/** The reduction's pass: channel statistics from patches of the first good parts (at most REDUCTION_FIT_IMAGES). */
async function fitReductionOn(
  extractor: FeatureExtractor,
  shape: Shape,
  frames: Frames,
  dims: number,
  random: () => number,
  standardise: boolean,
  progress: (message: string) => void,
  blocks?: FeatureExtractor['blocks'],
  threads = 0,
  learn?: LearnedProjectionOptions,
  whiten?: WhitenOptions | null,
): Promise<Reduction> {
  const { gw, gh } = gridOf(shape, extractor.stride);
  const positions = gw * gh;
  const C = extractor.channels;
  const sample: Float32Array[] = [];
  const perImage = 512;
  let seen = 0;
  // with `learn`: each good part is followed by its perturbed copies, whose feature changes are kept
  const copies = learn ? (learn.copies ?? 4) : 0;
  const kinds = learn?.kinds ?? PERTURBATIONS;
  const perturbRandom = rng(0x5eed);
  const changes: { v: Float32Array; weight: number }[] = [];
  let original: Float32Array | null = null;
  const first = async function* () {
    for await (const f of frames()) {
      if (seen >= (learn?.parts ?? REDUCTION_FIT_IMAGES)) return;
      yield f;
      for (let k = 0; k < copies; k++)
        yield perturb(f, shape.width, shape.height, kinds[(seen * copies + k) % kinds.length], perturbRandom).pixels;
      seen++;
    }
  };
  await extract(
    extractor,
    shape,
    first(),
    (features, index) => {
      if (index % (copies + 1) === 0) {
        if (copies > 0) original = Float32Array.from(features);
        for (let k = 0; k < perImage; k++) {
          const p = Math.floor(random() * positions);
          const v = new Float32Array(C);
          for (let c = 0; c < C; c++) v[c] = features[c * positions + p];
          sample.push(v);
        }
      } else if (original) changes.push(...featureChanges(original, features, C, positions));
    },
    threads,
  );
  const reduction = fitReduction(sample, dims, random, standardise, blocks, whiten);
  if (learn) {
    reduction.projection = await learnedProjection(sample, changes, reduction, learn);
    progress(`projection learned from ${changes.length} changed patches of ${seen * copies} perturbed parts`);
  }
  progress(`reduction fitted on ${sample.length} patches of ${seen} parts`);
  return reduction;
}

/**
 * The patches a perturbation changed (perturbed minus original features, every channel), those whose
 * change is at least a hundredth of the largest; weighted so that each perturbed part's changes sum
 * to one in squared length, so every change has the same say whatever its size.
 */
function featureChanges(
  original: Float32Array,
  perturbed: Float32Array,
  C: number,
  positions: number,
): { v: Float32Array; weight: number }[] {
  const energy = new Float64Array(positions);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < positions; p++) energy[p] += (perturbed[c * positions + p] - original[c * positions + p]) ** 2;
  }
  const largest = energy.reduce((m, e) => Math.max(m, e), 0);
  if (!(largest > 0)) return [];
  const kept: number[] = [];
  let total = 0;
  for (let p = 0; p < positions; p++) {
    if (energy[p] >= largest / 100) {
      kept.push(p);
      total += energy[p];
    }
  }
  return kept.map((p) => ({
    v: Float32Array.from({ length: C }, (_, c) => perturbed[c * positions + p] - original[c * positions + p]),
    weight: 1 / total,
  }));
}

/** The learned projection (dims × channels) on the reduction's scaled channels: see lab/learned-projection.ts. */
async function learnedProjection(
  sample: Float32Array[],
  changes: { v: Float32Array; weight: number }[],
  reduction: Reduction,
  learn: LearnedProjectionOptions,
): Promise<Float32Array> {
  const C = sample[0].length;
  const { mean, invStd, dims } = reduction;
  const good = new Float32Array(sample.length * C);
  sample.forEach((v, i) => {
    for (let c = 0; c < C; c++) good[i * C + c] = (v[c] - mean[c]) * invStd[c];
  });
  const sw = await scatter(good, new Float32Array(sample.length).fill(1 / sample.length), C);
  const changed = new Float32Array(changes.length * C);
  changes.forEach(({ v }, i) => {
    for (let c = 0; c < C; c++) changed[i * C + c] = v[c] * invStd[c];
  });
  const sb = await scatter(
    changed,
    Float32Array.from(changes, (c) => c.weight),
    C,
  );
  // no perturbations (`copies: 0`): every direction counts as changed alike, leaving the directions good patches vary least in (a control)
  if (changes.length === 0) for (let c = 0; c < C; c++) sb[c * C + c] = 1;
  const learned = Math.min(learn.dims ?? dims, dims);
  const { projection } = learnedDirections(sw, sb, C, learned, learn.epsilon ?? 0.01, learn.scale);
  if (learned === dims) return projection;
  // the other rows stay random
  const mixed = Float32Array.from(reduction.projection);
  mixed.set(projection);
  return mixed;
}

function shuffleCap<T>(items: T[], cap: number, random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items.slice(0, cap);
}

/**
 * Channel centring (and, for extractors whose channels have unrelated scales, standardisation),
 * then a random orthonormal projection to `dims`. Not PCA: principal components keep the directions
 * in which good parts vary most and drop the rest, but a defect shows precisely in directions good
 * parts do not vary (on gravel PCA lost most of the image AUROC the unprojected features had:
 * docs/model.md); a random projection keeps distances in every direction about equally.
 * With `whiten`, the projection is the whitening of the centred (and scaled) channels instead, each
 * direction measured in units of its own spread on good patches (lab/whiten.ts).
 */
export function fitReduction(
  sample: Float32Array[],
  dims: number,
  random: () => number,
  standardise: boolean,
  blocks?: FeatureExtractor['blocks'],
  whiten?: WhitenOptions | null,
): Reduction {
  const C = sample[0].length;
  const n = sample.length;
  const mean = new Float64Array(C);
  const sq = new Float64Array(C);
  for (const v of sample) {
    for (let c = 0; c < C; c++) {
      mean[c] += v[c];
      sq[c] += v[c] * v[c];
    }
  }
  const invStd = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] /= n;
    // a channel that never varies on good parts gets a floor of a quarter of a grey level's worth, so any change in it is far out
    invStd[c] = 1 / Math.max(Math.sqrt(Math.max(0, sq[c] / n - mean[c] * mean[c])), 1e-3);
  }
  if (!standardise && !blocks) invStd.fill(1);
  // blocks of unrelated scale: each to the same total variance (times its weight), so that neither drowns the other
  let first = 0;
  for (const block of blocks ?? []) {
    const end = first + block.channels;
    let total = 0;
    for (let c = first; c < end; c++) total += block.standardise ? 1 : 1 / invStd[c] ** 2;
    const scale = block.weight / Math.sqrt(Math.max(total, 1e-12));
    for (let c = first; c < end; c++) invStd[c] = (block.standardise ? invStd[c] : 1) * scale;
    first = end;
  }
  if (whiten) {
    const projection = whitening(covariance(sample, mean, invStd), C, dims, whiten, random);
    return { mean: Float32Array.from(mean), invStd, projection, dims };
  }
  const projection = new Float32Array(dims * C);
  if (dims === C) {
    for (let d = 0; d < dims; d++) projection[d * C + d] = 1;
  } else {
    const q = new Float64Array(C * dims).map(() => gauss(random));
    orthonormalise(q, C, dims);
    for (let d = 0; d < dims; d++) for (let c = 0; c < C; c++) projection[d * C + c] = q[c * dims + d];
  }
  return { mean: Float32Array.from(mean), invStd, projection, dims };
}

/** Greedy k-centre (on a worker thread): each next entry is the candidate farthest from the bank so far. */
export function coreset(
  pool: Float32Array[],
  dims: number,
  size: number,
  onProgress?: (chosen: number) => void,
  chosen?: Int32Array,
): Promise<Float32Array> {
  const n = pool.length;
  const flat = new Float32Array(n * dims);
  pool.forEach((v, i) => flat.set(v, i * dims));
  return kCentreInWorker(flat, n, dims, size, onProgress, chosen);
}

/** `raw_features` → `reduced` (1 × dims × gh × gw): standardisation and projection as one 1×1 convolution. */
function reductionNodes(extractor: FeatureExtractor, reduction: Reduction): GraphPiece {
  const C = extractor.channels;
  const { dims, projection, mean, invStd } = reduction;
  const weights = new Float32Array(dims * C);
  const bias = new Float32Array(dims);
  for (let d = 0; d < dims; d++) {
    for (let c = 0; c < C; c++) {
      const w = projection[d * C + c] * invStd[c];
      weights[d * C + c] = w;
      bias[d] -= w * mean[c];
    }
  }
  return {
    nodes: [node('Conv', ['raw_features', 'reduce_w', 'reduce_b'], ['reduced'], { kernel_shape: [1, 1] })],
    initializers: [floats('reduce_w', [dims, C, 1, 1], weights), floats('reduce_b', [dims], bias)],
  };
}

function reducedGraph(extractor: FeatureExtractor, shape: Shape, reduction: Reduction): Uint8Array {
  const { gw, gh } = gridOf(shape, extractor.stride);
  const features = extractor.nodes(shape);
  const reduce = reductionNodes(extractor, reduction);
  return model({
    name: 'loupe-reduced-features',
    node: [...features.nodes, ...reduce.nodes],
    initializer: [...features.initializers, ...reduce.initializers],
    input: [imageInput(shape)],
    output: [tensorInfo('reduced', [1, reduction.dims, gh, gw])],
  });
}

/** Squared distances of `patches` (N × D) to the rows of `rows` (R × D) as one MatMul: ‖p‖² − 2 p·r + ‖r‖². */
function distanceNodes(prefix: string, rows: Float32Array, count: number, dims: number): GraphPiece {
  const t = new Float32Array(dims * count);
  const norms = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    for (let d = 0; d < dims; d++) {
      const v = rows[r * dims + d];
      t[d * count + r] = v;
      norms[r] += v * v;
    }
  }
  return {
    nodes: [
      node('MatMul', ['patches', `${prefix}_t`], [`${prefix}_dot`]),
      node('Mul', [`${prefix}_dot`, 'minus_two'], [`${prefix}_m2dot`]),
      node('Add', [`${prefix}_m2dot`, `${prefix}_norm`], [`${prefix}_partial`]),
      node('Add', [`${prefix}_partial`, 'patch_norm'], [`${prefix}_d2`]),
    ],
    initializers: [floats(`${prefix}_t`, [dims, count], t), floats(`${prefix}_norm`, [1, count], norms)],
  };
}

/**
 * The bank's search for good parts it was fitted on, each without the entries drawn from itself
 * (the same distances as lab/frame-edge.ts's `nearestLeavingOut`, as one MatMul in onnxruntime):
 * `features` dims × positions, `source` each entry's part. Answers each patch's distance.
 */
export async function leaveOneOutSearch(memory: Float32Array, size: number, dims: number) {
  const search = distanceNodes('bank', memory, size, dims);
  const graph = model({
    name: 'loupe-bank-leave-one-out',
    node: [
      node('Mul', ['patches', 'patches'], ['patches2']),
      node('ReduceSum', ['patches2', 'feature_axis'], ['patch_norm'], { keepdims: 1 }),
      ...search.nodes,
      node('Add', ['bank_d2', 'left_out'], ['bank_d2_kept']),
      node('ReduceMin', ['bank_d2_kept'], ['nearest2'], { axes: [1], keepdims: 1 }),
    ],
    initializer: [...search.initializers, floats('minus_two', [], [-2]), ints('feature_axis', [1], [1])],
    input: [tensorInfo('patches', ['n', dims]), tensorInfo('left_out', [1, size])],
    output: [tensorInfo('nearest2', ['n', 1])],
  });
  const session = await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all' });
  const run = async (features: Float32Array, positions: number, source: Int32Array, part: number) => {
    const patches = new Float32Array(positions * dims);
    for (let d = 0; d < dims; d++)
      for (let p = 0; p < positions; p++) patches[p * dims + d] = features[d * positions + p];
    const leftOut = Float32Array.from(source, (s) => (s === part ? 1e30 : 0));
    const out = await session.run({
      patches: new ort.Tensor('float32', patches, [positions, dims]),
      left_out: new ort.Tensor('float32', leftOut, [1, size]),
    });
    return Float32Array.from(out.nearest2.data as Float32Array, (d2) => Math.sqrt(Math.max(0, d2)));
  };
  return { run, release: () => session.release() };
}

/**
 * The coarse-to-fine search: the bank's entries grouped by their nearest of `centroids` (k-means),
 * each group padded to the largest with an entry far from everything. A patch is compared with the
 * centroids, then with the members of its `probe` nearest groups only.
 */
export function coarseTables(
  memory: Float32Array,
  size: number,
  dims: number,
  centroids: number,
  seed = 1,
): { centres: Float32Array; members: Float32Array; width: number; k: number } {
  const random = rng(seed);
  const k = Math.min(centroids, size);
  const centres = new Float32Array(k * dims);
  for (let c = 0; c < k; c++)
    centres.set(memory.subarray(Math.floor((c * size) / k) * dims, (Math.floor((c * size) / k) + 1) * dims), c * dims);
  const assign = new Int32Array(size);
  for (let iteration = 0; iteration < 12; iteration++) {
    for (let m = 0; m < size; m++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        let d = 0;
        for (let j = 0; j < dims && d < bestD; j++) d += (memory[m * dims + j] - centres[c * dims + j]) ** 2;
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      assign[m] = best;
    }
    const sums = new Float64Array(k * dims);
    const counts = new Int32Array(k);
    for (let m = 0; m < size; m++) {
      counts[assign[m]]++;
      for (let j = 0; j < dims; j++) sums[assign[m] * dims + j] += memory[m * dims + j];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        const m = Math.floor(random() * size); // an empty group restarts at a random entry
        centres.set(memory.subarray(m * dims, (m + 1) * dims), c * dims);
      } else for (let j = 0; j < dims; j++) centres[c * dims + j] = sums[c * dims + j] / counts[c];
    }
  }
  const groups: number[][] = Array.from({ length: k }, () => []);
  for (let m = 0; m < size; m++) groups[assign[m]].push(m);
  const width = Math.max(...groups.map((g) => g.length));
  const members = new Float32Array(k * width * dims).fill(1e3); // padding: farther than any real entry
  groups.forEach((g, c) =>
    g.forEach((m, i) => members.set(memory.subarray(m * dims, (m + 1) * dims), (c * width + i) * dims)),
  );
  return { centres, members, width, k };
}

/**
 * How the bank is searched in the graph. Every entry by default, in chunks of `chunk` entries: a
 * chunk's distances (patches × chunk) stay in the cache until its `ReduceMin` has read them, where one
 * patches × bank product went out to memory and back twice (docs/model.md, "Line speed"). `int8`:
 * the chunk's product in 8-bit integers (`DynamicQuantizeMatMul`: the patches quantised per run, the
 * bank per entry), about twice as fast again; kept only where the measured AUROC does not move.
 * `coarse`: distances to centroids, then to the members of the nearest few only.
 */
export interface BankSearch {
  coarse?: BankOptions['coarse'];
  chunk?: number;
  int8?: boolean;
  /** a patch's anomaly is the mean distance to its k nearest entries (default 1: the nearest); exact search only */
  k?: number;
  /**
   * the patches searched in blocks of this many (the whole grid by default): on the stride-4 grid
   * (4,096 patches) a block × chunk tile of distances fits the core's cache where a grid × chunk one
   * does not; with `int8` the patches are then quantised once for the run (`DynamicQuantizeLinear`)
   * and every tile is an integer product turned to floats (`MatMulIntegerToFloat`), not quantised
   * again for each chunk (k = 1 only: with k > 1 the chunked search is used)
   */
  rows?: number;
}

/** Bank entries searched per chunk (each chunk's distances, 1,024 patches × 512, fit in the cache). */
const SEARCH_CHUNK = 512;

/**
 * The exact search, chunk by chunk: min over entries r of ‖r‖² − 2 p·r, with −2 folded into the
 * bank and ‖r‖² added as the product's bias; ‖p‖² is added once to the minimum (it is the same for
 * every entry), not to every distance.
 */
function chunkedNearestNodes(
  memory: Float32Array,
  size: number,
  dims: number,
  search: BankSearch,
  patches: number,
): GraphPiece {
  if (search.rows && search.rows < patches && (search.k ?? 1) === 1)
    return tiledNearestNodes(memory, size, dims, search, patches);
  const width = Math.max(1, Math.min(search.chunk ?? SEARCH_CHUNK, size));
  const k = Math.min(search.k ?? 1, width);
  const nodes: types.INodeProto[] = [];
  const initializers: types.ITensorProto[] = [];
  const minima: string[] = [];
  const chunks = bankChunks(memory, size, dims, width, Boolean(search.int8));
  initializers.push(...chunks.initializers);
  chunks.counts.forEach((count, c) => {
    if (search.int8) {
      nodes.push(
        node(
          'DynamicQuantizeMatMul',
          ['patches', `bank${c}_q`, `bank${c}_scale`, `bank${c}_zero`, `bank${c}_norm`],
          [`bank${c}_partial`],
          {},
          MICROSOFT,
        ),
      );
    } else {
      nodes.push(
        node('MatMul', ['patches', `bank${c}_t`], [`bank${c}_m2dot`]),
        node('Add', [`bank${c}_m2dot`, `bank${c}_norm`], [`bank${c}_partial`]),
      );
    }
    if (k > 1) {
      // a last chunk smaller than k gives all it has
      const kc = count < k ? `bank${c}_k` : 'bank_k';
      if (count < k) initializers.push(ints(kc, [1], [count]));
      nodes.push(
        node('TopK', [`bank${c}_partial`, kc], [`bank${c}_min`, `bank${c}_at`], { axis: 1, largest: 0, sorted: 0 }),
      );
    } else nodes.push(node('ReduceMin', [`bank${c}_partial`], [`bank${c}_min`], { axes: [1], keepdims: 1 }));
    minima.push(`bank${c}_min`);
  });
  if (k > 1) {
    // each chunk's k nearest side by side (N × chunks·k), then the k nearest of those
    initializers.push(ints('bank_k', [1], [k]));
    nodes.push(
      node('Concat', minima, ['bank_nearest_each'], { axis: 1 }),
      node('TopK', ['bank_nearest_each', 'bank_k'], ['bank_min', 'bank_min_at'], { axis: 1, largest: 0, sorted: 0 }),
    );
  } else nodes.push(minima.length > 1 ? node('Min', minima, ['bank_min']) : node('Identity', minima, ['bank_min']));
  nodes.push(node('Add', ['bank_min', 'patch_norm'], ['nearest2']));
  return { nodes, initializers };
}

/**
 * The bank cut into chunks of `width` entries, as the initializers both searches read: chunk c as
 * `bank{c}_t` (−2·rᵀ, dims × count) or, in int8, `bank{c}_q` with its per-entry `bank{c}_scale` and
 * `bank{c}_zero`; and its entries' squared norms `bank{c}_norm`. Answers each chunk's entry count.
 */
function bankChunks(memory: Float32Array, size: number, dims: number, width: number, int8: boolean) {
  const initializers: types.ITensorProto[] = [];
  const counts: number[] = [];
  for (let start = 0, c = 0; start < size; start += width, c++) {
    const count = Math.min(width, size - start);
    const { t, norms } = bankChunk(memory, start, count, dims);
    if (int8) {
      const { q, scales } = quantisedChunk(t, count, dims);
      initializers.push(
        int8s(`bank${c}_q`, [dims, count], q),
        floats(`bank${c}_scale`, [count], scales),
        int8s(`bank${c}_zero`, [count], new Int8Array(count)),
      );
    } else initializers.push(floats(`bank${c}_t`, [dims, count], t));
    initializers.push(floats(`bank${c}_norm`, [count], norms));
    counts.push(count);
  }
  return { initializers, counts };
}

/** Entries `start`…`start + count` of the bank as −2·rᵀ (dims × count) and their squared norms. */
function bankChunk(memory: Float32Array, start: number, count: number, dims: number) {
  const t = new Float32Array(dims * count);
  const norms = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    for (let d = 0; d < dims; d++) {
      const v = memory[(start + r) * dims + d];
      t[d * count + r] = -2 * v;
      norms[r] += v * v;
    }
  }
  return { t, norms };
}

/** A chunk (dims × count) in signed bytes, each entry (column) with its own symmetric scale: the largest of −2·r over 127. */
function quantisedChunk(t: Float32Array, count: number, dims: number) {
  const scales = new Float32Array(count);
  const q = new Int8Array(dims * count);
  for (let r = 0; r < count; r++) {
    let largest = 0;
    for (let d = 0; d < dims; d++) largest = Math.max(largest, Math.abs(t[d * count + r]));
    scales[r] = largest / 127 || 1;
    for (let d = 0; d < dims; d++) q[d * count + r] = Math.round(t[d * count + r] / scales[r]);
  }
  return { q, scales };
}

/**
 * The exact (or int8) search in tiles of `rows` patches × `chunk` entries: each tile's distances
 * are read by their `ReduceMin` while still in the cache, the blocks' minima over the chunks are
 * taken, and the blocks joined again. With `int8` the patches are quantised once (unsigned, with a
 * zero point, as `DynamicQuantizeMatMul` does for each product) and each tile is one
 * `MatMulIntegerToFloat` with the entries' norms as its bias: the same arithmetic as the chunked int8
 * search, without quantising the patches once per chunk.
 */
function tiledNearestNodes(
  memory: Float32Array,
  size: number,
  dims: number,
  search: BankSearch,
  patches: number,
): GraphPiece {
  const width = Math.max(1, Math.min(search.chunk ?? SEARCH_CHUNK, size));
  const rows = Math.max(1, Math.min(search.rows ?? patches, patches));
  const blocks: number[] = [];
  for (let start = 0; start < patches; start += rows) blocks.push(Math.min(rows, patches - start));
  const nodes: types.INodeProto[] = [];
  const initializers: types.ITensorProto[] = [ints('row_blocks', [blocks.length], blocks)];
  const source = search.int8 ? 'patches_q' : 'patches';
  if (search.int8)
    nodes.push(node('DynamicQuantizeLinear', ['patches'], ['patches_q', 'patches_scale', 'patches_zero']));
  const blockNames = blocks.map((_, b) => `${source}_b${b}`);
  nodes.push(node('Split', [source, 'row_blocks'], blockNames, { axis: 0 }));
  const bank = bankChunks(memory, size, dims, width, Boolean(search.int8));
  initializers.push(...bank.initializers);
  const chunks = bank.counts.map((_, c) => `bank${c}`);
  const blockMinima: string[] = [];
  blockNames.forEach((block, b) => {
    const minima: string[] = [];
    for (const chunk of chunks) {
      const partial = `${chunk}_b${b}_partial`;
      if (search.int8)
        nodes.push(
          node(
            'MatMulIntegerToFloat',
            [block, `${chunk}_q`, 'patches_scale', `${chunk}_scale`, 'patches_zero', `${chunk}_zero`, `${chunk}_norm`],
            [partial],
            {},
            MICROSOFT,
          ),
        );
      else
        nodes.push(
          node('MatMul', [block, `${chunk}_t`], [`${chunk}_b${b}_m2dot`]),
          node('Add', [`${chunk}_b${b}_m2dot`, `${chunk}_norm`], [partial]),
        );
      nodes.push(node('ReduceMin', [partial], [`${chunk}_b${b}_min`], { axes: [1], keepdims: 1 }));
      minima.push(`${chunk}_b${b}_min`);
    }
    nodes.push(
      minima.length > 1 ? node('Min', minima, [`block${b}_min`]) : node('Identity', minima, [`block${b}_min`]),
    );
    blockMinima.push(`block${b}_min`);
  });
  nodes.push(
    node('Concat', blockMinima, ['bank_min'], { axis: 0 }),
    node('Add', ['bank_min', 'patch_norm'], ['nearest2']),
  );
  return { nodes, initializers };
}

/** patch grid anomalies from the bank: `patches` (N × D), `patch_norm` (N × 1) → `nearest2` (N × 1). */
function nearestNodes(
  memory: Float32Array,
  size: number,
  dims: number,
  search: BankSearch,
  patches: number,
): GraphPiece {
  const coarse = search.coarse;
  if (!coarse) return chunkedNearestNodes(memory, size, dims, search, patches);
  const { centres, members, width, k } = coarseTables(memory, size, dims, coarse.centroids);
  const probe = Math.min(coarse.probe, k);
  const toCentres = distanceNodes('centres', centres, k, dims);
  return {
    nodes: [
      ...toCentres.nodes,
      node('TopK', ['centres_d2', 'probe_k'], ['near_d2', 'near_groups'], { axis: 1, largest: 0, sorted: 0 }), // N × probe
      node('Gather', ['members', 'near_groups'], ['candidates'], { axis: 0 }), // N × probe × width × D
      node('Reshape', ['candidates', 'candidates_shape'], ['candidates_flat']), // N × (probe·width) × D
      node('Unsqueeze', ['patches', 'last_axis'], ['patches_col']), // N × D × 1
      node('MatMul', ['candidates_flat', 'patches_col'], ['cand_dot']), // N × (probe·width) × 1
      node('Squeeze', ['cand_dot', 'last_axis'], ['cand_dot2']),
      node('Gather', ['member_norms', 'near_groups'], ['cand_norms']), // N × probe × width
      node('Reshape', ['cand_norms', 'cand_norms_shape'], ['cand_norms_flat']),
      node('Mul', ['cand_dot2', 'minus_two'], ['cand_m2dot']),
      node('Add', ['cand_m2dot', 'cand_norms_flat'], ['cand_partial']),
      node('Add', ['cand_partial', 'patch_norm'], ['cand_d2']),
      node('ReduceMin', ['cand_d2'], ['nearest2'], { axes: [1], keepdims: 1 }),
    ],
    initializers: [
      ...toCentres.initializers,
      floats('minus_two', [], [-2]),
      ints('probe_k', [1], [probe]),
      floats('members', [k, width, dims], members),
      floats('member_norms', [k, width], memberNorms(members, k * width, dims)),
      ints('candidates_shape', [3], [0, probe * width, dims]),
      ints('cand_norms_shape', [2], [0, probe * width]),
      ints('last_axis', [1], [2]),
    ],
  };
}

function memberNorms(members: Float32Array, count: number, dims: number): Float32Array {
  const norms = new Float32Array(count);
  for (let i = 0; i < count; i++) for (let d = 0; d < dims; d++) norms[i] += members[i * dims + d] ** 2;
  return norms;
}

/**
 * The bank's search alone, as `bankGraph` writes it: `patches` (N × dims) → `nearest2` (N × 1, squared
 * distances). For measuring and testing one search against another.
 */
export function searchGraph(
  memory: Float32Array,
  size: number,
  dims: number,
  patches: number,
  search: BankSearch = {},
) {
  const nearest = nearestNodes(memory, size, dims, search, patches);
  return model({
    name: 'loupe-bank-search',
    node: [
      node('Mul', ['patches', 'patches'], ['patches2']),
      node('ReduceSum', ['patches2', 'feature_axis'], ['patch_norm'], { keepdims: 1 }),
      ...nearest.nodes,
    ],
    initializer: [...nearest.initializers, ints('feature_axis', [1], [1])],
    input: [tensorInfo('patches', [patches, dims])],
    output: [tensorInfo('nearest2', [patches, 1])],
  });
}

/** Patches at the frame's edge left out of the score, in pixels: the backbone pads with zeros, so the rim is a kind of patch of its own. */
const SCORE_RIM_PIXELS = 8;

/** The whole model with a memory bank: features → reduction → nearest bank entry → smoothed map → score. */
export function bankGraph(
  extractor: FeatureExtractor,
  shape: Shape,
  fitted: FittedStatistics,
  search: BankSearch = {},
  scoreRimPixels = SCORE_RIM_PIXELS,
): Uint8Array {
  const rim = scoreRimPixels > 0 ? Math.max(1, Math.round(scoreRimPixels / extractor.stride)) : 0;
  const map = bankMapPiece(extractor, shape, fitted, search);
  const out = mapOutputs(shape, rim, extractor.stride);
  return model({
    name: `loupe-bank-${extractor.kind}`,
    node: [...map.nodes, ...out.nodes],
    initializer: [...map.initializers, ...out.initializers],
    input: [imageInput(shape)],
    output: out.outputs,
  });
}

/**
 * The bank model up to its patch map: `image` → `patch_map` (1 × 1 × grid at the extractor's stride),
 * the smoothed nearest-entry distance (the mean of the `search.k` nearest), normalised where the bank
 * says so. lab/fusion.ts puts two of these in one graph.
 */
export function bankMapPiece(
  extractor: FeatureExtractor,
  shape: Shape,
  fitted: FittedStatistics,
  search: BankSearch = {},
): GraphPiece {
  const { reduction, bank } = fitted;
  if (!bank) throw new Error('bankGraph: no memory bank was fitted');
  const { gw, gh } = gridOf(shape, extractor.stride);
  const dims = reduction.dims;
  const features = extractor.nodes(shape);
  const reduce = reductionNodes(extractor, reduction);
  const nearest = nearestNodes(bank.memory, bank.size, dims, search, gw * gh);
  const k = Math.min(search.k ?? 1, bank.size);
  // the frame's edge (lab/frame-edge.ts): a scale and an offset per position after the search
  const norm: GraphPiece = bank.normalise
    ? {
        nodes: [
          node('Mul', ['patch_map_raw', 'norm_scale'], ['patch_map_scaled']),
          node('Add', ['patch_map_scaled', 'norm_offset'], ['patch_map']),
        ],
        initializers: [
          floats('norm_scale', [1, 1, gh, gw], bank.normalise.scale),
          floats('norm_offset', [1, 1, gh, gw], bank.normalise.offset),
        ],
      }
    : { nodes: [node('Identity', ['patch_map_raw'], ['patch_map'])], initializers: [] };
  return {
    nodes: [
      ...features.nodes,
      ...reduce.nodes,
      node('Reshape', ['reduced', 'flat_shape'], ['flat']), // D × N
      node('Transpose', ['flat'], ['patches'], { perm: [1, 0] }), // N × D
      node('Mul', ['patches', 'patches'], ['patches2']),
      node('ReduceSum', ['patches2', 'feature_axis'], ['patch_norm'], { keepdims: 1 }), // N × 1
      ...nearest.nodes,
      node('Relu', ['nearest2'], ['nearest2_pos']),
      node('Sqrt', ['nearest2_pos'], [k > 1 ? 'nearest_k' : 'nearest']),
      ...(k > 1 ? [node('ReduceMean', ['nearest_k'], ['nearest'], { axes: [1], keepdims: 1 })] : []),
      node('Reshape', ['nearest', 'map_shape'], ['patch_distance']),
      node('Pad', ['patch_distance', 'smooth_pads'], ['patch_distance_padded'], { mode: 'reflect' }),
      node('AveragePool', ['patch_distance_padded'], ['patch_map_raw'], { kernel_shape: [3, 3], strides: [1, 1] }),
      ...norm.nodes,
    ],
    initializers: [
      ...features.initializers,
      ...reduce.initializers,
      ...nearest.initializers,
      ...norm.initializers,
      ints('flat_shape', [2], [dims, gw * gh]),
      ints('map_shape', [4], [1, 1, gh, gw]),
      ints('feature_axis', [1], [1]),
      ints('smooth_pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
    ],
  };
}

/** The whole model with per-position Gaussians: features → reduction → standardised distance per position → smoothed map → score. */
export function gaussianGraph(extractor: FeatureExtractor, shape: Shape, fitted: FittedStatistics): Uint8Array {
  const { reduction, gaussian } = fitted;
  if (!gaussian) throw new Error('gaussianGraph: no Gaussians were fitted');
  const { gw, gh } = gridOf(shape, extractor.stride);
  const dims = reduction.dims;
  const features = extractor.nodes(shape);
  const reduce = reductionNodes(extractor, reduction);
  const out = mapOutputs(shape, 0, extractor.stride);
  const nodes: types.INodeProto[] = [
    ...features.nodes,
    ...reduce.nodes,
    node('Sub', ['reduced', 'g_mean'], ['centred']),
    node('Mul', ['centred', 'g_inv_std'], ['z']),
    node('Mul', ['z', 'z'], ['z2']),
    node('ReduceMean', ['z2'], ['distance'], { axes: [1], keepdims: 1 }),
    node('AveragePool', ['distance'], ['smoothed'], {
      kernel_shape: [3, 3],
      strides: [1, 1],
      pads: [1, 1, 1, 1],
      count_include_pad: 0,
    }),
    node('Sqrt', ['smoothed'], ['patch_map']),
    ...out.nodes,
  ];
  return model({
    name: `loupe-gaussian-${extractor.kind}`,
    node: nodes,
    initializer: [
      ...features.initializers,
      ...reduce.initializers,
      floats('g_mean', [1, dims, gh, gw], gaussian.mean),
      floats('g_inv_std', [1, dims, gh, gw], gaussian.invStd),
      ...out.initializers,
    ],
    input: [imageInput(shape)],
    output: out.outputs,
  });
}
