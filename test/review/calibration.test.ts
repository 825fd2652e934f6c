import { describe, expect, it } from 'vitest';
import { propose } from '../../edge/src/decide/calibrate.ts';
import { rule } from '../../edge/src/decide/policy.ts';
import type { Closing } from '../../edge/src/review/book.ts';
import { ScoreHistogram } from '../../edge/src/review/store.ts';
import { rng } from '../../lab/synth.ts';

const human = (score: number, verdict: 'pass' | 'reject', i: number): Closing => ({
  partId: `p${i}`,
  score,
  verdict,
  decidedBy: 'human',
  user: 'ana',
  at: i,
});

describe('calibration', () => {
  it('never proposes a pass_below that would let a part a person rejected pass, over many random histories', () => {
    const random = rng(42);
    for (let trial = 0; trial < 500; trial++) {
      const closings: Closing[] = [];
      const n = 20 + Math.floor(random() * 200);
      for (let i = 0; i < n; i++) {
        const defective = random() < 0.3;
        // overlapping distributions: some defects score lower than some good parts
        const score = defective ? 3 + random() * 30 : random() * 12;
        closings.push(human(score, defective ? 'reject' : 'pass', i));
      }
      closings.push({ partId: 'late', score: 0.5, verdict: 'reject', decidedBy: 'timeout', at: n }); // a timeout is no label
      const current = { passBelow: 1 + random() * 20, rejectAbove: 40 };
      const proposal = propose(closings, current, null);
      if (!proposal.ok) continue;
      const lowestRejected = Math.min(
        ...closings.filter((c) => c.decidedBy === 'human' && c.verdict === 'reject').map((c) => c.score as number),
      );
      expect(proposal.thresholds.passBelow).toBeLessThanOrEqual(lowestRejected);
      expect(proposal.thresholds.passBelow).toBeLessThanOrEqual(proposal.thresholds.rejectAbove);
      expect(proposal.thresholds.passBelow).toBeLessThanOrEqual(current.passBelow * 1.5 + 1e-9);
    }
  });

  it('narrows the review band and says by how much, on the scores seen', () => {
    const closings: Closing[] = [];
    for (let i = 0; i < 40; i++) closings.push(human(2 + (i % 10) * 0.5, 'pass', i));
    for (let i = 0; i < 40; i++) closings.push(human(20 + i, 'reject', 100 + i));
    const scores = new ScoreHistogram();
    for (let i = 0; i < 1000; i++) scores.add(i < 900 ? 1 + (i % 50) * 0.1 : 6 + (i % 100) * 0.3);
    const proposal = propose(closings, { passBelow: 3, rejectAbove: 60 }, scores);
    expect(proposal.ok).toBe(true);
    if (!proposal.ok) return;
    expect(proposal).toMatchObject({ decisions: 80, rejected: 40, accepted: 40 });
    expect(proposal.thresholds.passBelow).toBeGreaterThan(3);
    expect(proposal.thresholds.rejectAbove).toBeLessThan(60);
    expect(proposal.projectedReviewRate).toBeLessThan(proposal.currentReviewRate);
  });

  it('refuses to propose on too few decisions, and says why', () => {
    const proposal = propose([human(1, 'pass', 1), human(9, 'reject', 2)], { passBelow: 3, rejectAbove: 6 }, null);
    expect(proposal).toMatchObject({
      ok: false,
      reason: 'needs at least 20 human decisions with 3 rejections; has 2 with 1',
    });
  });
});

describe('audit sampling', () => {
  it('sends the configured share of would-pass parts to review, within statistical bounds', () => {
    const random = rng(7);
    const n = 20_000;
    const share = 0.05;
    let audited = 0;
    for (let i = 0; i < n; i++)
      if (
        rule(0.1, { thresholds: { passBelow: 1, rejectAbove: 2 }, autoReject: true, auditShare: share }, random())
          .reasons[0] === 'audit'
      )
        audited++;
    const sigma = Math.sqrt(n * share * (1 - share));
    expect(Math.abs(audited - n * share)).toBeLessThan(4 * sigma);
  });
});
