/**
 * A projection of the features learned at fit time from good parts and generic local changes of
 * them (lab/perturb.ts), in place of the random one (lab/statistics.ts `fitReduction`). The random
 * projection keeps distances in every direction about equally; PCA keeps the directions good parts
 * vary in most, which are exactly those a defect does not show in. This keeps the directions in which
 * local changes move a patch's features most relative to how good patches vary: the generalised
 * eigenproblem S_b w = μ (S_w + εI) w, where S_w is the covariance of good patches' features and S_b
 * the second moment of the feature changes (perturbed minus original, at the same patch) — Fisher's
 * discriminant with "changed" against "good", solved in closed form, no gradient training. The
 * directions fold into the same 1×1 convolution as before, so serving costs the same.
 */
import * as ort from 'onnxruntime-node';
import { model, node, tensorInfo } from './onnx.ts';
import type { PerturbationKind } from './perturb.ts';

export interface LearnedProjectionOptions {
  /** the ridge ε added to S_w, as a share of S_w's mean eigenvalue (trace / channels) */
  epsilon?: number;
  /**
   * perturbed copies of each good part the reduction is fitted on, each with one change; 0: none, and
   * S_b = I (the directions good patches vary least in: a control for what the perturbations add)
   */
  copies?: number;
  /** good parts the reduction (and so S_w and the perturbations) is fitted on (default the reduction's usual first few) */
  parts?: number;
  /** how many of the reduction's dimensions are learned (the rest stay random; default all) */
  dims?: number;
  /** the kinds of change, taken in turn (default: every kind of lab/perturb.ts) */
  kinds?: PerturbationKind[];
  /**
   * each direction's length: `whiten` so good patches vary by one unit along it (w'(S_w + εI)w = 1,
   * the eigenproblem's own scale), `gain` the same times √μ (directions weighted by how far changes
   * move along them), `unit` unit length
   */
  scale?: 'whiten' | 'gain' | 'unit';
}

/** A standard normal draw (Box–Muller). */
export function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Gram–Schmidt on the columns of a rows × cols matrix (row-major), in place. */
export function orthonormalise(m: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += m[r * cols + j] * m[r * cols + k];
      for (let r = 0; r < rows; r++) m[r * cols + j] -= dot * m[r * cols + k];
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += m[r * cols + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < rows; r++) m[r * cols + j] /= norm;
  }
}

/** Symmetric n × n (row-major): L with A = L Lᵀ, lower triangular; throws if A is not positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`matrix not positive definite at ${i}`);
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

/** The inverse of a lower triangular n × n matrix (row-major), itself lower triangular. */
function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k] * inv[k * n + j];
      inv[i * n + j] = -s / l[i * n + i];
    }
  }
  return inv;
}

/**
 * Eigen-decomposition of a symmetric n × n matrix by cyclic Jacobi rotations: eigenvalues in
 * descending order and the matching unit eigenvectors as the columns of `vectors` (row-major n × n).
 */
export function symmetricEigen(
  m: Float64Array,
  n: number,
  sweeps = 30,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] ** 2;
      for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    }
    if (off <= 1e-24 * diag) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    for (let k = 0; k < n; k++) vectors[k * n + to] = v[k * n + from];
  });
  return { values, vectors };
}

/**
 * The `dims` leading solutions of S_b w = μ (S_w + εI) w (both symmetric C × C, row-major), ε = `epsilon`
 * × trace(S_w) / C: Cholesky L Lᵀ = S_w + εI, the symmetric eigenproblem of L⁻¹ S_b L⁻ᵀ, w = L⁻ᵀ v.
 * Returns the directions as rows (dims × C) scaled as `scale` says, and their μ.
 */
export function learnedDirections(
  sw: Float64Array,
  sb: Float64Array,
  C: number,
  dims: number,
  epsilon: number,
  scale: NonNullable<LearnedProjectionOptions['scale']> = 'whiten',
): { projection: Float32Array; gains: Float64Array } {
  let trace = 0;
  for (let c = 0; c < C; c++) trace += sw[c * C + c];
  const ridge = Math.max(epsilon * (trace / C), 1e-12);
  const b = Float64Array.from(sw);
  for (let c = 0; c < C; c++) b[c * C + c] += ridge;
  const inv = invertLower(cholesky(b, C), C);
  // M = L⁻¹ S_b L⁻ᵀ, symmetrised against rounding
  const t = new Float64Array(C * C);
  for (let i = 0; i < C; i++) {
    for (let j = 0; j < C; j++) {
      let s = 0;
      for (let k = 0; k <= i; k++) s += inv[i * C + k] * sb[k * C + j];
      t[i * C + j] = s;
    }
  }
  const m = new Float64Array(C * C);
  for (let i = 0; i < C; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k <= j; k++) s += t[i * C + k] * inv[j * C + k];
      m[i * C + j] = s;
      m[j * C + i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(m, C);
  const projection = new Float32Array(dims * C);
  for (let d = 0; d < dims; d++) {
    // w = L⁻ᵀ v: w_c = Σ_k inv[k][c] v_k, k ≥ c
    const w = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let k = c; k < C; k++) s += inv[k * C + c] * vectors[k * C + d];
      w[c] = s;
    }
    let factor = 1;
    if (scale === 'unit') factor = 1 / Math.sqrt(w.reduce((sum, x) => sum + x * x, 0));
    else if (scale === 'gain') factor = Math.sqrt(Math.max(values[d], 0));
    for (let c = 0; c < C; c++) projection[d * C + c] = w[c] * factor;
  }
  return { projection, gains: values.slice(0, dims) };
}

/**
 * Σ weight_i · v_i v_iᵀ over the rows of `rows` (n × C, row-major) as one MatMul in onnxruntime
 * (a plain loop over tens of thousands of 192-channel patches takes seconds).
 */
export async function scatter(rows: Float32Array, weights: Float32Array, C: number): Promise<Float64Array> {
  const n = weights.length;
  const out = new Float64Array(C * C);
  if (n === 0) return out;
  const scaled = new Float32Array(rows.length);
  for (let i = 0; i < n; i++) {
    const w = Math.sqrt(weights[i]);
    for (let c = 0; c < C; c++) scaled[i * C + c] = rows[i * C + c] * w;
  }
  const graph = model({
    name: 'loupe-scatter',
    node: [
      node('Transpose', ['rows'], ['columns'], { perm: [1, 0] }),
      node('MatMul', ['columns', 'rows'], ['scatter']),
    ],
    initializer: [],
    input: [tensorInfo('rows', ['n', C])],
    output: [tensorInfo('scatter', [C, C])],
  });
  const session = await ort.InferenceSession.create(graph);
  try {
    const result = await session.run({ rows: new ort.Tensor('float32', scaled, [n, C]) });
    const s = result.scatter.data as Float32Array;
    // symmetric up to rounding: both triangles from their mean
    for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) out[i * C + j] = (s[i * C + j] + s[j * C + i]) / 2;
  } finally {
    await session.release();
  }
  return out;
}
