/**
 * The bank searched in tiles of patches × entries (the stride-4 grid's search): in floats it finds
 * the same nearest distances as one product over the whole bank; in 8-bit integers, with the patches
 * quantised once for every tile, it is within a hair of them, the same as the chunked int8 search,
 * and a patch far from every entry (a mark) is still the farthest.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { searchGraph, type BankSearch } from '../../lab/statistics.ts';
import { rng } from '../../lab/synth.ts';

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
