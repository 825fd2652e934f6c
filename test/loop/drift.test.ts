import { describe, expect, it } from 'vitest';
import { checkPayload } from '../../contract/validate.ts';
import { StatusSchema } from '../../contract/payloads.ts';
import { assess, DriftWatch, emptyDrift, kolmogorovSmirnov, observe } from '../../edge/src/review/drift.ts';
import { rng } from '../../lab/synth.ts';
import { tempDir } from '../support/temp.ts';

const window = 200;
/** A line: passed scores around `level`, a `reviewShare` of parts sent to a person. */
function run(state = emptyDrift(), random: () => number, parts: number, level: number, reviewShare: number) {
  for (let i = 0; i < parts; i++) {
    const review = random() < reviewShare;
    observe(
      state,
      { verdict: review ? 'review' : 'pass', score: review ? 5 : level * (0.8 + 0.4 * random()) },
      { window },
    );
  }
  return state;
}

describe('drift', () => {
  it('stays quiet on a steady line, over many seeds', () => {
    let alarms = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const random = rng(seed);
      const drift = assess(run(undefined, random, 3 * window, 1, 0.05), { window });
      expect(drift).not.toBeNull();
      if (drift?.detected) alarms++;
    }
    expect(alarms).toBe(0);
  });

  it('says the passed scores shifted when a lamp dims, with the evidence', () => {
    const random = rng(3);
    const state = run(undefined, random, 2 * window, 1, 0.05);
    run(state, random, 2 * window, 1.3, 0.05);
    const drift = assess(state, { window });
    expect(drift).toMatchObject({ detected: true, signals: ['passed_scores'] });
    expect(drift?.passedScores?.recentMedian).toBeGreaterThan(drift?.passedScores?.referenceMedian as number);
    expect(drift?.passedScores?.pValue).toBeLessThan(0.001);
  });

  it('says the review rate jumped, and not the scores, when more parts go to people', () => {
    const random = rng(4);
    const state = run(undefined, random, 2 * window, 1, 0.05);
    run(state, random, 2 * window, 1, 0.25);
    const drift = assess(state, { window });
    expect(drift?.signals).toEqual(['review_rate']);
    expect(drift?.reviewRate?.recent).toBeGreaterThan(0.15);
  });

  it('knows nothing before its windows fill', () => {
    expect(assess(run(undefined, rng(5), window - 1, 1, 0.05), { window })).toBeNull();
  });

  it('measures the two-sample statistic as the largest gap between the distributions', () => {
    expect(kolmogorovSmirnov([1, 2, 3, 4], [1, 2, 3, 4]).statistic).toBe(0);
    expect(kolmogorovSmirnov([1, 2, 3, 4], [5, 6, 7, 8]).statistic).toBe(1);
  });

  it('keeps its reference across a SIGKILL-like stop (no close), and fits the status schema', async () => {
    const dir = await tempDir('loupe-drift-');
    const first = new DriftWatch(dir, { window });
    const random = rng(6);
    for (let i = 0; i < window; i++) first.observe({ verdict: 'pass', score: 1 + random() * 0.1 });
    // The reference is written the moment it is complete; the process dies without closing.
    const second = new DriftWatch(dir, { window });
    for (let i = 0; i < window; i++) second.observe({ verdict: 'pass', score: 2 + random() * 0.1 });
    const drift = second.assess();
    expect(drift?.detected).toBe(true);
    const status = {
      schema: 'loupe/status@1',
      line: 'l',
      station: 's',
      state: 'online',
      drift,
      at: new Date().toISOString(),
    };
    expect(checkPayload(StatusSchema, status).ok).toBe(true);
    second.rebase();
    expect(second.assess()).toBeNull();
    first.close();
    second.close();
  });
});
