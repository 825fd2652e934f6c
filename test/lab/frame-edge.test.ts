/**
 * The memory bank's handling of the frame's edge (lab/frame-edge.ts): the normalisation by distance
 * from the edge, measured on good parts each left out of the bank, and a bank with it still one Loupe
 * graph with a score and a map.
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { handmade } from '../../lab/extractor.ts';
import { edgeClass, nearestLeavingOut, normalisation, smooth } from '../../lab/frame-edge.ts';
import { bankGraph, fitStatistics, leaveOneOutSearch } from '../../lab/statistics.ts';
import { generatePart, paintOnto, rng } from '../../lab/synth.ts';

describe('the frame’s edge in the memory bank', () => {
  it('maps the rim’s higher and wider good distances onto the inside’s, so a good rim no longer sets the score', () => {
    const [gw, gh, rings] = [10, 10, 2];
    const random = rng(3);
    const maps = Array.from({ length: 40 }, () => {
      const m = new Float32Array(gw * gh);
      for (let y = 0; y < gh; y++)
        for (let x = 0; x < gw; x++) {
          const rim = Math.min(x, y, gw - 1 - x, gh - 1 - y) === 0;
          m[y * gw + x] = rim ? 2 + 0.5 * (random() - 0.5) : 1 + 0.1 * (random() - 0.5);
        }
      return m;
    });
    const { scale, offset } = normalisation(maps, gw, gh, rings);
    const normalised = maps.map((m) => m.map((v, p) => scale[p] * v + offset[p]));
    const byClass = new Map<number, number[]>();
    for (const m of normalised)
      for (let p = 0; p < m.length; p++) {
        const c = edgeClass(p % gw, Math.floor(p / gw), gw, gh, rings);
        byClass.set(c, [...(byClass.get(c) ?? []), m[p]]);
      }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
    const inside = byClass.get((rings + 1) * (rings + 1) - 1)!;
    for (const [, values] of byClass) {
      expect(mean(values)).toBeCloseTo(mean(inside), 5);
      expect(std(values)).toBeCloseTo(std(inside), 5);
    }
    // before, the highest good patch of every map was on the rim; after, not always
    const onRim = (m: Float32Array) => {
      let at = 0;
      for (let p = 1; p < m.length; p++) if (m[p] > m[at]) at = p;
      return Math.min(at % gw, Math.floor(at / gw), gw - 1 - (at % gw), gh - 1 - Math.floor(at / gw)) === 0;
    };
    expect(maps.every(onRim)).toBe(true);
    expect(normalised.every(onRim)).toBe(false);
  });

  it('smooths as the graph does: 3 × 3 with the grid mirrored', () => {
    const map = Float32Array.from({ length: 9 }, (_, i) => i);
    const s = smooth(map, 3, 3);
    expect(s[4]).toBeCloseTo(4);
    // the corner (0) sees itself, its mirrored neighbours 1 and 3 twice each, 4 four times
    expect(s[0]).toBeCloseTo((0 + 2 * 1 + 2 * 3 + 4 * 4) / 9);
  });

  it('measures a good part against the bank without the entries drawn from that part', () => {
    const memory = Float32Array.from([0, 0, 1, 0, 5, 5]); // three entries of 2 dims
    const source = Int32Array.from([0, 1, 1]);
    const features = Float32Array.from([0.1, 0.1]); // one patch at (0.1, 0.1): dims × positions
    expect(nearestLeavingOut(features, 1, memory, 3, 2, source, 2)[0]).toBeCloseTo(Math.hypot(0.1, 0.1));
    expect(nearestLeavingOut(features, 1, memory, 3, 2, source, 0)[0]).toBeCloseTo(Math.hypot(0.9, 0.1));
  });

  it('finds the same leave-one-out distances in onnxruntime as the plain search', async () => {
    const random = rng(8);
    const [size, dims, positions] = [50, 6, 30];
    const memory = Float32Array.from({ length: size * dims }, () => random());
    const source = Int32Array.from({ length: size }, (_, i) => i % 4);
    const features = Float32Array.from({ length: dims * positions }, () => random());
    const search = await leaveOneOutSearch(memory, size, dims);
    for (const part of [0, 3]) {
      const fast = await search.run(features, positions, source, part);
      const plain = nearestLeavingOut(features, positions, memory, size, dims, source, part);
      for (let p = 0; p < positions; p++) expect(fast[p]).toBeCloseTo(plain[p], 4);
    }
    await search.release();
  });
});

describe('a bank normalised by distance from the edge', () => {
  it('is still one Loupe graph with a score and a map, and a painted part scores above the same part without it', async () => {
    const size = 64;
    const shape = { width: size, height: size };
    const frame = async (index: number) =>
      sharp((await generatePart({ category: 'brushed', seed: 9, index, defect: null })).image)
        .resize(size, size)
        .png()
        .toBuffer();
    const raw = (png: Buffer) => sharp(png).removeAlpha().raw().toBuffer();
    const pixels: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) pixels.push(await raw(await frame(i)));
    const fitted = await fitStatistics(
      handmade,
      shape,
      () => pixels,
      { bank: true, gaussian: false },
      {
        bankSize: 128,
        dims: 16,
        candidates: 3000,
        normalise: { rings: 2, parts: 4, tail: 0.99 },
      },
    );
    expect(fitted.bank?.normalise?.scale.length).toBe((size / 4) * (size / 4));
    const session = await ort.InferenceSession.create(bankGraph(handmade, shape, fitted, {}, 0));
    expect(session.outputNames).toEqual(['score', 'anomaly_map']);
    const held = await frame(20);
    const painted = (await paintOnto(held, 'contamination', rng(4))).image;
    const score = async (png: Buffer) => {
      const out = await session.run({ image: new ort.Tensor('uint8', await raw(png), [1, size, size, 3]) });
      expect(out.anomaly_map.dims).toEqual([1, 1, size, size]);
      return out.score.data[0] as number;
    };
    const [a, b] = [await score(held), await score(painted)];
    await session.release();
    expect(Number.isFinite(a)).toBe(true);
    expect(b).toBeGreaterThan(a);
  }, 30_000);
});
