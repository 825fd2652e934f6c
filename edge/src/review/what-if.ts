/**
 * Threshold what-if: before a manager approves thresholds, what each setting would have done to the
 * station's decided history. A pure function of the decisions people made (their scores and
 * verdicts) and the histogram of every score seen: for each setting, the share of parts that would
 * go to a person, the parts people rejected that would have passed unseen (escapes) and the parts
 * people accepted that would have been rejected unseen (false rejects). Timeouts are no label and
 * count for neither.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Thresholds } from '../../../config/schema.ts';
import type { Closing } from './book.ts';
import type { ScoreHistogram } from './store.ts';

const Setting = Type.Object(
  {
    passBelow: Type.Number(),
    rejectAbove: Type.Number(),
    reviewRate: Type.Union([Type.Number(), Type.Null()], {
      description:
        'share of all scored parts a person would see (review band plus audit); null before any score is seen',
    }),
    escapes: Type.Integer({ description: 'parts people rejected that would pass unseen (score below passBelow)' }),
    falseRejects: Type.Integer({
      description: 'parts people accepted that would be rejected unseen (score at or above rejectAbove)',
    }),
    reviewed: Type.Integer({ description: 'decided parts that would still go to a person' }),
  },
  { additionalProperties: false },
);

export const WhatIfSchema = Type.Object(
  {
    station: Type.String(),
    current: Type.Object({ passBelow: Type.Number(), rejectAbove: Type.Number() }, { additionalProperties: false }),
    decisions: Type.Integer({ description: 'human decisions with a score the projection rests on' }),
    rejected: Type.Integer(),
    accepted: Type.Integer(),
    scored: Type.Integer({ description: 'parts scored (the review rate rests on these)' }),
    settings: Type.Array(Setting),
    distribution: Type.Object(
      {
        edges: Type.Array(Type.Number(), {
          description: 'bin edges, log-spaced over the decided scores (one more than each count list)',
        }),
        accepted: Type.Array(Type.Integer(), { description: 'person-accepted parts per bin' }),
        rejected: Type.Array(Type.Integer(), { description: 'person-rejected parts per bin' }),
      },
      { additionalProperties: false, description: 'the decided history the settings rest on, for drawing it' },
    ),
  },
  { additionalProperties: false, $id: 'WhatIf' },
);
export type WhatIf = Static<typeof WhatIfSchema>;
export type WhatIfSetting = Static<typeof Setting>;

export interface History {
  rejected: number[];
  accepted: number[];
}

/** The scores people labelled, sorted, from the closings (human decisions with a score only). */
export function historyOf(closings: Closing[]): History {
  const human = closings.filter((c) => c.decidedBy === 'human' && c.score !== null);
  const sorted = (verdict: 'pass' | 'reject') =>
    human
      .filter((c) => c.verdict === verdict)
      .map((c) => c.score as number)
      .sort((a, b) => a - b);
  return { rejected: sorted('reject'), accepted: sorted('pass') };
}

/** Number of sorted values below x. */
function below(sorted: number[], x: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] < x) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function project(
  history: History,
  scores: ScoreHistogram | null,
  setting: Thresholds,
  auditShare = 0,
): WhatIfSetting {
  const { passBelow, rejectAbove } = setting;
  const escapes = below(history.rejected, passBelow);
  const falseRejects = history.accepted.length - below(history.accepted, rejectAbove);
  const inBand = (sorted: number[]) => below(sorted, rejectAbove) - below(sorted, passBelow);
  const reviewRate =
    scores && scores.total > 0 ? scores.share(passBelow, rejectAbove) + auditShare * scores.share(0, passBelow) : null;
  return {
    passBelow,
    rejectAbove,
    reviewRate,
    escapes,
    falseRejects,
    reviewed: inBand(history.rejected) + inBand(history.accepted),
  };
}

/**
 * The decided scores in `bins` log-spaced bins from the lowest to the highest positive score (scores
 * span decades); a score of zero or less falls in the first bin. No bins before any decision.
 */
export function distributionOf(history: History, bins = 40): WhatIf['distribution'] {
  const all = [...history.rejected, ...history.accepted];
  const positive = all.filter((s) => s > 0);
  if (positive.length === 0) return { edges: [], accepted: [], rejected: [] };
  const low = Math.min(...positive);
  const high = Math.max(Math.max(...positive), low * 1.0001);
  const edges = Array.from({ length: bins + 1 }, (_, i) => low * (high / low) ** (i / bins));
  const count = (scores: number[]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const s of scores)
      counts[s <= low ? 0 : Math.min(bins - 1, Math.floor((Math.log(s / low) / Math.log(high / low)) * bins))]++;
    return counts;
  };
  return { edges, accepted: count(history.accepted), rejected: count(history.rejected) };
}

/**
 * A grid of settings around the decided scores: passBelow at each of `steps` points from the lowest
 * to the highest decided score (log-spaced, scores span decades), rejectAbove held where it is
 * unless given; or the one setting asked for.
 */
export function whatIf(
  station: string,
  closings: Closing[],
  current: Thresholds,
  scores: ScoreHistogram | null,
  ask: { passBelow?: number; rejectAbove?: number; steps?: number; auditShare?: number } = {},
): WhatIf {
  const history = historyOf(closings);
  const audit = ask.auditShare ?? 0;
  let settings: Thresholds[];
  if (ask.passBelow !== undefined || ask.rejectAbove !== undefined) {
    settings = [{ passBelow: ask.passBelow ?? current.passBelow, rejectAbove: ask.rejectAbove ?? current.rejectAbove }];
  } else {
    const all = [...history.rejected, ...history.accepted].filter((s) => s > 0);
    const steps = Math.max(2, Math.min(200, ask.steps ?? 25));
    const low = all.length > 0 ? Math.min(...all) : current.passBelow / 4;
    const high = Math.max(all.length > 0 ? Math.max(...all) : current.rejectAbove, low * 1.0001);
    settings = [];
    for (let i = 0; i < steps; i++) {
      const passBelow = low * (high / low) ** (i / (steps - 1));
      settings.push({ passBelow, rejectAbove: Math.max(passBelow, current.rejectAbove) });
    }
  }
  return {
    station,
    current,
    decisions: history.rejected.length + history.accepted.length,
    rejected: history.rejected.length,
    accepted: history.accepted.length,
    scored: scores?.total ?? 0,
    settings: settings.map((s) => project(history, scores, s, audit)),
    distribution: distributionOf(history),
  };
}
