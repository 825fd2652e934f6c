/**
 * The bank searched in tiles of patches × entries (the stride-4 grid's search): in floats it finds
 * the same nearest distances as one product over the whole bank; in 8-bit integers, with the patches
 * quantised once for every tile, it is within a hair of them, the same as the chunked int8 search,
 * and a patch far from every entry (a mark) is still the farthest. `loupe fit` with the stride-4
 * settings writes such a model, one option away from the shipped one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../edge/src/vision/model.ts';
import { writeSyntheticDataset } from '../../lab/dataset.ts';
import { fit, PRETRAINED, PRETRAINED_STRIDE4 } from '../../lab/fit.ts';
import { searchGraph, type BankSearch } from '../../lab/statistics.ts';
import { generatePart, rng } from '../../lab/synth.ts';
import { tempDir } from '../support/temp.ts';

const dims = 16;
const size = 300;
const patches = 250;
const random = rng(7);
const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const memory = Float32Array.from({ length: size * dims }, gauss);
const far = 17;
// patches near an entry each (as good patches are), one far from all of them
const input = new Float32Array(patches * dims);
for (let p = 0; p < patches; p++) {
  const r = Math.floor(random() * size);
  for (let d = 0; d < dims; d++) input[p * dims + d] = p === far ? 4 + gauss() : memory[r * dims + d] + 0.3 * gauss();
}

async function distances(search: BankSearch): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(searchGraph(memory, size, dims, patches, search));
  const out = await session.run({ patches: new ort.Tensor('float32', input, [patches, dims]) });
  await session.release();
  return Float32Array.from(out.nearest2.data as Float32Array, (d2) => Math.sqrt(Math.max(0, d2)));
}

function bruteForce(): Float32Array {
  const out = new Float32Array(patches);
  for (let p = 0; p < patches; p++) {
    let best = Infinity;
    for (let r = 0; r < size; r++) {
      let d = 0;
      for (let k = 0; k < dims; k++) d += (input[p * dims + k] - memory[r * dims + k]) ** 2;
      best = Math.min(best, d);
    }
    out[p] = Math.sqrt(best);
  }
  return out;
}

const largestChange = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const farthest = (a: Float32Array) => a.indexOf(Math.max(...a));

describe('the bank searched in tiles of patches and entries', () => {
  it('finds the nearest distances of the whole search, in floats exactly and in 8-bit integers within 3% of the largest', async () => {
    const exact = bruteForce();
    const spread = Math.max(...exact);
    expect(largestChange(await distances({ chunk: 1 << 30 }), exact)).toBeLessThan(1e-3 * spread);
    // blocks and chunks that do not divide the grid or the bank evenly, and a single block
    for (const tiles of [
      { rows: 64, chunk: 128 },
      { rows: 100, chunk: 300 },
      { rows: 249, chunk: 7 },
    ]) {
      const floats = await distances(tiles);
      expect(largestChange(floats, exact), JSON.stringify(tiles)).toBeLessThan(1e-3 * spread);
      const int8 = await distances({ ...tiles, int8: true });
      expect(largestChange(int8, exact), JSON.stringify(tiles)).toBeLessThan(0.03 * spread);
      expect(farthest(int8)).toBe(far);
      expect(largestChange(int8, await distances({ chunk: tiles.chunk, int8: true }))).toBeLessThan(0.01 * spread);
    }
    expect(farthest(exact)).toBe(far);
  });
});

describe('loupe fit with the stride-4 settings', () => {
  it('writes a bank model on the stride-4 grid searched in int8 tiles, which finds a painted mark, while the shipped settings stay on the stride-8 grid', async () => {
    expect(PRETRAINED.stride).toBe(8);
    expect(PRETRAINED_STRIDE4.stride).toBe(4);
    const dir = await tempDir('loupe-stride4-');
    await writeSyntheticDataset({ out: dir, seed: 5, count: 10, categories: ['brushed'] });
    const out = path.join(dir, 'model');
    const report = await fit({
      data: path.join(dir, 'brushed'),
      out,
      method: 'pretrained',
      size: 128,
      pretrained: PRETRAINED_STRIDE4,
    });
    expect(report.manifest.fittedOn?.method).toMatch(/stride-4 grid, bank 8192 × 64/);
    const graph = onnxProto.onnx.ModelProto.decode(await readFile(path.join(out, 'model.onnx'))).graph!;
    const ops = new Set(graph.node?.map((n) => n.opType));
    expect(ops.has('MatMulIntegerToFloat') && ops.has('DynamicQuantizeLinear')).toBe(true);
    const model = await loadModel(out, { threads: 1 });
    const good = await model.inspect(
      (await generatePart({ category: 'brushed', seed: 5, index: 40, defect: null })).image,
    );
    const marked = await model.inspect(
      (await generatePart({ category: 'brushed', seed: 5, index: 40, defect: 'contamination' })).image,
    );
    await model.close();
    expect([good.mapWidth, good.mapHeight]).toEqual([128, 128]);
    expect(marked.score).toBeGreaterThan(good.score);
  }, 60_000);
});
