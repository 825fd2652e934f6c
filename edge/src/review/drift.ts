/**
 * Drift: a camera knocked, a lamp dimming or a new batch of material shifts the scores of parts that
 * pass long before anyone sees a defect, and a sudden rise in parts sent to people says the same from
 * the other side. This watch compares a reference window (the first parts after a start, a threshold
 * approval or a model swap) with the most recent window: the passed parts' scores by a two-sample
 * Kolmogorov-Smirnov test, the review rate by a one-sided two-proportion test. Both need significance
 * and a size that matters, so a busy line's tiny wobbles do not cry wolf. It only reports, with the
 * evidence, in the station's status: nothing changes automatically.
 *
 * The core (`observe`, `assess`) is pure; `DriftWatch` keeps its state in `drift.json` beside the
 * review state, the reference written the moment it is complete, the rolling window every few seconds.
 */
import path from 'node:path';
import type { LowSync } from 'lowdb';
import type { Drift } from '../../../contract/payloads.ts';
import type { Verdict } from '../../../contract/vocabulary.ts';
import { jsonDocument } from '../../../shared/json-document.ts';
import { isNoSpace } from '../storage/health.ts';

export interface DriftOptions {
  /** parts in each window (passed scores, and all parts for the review rate) */
  window?: number;
  /** significance a shift must reach */
  alpha?: number;
  /** the least KS statistic that counts as a shift */
  minStatistic?: number;
  /** the least rise of the review rate that counts: absolute, and as a factor of the reference */
  minRise?: number;
  minRiseFactor?: number;
}

export interface DriftState {
  /** passed scores of the reference window, once complete; null while it fills */
  reference: number[] | null;
  filling: number[];
  /** the last `window` passed scores, oldest first */
  recent: number[];
  /** the review rate's reference: parts and those sent to a person, frozen at `window` parts */
  referenceParts: number;
  referenceReviewed: number;
  /** the last `window` parts, 1 for one sent to a person */
  recentParts: number[];
}

export const emptyDrift = (): DriftState => ({
  reference: null,
  filling: [],
  recent: [],
  referenceParts: 0,
  referenceReviewed: 0,
  recentParts: [],
});

/** Takes one concluded part in. Returns true when a reference window (scores or review rate) was just completed. */
export function observe(
  state: DriftState,
  part: { verdict: Verdict; score: number | null },
  options: DriftOptions = {},
): boolean {
  const window = options.window ?? 500;
  let completed = false;
  if (state.referenceParts < window) {
    state.referenceParts += 1;
    if (part.verdict === 'review') state.referenceReviewed += 1;
    if (state.referenceParts === window) completed = true;
  } else {
    state.recentParts.push(part.verdict === 'review' ? 1 : 0);
    if (state.recentParts.length > window) state.recentParts.shift();
  }
  if (part.verdict === 'pass' && part.score !== null) {
    if (state.reference === null) {
      state.filling.push(part.score);
      if (state.filling.length >= window) {
        state.reference = state.filling;
        state.filling = [];
        completed = true;
      }
    } else {
      state.recent.push(part.score);
      if (state.recent.length > window) state.recent.shift();
    }
  }
  return completed;
}

/** The drift the state shows, once a recent window is full; null before. */
export function assess(state: DriftState, options: DriftOptions = {}): Drift | null {
  const window = options.window ?? 500;
  const alpha = options.alpha ?? 0.001;
  const drift: Drift = { detected: false, signals: [] };
  if (state.reference && state.recent.length >= window) {
    const { statistic, pValue } = kolmogorovSmirnov(state.reference, state.recent);
    drift.passedScores = {
      reference: state.reference.length,
      recent: state.recent.length,
      statistic,
      pValue,
      referenceMedian: median(state.reference),
      recentMedian: median(state.recent),
    };
    if (pValue < alpha && statistic >= (options.minStatistic ?? 0.2)) drift.signals.push('passed_scores');
  }
  if (state.referenceParts >= window && state.recentParts.length >= window) {
    const reference = state.referenceReviewed / state.referenceParts;
    const reviewed = state.recentParts.reduce((a, b) => a + b, 0);
    const recent = reviewed / state.recentParts.length;
    const pValue = riseTest(state.referenceReviewed, state.referenceParts, reviewed, state.recentParts.length);
    drift.reviewRate = {
      reference,
      recent,
      referenceParts: state.referenceParts,
      recentParts: state.recentParts.length,
      pValue,
    };
    const large = recent - reference >= Math.max(options.minRise ?? 0.02, (options.minRiseFactor ?? 0.5) * reference);
    if (pValue < alpha && large) drift.signals.push('review_rate');
  }
  if (!drift.passedScores && !drift.reviewRate) return null;
  drift.detected = drift.signals.length > 0;
  return drift;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Two-sample Kolmogorov-Smirnov: the statistic D and its asymptotic p-value. */
export function kolmogorovSmirnov(a: number[], b: number[]): { statistic: number; pValue: number } {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let statistic = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    statistic = Math.max(statistic, Math.abs(i / x.length - j / y.length));
  }
  const n = (x.length * y.length) / (x.length + y.length);
  const lambda = (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * statistic;
  let pValue = 0;
  for (let k = 1; k <= 100; k++) pValue += 2 * (k % 2 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
  return { statistic, pValue: Math.min(1, Math.max(0, lambda < 0.3 ? 1 : pValue)) };
}

/** One-sided p-value that the second proportion is higher than the first (pooled z-test). */
export function riseTest(x1: number, n1: number, x2: number, n2: number): number {
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return x2 / n2 > x1 / n1 ? 0 : 1;
  return 1 - normalCdf((x2 / n2 - x1 / n1) / se);
}

function normalCdf(z: number): number {
  // Abramowitz and Stegun 7.1.26 for erf
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** A station's drift watch, kept in `<state dir>/drift.json`. */
export class DriftWatch {
  private readonly db: LowSync<DriftState>;
  private dirty = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    dir: string,
    private readonly options: DriftOptions = {},
  ) {
    this.db = jsonDocument<DriftState>(path.join(dir, 'drift.json'), emptyDrift());
    // Statistics, not a record: the rolling window is written every few seconds, not per part.
    this.timer = setInterval(() => this.flush(), 5000);
    this.timer.unref();
  }

  observe(part: { verdict: Verdict; score: number | null }): void {
    const milestone = observe(this.db.data, part, this.options);
    this.dirty = true;
    if (milestone) this.flush();
  }

  assess(): Drift | null {
    return assess(this.db.data, this.options);
  }

  /** Starts a new reference (thresholds approved, model swapped: the old scores no longer compare). */
  rebase(): void {
    this.db.data = emptyDrift();
    this.dirty = true;
    this.flush();
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      this.db.write();
    } catch (error) {
      // A full disk: the window stays in memory and is written again on the next tick.
      if (!isNoSpace(error)) throw error;
      this.dirty = true;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
