/**
 * Threshold calibration from people's decisions, as a pure function. The rule that matters: no part
 * a person rejected may fall below `passBelow` (it would have shipped). Within that, the narrowest
 * review band: `passBelow` under the lowest person-rejected score by a margin that shrinks as
 * rejections accumulate (the lowest of three rejections says little about the faintest defect to
 * come; the lowest of three hundred says more), and rising at most 50% per approval; `rejectAbove`
 * a quarter above the highest person-accepted score, so no part people accepted, nor a good part a
 * little stranger than any seen, is rejected unseen.
 */
import type { Thresholds } from '../../../config/schema.ts';
import type { Closing } from '../review/book.ts';
import type { ScoreHistogram } from '../review/store.ts';

export interface CalibrationOptions {
  /** the least fraction passBelow stays under the lowest person-rejected score (more with few rejections) */
  margin?: number;
  /** the most passBelow may rise in one approval, as a factor */
  maxStep?: number;
  /** rejectAbove over the highest person-accepted score, as a factor: room for good parts not seen yet */
  headroom?: number;
  /** fewest human decisions, and person-rejected parts among them, a proposal may rest on */
  minDecisions?: number;
  minRejects?: number;
  auditShare?: number;
}

export type Proposal =
  | {
      ok: true;
      thresholds: Thresholds;
      current: Thresholds;
      decisions: number;
      rejected: number;
      accepted: number;
      projectedReviewRate: number;
      currentReviewRate: number;
    }
  | { ok: false; reason: string; decisions: number; current: Thresholds };

export function propose(
  closings: Closing[],
  current: Thresholds,
  scores: ScoreHistogram | null,
  options: CalibrationOptions = {},
): Proposal {
  const human = closings.filter((c) => c.decidedBy === 'human' && c.score !== null);
  const rejected = human.filter((c) => c.verdict === 'reject').map((c) => c.score as number);
  const accepted = human.filter((c) => c.verdict === 'pass').map((c) => c.score as number);
  const minDecisions = options.minDecisions ?? 20;
  const minRejects = options.minRejects ?? 3;
  if (human.length < minDecisions || rejected.length < minRejects) {
    return {
      ok: false,
      reason: `needs at least ${minDecisions} human decisions with ${minRejects} rejections; has ${human.length} with ${rejected.length}`,
      decisions: human.length,
      current,
    };
  }
  const lowestRejected = Math.min(...rejected);
  const highestAccepted = accepted.length > 0 ? Math.max(...accepted) : current.passBelow;
  const margin = Math.min(0.6, (options.margin ?? 0.1) + 1 / Math.sqrt(rejected.length));
  const passBelow = Math.min(lowestRejected * (1 - margin), current.passBelow * (options.maxStep ?? 1.5));
  // Just above the highest accepted part, but never below passBelow.
  const rejectAbove = Math.max(passBelow, highestAccepted * (options.headroom ?? 1.25));
  // Rounded towards caution: passBelow down, rejectAbove up, so rounding never lets a part through.
  const thresholds = {
    passBelow: Math.floor(passBelow * 10_000) / 10_000,
    rejectAbove: Math.ceil(rejectAbove * 10_000) / 10_000,
  };
  const audit = options.auditShare ?? 0;
  const reviewRate = (t: Thresholds) =>
    scores ? scores.share(t.passBelow, t.rejectAbove) + audit * scores.share(0, t.passBelow) : Number.NaN;
  return {
    ok: true,
    thresholds,
    current,
    decisions: human.length,
    rejected: rejected.length,
    accepted: accepted.length,
    projectedReviewRate: reviewRate(thresholds),
    currentReviewRate: reviewRate(current),
  };
}
