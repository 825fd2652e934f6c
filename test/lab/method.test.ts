import { describe, expect, it } from 'vitest';
import { ALIGNED_ABOVE, chooseMethod, positionalShare, type PositionStats } from '../../lab/method.ts';
import { chooseOnProbes, DEARER, INFERENCE_COST, MARGIN } from '../../lab/probes.ts';
import { rng } from '../../lab/synth.ts';

/** Per-position statistics of `parts` images whose features are `layout(x, y)` plus noise of spread 1. */
function statsOf(layout: (x: number, y: number) => number, parts: number): PositionStats {
  const gridWidth = 16;
  const gridHeight = 16;
  const features = 2;
  const positions = gridWidth * gridHeight;
  const mean = new Float32Array(features * positions);
  const variance = new Float32Array(features * positions).fill(1);
  const random = rng(9);
  for (let c = 0; c < features; c++) {
    for (let p = 0; p < positions; p++) {
      // the average of `parts` noisy samples wanders by about 1/sqrt(parts)
      let sum = 0;
      for (let k = 0; k < parts; k++) sum += random() * Math.sqrt(12) - Math.sqrt(3);
      mean[c * positions + p] = layout(p % gridWidth, Math.floor(p / gridWidth)) + sum / parts;
    }
  }
  return { mean, variance, features, gridWidth, gridHeight };
}

describe('choosing the method from good parts alone', () => {
  it('calls a part whose features stay at their place aligned', () => {
    const plate = statsOf((x, y) => (x > 5 && x < 10 && y > 5 ? 6 : 0), 40);
    expect(positionalShare(plate)).toBeGreaterThan(0.8);
    expect(chooseMethod(plate).method).toBe('aligned');
  });

  it('calls a surface that looks alike everywhere a texture, even from few parts', () => {
    for (const parts of [8, 40, 160]) {
      const surface = statsOf(() => 3, parts);
      const { method, positionalShare: share } = chooseMethod(surface);
      expect(method, `${parts} parts`).toBe('texture');
      // the per-position averages differ by chance alone: about 1/(parts + 1) of the spread
      expect(share).toBeLessThan(3 / parts);
    }
    expect(ALIGNED_ABOVE).toBeGreaterThan(3 / 8);
  });

  it('ignores the border, where padding alone makes positions differ', () => {
    const framed = statsOf((x, y) => (x < 2 || y < 2 || x > 13 || y > 13 ? 50 : 3), 40);
    expect(chooseMethod(framed).method).toBe('texture');
  });
});

describe('choosing among methods on the probes', () => {
  const figures = (auroc: number, autoPass: number) => ({ auroc, autoPass });

  it('keeps the hand-made Gaussians when a ten-times dearer method is better only within the margin', () => {
    const probes = {
      aligned: figures(0.995, 0.8),
      'pretrained-aligned': figures(1, 0.85),
      pretrained: figures(0.99, 0.2),
    };
    const chosen = chooseOnProbes(probes);
    expect(chosen.method).toBe('aligned');
    expect(chosen.passedOver).toEqual(['pretrained-aligned']);
    expect(INFERENCE_COST['pretrained-aligned'] / INFERENCE_COST.aligned).toBeGreaterThanOrEqual(DEARER);
  });

  it('takes a dearer method that wins by the margin in AUROC, or in auto-pass at no loss of AUROC', () => {
    expect(
      chooseOnProbes({ aligned: figures(0.98, 0.9), 'pretrained-aligned': figures(0.98 + MARGIN.auroc, 0.5) }).method,
    ).toBe('pretrained-aligned');
    expect(
      chooseOnProbes({ aligned: figures(0.99, 0.5), 'pretrained-aligned': figures(0.99, 0.5 + MARGIN.autoPass) })
        .method,
    ).toBe('pretrained-aligned');
    // more auto-pass bought with a lower AUROC is not a win
    expect(chooseOnProbes({ aligned: figures(0.99, 0.5), 'pretrained-aligned': figures(0.985, 0.9) }).method).toBe(
      'aligned',
    );
  });

  it('chooses between methods of like cost by AUROC, then auto-pass, the cheaper on a tie', () => {
    const both = (a: [number, number], b: [number, number]) =>
      chooseOnProbes({ 'pretrained-aligned': figures(...a), pretrained: figures(...b) }).method;
    expect(both([0.99, 0.5], [0.991, 0.1])).toBe('pretrained');
    expect(both([0.99, 0.5], [0.99, 0.6])).toBe('pretrained');
    expect(both([0.99, 0.5], [0.99, 0.5])).toBe('pretrained-aligned');
  });

  it('takes the memory bank for a texture the Gaussians cannot describe, and not for one they can', () => {
    expect(chooseOnProbes({ aligned: figures(0.55, 0), texture: figures(1, 0.9) }).method).toBe('texture');
    expect(chooseOnProbes({ aligned: figures(1, 1), texture: figures(1, 1) }).method).toBe('aligned');
  });
});
