/**
 * How the pretrained bank is searched, measured: the bank is fitted once per data set (as `loupe fit
 * --method pretrained` fits it), then written with each search (every entry in one product, in
 * chunks, in 8-bit integers, coarse-to-fine) and every test image is scored through each, on one ORT
 * thread. Prints, per search: image AUROC, its change against the exact search, the largest change
 * of an image score, and CPU milliseconds a `session.run` (the median of the test images), so a
 * search is kept only where it is faster and the AUROC does not move (docs/model.md, "Line speed").
 * Not used by Loupe itself.
 *
 *   npx tsx scripts/bank-search-sweep.ts --data DIR [--data DIR ...] [--train 160] [--only NAME,...] [--out DIR]
 *
 * `--out DIR` also writes each graph there (DIR/<set>-<search>.onnx), for profiling.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { readImage, testSamples, trainImages } from '../lab/dataset.ts';
import { auroc } from '../lab/evaluate.ts';
import { pretrained } from '../lab/extractor.ts';
import { PRETRAINED, bytesInput } from '../lab/fit.ts';
import { bankGraph, fitStatistics, type BankSearch } from '../lab/statistics.ts';

const SEARCHES: Record<string, BankSearch> = {
  'one product': { chunk: 1 << 30 },
  'chunks of 256': { chunk: 256 },
  'chunks of 512': { chunk: 512 },
  'chunks of 1024': { chunk: 1024 },
  'int8 chunks of 512': { chunk: 512, int8: true },
  'int8 one product': { chunk: 1 << 30, int8: true },
  'coarse 128 × 3': { coarse: { centroids: 128, probe: 3 } },
};

const { values } = parseArgs({
  options: {
    data: { type: 'string', multiple: true },
    train: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const size = 256;
const input = bytesInput(size);
const shape = { width: size, height: size };
const only = values.only?.split(',');
for (const data of values.data ?? []) {
  const files = (await trainImages(data)).slice(0, Number(values.train ?? 160));
  const pixels: Uint8Array[] = [];
  for (const f of files) pixels.push(await framePixels(await readImage(f), input));
  const extractor = pretrained({ stride: PRETRAINED.stride, taps: PRETRAINED.taps });
  const fitted = await fitStatistics(extractor, shape, () => pixels, { bank: true, gaussian: false }, PRETRAINED.bank);
  const samples = await testSamples(data);
  const tensors = await Promise.all(
    samples.map(
      async (s) => new ort.Tensor('uint8', await framePixels(await readImage(s.file), input), [1, size, size, 3]),
    ),
  );
  let exact: number[] | null = null;
  let exactAuroc = 0;
  for (const [name, search] of Object.entries(SEARCHES)) {
    if (only && !only.includes(name)) continue;
    const graph = bankGraph(extractor, shape, fitted, search);
    if (values.out)
      await writeFile(path.join(values.out, `${path.basename(data)}-${name.replace(/[^a-z0-9]+/gi, '-')}.onnx`), graph);
    const session = await ort.InferenceSession.create(graph, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    for (let i = 0; i < 5; i++) await session.run({ image: tensors[i % tensors.length] });
    const scores: number[] = [];
    const cpu: number[] = [];
    for (const tensor of tensors) {
      const c0 = process.cpuUsage();
      const out = await session.run({ image: tensor });
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      scores.push((out.score.data as Float32Array)[0]);
    }
    await session.release();
    const labels = samples.map((s) => s.defect !== null);
    const area = auroc(
      scores.filter((_, i) => !labels[i]),
      scores.filter((_, i) => labels[i]),
    );
    if (!exact) {
      exact = scores;
      exactAuroc = area;
    }
    const reference = exact;
    const largest = Math.max(...scores.map((s, i) => Math.abs(s - reference[i])));
    cpu.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        data,
        search: name,
        imageAuroc: Math.round(area * 10000) / 10000,
        aurocChange: Math.round((area - exactAuroc) * 10000) / 10000,
        largestScoreChange: Number(largest.toPrecision(3)),
        cpuMsPerRun: Math.round(cpu[cpu.length >> 1] * 100) / 100,
      }),
    );
  }
}
