/**
 * Is a frame fit to be scored? A model only knows parts that look like the good parts it was fitted
 * on: a frame out of focus, too dark, burnt out or with the part somewhere else would get a score
 * that means nothing (a blurred defect can score as good). So the fit learns, from the good parts,
 * the range of a few cheap measures — focus (variance of the Laplacian), exposure (mean, clipped
 * share) and framing (where the part's mass sits) — and a frame outside them is a review with
 * reason `image_quality`, naming the measure that failed, never a guess. A run of such frames is a
 * line problem (a lens knocked, a lamp failing), raised as an alert on the station's status.
 *
 * The measures are taken where the frame is already decoded: in the inspection worker, on the pixels
 * the model itself gets (its size, fit and channels, in grey), before the model runs, so no frame is
 * decoded twice and the event loop does no per-pixel work; an unfit frame is refused there and never
 * scored. The fit measures its good images the same way (ranges version 2). Ranges of version 1 were
 * measured on the whole frame shrunk to `workSize`: models fitted before keep them, and their worker
 * measures that way still, with a decode of its own.
 */
import sharp from 'sharp';
import { Type, type Static } from '@sinclair/typebox';
import { InspectionError } from '../reasons.ts';
import type { Manifest } from './manifest.ts';
import { framePixels } from './preprocess.ts';

/** The measures, in grey: on the model's input (version 2), or on the frame shrunk to `workSize` (version 1). */
export interface QualityMeasures {
  /** variance of the 4-neighbour Laplacian over the variance of the grey levels: falls when the image blurs */
  focus: number;
  /** mean grey level, 0..255 */
  mean: number;
  /** share of pixels at the ends of the scale (≤ 2 or ≥ 253) */
  clipped: number;
  /** centre of the foreground (pixels far from the border's level), 0..1 of width and height */
  centerX: number;
  centerY: number;
}

export const QUALITY_MEASURES = ['focus', 'mean', 'clipped', 'centerX', 'centerY'] as const;
export type QualityMeasure = (typeof QUALITY_MEASURES)[number];

const Range = Type.Object(
  {
    min: Type.Union([Type.Number(), Type.Null()], { description: 'lowest accepted value; null: no lower bound' }),
    max: Type.Union([Type.Number(), Type.Null()], { description: 'highest accepted value; null: no upper bound' }),
  },
  { additionalProperties: false },
);

/** The manifest's optional `quality` section: what a frame fit to be scored measures. */
export const QualityRangesSchema = Type.Object(
  {
    version: Type.Union([Type.Literal(1), Type.Literal(2)], {
      description:
        "2: measured on the model's input pixels (its size, fit and channels, in grey); 1: on the whole frame shrunk to workSize",
    }),
    workSize: Type.Integer({
      minimum: 32,
      description: "long side, in pixels, the frame is measured at (version 2: the model input's long side)",
    }),
    fittedOn: Type.Integer({ minimum: 1, description: 'good images the ranges were learnt from' }),
    ranges: Type.Object(
      { focus: Range, mean: Range, clipped: Range, centerX: Range, centerY: Range },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description:
      'ranges of focus, exposure and framing of the good parts; frames outside go to review with reason image_quality',
  },
);
export type QualityRanges = Static<typeof QualityRangesSchema>;

const WORK_SIZE = 256;

/** Measures one encoded frame. Throws what sharp throws when the bytes are not an image. */
export async function measureQuality(image: Buffer, workSize = WORK_SIZE): Promise<QualityMeasures> {
  const { data, info } = await sharp(image, { failOn: 'truncated' })
    .resize(workSize, workSize, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#000' })
    .grayscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return measurePixels(data, info.width, info.height);
}

/**
 * The measures of the model's input pixels (interleaved, `channels` bytes a pixel, row-major): what
 * the worker measures before the model runs, and the fit on its good images (version 2).
 */
export function measureInput(px: Uint8Array, width: number, height: number, channels: number): QualityMeasures {
  if (channels === 1) return measurePixels(px, width, height);
  const grey = new Uint8Array(width * height);
  // Rec. 601 luma in fixed point: the same on both sides, which is all the ranges need.
  for (let i = 0, j = 0; i < grey.length; i++, j += channels)
    grey[i] = (77 * px[j] + 150 * px[j + 1] + 29 * px[j + 2] + 128) >> 8;
  return measurePixels(grey, width, height);
}

/** Decodes a frame as the model does and measures it (the fit's side of `measureInput`). */
export async function measureFrame(image: Buffer, input: Manifest['input']): Promise<QualityMeasures> {
  return measureInput(await framePixels(image, input), input.width, input.height, input.channels);
}

/** The measures of grey pixels (one byte each, row-major). */
export function measurePixels(px: Uint8Array, width: number, height: number): QualityMeasures {
  const n = width * height;
  let sum = 0;
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const v = px[i];
    sum += v;
    if (v <= 2 || v >= 253) clipped++;
  }
  // Laplacian variance over the interior
  let lapSum = 0;
  let lapSq = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const lap = px[i - 1] + px[i + 1] + px[i - width] + px[i + width] - 4 * px[i];
      lapSum += lap;
      lapSq += lap * lap;
      count++;
    }
  }
  const lapMean = count > 0 ? lapSum / count : 0;
  // Divided by the image's own variance, so that light (which scales both) does not read as focus.
  const mean = sum / Math.max(1, n);
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (px[i] - mean) ** 2;
  const focus = count > 0 ? (lapSq / count - lapMean * lapMean) / Math.max(1, sq / n) : 0;
  // The background is the level of the border; the foreground's weight is how far a pixel is from it.
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(px[x], px[(height - 1) * width + x]);
  for (let y = 0; y < height; y++) border.push(px[y * width], px[y * width + width - 1]);
  border.sort((a, b) => a - b);
  const background = border[Math.floor(border.length / 2)] ?? 0;
  let weight = 0;
  let wx = 0;
  let wy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = Math.abs(px[y * width + x] - background);
      if (d < 16) continue; // noise and shading of the background
      weight += d;
      wx += d * x;
      wy += d * y;
    }
  }
  const centerX = weight > 0 ? (wx / weight + 0.5) / width : 0.5;
  const centerY = weight > 0 ? (wy / weight + 0.5) / height : 0.5;
  return { focus, mean, clipped: clipped / Math.max(1, n), centerX, centerY };
}

/**
 * Ranges from the measures of good parts: each measure may wander a margin beyond what the good
 * parts showed (a share of their spread, with a floor, so a very uniform fitting set does not make
 * every new frame an outlier). Focus has no upper bound (sharper is not a fault); its lower bound is
 * a ratio of the weakest good part.
 */
export function fitQualityRanges(
  measures: QualityMeasures[],
  workSize = WORK_SIZE,
  version: QualityRanges['version'] = 1,
): QualityRanges {
  if (measures.length === 0) throw new Error('quality ranges need at least one good image');
  const of = (key: QualityMeasure) => measures.map((m) => m[key]);
  const spread = (values: number[]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  };
  const around = (values: number[], floor: number, lowest = -Infinity, highest = Infinity) => {
    const margin = Math.max(3 * spread(values), floor);
    return {
      min: round(Math.max(lowest, Math.min(...values) - margin)),
      max: round(Math.min(highest, Math.max(...values) + margin)),
    };
  };
  // Framing is only learnt for an object on a background: on a texture (no object) the centre of what
  // differs from the border wanders with every scratch, and would send defects to image_quality.
  const wander = Math.max(
    Math.max(...of('centerX')) - Math.min(...of('centerX')),
    Math.max(...of('centerY')) - Math.min(...of('centerY')),
  );
  const framed = wander <= 0.15;
  const unbounded = { min: null, max: null };
  return {
    version,
    workSize,
    fittedOn: measures.length,
    ranges: {
      focus: { min: round(Math.min(...of('focus')) * 0.5), max: null },
      mean: around(of('mean'), 12, 0, 255),
      clipped: {
        min: null,
        max: round(Math.min(1, Math.max(...of('clipped')) + Math.max(3 * spread(of('clipped')), 0.02))),
      },
      centerX: framed ? around(of('centerX'), 0.04, 0, 1) : unbounded,
      centerY: framed ? around(of('centerY'), 0.04, 0, 1) : unbounded,
    },
  };
}

/** Learns the ranges from encoded good images, measured on the model's input. */
export async function fitQuality(images: Buffer[], input: Manifest['input']): Promise<QualityRanges> {
  const pixels: Uint8Array[] = [];
  for (const image of images) pixels.push(await framePixels(image, input));
  return fitQualityOnInput(pixels, input);
}

/** Learns the ranges from good images already decoded as the model's input (the hook `loupe fit` calls). */
export function fitQualityOnInput(pixels: Uint8Array[], input: Manifest['input']): QualityRanges {
  const measures = pixels.map((px) => measureInput(px, input.width, input.height, input.channels));
  return fitQualityRanges(measures, Math.max(input.width, input.height), 2);
}

export interface QualityFailure {
  measure: QualityMeasure;
  value: number;
  min: number | null;
  max: number | null;
}

/** The measures outside their ranges; empty when the frame is fit to be scored. */
export function outOfRange(measures: QualityMeasures, ranges: QualityRanges): QualityFailure[] {
  const failures: QualityFailure[] = [];
  for (const measure of QUALITY_MEASURES) {
    const { min, max } = ranges.ranges[measure];
    const value = measures[measure];
    if ((min !== null && value < min) || (max !== null && value > max)) failures.push({ measure, value, min, max });
  }
  return failures;
}

const EXPLAIN: Record<QualityMeasure, [low: string, high: string]> = {
  focus: ['out of focus', 'sharper than any good part'],
  mean: ['too dark', 'too bright'],
  clipped: ['too few clipped pixels', 'over- or under-exposed (clipped pixels)'],
  centerX: ['part too far left', 'part too far right'],
  centerY: ['part too high', 'part too low'],
};

export function describeFailures(failures: QualityFailure[]): string {
  return failures
    .map((f) => {
      const low = f.min !== null && f.value < f.min;
      const bound = low ? `below ${f.min}` : `above ${f.max}`;
      return `${f.measure} ${round(f.value)} ${bound} (${EXPLAIN[f.measure][low ? 0 : 1]})`;
    })
    .join('; ');
}

export interface QualityAlert {
  /** frames in a row outside the ranges */
  run: number;
  /** true once the run reached the alert length, until a frame fit to be scored arrives */
  alert: boolean;
  /** the measures that failed on the last unfit frame */
  failed: QualityMeasure[];
}

/** A frame refused as not fit to be scored: reason `image_quality`, naming the measures that failed. */
export class QualityRefusal extends InspectionError {
  constructor(
    readonly failed: QualityMeasure[],
    message: string,
  ) {
    super('image_quality', message);
  }
}

/** Throws a QualityRefusal when a measure is outside its range. */
export function refuseUnfit(measures: QualityMeasures, ranges: QualityRanges): void {
  const failures = outOfRange(measures, ranges);
  if (failures.length > 0)
    throw new QualityRefusal(
      failures.map((f) => f.measure),
      `frame not fit to be scored: ${describeFailures(failures)}`,
    );
}

/**
 * The station's quality gate: counts the frames in a row its model's worker refused as not fit to
 * be scored. `onChange` is called when the alert rises or falls.
 */
export class QualityGate {
  private run = 0;
  private failed: QualityMeasure[] = [];

  constructor(
    private readonly alertAfter: number,
    private readonly onChange: (alert: QualityAlert) => void = () => undefined,
  ) {}

  /**
   * Follows an inspection asked to check quality against `ranges` (the model's): a QualityRefusal
   * extends the run of unfit frames, a scored frame ends it; other failures (the bytes are not an
   * image, the model failed) leave it as it is. Answers or throws what the inspection does.
   */
  async watch<T>(ranges: QualityRanges | undefined, inspection: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await inspection;
    } catch (error) {
      if (error instanceof QualityRefusal) this.record(error.failed);
      throw error;
    }
    if (ranges) this.record([]);
    return result;
  }

  private record(failed: QualityMeasure[]): void {
    const wasAlert = this.alert.alert;
    if (failed.length === 0) {
      this.run = 0;
      this.failed = [];
      if (wasAlert) this.onChange(this.alert);
      return;
    }
    this.run += 1;
    this.failed = failed;
    if (!wasAlert && this.alert.alert) this.onChange(this.alert);
  }

  get alert(): QualityAlert {
    return { run: this.run, alert: this.run >= this.alertAfter, failed: this.failed };
  }
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
