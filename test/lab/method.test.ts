import { describe, expect, it } from 'vitest';
import { ALIGNED_ABOVE, chooseMethod, positionalShare, type PositionStats } from '../../lab/method.ts';
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
