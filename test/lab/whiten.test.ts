/**
 * The whitening reduction (lab/whiten.ts through `fitReduction`): what it promises is that good
 * patches come out with identity covariance (up to the shrinkage), so that every direction is
 * measured in units of its own spread, the low-variance ones included, and that fewer dimensions
 * keep that property (random) or the directions of most variance (variance).
 */
import { describe, expect, it } from 'vitest';
import { fitReduction, type Reduction } from '../../lab/statistics.ts';
import { rng } from '../../lab/synth.ts';
import { eigenvectorRows } from '../../lab/whiten.ts';

const C = 12;

function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** correlated patches: spreads from 100 down to 1 along a random rotation, around an offset mean */
function patches(n: number, seed = 5): { sample: Float32Array[]; spreads: number[]; axes: number[][] } {
  const random = rng(seed);
  const spreads = Array.from({ length: C }, (_, i) => 100 * 0.01 ** (i / (C - 1)));
  const axes: number[][] = [];
  for (let i = 0; i < C; i++) {
    const a = Array.from({ length: C }, () => gauss(random));
    for (const b of axes) {
      const dot = a.reduce((s, x, k) => s + x * b[k], 0);
      for (let k = 0; k < C; k++) a[k] -= dot * b[k];
    }
    const norm = Math.hypot(...a);
    axes.push(a.map((x) => x / norm));
  }
  const sample = Array.from({ length: n }, () => {
    const v = new Float32Array(C).map((_, c) => 3 * c);
    spreads.forEach((s, i) => {
      const z = s * gauss(random);
      for (let c = 0; c < C; c++) v[c] += z * axes[i][c];
    });
    return v;
  });
  return { sample, spreads, axes };
}

/** what the graph's 1×1 convolution computes: projection · ((x − mean) · invStd) */
function reduce(r: Reduction, x: Float32Array): Float64Array {
  const out = new Float64Array(r.dims);
  for (let d = 0; d < r.dims; d++)
    for (let c = 0; c < C; c++) out[d] += r.projection[d * C + c] * (x[c] - r.mean[c]) * r.invStd[c];
  return out;
}

function covarianceOf(rows: Float64Array[]): number[][] {
  const n = rows.length;
  const dims = rows[0].length;
  const mean = Array.from({ length: dims }, (_, d) => rows.reduce((s, r) => s + r[d], 0) / n);
  return Array.from({ length: dims }, (_, i) =>
    Array.from({ length: dims }, (_, j) => rows.reduce((s, r) => s + (r[i] - mean[i]) * (r[j] - mean[j]), 0) / n),
  );
}

function farthestFromIdentity(cov: number[][]): number {
  let worst = 0;
  cov.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - (i === j ? 1 : 0))))));
  return worst;
}

describe('whitening before the bank', () => {
  it('finds the eigenvalues and eigenvectors of a symmetric matrix, largest first', () => {
    const random = rng(2);
    const n = 9;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = random() - 0.5 + (i === j ? i : 0);
    const { values, vectors } = eigenvectorRows(a, n);
    for (let r = 0; r < n; r++) {
      if (r > 0) expect(values[r]).toBeLessThanOrEqual(values[r - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[r * n + k];
        expect(av).toBeCloseTo(values[r] * vectors[r * n + i], 9);
      }
    }
  });

  it('gives good patches identity covariance, their faintest direction as much weight as their strongest', () => {
    const { sample } = patches(6000);
    const whitened = fitReduction(sample, C, rng(1), false, undefined, { shrink: 1e-9 });
    expect(farthestFromIdentity(covarianceOf(sample.map((x) => reduce(whitened, x))))).toBeLessThan(1e-3);
    // centring alone leaves the spreads as they were: variances 10⁴ apart between directions
    const centred = fitReduction(sample, C, rng(1), false);
    const { values } = eigenvectorRows(
      Float64Array.from(covarianceOf(sample.map((x) => reduce(centred, x))).flat()),
      C,
    );
    expect(values[0] / values[C - 1]).toBeGreaterThan(1e3);
  });

  it('shrinks the faint directions by their share of the mean variance', () => {
    const { sample, spreads, axes } = patches(6000);
    const shrink = 0.1;
    const whitened = fitReduction(sample, C, rng(1), false, undefined, { shrink });
    const meanVariance = spreads.reduce((s, x) => s + x * x, 0) / C;
    // the variance along each true axis, after whitening: e / (e + λ·mean e)
    for (const [i, axis] of axes.entries()) {
      const map = reduce(
        whitened,
        Float32Array.from(axis, (a, c) => a + whitened.mean[c]),
      );
      const gain2 = map.reduce((s, x) => s + x * x, 0);
      const e = spreads[i] ** 2;
      expect(gain2 * e).toBeCloseTo(e / (e + shrink * meanVariance), 1);
    }
  });

  it('keeps identity covariance through a random projection to fewer dimensions', () => {
    const { sample } = patches(6000);
    const whitened = fitReduction(sample, 5, rng(1), false, undefined, { shrink: 1e-9, keep: 'random' });
    expect(whitened.dims).toBe(5);
    expect(farthestFromIdentity(covarianceOf(sample.map((x) => reduce(whitened, x))))).toBeLessThan(1e-3);
  });

  it('keeps the directions of most variance when asked to', () => {
    const { sample, axes } = patches(6000);
    const kept = fitReduction(sample, 3, rng(1), false, undefined, { shrink: 1e-9, keep: 'variance' });
    // a patch moved along the strongest axis moves the reduced features; along the faintest, not at all
    const along = (axis: number[]) =>
      Math.hypot(
        ...reduce(
          kept,
          Float32Array.from(axis, (a, c) => a + kept.mean[c]),
        ),
      );
    expect(along(axes[0])).toBeGreaterThan(1e-3);
    expect(along(axes[C - 1])).toBeLessThan(1e-3 * along(axes[0]));
  });
});
