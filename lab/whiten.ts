/**
 * Whitening fitted on good patches, for the reduction before a memory bank (lab/statistics.ts).
 * Euclidean distance on centred features weighs a direction by how much good parts vary along it,
 * so the few high-variance (texture) directions dominate every distance and a faint mark that shows
 * in a low-variance direction barely moves it. Whitening by (Σ + λ·(tr Σ / d)·I)^(-1/2) measures
 * every direction in units of its own spread on good patches (a Mahalanobis distance), with the
 * shrinkage λ keeping directions in which good parts hardly vary at all from being blown up into
 * noise. Unlike PCA it keeps the low-variance directions; it amplifies them. The result is one
 * dims × channels matrix that folds into the reduction's 1×1 convolution, so serving costs the same
 * at equal output dimensions.
 */
import { gauss, orthonormalise, symmetricEigen } from './learned-projection.ts';

/** How the whitened features are brought to fewer dimensions, when fewer are asked for. */
export type WhitenKeep = 'random' | 'variance';

export interface WhitenOptions {
  /** λ: the covariance's eigenvalues are raised by λ times their mean before the inverse square root */
  shrink: number;
  /** to fewer dimensions: a random orthonormal projection, or the directions of most variance on good patches (default random) */
  keep?: WhitenKeep;
}

/**
 * Eigenvalues and eigenvectors of a symmetric n × n matrix (row-major; not changed), by the Jacobi
 * rotations of lab/learned-projection.ts. Answers the values in decreasing order and the vectors as
 * the rows of `vectors` in the same order.
 */
export function eigenvectorRows(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const { values, vectors: columns } = symmetricEigen(matrix, n, 100);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let k = 0; k < n; k++) vectors[r * n + k] = columns[k * n + r];
  return { values, vectors };
}

/** The covariance (channels × channels) of patches already centred and scaled (each `sample[i][c] * gain[c]` after subtracting `mean[c]`). */
export function covariance(sample: Float32Array[], mean: ArrayLike<number>, gain: ArrayLike<number>): Float64Array {
  const C = mean.length;
  const cov = new Float64Array(C * C);
  const x = new Float64Array(C);
  for (const v of sample) {
    for (let c = 0; c < C; c++) x[c] = (v[c] - mean[c]) * gain[c];
    for (let i = 0; i < C; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      for (let j = i; j < C; j++) cov[i * C + j] += xi * x[j];
    }
  }
  for (let i = 0; i < C; i++)
    for (let j = i; j < C; j++) {
      cov[i * C + j] /= sample.length;
      cov[j * C + i] = cov[i * C + j];
    }
  return cov;
}

/**
 * The whitening matrix (dims × C, row-major) for a covariance: (Σ + λ·(tr Σ / C)·I)^(-1/2) in the
 * covariance's own coordinates (ZCA) when dims = C; otherwise that followed by a random orthonormal
 * projection (`keep: 'random'`, from `random` numbers) or the rows of the `dims` directions of most
 * variance (`keep: 'variance'`).
 */
export function whitening(
  cov: Float64Array,
  C: number,
  dims: number,
  options: WhitenOptions,
  random: () => number,
): Float32Array {
  const { values, vectors } = eigenvectorRows(cov, C);
  let trace = 0;
  for (let i = 0; i < C; i++) trace += cov[i * C + i];
  const floor = Math.max((options.shrink * trace) / C, 1e-12);
  const gain = Float64Array.from(values, (e) => 1 / Math.sqrt(Math.max(e, 0) + floor));
  const out = new Float32Array(dims * C);
  if (dims < C && (options.keep ?? 'random') === 'variance') {
    for (let d = 0; d < dims; d++) for (let c = 0; c < C; c++) out[d * C + c] = gain[d] * vectors[d * C + c];
    return out;
  }
  // ZCA: V diag(gain) Vᵀ
  const zca = new Float64Array(C * C);
  for (let r = 0; r < C; r++) {
    const g = gain[r];
    for (let i = 0; i < C; i++) {
      const gi = g * vectors[r * C + i];
      if (gi === 0) continue;
      for (let j = 0; j < C; j++) zca[i * C + j] += gi * vectors[r * C + j];
    }
  }
  if (dims >= C) return Float32Array.from(zca);
  // dims orthonormal directions (the columns of q, C × dims), drawn direction by direction
  const q = new Float64Array(C * dims);
  for (let d = 0; d < dims; d++) for (let k = 0; k < C; k++) q[k * dims + d] = gauss(random);
  orthonormalise(q, C, dims);
  for (let d = 0; d < dims; d++)
    for (let k = 0; k < C; k++) {
      const w = q[k * dims + d];
      for (let c = 0; c < C; c++) out[d * C + c] += w * zca[k * C + c];
    }
  return out;
}
