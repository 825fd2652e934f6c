/**
 * A quick sweep of the pretrained bank's settings on an MVTec-layout set, without `loupe fit`'s
 * method probing: the statistics are fitted once per setting on train/good and every test image is
 * scored, with the image score taken several ways: the model's own (the map's maximum inside its rim),
 * the mean of the map's top 1%, the map's maximum leaving out 16, 24 or 32 pixels at the edge, and the
 * first and the 24-pixel one minus the map's median (a per-image baseline).
 * SWEEP_DUMP=1 prints every score and where each good part's map peaks.
 * For choosing settings by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/pretrained-sweep.ts --data DIR [--config JSON ...]
 *
 * A config: { "taps": ["s4a","s4","s8"], "stride": 8, "dims": 64, "bankSize": 4096, "maxShare": 0.125,
 *             "standardise": false, "pool": 3, "candidates": 60000, "train": 80,
 *             "upsample": 2, "augment": 8,
 *             "normalise": 4, "calibrate": 16, "tail": 0.99, "scoreRim": 8,
 *             "handmade": 1, "contrast": "global" | "local", "visible": 1,
 *             "handmadeOnly": true,
 *             "learn": { "epsilon": 0.01, "copies": 4, "kinds": ["blob","line"], "scale": "whiten" },
 *             "whiten": 0.1, "keep": "random" | "variance", "seed": 1,
 *             "int8": true, "k": 3, "reweight": 9 }
 * With "k", a patch's anomaly is the mean distance to its k nearest bank entries (`TopK` in the graph).
 * With "reweight", `rw` is the image AUROC of PatchCore's reweighted score: the model's own score times
 * 1 − softmax over the distances from the highest patch to its nearest entry's `reweight` nearest
 * entries (that entry's own weight), computed here beside the graph.
 * With "normalise", `plain` is the image AUROC of the same bank without the normalisation.
 * Where the set has a `visibility.json` (scripts/textures.ts, scripts/textures-other-defects.ts), the
 * result also gives `visible`: the image AUROC (the model's own score) against only the marks whose
 * contrast-to-noise ratio is at least `visible` (default 1), with `visibleN` of them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { TAPS } from '../lab/backbone.ts';
import { readImage, testSamples, trainImages } from '../lab/dataset.ts';
import { auroc } from '../lab/evaluate.ts';
import { featureGraph, handmade, pretrained } from '../lab/extractor.ts';
import { bytesInput } from '../lab/fit.ts';
import type { LearnedProjectionOptions } from '../lab/learned-projection.ts';
import { bankGraph, fitStatistics, gaussianGraph, type FittedStatistics } from '../lab/statistics.ts';

interface Config {
  taps?: (keyof typeof TAPS)[];
  stride?: number;
  dims?: number;
  bankSize?: number;
  maxShare?: number;
  standardise?: boolean;
  pool?: number;
  candidates?: number;
  train?: number;
  margin?: number;
  size?: number;
  upsample?: number;
  /** add each training part's mirror images and 90° turns (up to 8 copies of each) */
  augment?: number;
  /** centre and square each part first (lab/locate.ts) */
  locate?: boolean;
  /** per-position Gaussians (PaDiM) instead of the memory bank */
  gaussian?: boolean;
  /** normalisation by distance from the edge: rings of classes, measured on the first `calibrate` parts (default 16) */
  normalise?: number;
  calibrate?: number;
  /** normalise each class's median and this quantile rather than its mean and spread */
  tail?: number;
  /** pixels at the frame's edge left out of the model's score (default 8) */
  scoreRim?: number;
  /** the hand-made filter bank beside the taps, at this weight (extractor option `handmade`) */
  handmade?: number;
  contrast?: 'global' | 'local';
  /** the hand-made filter bank alone through the same statistics (a baseline) */
  handmadeOnly?: boolean;
  /** mean distance to the k nearest bank entries */
  k?: number;
  /** PatchCore's reweighting of the image score over this many neighbours of the nearest entry */
  reweight?: number;
  /** the contrast-to-noise ratio a mark needs to count in `visible` */
  visible?: number;
  /** the projection learned from generic perturbations (lab/learned-projection.ts) instead of a random one */
  learn?: LearnedProjectionOptions;
  /** whiten the channels on good patches with this shrinkage λ before the projection (lab/whiten.ts) */
  whiten?: number;
  /** with `whiten` and fewer dims than channels: a random projection or the directions of most variance */
  keep?: 'random' | 'variance';
  /** the fit's random numbers (projection, patch samples; default 1) */
  seed?: number;
  /** search the bank in 8-bit integers, as `loupe fit` ships it (lab/fit.ts `PRETRAINED.search`) */
  int8?: boolean;
}

/** The first `copies` of the eight flips and turns of a square uint8 HWC frame (the identity first). */
export function turned(pixels: Uint8Array, size: number, copies: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < Math.min(copies, 8); k++) {
    const t = new Uint8Array(pixels.length);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let [u, v] = [x, y];
        if (k & 1) u = size - 1 - u;
        if (k & 2) v = size - 1 - v;
        if (k & 4) [u, v] = [v, u];
        const from = (v * size + u) * 3;
        const to = (y * size + x) * 3;
        t[to] = pixels[from];
        t[to + 1] = pixels[from + 1];
        t[to + 2] = pixels[from + 2];
      }
    }
    out.push(t);
  }
  return out;
}

/**
 * PatchCore's image score (Roth et al., 2022, eq. 7): the highest patch's score s times
 * 1 − exp‖m − m*‖ / Σ exp‖m − n‖ over n in the b nearest bank entries of m* (m* among them), where m
 * is the patch's reduced feature and m* its nearest entry: a patch whose nearest entry sits in a
 * sparse part of the bank (its neighbours far) keeps less of its score than one in a dense part.
 */
async function reweighting(
  extractor: ReturnType<typeof pretrained>,
  shape: { width: number; height: number },
  fitted: FittedStatistics,
  b: number,
  rimPixels: number,
) {
  if (!b || !fitted.bank)
    return { score: async (_p: Uint8Array, _m: Float32Array, s: number) => s, release: async () => {} };
  const { memory, size } = fitted.bank;
  const { mean, invStd, projection, dims } = fitted.reduction;
  const C = extractor.channels;
  const stride = extractor.stride;
  const gw = shape.width / stride;
  const positions = gw * (shape.height / stride);
  const session = await ort.InferenceSession.create(featureGraph(extractor, shape));
  const d2 = (a: Float32Array | number[], i: number) => {
    let s = 0;
    for (let d = 0; d < dims; d++) s += (a[d] - memory[i * dims + d]) ** 2;
    return s;
  };
  const neighbours = new Map<number, number[]>();
  return {
    score: async (pixels: Uint8Array, map: Float32Array, s: number) => {
      const raw = (await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) }))
        .raw_features.data as Float32Array;
      let at = -1;
      for (let y = rimPixels; y < shape.height - rimPixels; y++)
        for (let x = rimPixels; x < shape.width - rimPixels; x++)
          if (at < 0 || map[y * shape.width + x] > map[at]) at = y * shape.width + x;
      const p = Math.floor(at / shape.width / stride) * gw + Math.floor((at % shape.width) / stride);
      const v = new Float32Array(dims);
      for (let d = 0; d < dims; d++)
        for (let c = 0; c < C; c++) v[d] += projection[d * C + c] * invStd[c] * (raw[c * positions + p] - mean[c]);
      let nearest = 0;
      for (let i = 1; i < size; i++) if (d2(v, i) < d2(v, nearest)) nearest = i;
      let around = neighbours.get(nearest);
      if (!around) {
        const entry = memory.subarray(nearest * dims, (nearest + 1) * dims);
        const order = Array.from({ length: size }, (_, i) => [d2(entry, i), i]).sort((x, y) => x[0] - y[0]);
        around = order.slice(0, b).map(([, i]) => i);
        neighbours.set(nearest, around);
      }
      const distances = around.map((i) => Math.sqrt(d2(v, i)));
      const top = Math.max(...distances);
      const sum = distances.reduce((acc, d) => acc + Math.exp(d - top), 0);
      return s * (1 - Math.exp(Math.sqrt(d2(v, nearest)) - top) / sum);
    },
    release: () => session.release(),
  };
}

export async function sweep(data: string, config: Config): Promise<Record<string, number | string>> {
  const size = config.size ?? 256;
  const input = bytesInput(size);
  const shape = { width: size, height: size };
  const files = (await trainImages(data)).slice(0, config.train ?? 80);
  const pixels: Uint8Array[] = [];
  for (const f of files)
    pixels.push(...turned(await framePixels(await readImage(f), input), size, config.augment ?? 1));
  const extractor = config.handmadeOnly
    ? handmade
    : pretrained({
        stride: config.stride ?? 8,
        taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
        pool: config.pool ?? 3,
        margin: config.margin,
        upsample: config.upsample,
        locate: config.locate,
        contrast: config.contrast,
        handmade: config.handmade,
      });
  const started = performance.now();
  const fitted = await fitStatistics(
    extractor,
    shape,
    () => pixels,
    { bank: !config.gaussian, gaussian: !!config.gaussian },
    {
      dims: config.dims ?? 64,
      bankSize: config.bankSize ?? 4096,
      candidates: config.candidates ?? 60_000,
      maxShare: config.maxShare,
      standardise: config.standardise,
      learn: config.learn,
      normalise: config.normalise
        ? { rings: config.normalise, parts: config.calibrate ?? 16, tail: config.tail }
        : null,
      seed: config.seed,
      whiten: config.whiten !== undefined ? { shrink: config.whiten, keep: config.keep } : null,
    },
  );
  const fitSeconds = (performance.now() - started) / 1000;
  const session = await ort.InferenceSession.create(
    config.gaussian
      ? gaussianGraph(extractor, shape, fitted)
      : bankGraph(extractor, shape, fitted, { int8: config.int8, k: config.k }, config.scoreRim),
  );
  const plain =
    fitted.bank?.normalise &&
    (await ort.InferenceSession.create(
      bankGraph(extractor, shape, { ...fitted, bank: { ...fitted.bank, normalise: undefined } }, {}, config.scoreRim),
    ));
  const reweigh = await reweighting(extractor, shape, fitted, config.reweight ?? 0, config.scoreRim ?? 8);
  const plainGood: number[] = [];
  const plainBad: number[] = [];
  const SCORES = 8;
  const good: number[][] = Array.from({ length: SCORES }, () => []);
  const bad = new Map<string, number[][]>();
  const visibility = await readFile(path.join(data, 'visibility.json'), 'utf8')
    .then((text) => JSON.parse(text) as Record<string, { cnr: number }>)
    .catch(() => null);
  const seen: number[] = [];
  let ms = 0;
  for (const sample of await testSamples(data)) {
    const p = await framePixels(await readImage(sample.file), input);
    const t0 = performance.now();
    const out = await session.run({ image: new ort.Tensor('uint8', p, [1, size, size, 3]) });
    ms += performance.now() - t0;
    if (plain) {
      const s = (await plain.run({ image: new ort.Tensor('uint8', p, [1, size, size, 3]) })).score.data[0] as number;
      (sample.defect === null ? plainGood : plainBad).push(s);
    }
    const raw = out.anomaly_map.data as Float32Array;
    if (process.env.SWEEP_DUMP && sample.defect === null) {
      let at = 0;
      for (let i = 1; i < raw.length; i++) if (raw[i] > raw[at]) at = i;
      console.error(`good argmax x ${at % size} y ${Math.floor(at / size)} score ${raw[at].toFixed(3)}`);
    }
    const map = Float32Array.from(raw).sort();
    const k = Math.max(1, Math.round(map.length / 100));
    let top = 0;
    for (let i = map.length - k; i < map.length; i++) top += map[i];
    const inner = (rim: number) => {
      let m = -Infinity;
      for (let y = rim; y < size - rim; y++) for (let x = rim; x < size - rim; x++) m = Math.max(m, raw[y * size + x]);
      return m;
    };
    const median = map[map.length >> 1];
    // per-image baseline: the score above the image's own typical patch distance
    const scores = [
      out.score.data[0] as number,
      top / k,
      inner(16),
      inner(24),
      inner(32),
      (out.score.data[0] as number) - median,
      inner(24) - median,
      config.reweight ? await reweigh.score(p, raw, out.score.data[0] as number) : (out.score.data[0] as number),
    ];
    const target =
      sample.defect === null
        ? good
        : (bad.get(sample.defect) ??
          bad
            .set(
              sample.defect,
              Array.from({ length: SCORES }, () => []),
            )
            .get(sample.defect)!);
    scores.forEach((s, i) => target[i].push(s));
    const cnr = sample.defect ? visibility?.[`${sample.defect}/${path.basename(sample.file)}`]?.cnr : undefined;
    if (cnr !== undefined && cnr >= (config.visible ?? 1)) seen.push(scores[0]);
  }
  await session.release();
  await reweigh.release();
  if (plain) await plain.release();
  const allBad = good.map((_, i) => i).map((i) => [...bad.values()].flatMap((b) => b[i]));
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const result: Record<string, number | string> = {
    data: path.basename(data),
    bank: fitted.bank?.size ?? 0,
    fitS: r(fitSeconds),
    ms: r(ms / (good[0].length + allBad[0].length)),
    max: r(auroc(good[0], allBad[0])),
    ...(plain ? { plain: r(auroc(plainGood, plainBad)) } : {}),
    top1: r(auroc(good[1], allBad[1])),
    rim16: r(auroc(good[2], allBad[2])),
    rim24: r(auroc(good[3], allBad[3])),
    rim32: r(auroc(good[4], allBad[4])),
    base: r(auroc(good[5], allBad[5])),
    base24: r(auroc(good[6], allBad[6])),
    ...(config.reweight ? { rw: r(auroc(good[7], allBad[7])) } : {}),
  };
  if (visibility) {
    result.visible = seen.length > 0 ? r(auroc(good[0], seen)) : 'none';
    result.visibleN = seen.length;
  }
  if (process.env.SWEEP_DUMP)
    console.error(JSON.stringify({ good: good[0].map(r), bad: [...bad].map(([d, b]) => [d, b[0].map(r)]) }));
  for (const [defect, b] of bad) result[defect] = b.map((scores, i) => r(auroc(good[i], scores))).join('/');
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: { data: { type: 'string', multiple: true }, config: { type: 'string', multiple: true } },
  });
  for (const data of values.data ?? []) {
    for (const c of values.config ?? ['{}'])
      console.log(JSON.stringify({ config: c, ...(await sweep(data, JSON.parse(c) as Config)) }));
  }
}
