/**
 * What the bank's search alone costs, per way of searching it (lab/statistics.ts, `BankSearch`), on
 * random patches and a random bank of the given sizes, the searches interleaved on the same patches
 * so that a busy machine slows them alike; and how far each is from the exact search (the largest
 * change of a patch's distance, relative to the exact distance's spread). For choosing the stride-4
 * search by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/search-cost.ts [--runs N] [--threads T] [--patches 4096] [--bank 8192] [--dims 64] [--search JSON ...]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { searchGraph, type BankSearch } from '../lab/statistics.ts';
import { rng } from '../lab/synth.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
    patches: { type: 'string', default: '4096' },
    bank: { type: 'string', default: '8192' },
    dims: { type: 'string', default: '64' },
    search: { type: 'string', multiple: true },
  },
});
const patches = Number(values.patches);
const size = Number(values.bank);
const dims = Number(values.dims);
const random = rng(1);
const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const memory = Float32Array.from({ length: size * dims }, gauss);
// patches near the bank's entries (as good patches are), some far (as a mark's are)
const inputs = Array.from({ length: 3 }, () => {
  const p = new Float32Array(patches * dims);
  for (let i = 0; i < patches; i++) {
    const r = Math.floor(random() * size);
    const spread = i % 64 === 0 ? 1.5 : 0.3;
    for (let d = 0; d < dims; d++) p[i * dims + d] = memory[r * dims + d] + spread * gauss();
  }
  return new ort.Tensor('float32', p, [patches, dims]);
});
const searches = [
  { chunk: 1 << 30 } as BankSearch,
  ...(values.search ?? ['{"int8":true}']).map((s) => JSON.parse(s) as BankSearch),
];
const sessions: ort.InferenceSession[] = [];
for (const search of searches)
  sessions.push(
    await ort.InferenceSession.create(searchGraph(memory, size, dims, patches, search), {
      intraOpNumThreads: Number(values.threads),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    }),
  );
const exact: Float32Array[] = [];
for (const input of inputs) exact.push((await sessions[0].run({ patches: input })).nearest2.data as Float32Array);
const times: number[][] = searches.map(() => []);
const errors = searches.map(() => 0);
const sqrt = (x: number) => Math.sqrt(Math.max(0, x));
let spread = 0;
for (const e of exact) for (const v of e) spread = Math.max(spread, sqrt(v));
for (let run = -2; run < Number(values.runs); run++) {
  for (let s = 0; s < sessions.length; s++) {
    const i = (run + 3) % 3;
    const t0 = performance.now();
    const out = (await sessions[s].run({ patches: inputs[i] })).nearest2.data as Float32Array;
    if (run >= 0) times[s].push(performance.now() - t0);
    for (let p = 0; p < out.length; p++) errors[s] = Math.max(errors[s], Math.abs(sqrt(out[p]) - sqrt(exact[i][p])));
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(times[0]);
searches.forEach((search, i) =>
  console.log(
    JSON.stringify({
      patches,
      bank: size,
      dims,
      search,
      medianMs: Math.round(median(times[i]) * 100) / 100,
      ratio: Math.round((median(times[i]) / base) * 100) / 100,
      largestChange: Number((errors[i] / spread).toPrecision(3)),
    }),
  ),
);
for (const s of sessions) await s.release();
