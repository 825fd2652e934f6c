/**
 * The stride-4 bank's size, dimensions and search against the image AUROC each costs: one fit per
 * feature setting and dimension count, with a bank of the largest size; each smaller bank is the
 * first entries of that one (greedy k-centre picks in order, so its first k entries are the coreset
 * a bank of k would have been), and each is searched every way asked and every test image scored.
 * Prints one JSON line per set, setting, bank and search: image AUROC with the model's own score,
 * against the marks a person can see (CNR ≥ 1, where the set has a visibility.json), per defect.
 * For choosing the stride-4 search by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/stride4-sweep.ts --data DIR [--data DIR ...] [--config JSON ...]
 *
 * A config: { "taps": ["s4a","s4","s8"], "stride": 4, "dims": 64, "banks": [2048, 4096, 8192],
 *             "searches": [{ "int8": true }], "train": 48, "candidates": 160000, "maxShare": 0.5 }
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { TAPS } from '../lab/backbone.ts';
import { readImage, testSamples, trainImages } from '../lab/dataset.ts';
import { auroc } from '../lab/evaluate.ts';
import { pretrained } from '../lab/extractor.ts';
import { bytesInput } from '../lab/fit.ts';
import { bankGraph, fitStatistics, type BankSearch } from '../lab/statistics.ts';

interface Config {
  taps?: (keyof typeof TAPS)[];
  stride?: number;
  dims?: number;
  banks?: number[];
  searches?: BankSearch[];
  train?: number;
  candidates?: number;
  maxShare?: number;
  handmade?: number;
}

const { values } = parseArgs({
  options: { data: { type: 'string', multiple: true }, config: { type: 'string', multiple: true } },
});
const size = 256;
const input = bytesInput(size);
const shape = { width: size, height: size };
const r = (x: number) => Math.round(x * 1000) / 1000;
for (const data of values.data ?? []) {
  const samples = await testSamples(data);
  const tests = await Promise.all(
    samples.map(
      async (s) => new ort.Tensor('uint8', await framePixels(await readImage(s.file), input), [1, size, size, 3]),
    ),
  );
  const visibility = await readFile(path.join(data, 'visibility.json'), 'utf8')
    .then((text) => JSON.parse(text) as Record<string, { cnr: number }>)
    .catch(() => null);
  for (const text of values.config ?? ['{}']) {
    const config = JSON.parse(text) as Config;
    const files = (await trainImages(data)).slice(0, config.train ?? 48);
    const pixels: Uint8Array[] = [];
    for (const f of files) pixels.push(await framePixels(await readImage(f), input));
    const extractor = pretrained({
      stride: config.stride ?? 4,
      taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
      handmade: config.handmade,
    });
    const banks = config.banks ?? [2048, 4096, 8192];
    const started = performance.now();
    const fitted = await fitStatistics(
      extractor,
      shape,
      () => pixels,
      { bank: true, gaussian: false },
      {
        dims: config.dims ?? 64,
        bankSize: Math.max(...banks),
        candidates: config.candidates ?? 160_000,
        maxShare: config.maxShare ?? 0.5,
      },
    );
    const fitS = (performance.now() - started) / 1000;
    const dims = fitted.reduction.dims;
    for (const bank of banks) {
      const k = Math.min(bank, fitted.bank!.size);
      const prefix = { ...fitted, bank: { memory: fitted.bank!.memory.slice(0, k * dims), size: k } };
      for (const search of config.searches ?? [{ int8: true }]) {
        const session = await ort.InferenceSession.create(bankGraph(extractor, shape, prefix, search), {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
        });
        const good: number[] = [];
        const bad = new Map<string, number[]>();
        const seen: number[] = [];
        let ms = 0;
        for (const [i, sample] of samples.entries()) {
          const t0 = performance.now();
          const score = (await session.run({ image: tests[i] })).score.data[0] as number;
          ms += performance.now() - t0;
          if (sample.defect === null) good.push(score);
          else {
            bad.set(sample.defect, [...(bad.get(sample.defect) ?? []), score]);
            const cnr = visibility?.[`${sample.defect}/${path.basename(sample.file)}`]?.cnr;
            if (cnr !== undefined && cnr >= 1) seen.push(score);
          }
        }
        await session.release();
        const result: Record<string, unknown> = {
          data,
          config: text,
          bank: k,
          dims,
          search,
          fitS: r(fitS),
          ms: r(ms / samples.length),
          max: r(auroc(good, [...bad.values()].flat())),
        };
        if (visibility && seen.length > 0) result.visible = r(auroc(good, seen));
        for (const [defect, scores] of bad) result[defect] = r(auroc(good, scores));
        console.log(JSON.stringify(result));
      }
    }
  }
}
