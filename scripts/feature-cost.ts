/**
 * What a pretrained bank model costs to run, per feature setting, with the settings interleaved on
 * the same frames so that a busy machine slows them alike and their ratios stay readable. The bank
 * and the reduction are random (their values do not change the arithmetic), so nothing is fitted.
 * For choosing settings by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/feature-cost.ts [--runs N] [--threads T] [--config JSON ...]
 *
 * A config: { "taps": ["s4a","s4","s8"], "stride": 8, "handmade": 1, "contrast": "local", "bankSize": 4096, "dims": 64,
 *             "search": { "int8": true } } (the search: lab/statistics.ts's `BankSearch`, default the exact chunked one)
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { TAPS } from '../lab/backbone.ts';
import { pretrained } from '../lab/extractor.ts';
import { bankGraph, type BankSearch } from '../lab/statistics.ts';
import { rng } from '../lab/synth.ts';

interface Config {
  taps?: (keyof typeof TAPS)[];
  stride?: number;
  handmade?: number;
  contrast?: 'global' | 'local';
  bankSize?: number;
  dims?: number;
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
for (const config of configs) {
  const extractor = pretrained({
    stride: config.stride ?? 8,
    taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
    handmade: config.handmade,
    contrast: config.contrast,
  });
  const dims = config.dims ?? 64;
  const size = config.bankSize ?? 4096;
  const C = extractor.channels;
  const graph = bankGraph(
    extractor,
    { width: SIZE, height: SIZE },
    {
      reduction: {
        mean: new Float32Array(C),
        invStd: new Float32Array(C).fill(1),
        projection: Float32Array.from({ length: dims * C }, () => random() - 0.5),
        dims,
      },
      bank: { memory: Float32Array.from({ length: size * dims }, () => random() - 0.5), size },
    },
    config.search,
  );
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
