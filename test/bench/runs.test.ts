/** `loupe bench --runs N`: each figure is the median over the runs, and the ratio's spread stays visible. */
import { describe, expect, it } from 'vitest';
import { medianOfRuns, overFloor } from '../../cli/bench.ts';

describe('the median of several bench runs', () => {
  it('takes each figure’s median, keeps every run’s overhead ratio and says how many runs there were', () => {
    const merged = medianOfRuns([
      { overheadRatio: 1.21, partsPerSecond: 150, rssMb: 290 },
      { overheadRatio: 1.06, partsPerSecond: 185, rssMb: 281 },
      { overheadRatio: 1.15, partsPerSecond: 170, rssMb: 295 },
    ]);
    expect(merged).toEqual({
      runs: 3,
      overheadRatio: 1.15,
      partsPerSecond: 170,
      rssMb: 290,
      overheadRatioRuns: [1.21, 1.06, 1.15],
    });
  });

  it('averages the middle two of an even number of runs, and skips a figure a run could not measure', () => {
    const merged = medianOfRuns([
      { overheadRatio: 1.1, p99Ms: Number.NaN },
      { overheadRatio: 1.2, p99Ms: 30 },
      { overheadRatio: 1.3, p99Ms: 40 },
      { overheadRatio: 1.4, p99Ms: 50 },
    ]);
    expect(merged.overheadRatio).toBe(1.25);
    expect(merged.p99Ms).toBe(40); // the median of the three measured
  });

  it('keeps every run of the contract floor’s ratio too', () => {
    const merged = medianOfRuns([
      { floorOverheadRatio: 1.04 },
      { floorOverheadRatio: 1.12 },
      { floorOverheadRatio: 1.09 },
    ]);
    expect(merged).toEqual({ runs: 3, floorOverheadRatio: 1.09, floorOverheadRatioRuns: [1.04, 1.12, 1.09] });
  });

  it('says what Loupe adds to the contract floor when both suites ran, and nothing otherwise', () => {
    expect(overFloor({ overheadRatio: 1.139, floorOverheadRatio: 1.051, rssMb: 245 })).toBe(1.084);
    expect(overFloor({ overheadRatio: 1.139 })).toBeUndefined();
    expect(overFloor({ floorOverheadRatio: 1.051 })).toBeUndefined();
    expect(overFloor({ overheadRatio: 1.139, floorOverheadRatio: Number.NaN })).toBeUndefined();
  });

  it('adds no ratio list for a suite without an overhead ratio', () => {
    expect(medianOfRuns([{ reviewToScreenP99Ms: 117 }, { reviewToScreenP99Ms: 92 }])).toEqual({
      runs: 2,
      reviewToScreenP99Ms: 104.5,
    });
  });
});
