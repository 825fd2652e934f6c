/**
 * Locating the part before per-position statistics: a Gaussian per position only works when the same
 * feature is at the same place, and a part that slides or turns in its fixture breaks that (a
 * position-free memory bank copes with the move but cannot see what is missing, such as an undrilled
 * hole). This stage, at the head of the graph, moves every frame so that the part's centre is at the
 * frame's centre and its edges are square to the frame, before any feature is computed — in fitting
 * and serving alike, so the statistics are learnt in the part's own frame.
 *
 * - Centre: the centroid of the pixels brighter than the frame's mean brightness (a part against a
 *   contrasting background; the mean adapts to the light).
 * - Turn: the dominant edge direction modulo 90°, from the brightness gradients: the angle of
 *   Σ z⁴ / |z|² over gradients z = gx + i·gy, divided by 4. Edges of any square-cornered outline
 *   agree on it; round holes cancel out. Unambiguous for turns within ±22.5°; no border is used, so
 *   the frame's own edges do not vote.
 *
 * - Light: the frame is scaled so that the part's mean brightness is always the same.
 *
 * `image_chw` (float 0..255, 1 × 3 × H × W) → `image_located` (the same, resampled with GridSample;
 * what comes from beyond the frame is the background's mean colour: the nearest border pixel smeared
 * the part's edge across the background, black made an edge of its own, and both made good parts
 * anomalous there).
 */
import { floats, ints, node } from './onnx.ts';
import type { GraphPiece } from './extractor.ts';
import type { Shape } from './stages.ts';

/** the part's mean brightness after locating, on the 0..255 scale */
const LIGHT_LEVEL = 160;

/**
 * The measured turn falls short of the true one by a share (a tenth or so; the pixel grid pulls edge
 * directions towards its axes), so the stage runs twice: the second pass measures and removes what
 * the first left.
 */
export function locateNodes(shape: Shape, from = 'image_chw', to = 'image_located'): GraphPiece {
  const first = locatePass(shape, from, 'loc_first', 'loc');
  const second = locatePass(shape, 'loc_first', to, 'loc2');
  return { nodes: [...first.nodes, ...second.nodes], initializers: [...first.initializers, ...second.initializers] };
}

function locatePass(shape: Shape, from: string, to: string, prefix: string): GraphPiece {
  const { width: W, height: H } = shape;
  const xs = new Float32Array(W * H);
  const ys = new Float32Array(W * H);
  // pixel coordinates relative to the frame's centre
  const grid = new Float32Array(W * H * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      xs[i] = x;
      ys[i] = y;
      grid[2 * i] = x - (W - 1) / 2;
      grid[2 * i + 1] = y - (H - 1) / 2;
    }
  }
  const sobelX = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
  const sobelY = [-1, -2, -1, 0, 0, 0, 1, 2, 1];
  const p = (name: string) => `${prefix}_${name}`;
  const nodes = [
    node('ReduceMean', [from], [p('grey')], { axes: [1], keepdims: 1 }), // 1×1×H×W
    node('ReduceMean', [p('grey')], [p('level')], { axes: [2, 3], keepdims: 1 }),
    node('Greater', [p('grey'), p('level')], [p('bright')]),
    node('Cast', [p('bright')], [p('mask')], { to: 1 }),
    node('ReduceSum', [p('mask'), p('all_axes')], [p('area')], { keepdims: 0 }),
    node('Mul', [p('mask'), p('xs')], [p('mx')]),
    node('Mul', [p('mask'), p('ys')], [p('my')]),
    node('ReduceSum', [p('mx'), p('all_axes')], [p('sum_x')], { keepdims: 0 }),
    node('ReduceSum', [p('my'), p('all_axes')], [p('sum_y')], { keepdims: 0 }),
    node('Max', [p('area'), p('one')], [p('area1')]),
    node('Div', [p('sum_x'), p('area1')], [p('cx')]),
    node('Div', [p('sum_y'), p('area1')], [p('cy')]),
    // gradients without padding: the frame's own edge is not an edge of the part
    node('Conv', [p('grey'), p('sobel_x')], [p('gx')], { kernel_shape: [3, 3] }),
    node('Conv', [p('grey'), p('sobel_y')], [p('gy')], { kernel_shape: [3, 3] }),
    node('Mul', [p('gx'), p('gx')], [p('gx2')]),
    node('Mul', [p('gy'), p('gy')], [p('gy2')]),
    node('Add', [p('gx2'), p('gy2')], [p('r2_raw')]),
    node('Add', [p('r2_raw'), p('eps')], [p('r2')]),
    // Re z⁴ = (gx² − gy²)² − 4 gx² gy²,  Im z⁴ = 4 gx gy (gx² − gy²)
    node('Sub', [p('gx2'), p('gy2')], [p('d')]),
    node('Mul', [p('d'), p('d')], [p('d2')]),
    node('Mul', [p('gx2'), p('gy2')], [p('g22')]),
    node('Mul', [p('g22'), p('four')], [p('g22x4')]),
    node('Sub', [p('d2'), p('g22x4')], [p('re')]),
    node('Mul', [p('gx'), p('gy')], [p('gxy')]),
    node('Mul', [p('gxy'), p('d')], [p('gxyd')]),
    node('Mul', [p('gxyd'), p('four')], [p('im')]),
    node('Div', [p('re'), p('r2')], [p('re_w')]),
    node('Div', [p('im'), p('r2')], [p('im_w')]),
    node('ReduceSum', [p('re_w'), p('all_axes')], [p('c4')], { keepdims: 0 }),
    node('ReduceSum', [p('im_w'), p('all_axes')], [p('s4')], { keepdims: 0 }),
    // turns within ±22.5° keep Re Σ z⁴ positive, so atan(S/C) is atan2
    node('Abs', [p('c4')], [p('c4_abs')]),
    node('Max', [p('c4_abs'), p('eps')], [p('c4_safe')]),
    node('Div', [p('s4'), p('c4_safe')], [p('tan4')]),
    node('Atan', [p('tan4')], [p('angle4')]),
    node('Mul', [p('angle4'), p('quarter')], [p('angle')]),
    node('Cos', [p('angle')], [p('cos')]),
    node('Sin', [p('angle')], [p('sin')]),
    node('Neg', [p('sin')], [p('minus_sin')]),
    // source = R(angle) · offset + centre, as a 2×2 matrix applied to the offsets' rows
    node('Unsqueeze', [p('cos'), p('axis0')], [p('cos1')]),
    node('Unsqueeze', [p('sin'), p('axis0')], [p('sin1')]),
    node('Unsqueeze', [p('minus_sin'), p('axis0')], [p('msin1')]),
    node('Concat', [p('cos1'), p('sin1'), p('msin1'), p('cos1')], [p('rt_flat')], { axis: 0 }),
    node('Reshape', [p('rt_flat'), p('rt_shape')], [p('rt')]), // Rᵀ = [[cos, sin], [−sin, cos]]
    node('MatMul', [p('offsets'), p('rt')], [p('turned')]), // (H·W) × 2
    node('Unsqueeze', [p('cx'), p('axis0')], [p('cx1')]),
    node('Unsqueeze', [p('cy'), p('axis0')], [p('cy1')]),
    node('Concat', [p('cx1'), p('cy1')], [p('centre')], { axis: 0 }),
    node('Add', [p('turned'), p('centre')], [p('source')]),
    // pixel → GridSample's normalised coordinates (align_corners 0): (p + 0.5) · 2 / size − 1
    node('Add', [p('source'), p('half')], [p('source_h')]),
    node('Mul', [p('source_h'), p('to_unit')], [p('source_u')]),
    node('Sub', [p('source_u'), p('one')], [p('source_n')]),
    node('Reshape', [p('source_n'), p('grid_shape')], [p('grid')]),
    node('GridSample', [from, p('grid')], [p('moved')], { mode: 'bilinear', padding_mode: 'zeros', align_corners: 0 }),
    // what comes in from beyond the frame is the background's mean colour: no edge of its own
    node('Sub', [p('one'), p('mask')], [p('behind')]),
    node('Mul', [from, p('behind')], [p('behind_rgb')]),
    node('ReduceSum', [p('behind_rgb'), p('plane_axes')], [p('behind_sum')], { keepdims: 1 }), // 1×3×1×1
    node('ReduceSum', [p('behind'), p('all_axes')], [p('behind_area')], { keepdims: 0 }),
    node('Max', [p('behind_area'), p('one')], [p('behind_area1')]),
    node('Div', [p('behind_sum'), p('behind_area1')], [p('background')]),
    node('GridSample', [p('ones'), p('grid')], [p('inside')], {
      mode: 'bilinear',
      padding_mode: 'zeros',
      align_corners: 0,
    }),
    node('Sub', [p('one'), p('inside')], [p('outside')]),
    node('Mul', [p('outside'), p('background')], [p('fill')]),
    node('Add', [p('moved'), p('fill')], [p('filled')]),
    // the light: the part's mean brightness brought to one level, so that a brighter or darker lamp is not a defect everywhere
    node('Mul', [p('grey'), p('mask')], [p('lit')]),
    node('ReduceSum', [p('lit'), p('all_axes')], [p('lit_sum')], { keepdims: 0 }),
    node('Div', [p('lit_sum'), p('area1')], [p('part_level')]),
    node('Max', [p('part_level'), p('one')], [p('part_level1')]),
    node('Div', [p('light_level'), p('part_level1')], [p('gain')]),
    node('Mul', [p('filled'), p('gain')], [to]),
  ];
  const initializers = [
    ints(p('all_axes'), [4], [0, 1, 2, 3]),
    ints(p('plane_axes'), [2], [2, 3]),
    floats(p('ones'), [1, 1, H, W], new Float32Array(W * H).fill(1)),
    ints(p('axis0'), [1], [0]),
    ints(p('rt_shape'), [2], [2, 2]),
    ints(p('grid_shape'), [4], [1, H, W, 2]),
    floats(p('xs'), [1, 1, H, W], xs),
    floats(p('ys'), [1, 1, H, W], ys),
    floats(p('offsets'), [W * H, 2], grid),
    floats(p('sobel_x'), [1, 1, 3, 3], sobelX),
    floats(p('sobel_y'), [1, 1, 3, 3], sobelY),
    floats(p('one'), [], [1]),
    floats(p('eps'), [], [1e-3]),
    floats(p('four'), [], [4]),
    floats(p('quarter'), [], [0.25]),
    floats(p('half'), [], [0.5]),
    floats(p('to_unit'), [2], [2 / W, 2 / H]),
    floats(p('light_level'), [], [LIGHT_LEVEL]),
  ];
  return { nodes, initializers };
}
