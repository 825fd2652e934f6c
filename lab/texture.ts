/**
 * The texture model: for parts with no fixed layout (fabric, stone, brushed or cast surfaces) a
 * patch may sit anywhere, so one Gaussian describes every position. Its features are multi-scale
 * local statistics of brightness — mean, its square, edge strength in two directions and a
 * centre-surround response — and of colour (chroma), pooled over 6×6 and 14×14 patches; its full covariance captures how
 * they vary together in a normal texture, and the anomaly map is the whitened (Mahalanobis)
 * distance of each patch from it. One ONNX graph, like the aligned model.
 */
import * as ort from 'onnxruntime-node';
import { floats, ints, model, node, tensorInfo, UINT8 } from './onnx.ts';
import { PATCH_STRIDE, type PadimShape, gridOf } from './padim.ts';

const PER_SCALE = 7;
const SCALES = [6, 14];
const FEATURES = PER_SCALE * SCALES.length;

/** 3×3 filters on brightness: identity, |∂x|, |∂y|, centre-surround; the 5th feature is brightness². */
function filterBank(): Float32Array {
  const kernels = [
    [0, 0, 0, 0, 1, 0, 0, 0, 0],
    [-1, 0, 1, -2, 0, 2, -1, 0, 1],
    [-1, -2, -1, 0, 0, 0, 1, 2, 1],
    [-1, -1, -1, -1, 8, -1, -1, -1, -1].map((v) => v / 8),
  ];
  const w = new Float32Array(kernels.length * 9);
  kernels.forEach((k, i) => w.set(k, i * 9));
  return w;
}

function featureNodes() {
  const nodes = [
    node('Cast', ['image'], ['image_f'], { to: 1 }),
    node('Transpose', ['image_f'], ['image_chw'], { perm: [0, 3, 1, 2] }),
    node('ReduceMean', ['image_chw'], ['grey255'], { axes: [1], keepdims: 1 }),
    node('Mul', ['grey255', 'byte_scale'], ['grey']),
    node('Conv', ['grey', 'bank'], ['responses'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    node('Abs', ['responses'], ['magnitudes']),
    node('Mul', ['grey', 'grey'], ['grey2']),
    // chroma: how far red and blue stray from green (rust, oil, paint on a grey surface)
    node('Mul', ['image_chw', 'byte_scale'], ['rgb']),
    node('Conv', ['rgb', 'chroma_bank'], ['chroma_signed'], { kernel_shape: [1, 1] }),
    node('Abs', ['chroma_signed'], ['chroma']),
    node('Concat', ['magnitudes', 'grey2', 'chroma'], ['pixel_features'], { axis: 1 }),
  ];
  const pooled: string[] = [];
  for (const size of SCALES) {
    const pad = (size - PATCH_STRIDE) / 2;
    nodes.push(node('AveragePool', ['pixel_features'], [`pooled_${size}`], { kernel_shape: [size, size], strides: [PATCH_STRIDE, PATCH_STRIDE], pads: [pad, pad, pad, pad], count_include_pad: 0 }));
    pooled.push(`pooled_${size}`);
  }
  nodes.push(node('Concat', pooled, ['features'], { axis: 1 }));
  const chromaBank = [1, -1, 0, 0, -1, 1];
  return { nodes, initializers: [floats('bank', [4, 1, 3, 3], filterBank()), floats('chroma_bank', [2, 3, 1, 1], chromaBank), floats('byte_scale', [], [1 / 255])] };
}

const imageInput = (shape: PadimShape) => tensorInfo('image', [1, shape.height, shape.width, 3], UINT8);

export function textureFeatureGraph(shape: PadimShape): Uint8Array {
  const { gw, gh } = gridOf(shape);
  const { nodes, initializers } = featureNodes();
  return model({ name: 'loupe-texture-features', node: nodes, initializer: initializers, input: [imageInput(shape)], output: [tensorInfo('features', [1, FEATURES, gh, gw])] });
}

export function textureScoringGraph(shape: PadimShape, mean: Float32Array, whitening: Float32Array): Uint8Array {
  const { nodes, initializers } = featureNodes();
  return model({
    name: 'loupe-texture',
    node: [
      ...nodes,
      node('Sub', ['features', 'mean'], ['centred']),
      node('Conv', ['centred', 'whitening'], ['z'], { kernel_shape: [1, 1] }),
      node('Mul', ['z', 'z'], ['z2']),
      node('ReduceSum', ['z2', 'feature_axis'], ['distance'], { keepdims: 1 }),
      node('AveragePool', ['distance'], ['smoothed'], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 0 }),
      node('Sqrt', ['smoothed'], ['patch_map']),
      node('ReduceMax', ['patch_map'], ['score'], { keepdims: 0 }),
      node('Resize', ['patch_map', '', 'upscale'], ['anomaly_map'], { mode: 'linear' }),
    ],
    initializer: [
      ...initializers,
      floats('mean', [1, FEATURES, 1, 1], mean),
      floats('whitening', [FEATURES, FEATURES, 1, 1], whitening),
      ints('feature_axis', [1], [1]),
      floats('upscale', [4], [1, 1, PATCH_STRIDE, PATCH_STRIDE]),
    ],
    input: [imageInput(shape)],
    output: [tensorInfo('score', []), tensorInfo('anomaly_map', [1, 1, shape.height, shape.width])],
  });
}

/** Mean and whitening matrix (inverse Cholesky factor of the regularised covariance) of all patches. */
export async function fitTexture(shape: PadimShape, goodPixels: Uint8Array[]): Promise<{ mean: Float32Array; whitening: Float32Array }> {
  const session = await ort.InferenceSession.create(textureFeatureGraph(shape));
  const { gw, gh } = gridOf(shape);
  const positions = gw * gh;
  const c = FEATURES;
  const sum = new Float64Array(c);
  const outer = new Float64Array(c * c);
  let n = 0;
  const v = new Float64Array(c);
  for (const pixels of goodPixels) {
    const out = await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) });
    const f = out.features.data as Float32Array;
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < c; i++) v[i] = f[i * positions + p];
      for (let i = 0; i < c; i++) {
        sum[i] += v[i];
        for (let j = 0; j <= i; j++) outer[i * c + j] += v[i] * v[j];
      }
      n++;
    }
  }
  await session.release();
  const mean = new Float64Array(c);
  for (let i = 0; i < c; i++) mean[i] = sum[i] / n;
  const cov = new Float64Array(c * c);
  let trace = 0;
  for (let i = 0; i < c; i++) {
    for (let j = 0; j <= i; j++) {
      const value = outer[i * c + j] / n - mean[i] * mean[j];
      cov[i * c + j] = value;
      cov[j * c + i] = value;
    }
    trace += cov[i * c + i];
  }
  // Regularise (as PaDiM does) so that a direction good textures never vary in is not infinitely strict.
  const ridge = (0.01 * trace) / c;
  for (let i = 0; i < c; i++) cov[i * c + i] += ridge;
  return { mean: Float32Array.from(mean), whitening: Float32Array.from(invertLower(cholesky(cov, c), c)) };
}

function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * n + j];
    }
  }
  return l;
}

function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    inv[i * n + i] = 1 / l[i * n + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k] * inv[k * n + j];
      inv[i * n + j] = -s / l[i * n + i];
    }
  }
  return inv;
}
