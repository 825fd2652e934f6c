/**
 * The two ends every Loupe model graph shares: the decoded frame comes in as bytes and becomes
 * planar RGB in 0..1; a map of patch anomalies goes out as the image score (its maximum) and the
 * anomaly map upsampled to the input size.
 */
import { floats, ints, node, tensorInfo, UINT8 } from './onnx.ts';

export interface Shape {
  width: number;
  height: number;
}

/** Anomaly maps are computed per patch at this stride, then upsampled. */
export const PATCH_STRIDE = 4;

export function gridOf(shape: Shape, stride = PATCH_STRIDE): { gw: number; gh: number } {
  return { gw: shape.width / stride, gh: shape.height / stride };
}

/** The input: the decoded frame as it comes from sharp, 1 × height × width × RGB bytes. */
export const imageInput = (shape: Shape) => tensorInfo('image', [1, shape.height, shape.width, 3], UINT8);

/** `image` (bytes, HWC) → `rgb` (floats in 0..1, CHW). */
export function bytesToRgb() {
  return {
    nodes: [
      node('Cast', ['image'], ['image_f'], { to: 1 }),
      node('Transpose', ['image_f'], ['image_chw'], { perm: [0, 3, 1, 2] }),
      node('Mul', ['image_chw', 'byte_scale'], ['rgb']),
    ],
    initializers: [floats('byte_scale', [], [1 / 255])],
  };
}

/**
 * `patch_map` (1 × 1 × grid) → outputs `score` and `anomaly_map` (1 × 1 × height × width).
 * `scoreRim` patches at the frame's edge are left out of the score (not of the map): where a
 * texture is cut by the frame, its patches are rarer in the training set than any inside, and
 * they alone set the score of good parts.
 */
export function mapOutputs(shape: Shape, scoreRim = 0, stride = PATCH_STRIDE) {
  const { gw, gh } = gridOf(shape, stride);
  const rim =
    scoreRim > 0
      ? {
          nodes: [node('Slice', ['patch_map', 'rim_starts', 'rim_ends', 'rim_axes'], ['scored_map'])],
          initializers: [
            ints('rim_starts', [2], [scoreRim, scoreRim]),
            ints('rim_ends', [2], [gh - scoreRim, gw - scoreRim]),
            ints('rim_axes', [2], [2, 3]),
          ],
        }
      : { nodes: [node('Identity', ['patch_map'], ['scored_map'])], initializers: [] };
  return {
    nodes: [
      ...rim.nodes,
      node('ReduceMax', ['scored_map'], ['score'], { keepdims: 0 }),
      node('Resize', ['patch_map', '', 'upscale'], ['anomaly_map'], { mode: 'linear' }),
    ],
    initializers: [floats('upscale', [4], [1, 1, stride, stride]), ...rim.initializers],
    outputs: [tensorInfo('score', []), tensorInfo('anomaly_map', [1, 1, shape.height, shape.width])],
  };
}
