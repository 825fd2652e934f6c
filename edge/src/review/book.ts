/**
 * The review book of one station: which parts wait for a person, and what was decided. A pure
 * state machine with no I/O and no clock of its own (time is passed in), so its rules are tested
 * directly: one decision per part, the same decision twice is harmless, a conflicting one is refused
 * unless it says it is a correction, which replaces the decision and keeps what it replaced.
 */
import type { Reason, Region, Result, Review } from '../../../contract/payloads.ts';
import type { FinalVerdict, HumanAnswer } from '../../../contract/vocabulary.ts';

export type { FinalVerdict } from '../../../contract/vocabulary.ts';

export interface OpenReview {
  partId: string;
  score: number | null;
  reasons: Reason[];
  openedAt: number;
  deadline: number;
  /** the review message as published, so it can be published again after a restart */
  message?: Review;
  /** the part's result, so a repeated frame or trigger after a restart gets the same answer */
  result?: Result;
}

export interface Closing {
  partId: string;
  score: number | null;
  verdict: FinalVerdict;
  decidedBy: 'human' | 'timeout';
  user?: string;
  category?: string;
  note?: string;
  /** where the person marked the defect (a reject only); kept with the decision, exported as its mask */
  region?: Region;
  at: number;
  result?: Result;
  /** on a correction: the closing it replaced */
  corrects?: Pick<Closing, 'verdict' | 'decidedBy' | 'user' | 'category' | 'at'>;
}

export type DecideOutcome =
  | { kind: 'decided'; closing: Closing; review: OpenReview }
  | { kind: 'corrected'; closing: Closing; previous: Closing }
  | { kind: 'duplicate'; closing: Closing }
  | { kind: 'conflict'; closing: Closing; message: string }
  | { kind: 'unknown'; message: string };

export interface HumanDecision {
  partId: string;
  decision: HumanAnswer;
  user: string;
  category?: string;
  note?: string;
  region?: Region;
  /** replaces the decision already taken on the part */
  correction?: boolean;
}

export class ReviewBook {
  private readonly open = new Map<string, OpenReview>();
  private readonly closed = new Map<string, Closing>();

  constructor(private readonly keepClosed = 10_000) {}

  openReview(review: OpenReview): void {
    this.open.set(review.partId, review);
  }

  /** Opens again a review whose closing could not be recorded (a full disk). */
  reopen(review: OpenReview): void {
    this.closed.delete(review.partId);
    this.open.set(review.partId, review);
  }

  /** Records a closing; also brings back what was decided before a restart, so repeats and conflicts are still recognised. */
  remember(closing: Closing): void {
    this.open.delete(closing.partId);
    this.closed.set(closing.partId, closing);
    if (this.closed.size > this.keepClosed) this.closed.delete(this.closed.keys().next().value as string);
  }

  get openCount(): number {
    return this.open.size;
  }

  pending(): OpenReview[] {
    return [...this.open.values()];
  }

  get(partId: string): OpenReview | undefined {
    return this.open.get(partId);
  }

  decide(decision: HumanDecision, now: number): DecideOutcome {
    const verdict: FinalVerdict = decision.decision === 'accept' ? 'pass' : 'reject';
    // An open review comes first: a part id used again has a new review while the earlier part's closing is remembered.
    const done = this.open.has(decision.partId) ? undefined : this.closed.get(decision.partId);
    if (done) {
      const same =
        done.decidedBy === 'human' &&
        done.verdict === verdict &&
        done.user === decision.user &&
        done.category === decision.category;
      if (same) return { kind: 'duplicate', closing: done };
      if (decision.correction) {
        const { verdict: was, decidedBy, user, category, at } = done;
        const closing: Closing = {
          partId: decision.partId,
          score: done.score,
          verdict,
          decidedBy: 'human',
          user: decision.user,
          at: now,
          ...(done.result ? { result: done.result } : {}),
        };
        if (decision.category !== undefined) closing.category = decision.category;
        if (decision.note !== undefined) closing.note = decision.note;
        if (decision.region !== undefined && verdict === 'reject') closing.region = decision.region;
        closing.corrects = {
          verdict: was,
          decidedBy,
          at,
          ...(user !== undefined ? { user } : {}),
          ...(category !== undefined ? { category } : {}),
        };
        this.remember(closing);
        return { kind: 'corrected', closing, previous: done };
      }
      const who = done.decidedBy === 'human' ? `by ${done.user}` : 'by timeout';
      return {
        kind: 'conflict',
        closing: done,
        message: `part ${decision.partId} was already decided ${who} as ${done.verdict}`,
      };
    }
    const review = this.open.get(decision.partId);
    if (!review)
      return {
        kind: 'unknown',
        message: decision.correction
          ? `part ${decision.partId} has no decision to correct`
          : `no review is open for part ${decision.partId}`,
      };
    const closing: Closing = {
      partId: decision.partId,
      score: review.score,
      verdict,
      decidedBy: 'human',
      user: decision.user,
      at: now,
      ...(review.result ? { result: review.result } : {}),
    };
    if (decision.category !== undefined) closing.category = decision.category;
    if (decision.note !== undefined) closing.note = decision.note;
    if (decision.region !== undefined && verdict === 'reject') closing.region = decision.region;
    this.remember(closing);
    return { kind: 'decided', closing, review };
  }

  /** Applies the default action to a review whose deadline has passed; null when it was already decided. */
  expire(partId: string, defaultAction: FinalVerdict, now: number): Closing | null {
    const review = this.open.get(partId);
    if (!review) return null;
    const closing: Closing = {
      partId,
      score: review.score,
      verdict: defaultAction,
      decidedBy: 'timeout',
      at: now,
      ...(review.result ? { result: review.result } : {}),
    };
    this.remember(closing);
    return closing;
  }
}
