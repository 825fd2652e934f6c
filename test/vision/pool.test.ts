/**
 * The inspection workers keep a part's evidence themselves when its score calls for it: the frame's
 * bytes as they arrived and the max-pooled map, and then no map crosses back to the event loop.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { InspectionPool, defaultWorkers, threadsPerWorker } from '../../edge/src/vision/pool.ts';
import { decodeMap, keptImage, viewableMap } from '../../edge/src/evidence/files.ts';
import { generatePart } from '../../lab/synth.ts';
import { repoRoot } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

let pool: InspectionPool;
let dir: string;

beforeAll(async () => {
  pool = await InspectionPool.start(path.join(repoRoot, 'models', 'default'), 1);
  dir = await tempDir('loupe-pool-');
});
afterAll(async () => {
  await pool?.close();
});

describe('inspection workers keeping evidence', () => {
  const thresholds = () => pool.manifest.thresholds;

  it('keeps nothing and sends no map for a part that scores below where evidence starts', async () => {
    const good = (await generatePart({ category: 'bracket', seed: 90, index: 1, defect: null })).image;
    const inspection = await pool.inspect(good, {
      dir,
      partId: 'G-1',
      thresholds: thresholds(),
      from: thresholds().passBelow,
    });
    expect(inspection.score).toBeLessThan(thresholds().passBelow);
    expect(inspection.kept).toBeUndefined();
    expect(inspection.map).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes the frame as it arrived and the max-pooled map of a part at or above it', async () => {
    const defective = (await generatePart({ category: 'bracket', seed: 90, index: 2, defect: 'missing' })).image;
    const inspection = await pool.inspect(defective, {
      dir,
      partId: 'D-1',
      thresholds: thresholds(),
      from: thresholds().passBelow,
    });
    expect(inspection.score).toBeGreaterThanOrEqual(thresholds().passBelow);
    // appended to the worker's segment of this hour, frame then map: no file of its own
    expect(inspection.kept).toEqual({
      image: expect.stringMatching(/^evidence-\d{4}-\d{2}-\d{2}T\d{2}-\d+-\d+\.seg#\d+\+\d+$/),
      heatmap: expect.stringMatching(/\.seg#\d+\+\d+$/),
    });
    expect(inspection.map).toBeUndefined();
    expect((await readdir(dir)).filter((name) => name.startsWith('D-1'))).toEqual([]);
    const [segment, range] = (inspection.kept?.image as string).split('#');
    const [offset, length] = range.split('+').map(Number);
    expect(length).toBe(defective.length);
    expect((await readFile(path.join(dir, segment))).subarray(offset, offset + length).equals(defective)).toBe(true);
    expect((await keptImage(dir, 'D-1'))?.equals(defective)).toBe(true);
    const viewable = await viewableMap(dir, 'D-1');
    expect(viewable.ok).toBe(true);
    const [, mapRange] = (inspection.kept?.heatmap as string).split('#');
    const [mapOffset, mapLength] = mapRange.split('+').map(Number);
    expect(mapOffset).toBe(offset + length);
    const map = decodeMap((await readFile(path.join(dir, segment))).subarray(mapOffset, mapOffset + mapLength));
    expect([map?.mapWidth, map?.mapHeight]).toEqual([64, 64]);
    expect(Math.max(...(map?.map ?? []))).toBe(1); // the peak at full colour
  });

  it('keeps any score when asked from minus infinity (a part drawn for audit)', async () => {
    const good = (await generatePart({ category: 'bracket', seed: 90, index: 3, defect: null })).image;
    const inspection = await pool.inspect(good, { dir, partId: 'A-1', thresholds: thresholds(), from: -Infinity });
    expect(inspection.score).toBeLessThan(thresholds().passBelow);
    expect(inspection.kept).toEqual({
      image: expect.stringMatching(/\.seg#/),
      heatmap: expect.stringMatching(/\.seg#/),
    });
    expect((await keptImage(dir, 'A-1'))?.equals(good)).toBe(true);
  });

  it('answers the score with the failed write named when the evidence cannot be written', async () => {
    const defective = (await generatePart({ category: 'bracket', seed: 90, index: 4, defect: 'missing' })).image;
    const inspection = await pool.inspect(defective, {
      dir: path.join(dir, 'no-such-folder'),
      partId: 'D-2',
      thresholds: thresholds(),
      from: thresholds().passBelow,
    });
    expect(inspection.score).toBeGreaterThanOrEqual(thresholds().passBelow);
    expect(inspection.kept?.image).toBeUndefined();
    expect(inspection.kept?.errors).toEqual([expect.stringMatching(/^evidence of D-2: ENOENT/)]);
  });

  it('sends the whole map back when no evidence is asked for', async () => {
    const part = (await generatePart({ category: 'bracket', seed: 90, index: 5, defect: null })).image;
    const inspection = await pool.inspect(part);
    expect(inspection.kept).toBeUndefined();
    expect(inspection.map?.length).toBe(256 * 256);
  });
});

describe('a worker that dies', () => {
  it('fails its parts as model errors, refuses new ones while it restarts, then inspects again', async () => {
    const crashing = await InspectionPool.start(path.join(repoRoot, 'models', 'default'), 1);
    try {
      const part = (await generatePart({ category: 'bracket', seed: 90, index: 6, defect: null })).image;
      const inFlight = crashing.inspect(part);
      // The worker's thread ends under it, as an out-of-memory or a fatal error in a native library would end it.
      const { slots } = crashing as unknown as { slots: { worker: Worker | null }[] };
      await slots[0].worker?.terminate();
      await expect(inFlight).rejects.toMatchObject({
        code: 'model_error',
        message: expect.stringMatching(/^inspection worker crashed/),
      });
      await expect(crashing.inspect(part)).rejects.toMatchObject({
        code: 'model_error',
        message: expect.stringMatching(/^no inspection worker is running/),
      });
      // Bounded wait for the replacement to load the model.
      let inspection = null;
      for (let attempt = 0; attempt < 300 && !inspection; attempt++) {
        inspection = await crashing.inspect(part).catch(() => null);
        if (!inspection) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(inspection?.score).toBeLessThan(crashing.manifest.thresholds.passBelow);
    } finally {
      await crashing.close();
    }
  });
});

describe('how many workers', () => {
  it('starts one worker for every two cores, each with one ORT thread for every two cores it stands for', () => {
    expect([1, 2, 3, 4, 8].map((cores) => defaultWorkers(cores))).toEqual([1, 1, 1, 2, 4]);
    expect(threadsPerWorker(1, 2)).toBe(1);
    expect(threadsPerWorker(1, 8)).toBe(4);
    expect(threadsPerWorker(4, 8)).toBe(1);
    expect(threadsPerWorker(16, 2)).toBe(1);
  });
});
