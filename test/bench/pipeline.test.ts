/**
 * The pipeline bench, shortened: it drives a Loupe station and the contract's floor through the same
 * MQTT path, and each answers every frame it is sent (the bench fails a part without a result
 * within 30 s), so both ratios compare stations that did the contract's work.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { benchPipeline } from '../../bench/pipeline.ts';
import { tempDir } from '../support/temp.ts';

const short = {
  distinctImages: 4,
  warmupParts: 20,
  blocks: 1,
  blockParts: 24,
  rawIterations: 6,
  latencyParts: 10,
  maxSeconds: 60,
};

describe('the pipeline bench', () => {
  for (const station of ['loupe', 'floor'] as const) {
    it(`measures ${station === 'loupe' ? 'a Loupe station' : 'the contract floor'} with every part answered`, async () => {
      const figures = await benchPipeline({ ...short, station });
      expect(figures.benchParts).toBe(20 + 24 + 10 + 10); // warm-up, one block, latency at 50% and 90%
      expect(figures.partsPerSecond).toBeGreaterThan(0);
      expect(figures.overheadRatio).toBeGreaterThan(0.5); // a real CPU ratio, not a placeholder
      expect(figures.overheadRatio).toBeLessThan(5);
      expect(figures.rssMb).toBeGreaterThan(50);
    }, 90_000);
  }

  it('is void when the station does not score the frames it is sent (frames of another kind of part)', async () => {
    // Flat grey frames: the bracket model's quality check refuses them without running the model,
    // which would make the station look several times faster than it is.
    const frames = path.join(await tempDir('loupe-frames-'), 'flat');
    await mkdir(frames);
    for (const name of ['a.png', 'b.png'])
      await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toFile(path.join(frames, name));
    await expect(benchPipeline({ ...short, framesDir: frames })).rejects.toThrow(/did not score .* image_quality/);
  }, 90_000);
});
