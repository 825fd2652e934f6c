/**
 * Late fusion of two memory banks in one graph. The hand-made filter bank sees colour and fine
 * grey-level edges the pretrained backbone misses; the backbone sees marks of shape and texture the
 * filters miss; which one is better depends on the set, so `auto` had to pick one (docs/model.md).
 * Stacking the two kinds of features into one bank averages their distances, and a mark that only one
 * of them sees is diluted by the other. Here each keeps its own bank and search, and only their maps
 * meet: each map is brought to the same units — its good parts' median at 0 and their upper tail
 * (e.g. the 99th percentile) at 1, measured on good training parts left out of the bank one at a time,
 * by distance class from the frame's edge (lab/frame-edge.ts) — then resampled to the finer grid and
 * combined, by the larger of the two at each patch or by their mean. The score is the combined map's
 * maximum, as in every Loupe model: same input, same two outputs, so serving does not change.
 */
import type { onnx as types } from 'onnx-proto';
import { handmade, prefixed, type FeatureExtractor, type GraphPiece } from './extractor.ts';
import type { Normalisation } from './frame-edge.ts';
import { floats, ints, model, node } from './onnx.ts';
import { gridOf, imageInput, mapOutputs, type Shape } from './stages.ts';
import {
  bankMapPiece,
  fitStatistics,
  type BankOptions,
  type BankSearch,
  type Frames,
  type FittedStatistics,
} from './statistics.ts';

/** One memory bank of the fused model: its features, its fitted statistics (map normalised to good parts' units), its search. */
export interface FusedBranch {
  /** names the branch's tensors in the graph (`name/…`) */
  name: string;
  extractor: FeatureExtractor;
  fitted: FittedStatistics;
  search: BankSearch;
  /** the image scores (map's maximum inside the rim, in the branch's units) of the good parts left out of the bank in turn */
  goodScores?: number[];
}

/** How the normalised maps become one: the larger at each patch, or their mean. */
export type Combine = 'max' | 'mean';

export interface FusedOptions {
  /** the pretrained extractor (lab/extractor.ts `pretrained(...)`) and its bank's settings and search */
  pretrained: { extractor: FeatureExtractor; bank: BankOptions; search?: BankSearch };
  /** the hand-made branch: its grid's stride (4 as the texture model; 8 averages 2×2 of its patches), bank and search */
  handmade?: { stride?: number; bank?: BankOptions; search?: BankSearch; level?: boolean };
  /** the good parts' maps measured to set each branch's units: rings from the edge, parts left out in turn, the upper quantile */
  normalise?: { rings: number; parts: number; tail: number };
  threads?: number;
  onProgress?: (message: string) => void;
}

/** Each branch's maps: median of good parts' leave-one-out maps at 0, their 99th percentile at 1, by distance class from the edge. */
export const FUSED_NORMALISE = { rings: 3, parts: 200, tail: 0.99 };

/** The hand-made bank: every channel (no projection), at most 4,096 entries. */
const HANDMADE_BANK: BankOptions = { dims: handmade.channels, bankSize: 4096, candidates: 60_000 };

/** Fits both banks on the same good parts (side by side), each with the maps that set its units. */
export async function fitFused(shape: Shape, frames: Frames, options: FusedOptions): Promise<FusedBranch[]> {
  const normalise = options.normalise ?? FUSED_NORMALISE;
  const say = (name: string) => (message: string) => options.onProgress?.(`${name}: ${message}`);
  const hand = strided(
    options.handmade?.level === false ? withoutLevel(handmade) : handmade,
    options.handmade?.stride ?? handmade.stride,
  );
  const branch = async (
    name: string,
    extractor: FeatureExtractor,
    bank: BankOptions,
    search: BankSearch,
  ): Promise<FusedBranch> => {
    let maps: Float32Array[] = [];
    const fitted = await fitStatistics(
      extractor,
      shape,
      frames,
      { bank: true, gaussian: false },
      { ...bank, normalise, threads: options.threads, onProgress: say(name), onCalibration: (m) => (maps = m) },
    );
    if (!fitted.bank?.normalise) throw new Error(`fitFused: ${name}: too few good parts to measure the map's units`);
    const units = toUnits(fitted.bank.normalise);
    fitted.bank.normalise = units;
    const { gw, gh } = gridOf(shape, extractor.stride);
    const rim = Math.max(1, Math.round(SCORE_RIM_PIXELS / extractor.stride));
    const goodScores = maps.map((m) => {
      let top = -Infinity;
      for (let y = rim; y < gh - rim; y++)
        for (let x = rim; x < gw - rim; x++)
          top = Math.max(top, units.scale[y * gw + x] * m[y * gw + x] + units.offset[y * gw + x]);
      return top;
    });
    return { name, extractor, fitted, search, goodScores };
  };
  return Promise.all([
    branch('pre', options.pretrained.extractor, options.pretrained.bank, options.pretrained.search ?? {}),
    branch('hand', hand, options.handmade?.bank ?? HANDMADE_BANK, options.handmade?.search ?? {}),
  ]);
}

/**
 * A normalisation that maps every class onto the inside's location and spread, composed with the
 * step that takes that location to 0 and the spread to 1: good parts' maps in units of their own tail.
 */
export function toUnits(n: Normalisation): Normalisation {
  const location = n.location ?? 0;
  const spread = n.spread && n.spread > 1e-9 ? n.spread : 1;
  return {
    scale: Float32Array.from(n.scale, (a) => a / spread),
    offset: Float32Array.from(n.offset, (b) => (b - location) / spread),
    location: 0,
    spread: 1,
  };
}

/**
 * The branches with each map moved once more, so that the good parts' image scores (left out of the
 * bank in turn) have their median at 0 and their `quantile` at 1: the fused maximum is the larger of
 * the two image scores, and a branch whose good maxima run higher (more patches, a longer tail) would
 * otherwise set it alone.
 */
export function atImageLevel(branches: FusedBranch[], quantile = 0.9): FusedBranch[] {
  return branches.map((b) => {
    const scores = [...(b.goodScores ?? [])].sort((x, y) => x - y);
    const normalise = b.fitted.bank?.normalise;
    if (scores.length < 2 || !normalise) return b;
    const at = (share: number) => scores[Math.min(scores.length - 1, Math.floor(share * scores.length))];
    const moved = toUnits({ ...normalise, location: at(0.5), spread: at(quantile) - at(0.5) });
    return {
      ...b,
      fitted: { ...b.fitted, bank: { ...b.fitted.bank!, normalise: moved } },
      goodScores: b.goodScores?.map((s) => (s - at(0.5)) / Math.max(at(quantile) - at(0.5), 1e-9)),
    };
  });
}

/**
 * The hand-made features without the brightness level (brightness and its square, at both pools):
 * chroma and edge magnitudes only. The level carries every change of light between the parts fitted
 * and the parts seen, which the pretrained branch already reads as texture.
 */
export function withoutLevel(extractor: FeatureExtractor): FeatureExtractor {
  // per pool: brightness, its square, two chroma, six filter magnitudes (lab/patchcore.ts)
  const perPool = 10;
  const kept: number[] = [];
  for (let c = 0; c < extractor.channels; c++) if (c % perPool >= 2) kept.push(c);
  return {
    ...extractor,
    description: `${extractor.description}, without the brightness level`,
    channels: kept.length,
    nodes: (shape) => {
      const all = prefixed(extractor.nodes(shape), 'all/');
      return {
        nodes: [...all.nodes, node('Gather', ['all/raw_features', 'level_free'], ['raw_features'], { axis: 1 })],
        initializers: [...all.initializers, ints('level_free', [kept.length], kept)],
      };
    },
  };
}

/** An extractor's features averaged over k×k of its patches: the same features on a coarser grid (a k² smaller search). */
export function strided(extractor: FeatureExtractor, stride: number): FeatureExtractor {
  if (stride === extractor.stride) return extractor;
  const k = stride / extractor.stride;
  if (!Number.isInteger(k) || k < 1) throw new Error(`strided: ${stride} is not a multiple of ${extractor.stride}`);
  return {
    ...extractor,
    description: `${extractor.description}, averaged over ${k}×${k} patches (stride ${stride})`,
    stride,
    nodes: (shape) => {
      const fine = prefixed(extractor.nodes(shape), 'fine/');
      return {
        nodes: [
          ...fine.nodes,
          node('AveragePool', ['fine/raw_features'], ['raw_features'], { kernel_shape: [k, k], strides: [k, k] }),
        ],
        initializers: fine.initializers,
      };
    },
  };
}

/** Patches at the frame's edge left out of the score, in pixels, as the pretrained bank leaves them out. */
const SCORE_RIM_PIXELS = 8;

/**
 * The fused model: each branch's normalised patch map, resampled (linearly) to the finest branch's
 * grid, combined, then scored and upsampled as every Loupe model is (`image` → `score`, `anomaly_map`).
 */
export function fusedGraph(shape: Shape, branches: FusedBranch[], combine: Combine = 'max'): Uint8Array {
  const fine = Math.min(...branches.map((b) => b.extractor.stride));
  const nodes: types.INodeProto[] = [];
  const initializers: types.ITensorProto[] = [];
  const maps: string[] = [];
  for (const b of branches) {
    const piece: GraphPiece = prefixed(bankMapPiece(b.extractor, shape, b.fitted, b.search), `${b.name}/`);
    nodes.push(...piece.nodes);
    initializers.push(...piece.initializers);
    const k = b.extractor.stride / fine;
    if (k === 1) maps.push(`${b.name}/patch_map`);
    else {
      initializers.push(floats(`${b.name}/to_grid`, [4], [1, 1, k, k]));
      nodes.push(
        node('Resize', [`${b.name}/patch_map`, '', `${b.name}/to_grid`], [`${b.name}/on_grid`], { mode: 'linear' }),
      );
      maps.push(`${b.name}/on_grid`);
    }
  }
  if (combine === 'max') nodes.push(node('Max', maps, ['patch_map']));
  else {
    initializers.push(floats('fuse_share', [], [1 / maps.length]));
    nodes.push(node('Sum', maps, ['fused_sum']), node('Mul', ['fused_sum', 'fuse_share'], ['patch_map']));
  }
  const out = mapOutputs(shape, Math.max(1, Math.round(SCORE_RIM_PIXELS / fine)), fine);
  return model({
    name: 'loupe-bank-fused',
    node: [...nodes, ...out.nodes],
    initializer: [...initializers, ...out.initializers],
    input: [imageInput(shape)],
    output: out.outputs,
  });
}
