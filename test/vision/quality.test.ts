import { beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { generatePart } from '../../lab/synth.ts';
import {
  fitQuality,
  measureFrame,
  outOfRange,
  QualityGate,
  refuseUnfit,
  type QualityRanges,
} from '../../edge/src/vision/quality.ts';
import type { Manifest } from '../../edge/src/vision/manifest.ts';
import { checkManifest } from '../../edge/src/vision/manifest.ts';
import { InspectionError } from '../../edge/src/reasons.ts';

// Good parts of the synthetic bracket: 30 to learn from, 12 others to check against.
const good = async (index: number) => (await generatePart({ category: 'bracket', seed: 5, index, defect: null })).image;

let ranges: QualityRanges;
let heldOut: Buffer[];

beforeAll(async () => {
  const fitting = await Promise.all(Array.from({ length: 30 }, (_, i) => good(i)));
  heldOut = await Promise.all(Array.from({ length: 12 }, (_, i) => good(100 + i)));
  ranges = await fitQuality(fitting, input);
});

// The default model's input: what the worker decodes each frame to, and measures.
const input: Manifest['input'] = {
  name: 'image',
  width: 256,
  height: 256,
  channels: 3,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  resize: 'fill',
  format: 'uint8-nhwc',
};

const failedOn = async (image: Buffer) => outOfRange(await measureFrame(image, input), ranges).map((f) => f.measure);

/** What the worker does with a frame before its model runs: throws a QualityRefusal when unfit. */
const workerCheck = async (image: Buffer) => refuseUnfit(await measureFrame(image, input), ranges);

describe('a frame fit to be scored', () => {
  it('lets good frames of good parts through', async () => {
    for (const image of heldOut) expect(await failedOn(image)).toEqual([]);
  });

  it('catches a blurred frame on focus', async () => {
    for (const image of heldOut.slice(0, 4))
      expect(await failedOn(await sharp(image).blur(2.5).png().toBuffer())).toContain('focus');
  });

  it('catches a dark frame on exposure', async () => {
    for (const image of heldOut.slice(0, 4))
      expect(await failedOn(await sharp(image).linear(0.35, 0).png().toBuffer())).toContain('mean');
  });

  it('catches an over-exposed frame on exposure', async () => {
    for (const image of heldOut.slice(0, 4)) {
      const failed = await failedOn(await sharp(image).linear(2.2, 60).png().toBuffer());
      expect(failed.some((m) => m === 'mean' || m === 'clipped')).toBe(true);
    }
  });

  it('catches a part shifted in the frame on framing', async () => {
    for (const image of heldOut.slice(0, 4)) {
      // the part moved 30 px right and 20 px down: the frame is cut on the left/top and padded with background
      const padded = await sharp(image).extend({ left: 30, top: 20, background: '#2b2d31' }).png().toBuffer();
      const shifted = await sharp(padded).extract({ left: 0, top: 0, width: 256, height: 256 }).png().toBuffer();
      const failed = await failedOn(shifted);
      expect(failed).toContain('centerX');
      expect(failed).toContain('centerY');
    }
  });

  it('sends an unfit frame to review with image_quality and raises an alert after a run', async () => {
    const changes: boolean[] = [];
    const gate = new QualityGate(3, (alert) => changes.push(alert.alert));
    const dark = await sharp(heldOut[0]).linear(0.35, 0).png().toBuffer();
    for (let i = 0; i < 3; i++) {
      const error = await gate.watch(ranges, workerCheck(dark)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InspectionError);
      expect((error as InspectionError).code).toBe('image_quality');
      expect((error as InspectionError).message).toMatch(/mean .* \(too dark\)/);
    }
    expect(gate.alert).toEqual({ run: 3, alert: true, failed: ['mean'] });
    await gate.watch(ranges, workerCheck(heldOut[1]));
    expect(gate.alert.alert).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it("fits its ranges on the pixels the model gets, and says so (version 2, the input's long side)", () => {
    expect(ranges).toMatchObject({ version: 2, workSize: 256, fittedOn: 30 });
  });

  it('keeps loading a manifest without quality ranges, and loads one with them', () => {
    const base = {
      id: 'm',
      version: '1',
      kind: 'loupe-padim',
      input: { name: 'image', width: 8, height: 8, channels: 1, mean: [0], std: [1], resize: 'fill' },
      outputs: { score: 's', map: 'm' },
      thresholds: { passBelow: 1, rejectAbove: 2 },
    };
    expect(checkManifest(base).quality).toBeUndefined();
    expect(checkManifest({ ...base, quality: ranges }).quality).toEqual(ranges);
  });
});
