/**
 * The default anomaly model, PaDiM-style: features of normal parts are summarised per position by
 * a Gaussian (mean and standard deviation of each feature), and a part's anomaly map is its
 * per-position distance from that Gaussian. No pretrained network exists here, so the features are
 * a fixed filter bank, chosen for what breaks on machined parts: colour (contamination, spots) and
 * edge strength in two directions (scratches, cracks, missing or extra features), pooled over
 * 6×6 patches. Features and scoring are one ONNX graph; fitting runs the feature half of the same
 * graph through onnxruntime, so fit and inference see identical numbers.
 */
import * as ort from 'onnxruntime-node';
import type { PositionStats } from './method.ts';
import { floats, ints, model, node, tensorInfo } from './onnx.ts';
import { bytesToRgb, gridOf, imageInput, mapOutputs, PATCH_STRIDE, type Shape } from './stages.ts';
const FEATURES = 5;
// 6×6 patches at stride 4: small enough that a faint, thin scratch is not averaged away, large
// enough to absorb the part's small shifts (chosen on the synthetic bracket at zero escapes:
// docs/benchmarks.md, "Why the code is as it is").
const POOL = 6;

export type PadimShape = Shape;

/** Fixed 3×3 filter bank over RGB: the three colours, then |∂x| and |∂y| of brightness (Sobel). */
function filterBank(): Float32Array {
  const w = new Float32Array(FEATURES * 3 * 9);
  const at = (out: number, channel: number, k: number) => (out * 3 + channel) * 9 + k;
  for (let c = 0; c < 3; c++) w[at(c, c, 4)] = 1;
  const sobelX = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
  const sobelY = [-1, -2, -1, 0, 0, 0, 1, 2, 1];
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < 9; k++) {
      w[at(3, c, k)] = sobelX[k] / 3;
      w[at(4, c, k)] = sobelY[k] / 3;
    }
  }
  return w;
}

function featureNodes() {
  const input = bytesToRgb();
  return {
    nodes: [
      ...input.nodes,
      node('Conv', ['rgb', 'bank'], ['responses'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      node('Abs', ['responses'], ['magnitudes']),
      node('AveragePool', ['magnitudes'], ['features'], {
        kernel_shape: [POOL, POOL],
        strides: [PATCH_STRIDE, PATCH_STRIDE],
        pads: [
          (POOL - PATCH_STRIDE) / 2,
          (POOL - PATCH_STRIDE) / 2,
          (POOL - PATCH_STRIDE) / 2,
          (POOL - PATCH_STRIDE) / 2,
        ],
      }),
    ],
    initializers: [...input.initializers, floats('bank', [FEATURES, 3, 3, 3], filterBank())],
  };
}

/** The feature half alone, used while fitting. */
export function featureGraph(shape: PadimShape): Uint8Array {
  const { gw, gh } = gridOf(shape);
  const { nodes, initializers } = featureNodes();
  return model({
    name: 'loupe-features',
    node: nodes,
    initializer: initializers,
    input: [imageInput(shape)],
    output: [tensorInfo('features', [1, FEATURES, gh, gw])],
  });
}

/**
 * The whole model: features → squared standardised distance per position, summed over features →
 * 3×3 smoothing → square root = anomaly map (upsampled to the input size); its maximum = score.
 */
export function scoringGraph(shape: PadimShape, mean: Float32Array, invStd: Float32Array): Uint8Array {
  const { gw, gh } = gridOf(shape);
  const { nodes, initializers } = featureNodes();
  const out = mapOutputs(shape);
  return model({
    name: 'loupe-padim',
    node: [
      ...nodes,
      node('Sub', ['features', 'mean'], ['centred']),
      node('Mul', ['centred', 'inv_std'], ['z']),
      node('Mul', ['z', 'z'], ['z2']),
      node('ReduceSum', ['z2', 'feature_axis'], ['distance'], { keepdims: 1 }),
      node('AveragePool', ['distance'], ['smoothed'], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }),
      node('Sqrt', ['smoothed'], ['patch_map']),
      ...out.nodes,
    ],
    initializer: [
      ...initializers,
      floats('mean', [1, FEATURES, gh, gw], mean),
      floats('inv_std', [1, FEATURES, gh, gw], invStd),
      ints('feature_axis', [1], [1]),
      ...out.initializers,
    ],
    input: [imageInput(shape)],
    output: out.outputs,
  });
}

/**
 * Fits the per-position Gaussian on tensors of good parts. The standard deviation has a floor so
 * that positions where good parts never vary (flat paint) do not turn sensor noise into alarms.
 */
export async function fitGaussian(
  shape: PadimShape,
  goodPixels: Uint8Array[],
  stdFloor = 0.005,
): Promise<{ mean: Float32Array; invStd: Float32Array; stats: PositionStats }> {
  const session = await ort.InferenceSession.create(featureGraph(shape));
  const { gw, gh } = gridOf(shape);
  const size = FEATURES * gw * gh;
  const sum = new Float64Array(size);
  const sumSq = new Float64Array(size);
  for (const pixels of goodPixels) {
    const out = await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) });
    const f = out.features.data as Float32Array;
    for (let i = 0; i < size; i++) {
      sum[i] += f[i];
      sumSq[i] += f[i] * f[i];
    }
  }
  await session.release();
  const n = goodPixels.length;
  const mean = new Float32Array(size);
  const invStd = new Float32Array(size);
  const variance = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    mean[i] = sum[i] / n;
    variance[i] = Math.max(0, sumSq[i] / n - mean[i] * mean[i]);
    invStd[i] = 1 / Math.max(Math.sqrt(variance[i]), stdFloor);
  }
  // The raw statistics also tell whether the category is aligned at all (lab/method.ts).
  return { mean, invStd, stats: { mean, variance, features: FEATURES, gridWidth: gw, gridHeight: gh } };
}
