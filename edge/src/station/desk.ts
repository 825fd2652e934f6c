/**
 * The review desk of a station: the reviews waiting for a person, their deadlines, a person's
 * decision, and the default action when no one decides in time. Each closing is on disk before its
 * verdict goes out; on a full disk a decision is refused (nothing happened) or its verdict is held
 * until space is back. The rules of one decision per part live in the pure ReviewBook (review/book.ts).
 */
import type { Decision, Result, Review } from '../../../contract/payloads.ts';
import { regionRefusal } from '../../../contract/region.ts';
import { ReviewBook, type Closing, type OpenReview } from '../review/book.ts';
import type { Suggestion } from '../review/suggest.ts';
import { StorageFull } from '../storage/health.ts';
import { reviewMessage, tell, verdictMessage } from './messages.ts';
import type { StationCore } from './types.ts';

/** How long a deadline is tried again while the disk is full (ms). */
const FULL_DISK_RETRY_MS = 5000;

export class ReviewDesk {
  private readonly book = new ReviewBook();
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  /** reviews decided while the disk was full, whose verdict waits for space (their decision is on disk) */
  private readonly unannounced: (Closing & { requestId?: string })[] = [];

  constructor(private readonly core: StationCore) {}

  get openCount(): number {
    return this.book.openCount;
  }

  /** Part ids of the reviews waiting for a person. */
  openPartIds(): string[] {
    return this.book.pending().map((review) => review.partId);
  }

  /**
   * The closings of the last 30 days as calibration learns from them (proposals, what-if): learnt
   * from the settled answer where two people disagreed.
   */
  settledClosings(): Closing[] {
    const closings = this.core.deps.reviews.closings(30);
    return this.core.deps.second?.learnFrom(closings) ?? closings;
  }

  isOpen(partId: string): boolean {
    return this.book.get(partId) !== undefined;
  }

  /** A closing from before a restart: a decision sent again is recognised. */
  remember(closing: Closing): void {
    this.book.remember(closing);
  }

  /**
   * A review open before a restart waits again, its deadline as it was; published again, so a broker
   * that lost its retained messages (or a dashboard that never saw them) learns of it.
   */
  reopen(review: OpenReview): void {
    this.book.openReview(review);
    if (review.message) this.core.deps.link.publishReview(review.message);
    this.schedule(review.partId, review.deadline - Date.now());
  }

  /** A closing whose verdict is still owed (decided just before a stop, or while the disk was full). */
  hold(closing: Closing & { requestId?: string }): void {
    this.unannounced.push(closing);
  }

  /** Opens the review of a part: on disk before anyone is told. Answers the review message. */
  open(result: Result, suggestion: Suggestion | null): Review {
    const now = Date.now();
    const review = reviewMessage(this.core.at, this.core.deps.config, result, now, suggestion);
    const deadline = now + this.core.deps.config.review.deadlineSeconds * 1000;
    const open = {
      partId: result.partId,
      score: result.score,
      reasons: result.reasons,
      openedAt: now,
      deadline,
      message: review,
      result,
    };
    this.core.deps.reviews.opened(open);
    this.book.openReview(open);
    this.schedule(result.partId, deadline - now);
    return review;
  }

  /** A review opened on disk whose result could not be sent: it is not waiting for anyone. */
  unopen(partId: string): void {
    this.unschedule(partId);
    const closing = this.book.expire(partId, 'hold', Date.now());
    // Recorded as held when the disk allows; a restart otherwise finds it open and asks a person again.
    if (closing) this.close(closing);
  }

  /** A person's decision on a review (or a correction of one); refusals go to the error topic. */
  decide(decision: Decision): void {
    const { config, link, log, defectLog, second, categories } = this.core.deps;
    const refuse = (code: Parameters<typeof link.refuse>[1], message: string) =>
      link.refuse(link.decisionTopic, code, message, decision.partId, decision.requestId);
    if (decision.category !== undefined && !config.defectCategories.includes(decision.category)) {
      return refuse(
        'invalid_payload',
        `part ${decision.partId}: category "${decision.category}" is not one of ${config.defectCategories.join(', ')}`,
      );
    }
    const badRegion = regionRefusal(decision); // marking where: a region goes with reject only
    if (badRegion) return refuse('invalid_payload', badRegion);
    const outcome = this.book.decide(decision, Date.now());
    switch (outcome.kind) {
      case 'decided': {
        this.unschedule(decision.partId);
        log.info({ partId: decision.partId, verdict: outcome.closing.verdict, user: decision.user }, 'review decided');
        const logDecision = () =>
          defectLog?.decision(
            this.core.at.line,
            this.core.at.station,
            decision,
            new Date(outcome.closing.at).toISOString(),
          );
        if (this.close(outcome.closing, decision.requestId, logDecision) === 'not_recorded') {
          // Nothing was written: the review is open again and the person is told to try again.
          this.book.reopen(outcome.review);
          this.schedule(decision.partId, outcome.review.deadline - Date.now());
          return refuse(
            'storage_full',
            `part ${decision.partId}: the station disk is full and cannot record the decision; the review stays open, decide again once space is back`,
          );
        }
        if (second && second.share > 0 && second.consider(outcome.closing, this.core.random()))
          log.info({ partId: decision.partId }, 'queued for a second opinion');
        if (decision.decision === 'reject' && decision.category)
          categories?.labelled(decision.partId, decision.category, decision.user, outcome.closing.at);
        return;
      }
      case 'corrected':
        log.warn(
          {
            partId: decision.partId,
            verdict: outcome.closing.verdict,
            was: outcome.previous.verdict,
            user: decision.user,
          },
          'decision corrected',
        );
        defectLog?.decision(
          this.core.at.line,
          this.core.at.station,
          decision,
          new Date(outcome.closing.at).toISOString(),
        );
        if (this.close(outcome.closing, decision.requestId) === 'not_recorded') {
          refuse(
            'storage_full',
            `part ${decision.partId}: the station disk is full and cannot record the correction; send it again once space is back`,
          );
        }
        return;
      case 'duplicate':
        log.info({ partId: decision.partId }, 'same decision received again; nothing changes');
        return;
      case 'conflict':
        return refuse('conflict', outcome.message);
      case 'unknown':
        return refuse('unknown_part', outcome.message);
    }
  }

  /** Sends the verdicts of reviews decided while the disk was full, once it can record them. */
  announceHeld(): void {
    const { link, reviews, defectLog } = this.core.deps;
    while (this.unannounced.length > 0) {
      const closing = this.unannounced[0];
      try {
        const verdict = verdictMessage(this.core.at, closing);
        defectLog?.verdict(verdict);
        link.closeReview(verdict);
        reviews.announced(closing.partId);
      } catch (error) {
        if (error instanceof StorageFull) return; // again when space is back
        throw error;
      }
      this.unannounced.shift();
    }
  }

  stop(): void {
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
  }

  private expire(partId: string): void {
    this.deadlines.delete(partId);
    const review = this.book.get(partId);
    const closing = this.book.expire(partId, this.core.deps.config.review.defaultAction, Date.now());
    if (!closing || !review) return;
    this.core.deps.log.info({ partId, verdict: closing.verdict }, 'review deadline passed; default action applied');
    if (this.close(closing) === 'not_recorded') {
      // The disk is full: the review stays open, and its deadline is tried again.
      this.book.reopen(review);
      this.schedule(partId, FULL_DISK_RETRY_MS);
    }
  }

  /**
   * Records a closing: the decision on disk before the verdict goes out, and the review marked
   * closed after. On a full disk: `not_recorded` when the decision could not be written (nothing
   * happened), `held` when it was written but its verdict could not be (sent once space is back).
   */
  private close(closing: Closing, requestId?: string, recorded?: () => void): 'closed' | 'held' | 'not_recorded' {
    const { reviews, link, defectLog, log } = this.core.deps;
    let written = false;
    try {
      reviews.closed(closing, () => {
        written = true;
        // What the caller logs once the closing is on disk comes before the verdict in the part's timeline.
        recorded?.();
        const verdict = verdictMessage(this.core.at, { ...closing, requestId });
        defectLog?.verdict(verdict);
        link.closeReview(verdict);
        tell(this.core.observers, log, null, verdict);
      });
      return 'closed';
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      this.core.storage.full(`the decision of part ${closing.partId}`, error);
      if (!written) return 'not_recorded';
      this.hold({ ...closing, ...(requestId !== undefined ? { requestId } : {}) });
      return 'held';
    }
  }

  private schedule(partId: string, ms: number): void {
    this.deadlines.set(
      partId,
      setTimeout(() => this.expire(partId), Math.max(0, ms)),
    );
  }

  private unschedule(partId: string): void {
    clearTimeout(this.deadlines.get(partId));
    this.deadlines.delete(partId);
  }
}
