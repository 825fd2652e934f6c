/**
 * The late fusion's sweep (lab/fusion.ts) on an MVTec-layout set: both banks fitted once on train/good,
 * every test image scored by the fused model (the normalised maps' maximum and mean), by each branch
 * alone (normalised to its good parts' units) and by the pretrained bank without normalisation (as
 * `loupe fit --method pretrained` ships it, the search in floats). Image AUROC with each model's own
 * score (the map's maximum inside its rim), and per defect as `fused max / fused mean / the same
 * at image level (lab/fusion.ts atImageLevel) / pretrained / hand-made`. For choosing settings by measurement (docs/model.md); not used by Loupe itself.
 *
 *   npx tsx scripts/fusion-sweep.ts --data DIR [--config JSON ...]
 *
 * A config: { "train": 48, "taps": ["s4a","s4","s8"], "stride": 8, "handStride": 4, "rings": 3,
 *             "tail": 0.99, "calibrate": 200, "dims": 64, "bankSize": 4096, "handBank": 4096, "visible": 1 }
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
import { atImageLevel, fitFused, fusedGraph } from '../lab/fusion.ts';
import { bankGraph } from '../lab/statistics.ts';

interface Config {
  train?: number;
  taps?: (keyof typeof TAPS)[];
  stride?: number;
  handStride?: number;
  rings?: number;
  tail?: number;
  calibrate?: number;
  dims?: number;
  bankSize?: number;
  handBank?: number;
  visible?: number;
  /** image-level units: the good parts' image scores' median at 0 and this quantile at 1 (default 0.9) */
  quantile?: number;
  /** false: the hand-made branch without the brightness level (lab/fusion.ts withoutLevel) */
  handLevel?: boolean;
}

const MODELS = ['max', 'mean', 'imax', 'imean', 'pre', 'hand', 'plain'] as const;
/** per defect and against visible marks: the fused models and each branch alone */
const SHOWN = 6;

export async function sweep(data: string, config: Config): Promise<Record<string, number | string>> {
  const size = 256;
  const input = bytesInput(size);
  const shape = { width: size, height: size };
  const files = (await trainImages(data)).slice(0, config.train ?? 48);
  const pixels: Uint8Array[] = [];
  for (const f of files) pixels.push(await framePixels(await readImage(f), input));
  const extractor = pretrained({
    stride: config.stride ?? 8,
    taps: (config.taps ?? ['s4a', 's4', 's8']).map((t) => TAPS[t]),
  });
  const started = performance.now();
  const branches = await fitFused(shape, () => pixels, {
    pretrained: { extractor, bank: { dims: config.dims ?? 64, bankSize: config.bankSize ?? 4096, candidates: 60_000 } },
    handmade: {
      stride: config.handStride ?? 4,
      bank: { bankSize: config.handBank ?? 4096, candidates: 60_000 },
      level: config.handLevel,
    },
    normalise: { rings: config.rings ?? 3, parts: config.calibrate ?? 200, tail: config.tail ?? 0.99 },
  });
  const fitSeconds = (performance.now() - started) / 1000;
  const [pre, hand] = branches;
  const graphs = {
    max: fusedGraph(shape, branches, 'max'),
    mean: fusedGraph(shape, branches, 'mean'),
    imax: fusedGraph(shape, atImageLevel(branches, config.quantile), 'max'),
    imean: fusedGraph(shape, atImageLevel(branches, config.quantile), 'mean'),
    pre: bankGraph(pre.extractor, shape, pre.fitted),
    hand: bankGraph(hand.extractor, shape, hand.fitted),
    plain: bankGraph(pre.extractor, shape, { ...pre.fitted, bank: { ...pre.fitted.bank!, normalise: undefined } }),
  };
  const sessions = await Promise.all(MODELS.map((m) => ort.InferenceSession.create(graphs[m])));
  const good: number[][] = MODELS.map(() => []);
  const bad = new Map<string, number[][]>();
  const visibility = await readFile(path.join(data, 'visibility.json'), 'utf8')
    .then((text) => JSON.parse(text) as Record<string, { cnr: number }>)
    .catch(() => null);
  const seen: number[][] = MODELS.map(() => []);
  for (const sample of await testSamples(data)) {
    const p = await framePixels(await readImage(sample.file), input);
    const scores: number[] = [];
    for (const s of sessions)
      scores.push((await s.run({ image: new ort.Tensor('uint8', p, [1, size, size, 3]) })).score.data[0] as number);
    const target =
      sample.defect === null
        ? good
        : (bad.get(sample.defect) ??
          bad
            .set(
              sample.defect,
              MODELS.map(() => []),
            )
            .get(sample.defect)!);
    scores.forEach((s, i) => target[i].push(s));
    const cnr = sample.defect ? visibility?.[`${sample.defect}/${path.basename(sample.file)}`]?.cnr : undefined;
    if (cnr !== undefined && cnr >= (config.visible ?? 1)) scores.forEach((s, i) => seen[i].push(s));
  }
  for (const s of sessions) await s.release();
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const result: Record<string, number | string> = {
    data: data.split(path.sep).slice(-2).join('/'),
    banks: `${pre.fitted.bank!.size}/${hand.fitted.bank!.size}`,
    fitS: r(fitSeconds),
  };
  MODELS.forEach(
    (m, i) =>
      (result[m] = r(
        auroc(
          good[i],
          [...bad.values()].flatMap((b) => b[i]),
        ),
      )),
  );
  if (visibility && seen[0].length > 0) {
    result.visible = MODELS.slice(0, SHOWN)
      .map((_, i) => r(auroc(good[i], seen[i])))
      .join('/');
    result.visibleN = seen[0].length;
  }
  for (const [defect, b] of bad)
    result[defect] = b
      .slice(0, SHOWN)
      .map((scores, i) => r(auroc(good[i], scores)))
      .join('/');
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
