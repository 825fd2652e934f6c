/**
 * Where a pretrained bank model's `session.run` goes, by stage: onnxruntime's own profile of the whole
 * graph (random reduction and bank of the fitted sizes: their values do not change the arithmetic),
 * each node's kernel time summed into backbone, pooling to the grid, projection, search, and
 * smoothing / upsampling, median of the runs. For choosing the stride-4 search by measurement
 * (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/search-profile.ts [--runs N] [--threads T] [--config JSON ...]
 *
 * A config: { "taps": ["s4a","s4","s8"], "stride": 4, "bankSize": 8192, "dims": 64, "search": { "int8": true, "chunk": 512 } }
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
  bankSize?: number;
  dims?: number;
  search?: BankSearch;
}

const SIZE = 256;
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
    config: { type: 'string', multiple: true },
  },
});

/** The stage a node of bankGraph belongs to, by the names lab/extractor.ts and lab/statistics.ts give them. */
function stage(name: string): string {
  if (name.startsWith('det/') || /image_|det_input|image_mirrored|image_levelled/.test(name)) return 'backbone';
  if (name.startsWith('hm/')) return 'hand-made';
  if (/tap\d|features_with_margin|raw_features|hm_grid|tapped_features/.test(name)) return 'pooling';
  if (/(^|_)reduced(_nchwc)?$/.test(name)) return 'projection';
  if (name.startsWith('Reorder')) return 'layout';
  if (/bank|patches|patch_norm|_flat$|nearest2$|coarse|centres|cand|q_patches|patches_q/.test(name)) return 'search';
  return 'map';
}

const random = rng(1);
const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-profile-'));
const frames = Array.from({ length: 4 }, () => Uint8Array.from({ length: SIZE * SIZE * 3 }, () => random() * 256));
for (const config of (values.config ?? ['{}']).map((c) => JSON.parse(c) as Config)) {
  const extractor = pretrained({
    stride: config.stride ?? 8,
    taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
    handmade: config.handmade,
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
    config.search ?? { int8: true },
  );
  const prefix = path.join(dir, `p${Math.floor(random() * 1e9)}`);
  const session = await ort.InferenceSession.create(graph, {
    intraOpNumThreads: Number(values.threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const runs = Number(values.runs);
  const wall: number[] = [];
  for (let run = -3; run < runs; run++) {
    const t0 = performance.now();
    await session.run({ image: new ort.Tensor('uint8', frames[(run + 4) % 4], [1, SIZE, SIZE, 3]) });
    if (run >= 0) wall.push(performance.now() - t0);
  }
  session.endProfiling();
  await session.release();
  const file = (await import('node:fs')).readdirSync(dir).find((f) => path.join(dir, f).startsWith(prefix));
  const events = JSON.parse(await readFile(path.join(dir, file!), 'utf8')) as {
    cat: string;
    name: string;
    dur: number;
    ts: number;
    args?: { op_name?: string };
  }[];
  // per run: each `model_run` event's span; every node's kernel time inside it, summed by stage
  const runsAt = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const perRun: Record<string, number>[] = runsAt.map(() => ({}));
  const ops: Record<string, number> = {};
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const i = runsAt.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
    if (i < 0) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    const s = stage(name);
    perRun[i][s] = (perRun[i][s] ?? 0) + e.dur / 1000;
    const key = process.env.PROFILE_NAMES ? `${s}:${name}` : `${s}:${e.args?.op_name ?? '?'}`;
    if (i >= 3) ops[key] = (ops[key] ?? 0) + e.dur / 1000;
  }
  const measured = perRun.slice(3);
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;
  const stages: Record<string, number> = {};
  for (const s of ['backbone', 'pooling', 'hand-made', 'projection', 'search', 'map', 'layout'])
    if (measured.some((r) => r[s])) stages[s] = Math.round(median(measured.map((r) => r[s] ?? 0)) * 100) / 100;
  const topOps = Object.entries(ops)
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(process.env.PROFILE_TOP ?? 8))
    .map(([k, v]) => `${k} ${(v / measured.length).toFixed(2)}`);
  console.log(JSON.stringify({ config, wallMs: Math.round(median(wall) * 100) / 100, stagesMs: stages, topOps }));
}
await rm(dir, { recursive: true, force: true });
