/**
 * What the pretrained extractor's options add to its features (lab/extractor.ts): the hand-made
 * filter bank stacked beside the tapped tensors with each block brought to the same weight, and a
 * contrast stretch before the backbone; and the model-free visibility of a painted mark
 * (lab/visibility.ts) that says whether a test set's marks can be seen at all.
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { TAPS } from '../../lab/backbone.ts';
import { featureGraph, handmade, pretrained } from '../../lab/extractor.ts';
import { fitReduction } from '../../lab/statistics.ts';
import { rng } from '../../lab/synth.ts';
import { markVisibility } from '../../lab/visibility.ts';

const size = 64;
const shape = { width: size, height: size };

/** a grey, textured frame (uint8 HWC): blobs of light and shade, contrast `gain` around grey 128 */
function frame(gain = 1, seed = 3): Uint8Array {
  const random = rng(seed);
  const waves = Array.from({ length: 6 }, () => [random() * 0.5, random() * 0.5, random() * 6]);
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const [fx, fy, phase] of waves) v += Math.sin(fx * x + fy * y + phase);
      const g = Math.round(128 + gain * 15 * v);
      pixels.fill(Math.max(0, Math.min(255, g)), (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return pixels;
}

async function features(graph: Uint8Array, pixels: Uint8Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(graph);
  const out = await session.run({ image: new ort.Tensor('uint8', pixels, [1, size, size, 3]) });
  await session.release();
  return out.raw_features.data as Float32Array;
}

describe('the pretrained extractor with the hand-made filter bank beside it', () => {
  it('stacks the filter bank after the tapped tensors, on the same grid, and gives each block the same total variance', async () => {
    const taps = [TAPS.s4a, TAPS.s4];
    const alone = pretrained({ taps, stride: 4 });
    const both = pretrained({ taps, stride: 4, handmade: 1 });
    expect(both.channels).toBe(alone.channels + handmade.channels);
    expect(both.blocks?.map((b) => b.channels)).toEqual([alone.channels, handmade.channels]);

    const pixels = frame();
    const stacked = await features(featureGraph(both, shape), pixels);
    const tapped = await features(featureGraph(alone, shape), pixels);
    const bank = await features(featureGraph(handmade, shape), pixels);
    expect(stacked.length).toBe(tapped.length + bank.length);
    const largestGap = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(largestGap(stacked.subarray(0, tapped.length), tapped)).toBeLessThan(1e-4);
    expect(largestGap(stacked.subarray(tapped.length), bank)).toBeLessThan(1e-4);

    // the reduction: each block's channels, scaled, carry the same total variance
    const positions = (size / 4) ** 2;
    const sample = Array.from({ length: positions }, (_, p) =>
      Float32Array.from({ length: both.channels }, (_, c) => stacked[c * positions + p]),
    );
    const reduction = fitReduction(sample, 32, rng(1), false, both.blocks);
    const blockVariance = (from: number, to: number) => {
      let total = 0;
      for (let c = from; c < to; c++) {
        let sum = 0;
        let sq = 0;
        for (const v of sample) {
          const x = (v[c] - reduction.mean[c]) * reduction.invStd[c];
          sum += x;
          sq += x * x;
        }
        total += sq / sample.length - (sum / sample.length) ** 2;
      }
      return total;
    };
    expect(blockVariance(0, alone.channels)).toBeCloseTo(1, 2);
    // the hand-made block: channels that never vary here get the standardisation floor, the rest one unit each
    expect(blockVariance(alone.channels, both.channels)).toBeLessThanOrEqual(1.0001);
    expect(blockVariance(alone.channels, both.channels)).toBeGreaterThan(0.3);
  }, 30_000);
});

describe('contrast stretching before the backbone', () => {
  it('gives a faint frame the features of the same frame at full contrast (global stretch)', async () => {
    const graph = featureGraph(pretrained({ taps: [TAPS.s4a], stride: 4, contrast: 'global' }), shape);
    const full = await features(graph, frame(1));
    const faint = await features(graph, frame(0.5));
    const plain = featureGraph(pretrained({ taps: [TAPS.s4a], stride: 4 }), shape);
    const gap = (a: Float32Array, b: Float32Array) => {
      let d = 0;
      let n = 0;
      for (let i = 0; i < a.length; i++) {
        d += (a[i] - b[i]) ** 2;
        n += a[i] ** 2;
      }
      return Math.sqrt(d / n);
    };
    const stretched = gap(full, faint);
    const unstretched = gap(await features(plain, frame(1)), await features(plain, frame(0.5)));
    expect(stretched).toBeLessThan(0.1);
    expect(stretched).toBeLessThan(unstretched / 3);
  }, 30_000);
});

describe('the visibility of a painted mark', () => {
  const grey = (pixels: Uint8Array) =>
    sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toBuffer();
  const square = (value: number) => {
    const mask = new Uint8Array(size * size * 3);
    for (let y = 24; y < 40; y++)
      for (let x = 24; x < 40; x++) mask.fill(value, (y * size + x) * 3, (y * size + x) * 3 + 3);
    return mask;
  };

  it('is the mark’s change of brightness over the texture’s own spread around it', async () => {
    const clean = frame();
    const mask = await grey(square(255));
    const darker = clean.map((v, i) => (square(1)[i] ? Math.max(0, v - 40) : v));
    const faint = clean.map((v, i) => (square(1)[i] ? Math.max(0, v - 3) : v));
    const strong = await markVisibility(await grey(clean), await grey(darker), mask);
    const weak = await markVisibility(await grey(clean), await grey(faint), mask);
    const none = await markVisibility(await grey(clean), await grey(clean), mask);
    expect(strong.area).toBe(16 * 16);
    expect(strong.cnr).toBeGreaterThan(1);
    expect(weak.cnr).toBeLessThan(0.5);
    expect(none.cnr).toBe(0);
    expect(strong.rms).toBeGreaterThanOrEqual(strong.cnr);
  });
});
