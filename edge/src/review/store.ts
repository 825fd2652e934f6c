/**
 * Where a station keeps its reviews: the ones still open and the decided history, as tables of the
 * station's store (edge/src/store/), and a histogram of every score seen (for the review rate a
 * threshold change would give) in a small lowdb document. Opening a review, and closing one with its
 * decision and its verdict, are each one transition of the store, written before the matching message
 * is published: after a SIGKILL, nothing decided is forgotten and nothing open is lost.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { jsonDocument } from '../../../shared/json-document.ts';
import type { Closing, OpenReview } from './book.ts';
import { StationStore } from '../store/store.ts';

export interface ReviewStore {
  openReviews(): OpenReview[];
  /** closings of the last `days` days, oldest first */
  closings(days?: number): Closing[];
  /**
   * Reviews decided just before the process died, after their decision was written and before they
   * were marked closed: their clearing and verdict may never have reached the outbox.
   */
  unannounced(): Closing[];
  /**
   * An unannounced review's clearing and verdict are in the outbox now: it is marked closed, so the
   * next start does not send them again.
   */
  announced(partId: string): void;
  opened(review: OpenReview): void;
  /**
   * Records a review decided or expired: the decision first, then `announce` (the station writes the
   * review's clearing and its verdict to the outbox), then the review's closed mark. A crash before
   * the mark leaves the decision with the review still open, and the next start finds it in
   * `unannounced`.
   */
  closed(closing: Closing, announce?: () => void): void;
  scored(score: number): void;
  scoreHistogram(): ScoreHistogram;
}

/** Counts of scores in log-spaced bins from 1e-3 to 1e4 (scores of every model we ship fall inside). */
export class ScoreHistogram {
  static readonly BINS = 280;
  static readonly LOW = -3;
  static readonly HIGH = 4;
  constructor(readonly counts: number[] = new Array(ScoreHistogram.BINS).fill(0)) {}

  static binOf(score: number): number {
    const x = Math.log10(Math.max(score, 1e-3));
    const bin = Math.floor(
      ((x - ScoreHistogram.LOW) / (ScoreHistogram.HIGH - ScoreHistogram.LOW)) * ScoreHistogram.BINS,
    );
    return Math.min(ScoreHistogram.BINS - 1, Math.max(0, bin));
  }

  static lowerEdge(bin: number): number {
    return 10 ** (ScoreHistogram.LOW + (bin / ScoreHistogram.BINS) * (ScoreHistogram.HIGH - ScoreHistogram.LOW));
  }

  add(score: number): void {
    this.counts[ScoreHistogram.binOf(score)] += 1;
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** Share of scores in [from, to), to the resolution of a bin (about 6% of the score). */
  share(from: number, to: number): number {
    const total = this.total;
    if (total === 0 || !(to > from)) return 0;
    let inside = 0;
    for (let bin = ScoreHistogram.binOf(from); bin < ScoreHistogram.binOf(to); bin++) inside += this.counts[bin];
    return inside / total;
  }
}

export class FileReviewStore implements ReviewStore {
  readonly store: StationStore;
  private readonly open = new Map<string, OpenReview>();
  private readonly decidedAtStart: Closing[] = [];
  /** closings whose transition failed (a full disk) after the verdict was asked for: recorded when announced */
  private readonly held = new Map<string, Closing>();
  private readonly histogram: ScoreHistogram;
  private readonly scoresDb: LowSync<{ counts: number[] }>;
  private scoresDirty = false;
  private readonly timer: NodeJS.Timeout;
  private readonly owned: boolean;

  /** `dir`: the station's state folder; `store`: the station's store when the caller has opened it */
  constructor(
    private readonly dir: string,
    store?: StationStore,
  ) {
    mkdirSync(dir, { recursive: true });
    this.store = store ?? StationStore.at(dir);
    this.owned = !store;
    this.load();
    this.scoresDb = jsonDocument<{ counts: number[] }>(
      path.join(dir, 'scores.json'),
      { counts: new Array(ScoreHistogram.BINS).fill(0) },
      'score histogram (statistics)',
    );
    this.histogram = new ScoreHistogram(
      this.scoresDb.data.counts.length === ScoreHistogram.BINS ? this.scoresDb.data.counts : undefined,
    );
    // The histogram is statistics, not a record: written every few seconds, not per part.
    this.timer = setInterval(() => this.flushScores(), 5000);
    this.timer.unref();
  }

  openReviews(): OpenReview[] {
    return [...this.open.values()];
  }

  closings(days = 2): Closing[] {
    const db = this.store.db;
    const recent = (
      db.prepare('SELECT DISTINCT day FROM decisions ORDER BY day DESC LIMIT ?').all(days) as { day: string }[]
    ).map((row) => row.day);
    if (recent.length === 0) return [];
    const rows = db
      .prepare('SELECT closing FROM decisions WHERE day >= ? ORDER BY day, seq')
      .all(recent[recent.length - 1]) as { closing: string }[];
    const all = rows.map((row) => JSON.parse(row.closing) as Closing);
    // A correction replaces the decision it corrects: calibration, export and refit see the part once, as corrected.
    const replaced = new Set<Closing>();
    const last = new Map<string, Closing>();
    for (const closing of all) {
      const before = last.get(closing.partId);
      if (closing.corrects && before) replaced.add(before);
      last.set(closing.partId, closing);
    }
    return replaced.size === 0 ? all : all.filter((closing) => !replaced.has(closing));
  }

  unannounced(): Closing[] {
    return [...this.decidedAtStart];
  }

  announced(partId: string): void {
    const index = this.decidedAtStart.findIndex((closing) => closing.partId === partId);
    if (index >= 0) {
      this.store.transition(() => this.forget(partId), 'the open reviews');
      this.decidedAtStart.splice(index, 1);
      return;
    }
    // Decided in this process, its transition refused by a full disk: recorded now, with its verdict.
    const closing = this.held.get(partId);
    if (!closing) return;
    this.store.transition(() => {
      this.record(closing);
      this.forget(partId);
    }, 'the decided reviews');
    this.held.delete(partId);
    this.open.delete(partId);
  }

  opened(review: OpenReview): void {
    this.store.transition(
      () =>
        this.store.db
          .prepare('INSERT OR REPLACE INTO open_reviews VALUES (?, ?)')
          .run(review.partId, JSON.stringify(review)),
      'the open reviews',
    );
    this.store.after(() => this.open.set(review.partId, review));
  }

  /**
   * Records a review decided or expired: the decision, what `announce` writes (the station puts the
   * review's clearing and its verdict in the outbox) and the review's closed mark are one transition.
   */
  closed(closing: Closing, announce?: () => void): void {
    let asked = false;
    try {
      this.store.transition(() => {
        this.record(closing);
        asked = announce !== undefined;
        announce?.();
        this.forget(closing.partId);
      }, 'the decided reviews');
    } catch (error) {
      // The station holds the verdict back and announces it once there is space: recorded then.
      if (asked) this.held.set(closing.partId, closing);
      throw error;
    }
    this.store.after(() => this.open.delete(closing.partId));
  }

  scored(score: number): void {
    this.histogram.add(score);
    this.scoresDirty = true;
  }

  scoreHistogram(): ScoreHistogram {
    return this.histogram;
  }

  flushScores(): void {
    if (!this.scoresDirty) return;
    this.scoresDb.data.counts = this.histogram.counts;
    try {
      this.scoresDb.write();
      this.scoresDirty = false;
    } catch {
      // statistics, not a record (a full disk, say): written again at the next flush
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flushScores();
    if (this.owned) this.store.close();
  }

  private record(closing: Closing): void {
    this.store.db
      .prepare('INSERT INTO decisions (part_id, day, closing) VALUES (?, ?, ?)')
      .run(closing.partId, new Date(closing.at).toISOString().slice(0, 10), JSON.stringify(closing));
  }

  private forget(partId: string): void {
    this.store.db.prepare('DELETE FROM open_reviews WHERE part_id = ?').run(partId);
  }

  /** The open reviews, one read of the store (older journals are migrated into it when it opens). */
  private load(): void {
    for (const row of this.store.db.prepare('SELECT review FROM open_reviews ORDER BY rowid').all() as {
      review: string;
    }[]) {
      const review = JSON.parse(row.review) as OpenReview;
      this.open.set(review.partId, review);
    }
    // Decided, but not marked closed: only in a journal migrated from before the store, whose process
    // died in between. Not open any more; the station sends their clearing and verdict again and then
    // marks them closed (`announced`). A decision older than the open review belongs to an earlier
    // review of a part id used again.
    if (this.open.size === 0) return;
    for (const closing of this.closings()) {
      const review = this.open.get(closing.partId);
      if (!review || closing.at < review.openedAt) continue;
      this.open.delete(closing.partId);
      this.decidedAtStart.push(closing);
    }
  }
}
