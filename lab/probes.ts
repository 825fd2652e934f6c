/**
 * How `loupe fit --method auto` compares its candidates: each is scored on the held-out good parts
 * and on the same parts with defects painted on, and the probe results decide. The probes see what
 * a camera delivers: every good part also after a JPEG round trip, and half of the painted ones,
 * because a model fitted on lossless images can find the compression itself anomalous, and a good
 * part sent to review is the cost people pay. They paint the synthetic painter's kinds (bright and
 * dark paint) and the subtler kinds of lab/other-defects.ts (a faint scratch, a dent, a flat patch,
 * a stain, a blur). A method much dearer to run than the current choice has to beat it by a margin,
 * not by probe noise: the hand-made Gaussians stay the fast path where they do as well.
 */
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import type { Manifest } from '../edge/src/vision/manifest.ts';
import { framePixels } from '../edge/src/vision/preprocess.ts';
import { readImage } from './dataset.ts';
import { auroc } from './evaluate.ts';
import { METHODS_BY_COST, type Method } from './method.ts';
import { OTHER_DEFECTS, OTHER_PAINTERS, paintOther } from './other-defects.ts';
import { paintOnto, rng } from './synth.ts';

/** The JPEG quality the probes and the thresholds assume a camera uses (docs/decisions.md). */
export const CAMERA_JPEG_QUALITY = 85;

/** An image as a camera compressing at CAMERA_JPEG_QUALITY would deliver it. */
export function cameraJpeg(image: Buffer): Promise<Buffer> {
  return sharp(image).jpeg({ quality: CAMERA_JPEG_QUALITY }).toBuffer();
}

/**
 * Inference cost relative to the hand-made Gaussians, as measured when the margin was set (the figures
 * are in docs/model.md, "`auto` and what a camera delivers").
 */
export const INFERENCE_COST: Record<Method, number> = {
  aligned: 1,
  texture: 10,
  'pretrained-aligned': 20,
  pretrained: 25,
  // both banks in one graph (lab/fusion.ts): about the pretrained bank and the hand-made one together
  fused: 35,
};

/** From this cost ratio up, a dearer method must beat the current choice by MARGIN. */
export const DEARER = 10;
export const MARGIN = { auroc: 0.01, autoPass: 0.1 };

interface ProbeFrame {
  pixels: Uint8Array;
  /** delivered as a camera JPEG */
  jpeg: boolean;
  /** null for a good part; otherwise the painter: the synthetic kinds, or the other ones */
  painter: null | 'synth' | 'other';
}

export interface Probe {
  heldOut: number;
  frames: ProbeFrame[];
}

const SYNTH_DEFECTS = ['scratch', 'spot', 'crack', 'contamination'];

export async function probeSet(files: string[], input: Manifest['input']): Promise<Probe> {
  const random = rng(20_251);
  const other = rng(20_252);
  const frames: ProbeFrame[] = [];
  const add = async (image: Buffer, painter: ProbeFrame['painter'], jpeg: boolean, grey: boolean) => {
    // On a grey product the painters' colours would give every defect away by its chroma alone:
    // the probe paints in grey there, so that methods are compared on what a grey defect shows.
    const seen = painter && grey ? await sharp(image).greyscale().png().toBuffer() : image;
    frames.push({ pixels: await framePixels(jpeg ? await cameraJpeg(seen) : seen, input), jpeg, painter });
  };
  for (const [i, file] of files.entries()) {
    const frame = await sharp(await readImage(file))
      .resize(input.width, input.height, { fit: input.resize })
      .png()
      .toBuffer();
    const pixels = await framePixels(frame, input);
    const grey = isGrey(pixels);
    frames.push({ pixels, jpeg: false, painter: null }); // the good part as stored: the pixels just decoded
    await add(frame, null, true, grey);
    for (let k = 0; k < 2; k++) {
      const { image } = await paintOnto(frame, SYNTH_DEFECTS[(2 * i + k) % SYNTH_DEFECTS.length], random);
      await add(image, 'synth', k === 1, grey);
    }
    const mark = OTHER_PAINTERS[OTHER_DEFECTS[i % OTHER_DEFECTS.length]](other);
    await add(await paintOther(frame, mark), 'other', i % 2 === 1, grey);
  }
  return { heldOut: files.length, frames };
}

/** Every pixel's channels within two grey levels of each other: a grey (or greyscale) camera image. */
function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3)
    if (Math.abs(rgb[i] - rgb[i + 1]) > 2 || Math.abs(rgb[i + 1] - rgb[i + 2]) > 2) return false;
  return true;
}

export interface ProbeFigures {
  auroc: number;
  /** share of good probes below the lowest painted one */
  autoPass: number;
}

/** What a candidate does on the whole probe set, and on the probes as they were before (for the record). */
export interface ProbeResult extends ProbeFigures {
  /** lossless good parts against the synthetic kinds delivered losslessly: the probes before JPEG and other kinds */
  lossless: ProbeFigures;
  /** the synthetic kinds only, JPEG deliveries included */
  synthKinds: ProbeFigures;
  msPerImage: number;
}

export async function runProbe(
  graph: Uint8Array,
  probe: Probe,
  shape: { width: number; height: number },
  threads = 0,
): Promise<ProbeResult> {
  const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: threads });
  const scores: number[] = [];
  const started = performance.now();
  for (const frame of probe.frames)
    scores.push(
      (await session.run({ image: new ort.Tensor('uint8', frame.pixels, [1, shape.height, shape.width, 3]) })).score
        .data[0] as number,
    );
  const msPerImage = (performance.now() - started) / probe.frames.length;
  await session.release();
  const figures = (keep: (frame: ProbeFrame) => boolean): ProbeFigures => {
    const good = scores.filter((_, i) => keep(probe.frames[i]) && !probe.frames[i].painter);
    const painted = scores.filter((_, i) => keep(probe.frames[i]) && probe.frames[i].painter);
    const lowest = Math.min(...painted);
    return { auroc: round(auroc(good, painted)), autoPass: round(good.filter((s) => s < lowest).length / good.length) };
  };
  return {
    ...figures(() => true),
    lossless: figures((f) => !f.jpeg && f.painter !== 'other'),
    synthKinds: figures((f) => f.painter !== 'other'),
    msPerImage: round(msPerImage),
  };
}

/** Whether `candidate` replaces `current`, which is cheaper or as cheap. */
export function beats(candidate: ProbeFigures, current: ProbeFigures, costRatio: number): boolean {
  if (costRatio < DEARER)
    return (
      candidate.auroc > current.auroc || (candidate.auroc === current.auroc && candidate.autoPass > current.autoPass)
    );
  return (
    candidate.auroc - current.auroc >= MARGIN.auroc - 1e-9 ||
    (candidate.auroc >= current.auroc && candidate.autoPass - current.autoPass >= MARGIN.autoPass - 1e-9)
  );
}

/**
 * The method to keep, cheapest first: a dearer one replaces the current choice when it is better on
 * the probes (image AUROC, then auto-pass), and by MARGIN when it costs DEARER times or more.
 */
export function chooseOnProbes(
  probes: Partial<Record<Method, ProbeFigures>>,
  key: (result: ProbeFigures) => ProbeFigures = (r) => r,
): { method: Method; passedOver: Method[] } {
  let chosen: Method | null = null;
  const passedOver: Method[] = [];
  for (const method of METHODS_BY_COST) {
    const result = probes[method];
    if (!result) continue;
    if (!chosen) {
      chosen = method;
      continue;
    }
    const ratio = INFERENCE_COST[method] / INFERENCE_COST[chosen];
    if (beats(key(result), key(probes[chosen]!), ratio)) chosen = method;
    else if (ratio >= DEARER && beats(key(result), key(probes[chosen]!), 1)) passedOver.push(method);
  }
  if (!chosen) throw new Error('no method was probed');
  return { method: chosen, passedOver: passedOver.filter((m) => m !== chosen) };
}

/** Why `method` was chosen, in a sentence for `fittedOn.choice.reason`. */
export function reasonFor(
  method: Method,
  passedOver: Method[],
  probes: Partial<Record<Method, ProbeFigures>>,
  probe: Probe,
): string {
  const good = probe.frames.filter((f) => !f.painter).length;
  const painted = probe.frames.length - good;
  const winner = probes[method]!;
  let reason =
    `${method}: image AUROC ${winner.auroc}, auto-pass ${winner.autoPass} at zero escapes on ${good} good probes ` +
    `(${probe.heldOut} held-out parts, each also as a JPEG at quality ${CAMERA_JPEG_QUALITY}) and ${painted} painted ones ` +
    `(synthetic and other defect kinds); the better on the probes wins, the cheaper on a tie`;
  for (const dearer of passedOver) {
    const result = probes[dearer]!;
    const ratio = INFERENCE_COST[dearer] / INFERENCE_COST[method];
    reason +=
      `; ${dearer} did better (AUROC ${result.auroc}, auto-pass ${result.autoPass}) but costs ~${ratio}× the inference ` +
      `and a method ${DEARER}× dearer must win by ${MARGIN.auroc} AUROC or ${MARGIN.autoPass} auto-pass`;
  }
  return reason;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
