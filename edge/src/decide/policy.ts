/**
 * The inspection policy of the product brief, as a pure function that rules on a score (its outcome
 * is a ruling; "decision" is kept for what a person decides on a review):
 *   score < passBelow            → pass (unless drawn for audit → review)
 *   score ≥ rejectAbove          → reject (review when auto-reject is off)
 *   otherwise                    → review
 * A part that could not be scored is never passed: it goes to review with its reason.
 */
import type { Reason } from '../../../contract/payloads.ts';
import type { Thresholds } from '../../../config/schema.ts';

export type { Verdict } from '../../../contract/vocabulary.ts';
import type { Verdict } from '../../../contract/vocabulary.ts';

export interface PolicySettings {
  thresholds: Thresholds;
  autoReject: boolean;
  auditShare: number;
}

/** What the policy rules for a part: its verdict, and why when it is not a plain pass or reject. */
export interface Ruling {
  verdict: Verdict;
  reasons: Reason[];
}

/**
 * @param draw a number in [0, 1) used for audit sampling; injected so tests and replays are
 *   deterministic.
 */
export function rule(score: number, settings: PolicySettings, draw: number): Ruling {
  const { passBelow, rejectAbove } = settings.thresholds;
  if (!Number.isFinite(score)) return { verdict: 'review', reasons: ['model_error'] };
  if (score < passBelow) {
    return draw < settings.auditShare ? { verdict: 'review', reasons: ['audit'] } : { verdict: 'pass', reasons: [] };
  }
  if (score >= rejectAbove) {
    return settings.autoReject ? { verdict: 'reject', reasons: [] } : { verdict: 'review', reasons: ['above_reject'] };
  }
  return { verdict: 'review', reasons: ['borderline'] };
}

/** A part that could not be scored: the reason travels with it, and it is never passed. */
export function failSafe(reason: Reason): Ruling {
  return { verdict: 'review', reasons: [reason] };
}
