/**
 * The memory bank's search in the graph: searched in chunks, as one product, or through every
 * centroid's members, a patch's nearest entry is the same; in 8-bit integers it is within a hair of it,
 * and a painted defect still scores above the good part it was painted on.
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { handmade } from '../../lab/extractor.ts';
import { bankGraph, fitStatistics, type BankSearch } from '../../lab/statistics.ts';
import { generatePart, paintOnto, rng } from '../../lab/synth.ts';

const size = 96;
const shape = { width: size, height: size };

async function frame(index: number): Promise<Buffer> {
  const part = await generatePart({ category: 'brushed', seed: 3, index, defect: null });
  return sharp(part.image).resize(size, size).png().toBuffer();
}

const pixelsOf = async (image: Buffer) => new Uint8Array(await sharp(image).removeAlpha().raw().toBuffer());

async function scored(graph: Uint8Array, frames: Uint8Array[]): Promise<{ score: number; map: Float32Array }[]> {
  const session = await ort.InferenceSession.create(graph);
  const out = [];
  for (const pixels of frames) {
    const result = await session.run({ image: new ort.Tensor('uint8', pixels, [1, size, size, 3]) });
    out.push({
      score: (result.score.data as Float32Array)[0],
      map: Float32Array.from(result.anomaly_map.data as Float32Array),
    });
  }
  await session.release();
  return out;
}

describe('the memory bank searched in the graph', () => {
  it('finds the same nearest entries in chunks, in one product and through every centroid, and nearly the same in int8', async () => {
    const good: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) good.push(await pixelsOf(await frame(i)));
    const fitted = await fitStatistics(
      handmade,
      shape,
      () => good,
      { bank: true, gaussian: false },
      { bankSize: 300, dims: 16, candidates: 3000 },
    );
    const held = await frame(30);
    const painted = (await paintOnto(held, 'scratch', rng(2))).image;
    const frames = [await pixelsOf(held), await pixelsOf(painted)];
    const search = (options: BankSearch) => scored(bankGraph(handmade, shape, fitted, options), frames);
    const exact = await search({ chunk: 1 << 30 });
    const bank = fitted.bank!.size;
    for (const options of [{}, { chunk: 64 }, { chunk: bank - 1 }, { coarse: { centroids: 8, probe: 8 } }]) {
      const got = await search(options);
      got.forEach((g, i) => {
        expect(g.score, JSON.stringify(options)).toBeCloseTo(exact[i].score, 3);
        let largest = 0;
        for (let p = 0; p < g.map.length; p++) largest = Math.max(largest, Math.abs(g.map[p] - exact[i].map[p]));
        expect(largest, JSON.stringify(options)).toBeLessThan(1e-3);
      });
    }
    const int8 = await search({ int8: true });
    int8.forEach((g, i) => expect(Math.abs(g.score - exact[i].score) / exact[i].score).toBeLessThan(0.02));
    expect(exact[1].score).toBeGreaterThan(exact[0].score);
    expect(int8[1].score).toBeGreaterThan(int8[0].score);
  });

  it('scores a patch by the mean distance to its k nearest entries, the same whichever way the bank is cut into chunks', async () => {
    const good: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) good.push(await pixelsOf(await frame(i)));
    const fitted = await fitStatistics(
      handmade,
      shape,
      () => good,
      { bank: true, gaussian: false },
      { bankSize: 300, dims: 16, candidates: 3000 },
    );
    const frames = [await pixelsOf(await frame(31))];
    const search = (options: BankSearch) => scored(bankGraph(handmade, shape, fitted, options), frames);
    const nearest = (await search({ chunk: 1 << 30 }))[0];
    const k3 = (await search({ chunk: 1 << 30, k: 3 }))[0];
    // the last chunk holds a single entry, fewer than k
    for (const options of [
      { chunk: 64, k: 3 },
      { chunk: fitted.bank!.size - 1, k: 3 },
      { k: 3, int8: true },
    ]) {
      const got = (await search(options))[0];
      expect(got.score, JSON.stringify(options)).toBeCloseTo(k3.score, options.int8 ? 1 : 3);
    }
    // the mean of the three nearest is never below the nearest, and above it somewhere
    let above = 0;
    for (let p = 0; p < k3.map.length; p++) {
      expect(k3.map[p]).toBeGreaterThanOrEqual(nearest.map[p] - 1e-4);
      if (k3.map[p] > nearest.map[p] + 1e-3) above++;
    }
    expect(above).toBeGreaterThan(k3.map.length / 2);
  });
});
