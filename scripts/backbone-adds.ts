/**
 * Lists every `Add` node of PP-OCRv4's detector with its output's shape and stride on a 256×256
 * input, and what feeds it: the candidates for `TAPS` in lab/backbone.ts (a block ends in an `Add`
 * of a `Mul` and a constant, the learnable affine after its hard-swish). For choosing taps by
 * measurement; not used by Loupe itself.
 *
 *   npx tsx scripts/backbone-adds.ts
 */
import * as ort from 'onnxruntime-node';
import type { onnx as types } from 'onnx-proto';
import { loadDetector } from '../lab/backbone.ts';
import { onnx } from '../lab/onnx.ts';

const SIZE = 256;
const detector = loadDetector();
const nodes = detector.graph?.node ?? [];
const adds = nodes.filter((n) => n.opType === 'Add').map((n) => n.output![0]);
const producer = new Map<string, types.INodeProto>();
for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);

const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(detector).finish());
for (const a of adds) copy.graph!.output!.push(onnx.ValueInfoProto.create({ name: a }));
const session = await ort.InferenceSession.create(onnx.ModelProto.encode(copy).finish());
const out = await session.run(
  { x: new ort.Tensor('float32', new Float32Array(3 * SIZE * SIZE), [1, 3, SIZE, SIZE]) },
  adds,
);
for (const a of adds) {
  const dims = out[a].dims;
  const from = (producer.get(a)?.input ?? []).map((i) => producer.get(i)?.opType ?? 'constant');
  console.log(`${a}\t${dims.join('×')}\tstride ${SIZE / Number(dims[3])}\tfrom ${from.join(' + ')}`);
}
await session.release();
