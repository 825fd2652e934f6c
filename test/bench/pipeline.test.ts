/**
 * The pipeline bench, shortened: it drives a Loupe station and the contract's floor through the same
 * MQTT path, and each answers every frame it is sent (the bench fails a part without a result
 * within 30 s), so both ratios compare stations that did the contract's work.
 */
import { describe, expect, it } from 'vitest';
import { benchPipeline } from '../../bench/pipeline.ts';

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
});
