/**
 * The texture model, PatchCore-style: a memory bank of patch features of good parts, chosen to cover
 * them (greedy k-centre coreset), and the anomaly of a patch is its distance to the nearest patch in
 * the bank. No Gaussian has to fit the whole, many-modal variety of a real texture: a normal patch
 * only has to resemble *some* normal patch. Features are multi-scale filter responses of brightness
 * (derivative-of-Gaussian in x and y, Laplacian of Gaussian, at two scales), brightness, its square
 * and chroma, pooled over 6×6 and 14×14 patches and standardised. One ONNX graph: features, then
 * all distances to the bank as one MatMul, then the minimum.
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { floats, ints, model, node, tensorInfo } from './onnx.ts';
import { bytesToRgb, gridOf, imageInput, mapOutputs, PATCH_STRIDE, type Shape } from './stages.ts';
import { rng } from './synth.ts';
import { kCentreInWorker } from './kcentre.ts';

export { kCentre } from './kcentre.ts';

const SIGMAS = [1, 2.5];
const FILTERS_PER_SIGMA = 3;
const PIXEL_FEATURES = 1 + 1 + 2 + SIGMAS.length * FILTERS_PER_SIGMA;
const POOLS = [6, 14];
export const FEATURES = PIXEL_FEATURES * POOLS.length;
const KERNEL = 11;
/** patches at the frame's edge left out of the score: 2 patches, 8 pixels at 256×256 (measured on grey skimage brick: image AUROC 0.973 → 0.999) */
const SCORE_RIM = 2;

/** Derivative-of-Gaussian (x, y) and Laplacian-of-Gaussian kernels, 11×11, for each σ. */
function filterBank(): Float32Array {
  const w = new Float32Array(SIGMAS.length * FILTERS_PER_SIGMA * KERNEL * KERNEL);
  const r = (KERNEL - 1) / 2;
  SIGMAS.forEach((sigma, s) => {
    const s2 = sigma * sigma;
    for (let y = -r; y <= r; y++) {
      for (let x = -r; x <= r; x++) {
        const g = Math.exp(-(x * x + y * y) / (2 * s2));
        const at = (f: number) => ((s * FILTERS_PER_SIGMA + f) * KERNEL + (y + r)) * KERNEL + (x + r);
        w[at(0)] = (-x / s2) * g;
        w[at(1)] = (-y / s2) * g;
        w[at(2)] = ((x * x + y * y - 2 * s2) / (s2 * s2)) * g;
      }
    }
    // each filter sums to zero and has unit L1 norm, so scales are comparable
    for (let f = 0; f < FILTERS_PER_SIGMA; f++) {
      const base = (s * FILTERS_PER_SIGMA + f) * KERNEL * KERNEL;
      let mean = 0;
      for (let k = 0; k < KERNEL * KERNEL; k++) mean += w[base + k] / (KERNEL * KERNEL);
      let l1 = 0;
      for (let k = 0; k < KERNEL * KERNEL; k++) l1 += Math.abs((w[base + k] -= mean));
      for (let k = 0; k < KERNEL * KERNEL; k++) w[base + k] /= l1;
    }
  });
  return w;
}

/** `image` → `raw_features` (1 × 20 × H/4 × W/4): the hand-made multi-scale filter bank. */
export function featureNodes() {
  const pad = (KERNEL - 1) / 2;
  const input = bytesToRgb();
  const nodes = [
    ...input.nodes,
    node('ReduceMean', ['rgb'], ['grey'], { axes: [1], keepdims: 1 }),
    node('Mul', ['grey', 'grey'], ['grey2']),
    node('Conv', ['rgb', 'chroma_bank'], ['chroma_signed'], { kernel_shape: [1, 1] }),
    node('Abs', ['chroma_signed'], ['chroma']),
    // Mirror the frame at its edges before filtering: zero padding would make every border patch an
    // edge of its own, a kind of patch as varied as the frame's rim and never well covered by the bank.
    node('Pad', ['grey', 'filter_pads'], ['grey_padded'], { mode: 'reflect' }),
    node('Conv', ['grey_padded', 'bank'], ['responses'], { kernel_shape: [KERNEL, KERNEL] }),
    node('Abs', ['responses'], ['magnitudes']),
    node('Concat', ['grey', 'grey2', 'chroma', 'magnitudes'], ['pixel_features'], { axis: 1 }),
  ];
  const pooled: string[] = [];
  const poolPads = [];
  for (const size of POOLS) {
    const p = (size - PATCH_STRIDE) / 2;
    // mirrored here too, so a patch on the rim averages as many pixels as one inside
    nodes.push(
      node('Pad', ['pixel_features', `pool_pads_${size}`], [`padded_${size}`], { mode: 'reflect' }),
      node('AveragePool', [`padded_${size}`], [`pooled_${size}`], {
        kernel_shape: [size, size],
        strides: [PATCH_STRIDE, PATCH_STRIDE],
      }),
    );
    poolPads.push(ints(`pool_pads_${size}`, [8], [0, 0, p, p, 0, 0, p, p]));
    pooled.push(`pooled_${size}`);
  }
  nodes.push(node('Concat', pooled, ['raw_features'], { axis: 1 }));
  return {
    nodes,
    initializers: [
      ...input.initializers,
      floats('bank', [SIGMAS.length * FILTERS_PER_SIGMA, 1, KERNEL, KERNEL], filterBank()),
      floats('chroma_bank', [2, 3, 1, 1], [1, -1, 0, 0, -1, 1]),
      ints('filter_pads', [8], [0, 0, pad, pad, 0, 0, pad, pad]),
      ...poolPads,
    ],
  };
}

export function patchFeatureGraph(shape: Shape): Uint8Array {
  const { gw, gh } = gridOf(shape);
  const { nodes, initializers } = featureNodes();
  return model({
    name: 'loupe-patch-features',
    node: nodes,
    initializer: initializers,
    input: [imageInput(shape)],
    output: [tensorInfo('raw_features', [1, FEATURES, gh, gw])],
  });
}

export function patchcoreGraph(
  shape: Shape,
  mean: Float32Array,
  invStd: Float32Array,
  memory: Float32Array,
  size: number,
): Uint8Array {
  const { gw, gh } = gridOf(shape);
  const positions = gw * gh;
  const { nodes, initializers } = featureNodes();
  const out = mapOutputs(shape, SCORE_RIM);
  const bankT = new Float32Array(FEATURES * size); // C × M
  const bankNorm = new Float32Array(size);
  for (let m = 0; m < size; m++) {
    for (let c = 0; c < FEATURES; c++) {
      const v = memory[m * FEATURES + c];
      bankT[c * size + m] = v;
      bankNorm[m] += v * v;
    }
  }
  return model({
    name: 'loupe-patchcore',
    node: [
      ...nodes,
      node('Sub', ['raw_features', 'mean'], ['centred']),
      node('Mul', ['centred', 'inv_std'], ['features']),
      node('Reshape', ['features', 'flat_shape'], ['flat']), // C × N
      node('Transpose', ['flat'], ['patches'], { perm: [1, 0] }), // N × C
      node('MatMul', ['patches', 'memory_t'], ['dot']), // N × M
      node('Mul', ['patches', 'patches'], ['patches2']),
      node('ReduceSum', ['patches2', 'feature_axis'], ['patch_norm'], { keepdims: 1 }), // N × 1
      node('Mul', ['dot', 'minus_two'], ['minus_2dot']),
      node('Add', ['minus_2dot', 'memory_norm'], ['partial']),
      node('Add', ['partial', 'patch_norm'], ['distance2']),
      node('ReduceMin', ['distance2'], ['nearest2'], { axes: [1], keepdims: 1 }),
      node('Relu', ['nearest2'], ['nearest2_pos']),
      node('Sqrt', ['nearest2_pos'], ['nearest']),
      node('Reshape', ['nearest', 'map_shape'], ['patch_distance']),
      // smoothed over 3×3 patches, the rim mirrored so that rim patches are averaged as much as the rest
      node('Pad', ['patch_distance', 'smooth_pads'], ['patch_distance_padded'], { mode: 'reflect' }),
      node('AveragePool', ['patch_distance_padded'], ['patch_map'], { kernel_shape: [3, 3], strides: [1, 1] }),
      ...out.nodes,
    ],
    initializer: [
      ...initializers,
      floats('mean', [1, FEATURES, 1, 1], mean),
      floats('inv_std', [1, FEATURES, 1, 1], invStd),
      floats('memory_t', [FEATURES, size], bankT),
      floats('memory_norm', [1, size], bankNorm),
      floats('minus_two', [], [-2]),
      ints('flat_shape', [2], [FEATURES, positions]),
      ints('map_shape', [4], [1, 1, gh, gw]),
      ints('feature_axis', [1], [1]),
      ints('smooth_pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
      ...out.initializers,
    ],
    input: [imageInput(shape)],
    output: out.outputs,
  });
}

/** Standardises the features of good patches and keeps a coreset of `size` of them as the memory bank. */
/**
 * The same surface is rarely seen at exactly one scale: a camera a little closer, bricks nearer the
 * lens. The bank also holds patches of each good part zoomed in and out by these factors, so a
 * change of scale alone is not an anomaly (grey brick, trained on the photo's top and
 * tested on its bottom, where perspective makes the bricks larger: image AUROC 0.77 → 0.95).
 */
const SCALES = [0.7, 1, 1.4];

/** Standardises the features of good patches and keeps a coreset of `size` of them as the memory bank. */
export async function fitPatchcore(
  shape: Shape,
  goodPixels: Uint8Array[],
  size = 2048,
  seed = 1,
  onProgress?: (message: string) => void,
): Promise<{ mean: Float32Array; invStd: Float32Array; memory: Float32Array; size: number }> {
  const all: { f: Float32Array; positions: number }[] = [];
  for (const scale of SCALES) {
    const scaled = {
      width: Math.round((shape.width * scale) / PATCH_STRIDE) * PATCH_STRIDE,
      height: Math.round((shape.height * scale) / PATCH_STRIDE) * PATCH_STRIDE,
    };
    const session = await ort.InferenceSession.create(patchFeatureGraph(scaled));
    const { gw, gh } = gridOf(scaled);
    for (const pixels of goodPixels) {
      const input =
        scale === 1
          ? pixels
          : await sharp(pixels, { raw: { width: shape.width, height: shape.height, channels: 3 } })
              .resize(scaled.width, scaled.height, { fit: 'fill' })
              .raw()
              .toBuffer();
      const out = await session.run({ image: new ort.Tensor('uint8', input, [1, scaled.height, scaled.width, 3]) });
      all.push({ f: Float32Array.from(out.raw_features.data as Float32Array), positions: gw * gh });
    }
    await session.release();
  }
  let count = 0;
  const mean = new Float64Array(FEATURES);
  const sq = new Float64Array(FEATURES);
  for (const { f, positions } of all) {
    count += positions;
    for (let c = 0; c < FEATURES; c++) {
      for (let p = 0; p < positions; p++) {
        const v = f[c * positions + p];
        mean[c] += v;
        sq[c] += v * v;
      }
    }
  }
  const std = new Float64Array(FEATURES);
  for (let c = 0; c < FEATURES; c++) {
    mean[c] /= count;
    std[c] = Math.sqrt(Math.max(0, sq[c] / count - mean[c] * mean[c]));
  }
  // A feature that never varies on good parts (colour, on a grey surface) gets a floor of a quarter
  // of one grey level: below what any camera delivers, so it binds only on truly grey data, where
  // any tint is far out; the scores stay readable numbers rather than millions.
  const invStd = Float32Array.from(std, (s) => 1 / Math.max(s, 0.001));
  // Candidates: a random sample of all patches (standardised), then greedy k-centre over them.
  const random = rng(seed);
  // 100,000 candidates rather than 30,000: rarer normal patches make it into the bank (grey brick 0.955 → 0.973)
  const candidates = Math.min(count, 100_000);
  const pool = new Float32Array(candidates * FEATURES);
  for (let i = 0; i < candidates; i++) {
    const { f, positions } = all[Math.floor(random() * all.length)];
    const p = Math.floor(random() * positions);
    for (let c = 0; c < FEATURES; c++) pool[i * FEATURES + c] = (f[c * positions + p] - mean[c]) * invStd[c];
  }
  const chosen = Math.min(size, candidates);
  onProgress?.(`coreset of ${chosen} from ${candidates} patches…`);
  const started = performance.now();
  const memory = await kCentreInWorker(pool, candidates, FEATURES, chosen, (m) =>
    onProgress?.(`coreset: ${m} of ${chosen} (${((performance.now() - started) / 1000).toFixed(1)} s)`),
  );
  return { mean: Float32Array.from(mean), invStd, memory, size: chosen };
}
