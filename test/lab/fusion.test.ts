/**
 * The late fusion of the hand-made and pretrained memory banks (lab/fusion.ts): each map brought to its
 * good parts' units, the two combined in one Loupe graph, and a mark only one bank sees still flagged.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../edge/src/vision/model.ts';
import { writeSyntheticDataset } from '../../lab/dataset.ts';
import { fit } from '../../lab/fit.ts';
import { pretrained } from '../../lab/extractor.ts';
import { normalisation } from '../../lab/frame-edge.ts';
import { fitFused, fusedGraph, toUnits } from '../../lab/fusion.ts';
import { bankGraph } from '../../lab/statistics.ts';
import { rng } from '../../lab/synth.ts';
import { tempDir } from '../support/temp.ts';

const size = 64;
const shape = { width: size, height: size };

/** a grey, textured frame (uint8 HWC): waves of light and shade around grey 128, different for each seed */
function frame(seed: number): Uint8Array {
  const random = rng(seed);
  const waves = Array.from({ length: 6 }, () => [0.2 + random() * 0.5, 0.2 + random() * 0.5, random() * 6]);
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const [fx, fy, phase] of waves) v += Math.sin(fx * x + fy * y + phase);
      const g = Math.round(128 + 12 * v + 6 * (random() - 0.5));
      pixels.fill(Math.max(0, Math.min(255, g)), (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return pixels;
}

/** the same frame with a disc of faint tint at constant brightness: red up, blue down by `amount` */
function tinted(pixels: Uint8Array, amount: number): Uint8Array {
  const out = Uint8Array.from(pixels);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if ((x - 32) ** 2 + (y - 30) ** 2 <= 36) {
        const i = (y * size + x) * 3;
        out[i] = Math.min(255, out[i] + amount);
        out[i + 2] = Math.max(0, out[i + 2] - amount);
      }
  return out;
}

async function scores(graph: Uint8Array, frames: Uint8Array[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(graph);
  const out: number[] = [];
  for (const f of frames)
    out.push((await session.run({ image: new ort.Tensor('uint8', f, [1, size, size, 3]) })).score.data[0] as number);
  await session.release();
  return out;
}

describe('late fusion of the hand-made and pretrained banks', () => {
  it('brings a map to its good parts’ units: the median at 0 and the upper tail at 1', () => {
    const [gw, gh] = [8, 8];
    const random = rng(5);
    const maps = Array.from({ length: 30 }, () => Float32Array.from({ length: gw * gh }, () => 3 + 2 * random()));
    const units = toUnits(normalisation(maps, gw, gh, 0, 0.9));
    const values = maps
      .flatMap((m) => Array.from(m, (v, p) => units.scale[p] * v + units.offset[p]))
      .sort((a, b) => a - b);
    expect(values[Math.floor(values.length / 2)]).toBeCloseTo(0, 5);
    expect(values[Math.floor(values.length * 0.9)]).toBeCloseTo(1, 5);
  });

  it('flags a faint colour mark that the pretrained bank alone lets pass, and keeps good parts below it', async () => {
    const good = Array.from({ length: 12 }, (_, i) => frame(10 + i));
    const heldOut = Array.from({ length: 4 }, (_, i) => frame(40 + i));
    const marked = heldOut.map((f) => tinted(f, 14));
    const branches = await fitFused(shape, () => good, {
      pretrained: { extractor: pretrained({ stride: 8 }), bank: { dims: 32, bankSize: 256, candidates: 4000 } },
      normalise: { rings: 1, parts: 12, tail: 0.99 },
    });
    const [pre] = branches;
    const alone = await scores(bankGraph(pre.extractor, shape, pre.fitted), [...heldOut, ...marked]);
    const fused = await scores(fusedGraph(shape, branches, 'max'), [...heldOut, ...marked]);
    const highestGood = (s: number[]) => Math.max(...s.slice(0, heldOut.length));
    const lowestMarked = (s: number[]) => Math.min(...s.slice(heldOut.length));
    expect(lowestMarked(alone)).toBeLessThan(highestGood(alone));
    expect(lowestMarked(fused)).toBeGreaterThan(highestGood(fused));
  });

  it('is fitted by loupe fit --method fused and served like any Loupe model, with its own pass threshold', async () => {
    const dir = await tempDir('loupe-fused-');
    await writeSyntheticDataset({ out: dir, seed: 4, count: 10, categories: ['brushed'] });
    const out = path.join(dir, 'model');
    const report = await fit({ data: path.join(dir, 'brushed'), out, method: 'fused', size: 64 });
    expect(report.method).toBe('fused');
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.fittedOn.method).toMatch(/^fused: /);
    expect(manifest.outputs).toEqual({ score: 'score', map: 'anomaly_map' });
    const model = await loadModel(out, { threads: 1 });
    try {
      const good = await model.inspect(await readFile(path.join(dir, 'brushed', 'test', 'good', '000.png')));
      expect([good.mapWidth, good.mapHeight]).toEqual([64, 64]);
      expect(Number.isFinite(good.score)).toBe(true);
      // the held-out good parts' scores set the pass threshold, in the fused map's own units
      expect(manifest.thresholds.passBelow).toBeGreaterThan(manifest.fittedOn.heldOutMaxScore);
    } finally {
      await model.close();
    }
  }, 60_000);
});
