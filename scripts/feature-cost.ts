/**
 * What a pretrained bank model costs to run, per feature setting, with the settings interleaved on
 * the same frames so that a busy machine slows them alike and their ratios stay readable. The bank
 * and the reduction are random (their values do not change the arithmetic), so nothing is fitted.
 * For choosing settings by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/feature-cost.ts [--runs N] [--threads T] [--config JSON ...]
 *
 * A config: { "taps": ["s4a","s4","s8"], "stride": 8, "handmade": 1, "contrast": "local", "bankSize": 4096, "dims": 64,
 *             "int8": true, "k": 3, "fuse": "max", "handStride": 4, "handBank": 4096, "handInt8": false, "texture": true,
 *             "search": { "int8": true, "rows": 256, "chunk": 1024 } }
 * "int8": the bank searched in 8-bit integers, as `loupe fit` ships it; "k": the mean of the k nearest;
 * "fuse": the pretrained bank and the hand-made bank (its grid `handStride`, `handBank` entries) fused
 * in one graph (lab/fusion.ts); "texture": the hand-made texture model (lab/patchcore.ts, 2,048 entries).
 * "search": any other field of lab/statistics.ts's `BankSearch` (e.g. the stride-4 grid's tiles), over "int8" and "k".
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { TAPS } from '../lab/backbone.ts';
import { handmade, pretrained, type FeatureExtractor } from '../lab/extractor.ts';
import { fusedGraph, strided, type Combine } from '../lab/fusion.ts';
import { patchcoreGraph, FEATURES } from '../lab/patchcore.ts';
import { bankGraph, type BankSearch, type FittedStatistics } from '../lab/statistics.ts';
import { rng } from '../lab/synth.ts';

interface Config {
  taps?: (keyof typeof TAPS)[];
  stride?: number;
  handmade?: number;
  contrast?: 'global' | 'local';
  bankSize?: number;
  dims?: number;
  int8?: boolean;
  k?: number;
  fuse?: Combine;
  handStride?: number;
  handBank?: number;
  handInt8?: boolean;
  texture?: boolean;
  search?: BankSearch;
}

const SIZE = 256;
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    threads: { type: 'string', default: '2' },
    config: { type: 'string', multiple: true },
  },
});
const configs = (values.config ?? ['{}']).map((c) => JSON.parse(c) as Config);
const random = rng(1);
const sessions: ort.InferenceSession[] = [];
/** Random statistics of the right shapes for an extractor, with a normalisation map as a fused branch has. */
function randomStatistics(extractor: FeatureExtractor, dims: number, size: number): FittedStatistics {
  const C = extractor.channels;
  const d = Math.min(dims, C);
  const cells = (SIZE / extractor.stride) ** 2;
  return {
    reduction: {
      mean: new Float32Array(C),
      invStd: new Float32Array(C).fill(1),
      projection: Float32Array.from({ length: d * C }, () => random() - 0.5),
      dims: d,
    },
    bank: {
      memory: Float32Array.from({ length: size * d }, () => random() - 0.5),
      size,
      normalise: { scale: new Float32Array(cells).fill(1), offset: new Float32Array(cells) },
    },
  };
}

for (const config of configs) {
  const shape = { width: SIZE, height: SIZE };
  const extractor = pretrained({
    stride: config.stride ?? 8,
    taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
    handmade: config.handmade,
    contrast: config.contrast,
  });
  const search: BankSearch = { int8: config.int8, k: config.k, ...config.search };
  const fitted = randomStatistics(extractor, config.dims ?? 64, config.bankSize ?? 4096);
  let graph: Uint8Array;
  if (config.texture) {
    const size = 2048;
    graph = patchcoreGraph(
      shape,
      new Float32Array(FEATURES),
      new Float32Array(FEATURES).fill(1),
      Float32Array.from({ length: size * FEATURES }, () => random() - 0.5),
      size,
    );
  } else if (config.fuse) {
    const hand = strided(handmade, config.handStride ?? 4);
    graph = fusedGraph(
      shape,
      [
        { name: 'pre', extractor, fitted, search },
        {
          name: 'hand',
          extractor: hand,
          fitted: randomStatistics(hand, handmade.channels, config.handBank ?? 4096),
          search: { int8: config.handInt8 },
        },
      ],
      config.fuse,
    );
  } else graph = bankGraph(extractor, shape, { ...fitted, bank: { ...fitted.bank!, normalise: undefined } }, search);
  sessions.push(
    await ort.InferenceSession.create(graph, {
      intraOpNumThreads: Number(values.threads),
      graphOptimizationLevel: 'all',
    }),
  );
}
const frames = Array.from({ length: 4 }, () => Uint8Array.from({ length: SIZE * SIZE * 3 }, () => random() * 256));
const times: number[][] = configs.map(() => []);
for (let run = -2; run < Number(values.runs); run++) {
  for (let s = 0; s < sessions.length; s++) {
    const t0 = performance.now();
    await sessions[s].run({ image: new ort.Tensor('uint8', frames[(run + 4) % 4], [1, SIZE, SIZE, 3]) });
    if (run >= 0) times[s].push(performance.now() - t0);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(times[0]);
configs.forEach((c, i) =>
  console.log(
    JSON.stringify({
      config: c,
      medianMs: Math.round(median(times[i]) * 10) / 10,
      ratio: Math.round((median(times[i]) / base) * 100) / 100,
    }),
  ),
);
for (const s of sessions) await s.release();
