/**
 * The projection learned from generic perturbations (lab/learned-projection.ts, lab/perturb.ts): the
 * generalised eigenproblem is solved right, each perturbation changes only its own region, and on
 * good parts and perturbations it was not fitted on, the learned directions tell a changed patch
 * from a good one better than the random projection does.
 */
import { describe, expect, it } from 'vitest';
import { TAPS } from '../../lab/backbone.ts';
import { extract, pretrained } from '../../lab/extractor.ts';
import { cholesky, learnedDirections, symmetricEigen } from '../../lab/learned-projection.ts';
import { perturb, PERTURBATIONS } from '../../lab/perturb.ts';
import { fitStatistics, type Reduction } from '../../lab/statistics.ts';
import { rng } from '../../lab/synth.ts';

/** a random symmetric n × n matrix, positive definite when `floor` > 0 */
function symmetric(n: number, random: () => number, floor: number): Float64Array {
  const g = Float64Array.from({ length: n * n }, () => random() - 0.5);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += g[i * n + k] * g[j * n + k];
      m[i * n + j] = s + (i === j ? floor : 0);
    }
  }
  return m;
}

describe('the generalised eigenproblem', () => {
  it('finds directions w with S_b w = μ (S_w + εI) w, the largest μ first, scaled to unit good variance', () => {
    const n = 12;
    const random = rng(5);
    const sw = symmetric(n, random, 0.1);
    const sb = symmetric(n, random, 0);
    const epsilon = 0.05;
    let trace = 0;
    for (let c = 0; c < n; c++) trace += sw[c * n + c];
    const b = Float64Array.from(sw, (v, i) => v + (i % (n + 1) === 0 ? (epsilon * trace) / n : 0));
    const { projection, gains } = learnedDirections(sw, sb, n, 4, epsilon, 'whiten');
    for (let d = 0; d < 4; d++) {
      const w = projection.subarray(d * n, (d + 1) * n);
      const times = (m: Float64Array) =>
        Array.from({ length: n }, (_, i) => w.reduce((s, x, j) => s + m[i * n + j] * x, 0));
      const sbw = times(sb);
      const bw = times(b);
      const residual = Math.hypot(...sbw.map((v, i) => v - gains[d] * bw[i])) / Math.hypot(...sbw);
      expect(residual).toBeLessThan(1e-4);
      expect(bw.reduce((s, v, i) => s + v * w[i], 0)).toBeCloseTo(1, 4);
      if (d > 0) expect(gains[d]).toBeLessThanOrEqual(gains[d - 1]);
    }
    // the symmetric solver alone: V Λ Vᵀ gives the matrix back
    const { values, vectors } = symmetricEigen(sb, n);
    let gap = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += vectors[i * n + k] * values[k] * vectors[j * n + k];
        gap = Math.max(gap, Math.abs(s - sb[i * n + j]));
      }
    }
    expect(gap).toBeLessThan(1e-9);
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/positive definite/);
  });
});

const size = 64;
const shape = { width: size, height: size };

/** a grey texture (uint8 HWC): random waves of light and shade around grey 128 */
function texture(seed: number): Uint8Array {
  const random = rng(seed);
  const waves = Array.from({ length: 8 }, () => [random() * 0.9 - 0.45, random() * 0.9 - 0.45, random() * 6]);
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const [fx, fy, phase] of waves) v += Math.sin(fx * x + fy * y + phase);
      v += (random() - 0.5) * 2;
      pixels.fill(Math.max(0, Math.min(255, Math.round(128 + 12 * v))), (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return pixels;
}

describe('generic perturbations', () => {
  it('change each frame only inside the region their mask marks', () => {
    const pixels = texture(1);
    const random = rng(2);
    for (const kind of PERTURBATIONS) {
      const { pixels: changed, mask } = perturb(pixels, size, size, kind, random, 4);
      let inside = 0;
      for (let i = 0; i < size * size; i++) {
        const moved = [0, 1, 2].some((c) => changed[i * 3 + c] !== pixels[i * 3 + c]);
        if (moved) expect(mask[i], kind).toBeGreaterThan(0);
        if (moved) inside++;
      }
      expect(inside, kind).toBeGreaterThan(4);
      expect(inside, kind).toBeLessThan((size * size) / 2);
    }
  });
});

describe('the learned projection', () => {
  it('separates perturbed patches from good ones better than the random projection, on parts and changes it was not fitted on', async () => {
    const extractor = pretrained({ taps: [TAPS.s4a, TAPS.s4], stride: 4, margin: 16 });
    const fitted = Array.from({ length: 8 }, (_, i) => texture(10 + i));
    const reduce = async (learn: boolean) =>
      (
        await fitStatistics(
          extractor,
          shape,
          () => fitted,
          { bank: false, gaussian: false },
          {
            dims: 8,
            learn: learn ? { copies: 5, epsilon: 0.01 } : null,
            threads: 1,
          },
        )
      ).reduction;
    const random = await reduce(false);
    const learned = await reduce(true);

    // held-out good parts, each with one new change of every kind
    const positions = (size / 4) ** 2;
    const C = extractor.channels;
    const frames: Uint8Array[] = [];
    const draw = rng(99);
    for (let i = 0; i < 4; i++) {
      const good = texture(100 + i);
      frames.push(good, ...PERTURBATIONS.map((kind) => perturb(good, size, size, kind, draw, 8).pixels));
    }
    const features: Float32Array[] = [];
    await extract(extractor, shape, frames, (f) => features.push(Float32Array.from(f)), 1);
    // how far the changes move patches, over how far good patches lie from their mean, in the projected space
    const separation = (r: Reduction) => {
      const project = (f: Float32Array, p: number, centred: boolean) =>
        Array.from({ length: r.dims }, (_, d) => {
          let s = 0;
          for (let c = 0; c < C; c++)
            s += r.projection[d * C + c] * r.invStd[c] * (f[c * positions + p] - (centred ? r.mean[c] : 0));
          return s;
        });
      let spread = 0;
      let moved = 0;
      let changedPatches = 0;
      for (let i = 0; i < features.length; i += PERTURBATIONS.length + 1) {
        const good = features[i];
        for (let p = 0; p < positions; p++) spread += project(good, p, true).reduce((s, v) => s + v * v, 0) / positions;
        for (let k = 1; k <= PERTURBATIONS.length; k++) {
          const diff = features[i + k].map((v, j) => v - good[j]);
          for (let p = 0; p < positions; p++) {
            let raw = 0;
            for (let c = 0; c < C; c++) raw += diff[c * positions + p] ** 2;
            if (raw === 0) continue;
            moved += project(diff, p, false).reduce((s, v) => s + v * v, 0);
            changedPatches++;
          }
        }
      }
      return moved / changedPatches / (spread / (features.length / (PERTURBATIONS.length + 1)));
    };
    expect(separation(learned)).toBeGreaterThan(2 * separation(random));
  }, 60_000);
});
