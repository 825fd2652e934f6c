/**
 * Evaluation on an MVTec-layout test set: image AUROC, pixel AUROC, AUROC per defect type, the
 * line's operating point (share of good parts that auto-pass at the highest threshold that still
 * catches every defective one), and inference time.
 */
import sharp from 'sharp';
import { loadModel } from '../edge/src/vision/model.ts';
import { readImage, testSamples } from './dataset.ts';

export interface Evaluation {
  imageAuroc: number;
  pixelAuroc: number | null;
  /** why the pixel score is left out, or over which images when some defective ones have no mask */
  pixelNote?: string;
  /** what the model's proposed thresholds (its manifest) do to the test set */
  atThresholds: {
    thresholds: { passBelow: number; rejectAbove: number };
    pass: number;
    review: number;
    reject: number;
    defectsPassed: number;
    goodRejected: number;
  };
  perDefect: Record<string, number>;
  autoPassAtZeroEscape: number;
  inferenceMsPerImage: number;
  decodeMsPerImage: number;
  images: number;
}

export async function evaluate(modelDir: string, categoryDir: string): Promise<Evaluation> {
  const model = await loadModel(modelDir);
  const samples = await testSamples(categoryDir);
  // The pixel score needs the truth of every pixel it counts: good images (no defect anywhere) and
  // defective images with a mask. A defective image without one (an exported reject nobody marked) is
  // left out of it, not counted as defect-free; with no mask at all, the pixel score is left out, not guessed.
  const defective = samples.filter((sample) => sample.defect !== null).length;
  const withMask = samples.filter((sample) => sample.mask !== null).length;
  const masked = withMask > 0;
  const scores: { score: number; defect: string | null }[] = [];
  const pixels = new PixelRoc();
  let inferMs = 0;
  let decodeMs = 0;
  for (const sample of samples) {
    const inspection = await model.inspect(await readImage(sample.file));
    inferMs += inspection.inferMs;
    decodeMs += inspection.decodeMs;
    scores.push({ score: inspection.score, defect: sample.defect });
    if (masked && inspection.mapWidth > 1 && (sample.defect === null || sample.mask !== null)) {
      const truth = sample.mask
        ? await sharp(await readImage(sample.mask))
            .greyscale()
            .resize(inspection.mapWidth, inspection.mapHeight, { fit: 'fill', kernel: 'nearest' })
            .raw()
            .toBuffer()
        : null;
      pixels.add(inspection.map, truth);
    }
  }
  const thresholds = model.manifest.thresholds;
  await model.close();
  const good = scores.filter((s) => s.defect === null).map((s) => s.score);
  const bad = scores.filter((s) => s.defect !== null).map((s) => s.score);
  if (good.length === 0 || bad.length === 0)
    throw new Error(`${categoryDir}: the test set needs good and defective images`);
  const perDefect: Record<string, number> = {};
  for (const defect of new Set(scores.map((s) => s.defect).filter((d): d is string => d !== null))) {
    perDefect[defect] = auroc(
      good,
      scores.filter((s) => s.defect === defect).map((s) => s.score),
    );
  }
  // Every defective part must stay at or above pass_below: the best pass_below is the lowest defect score.
  const lowestDefect = Math.min(...bad);
  const verdictOf = (score: number) =>
    score < thresholds.passBelow ? 'pass' : score >= thresholds.rejectAbove ? 'reject' : 'review';
  const count = (verdict: string, defect?: boolean) =>
    scores.filter((s) => verdictOf(s.score) === verdict && (defect === undefined || (s.defect !== null) === defect))
      .length;
  return {
    imageAuroc: auroc(good, bad),
    pixelAuroc: masked ? pixels.auroc() : null,
    ...(!masked
      ? { pixelNote: 'no ground_truth masks for the defective images: pixel AUROC left out, image scores only' }
      : withMask < defective
        ? {
            pixelNote: `pixel AUROC over the ${withMask} of ${defective} defective images that have a ground_truth mask, and the good ones`,
          }
        : {}),
    atThresholds: {
      thresholds: { passBelow: thresholds.passBelow, rejectAbove: thresholds.rejectAbove },
      pass: count('pass'),
      review: count('review'),
      reject: count('reject'),
      defectsPassed: count('pass', true),
      goodRejected: count('reject', false),
    },
    perDefect,
    autoPassAtZeroEscape: good.filter((s) => s < lowestDefect).length / good.length,
    inferenceMsPerImage: inferMs / samples.length,
    decodeMsPerImage: decodeMs / samples.length,
    images: samples.length,
  };
}

/** Area under the ROC curve: the chance a random defective part scores above a random good one (ties count half). */
export function auroc(negatives: number[], positives: number[]): number {
  const all = [...negatives.map((s) => ({ s, p: 0 })), ...positives.map((s) => ({ s, p: 1 }))].sort(
    (a, b) => a.s - b.s,
  );
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const rank = (i + j + 1) / 2; // average rank of the tie group, 1-based
    for (let k = i; k < j; k++) if (all[k].p === 1) rankSum += rank;
    i = j;
  }
  const np = positives.length;
  const nn = negatives.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

/**
 * Pixel AUROC over every pixel of every test image, from histograms: exact enough with 16384 bins,
 * and it needs no memory per pixel. The bins are spaced logarithmically above the lowest value: a
 * few pixels far out (a coloured stain on a grey texture) must not squeeze all the others into the
 * first bin.
 */
class PixelRoc {
  private readonly bins = 16_384;
  private values: { map: Float32Array; truth: Buffer | null }[] = [];

  add(map: Float32Array, truth: Buffer | null): void {
    this.values.push({ map, truth });
  }

  auroc(): number | null {
    if (this.values.length === 0) return null;
    let lo = Infinity;
    let hi = -Infinity;
    for (const { map } of this.values) {
      for (const v of map) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const scale = this.bins / (Math.log1p(hi - lo) || 1);
    const pos = new Float64Array(this.bins);
    const neg = new Float64Array(this.bins);
    for (const { map, truth } of this.values) {
      for (let i = 0; i < map.length; i++) {
        const bin = Math.min(this.bins - 1, Math.floor(Math.log1p(map[i] - lo) * scale));
        if (truth && truth[i] > 127) pos[bin]++;
        else neg[bin]++;
      }
    }
    let totalPos = 0;
    let totalNeg = 0;
    for (let b = 0; b < this.bins; b++) {
      totalPos += pos[b];
      totalNeg += neg[b];
    }
    if (totalPos === 0) return null;
    let below = 0;
    let area = 0;
    for (let b = 0; b < this.bins; b++) {
      area += pos[b] * (below + neg[b] / 2);
      below += neg[b];
    }
    return area / (totalPos * totalNeg);
  }
}
