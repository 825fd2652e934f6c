/**
 * Where a station keeps what must survive a crash: the reviews still open (a journal of opened and
 * closed reviews, one JSON line each, rewritten as the open ones alone at start and once closed ones
 * are most of it), the decided history (append-only JSON lines, one file a day) and a histogram of
 * every score seen (for the review rate a threshold change would give). No write rewrites a file
 * that grows with the line's work, and writes happen before the matching message is published:
 * after a SIGKILL, nothing decided is forgotten and nothing open is lost.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { jsonDocument } from '../../../shared/json-document.ts';
import type { Closing, OpenReview } from './book.ts';
import { endCutShortLine, readJsonLines, writeFully } from '../json-lines.ts';
import { damagedMoved } from '../../../shared/damaged.ts';

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
    const bin = Math.floor(((x - ScoreHistogram.LOW) / (ScoreHistogram.HIGH - ScoreHistogram.LOW)) * ScoreHistogram.BINS);
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

/** A line of the open reviews' journal. */
type JournalLine = { opened: OpenReview } | { closed: string };

export class FileReviewStore implements ReviewStore {
  private readonly open = new Map<string, OpenReview>();
  private readonly decidedAtStart: Closing[] = [];
  private readonly journal: string;
  private fd = -1;
  private lines = 0;
  /** decision logs this process has appended to (their last line is known to be whole) */
  private readonly appending = new Set<string>();
  private readonly histogram: ScoreHistogram;
  private readonly scoresDb: LowSync<{ counts: number[] }>;
  private scoresDirty = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.journal = path.join(dir, 'open-reviews.jsonl');
    this.load();
    this.scoresDb = jsonDocument<{ counts: number[] }>(path.join(dir, 'scores.json'), { counts: new Array(ScoreHistogram.BINS).fill(0) }, 'score histogram (statistics)');
    this.histogram = new ScoreHistogram(this.scoresDb.data.counts.length === ScoreHistogram.BINS ? this.scoresDb.data.counts : undefined);
    // The histogram is statistics, not a record: written every few seconds, not per part.
    this.timer = setInterval(() => this.flushScores(), 5000);
    this.timer.unref();
  }

  openReviews(): OpenReview[] {
    return [...this.open.values()];
  }

  closings(days = 2): Closing[] {
    const files = readdirSync(this.dir)
      .filter((name) => /^decisions-\d{4}-\d{2}-\d{2}\.jsonl$/.test(name))
      .sort()
      .slice(-days);
    const all = files.flatMap((file) => readJsonLines<Closing>(path.join(this.dir, file), 'decided reviews', (v) => typeof (v as Closing).partId === 'string' && typeof (v as Closing).at === 'number'));
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
    if (index < 0) {
      // Decided in this process, its verdict held back by a full disk: closed now.
      if (!this.open.has(partId)) return;
      this.append({ closed: partId });
      this.open.delete(partId);
      return;
    }
    this.decidedAtStart.splice(index, 1);
    // The first write of a process rewrites the journal from the open reviews, which no longer hold
    // it; a later one appends its closed mark.
    this.append({ closed: partId });
  }

  opened(review: OpenReview): void {
    this.append({ opened: review });
    this.open.set(review.partId, review);
  }

  closed(closing: Closing, announce?: () => void): void {
    const file = path.join(this.dir, `decisions-${new Date(closing.at).toISOString().slice(0, 10)}.jsonl`);
    if (!this.appending.has(file)) {
      // A crash may have cut the last line short: end it, or this decision would join it and be lost too.
      endCutShortLine(file);
      this.appending.add(file);
    }
    try {
      appendLine(file, `${JSON.stringify(closing)}\n`, 'the decided reviews');
    } catch (error) {
      this.appending.delete(file); // a part of the line may be there: the next append ends it first
      throw error;
    }
    announce?.();
    if (!this.open.has(closing.partId)) return;
    this.append({ closed: closing.partId });
    this.open.delete(closing.partId);
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
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1; // never write through a descriptor the process may reuse
  }

  /**
   * The open reviews, from the journal (and from `open-reviews.json`, the single lowdb document
   * stations kept before, which rewrote every open review on every change).
   */
  private load(): void {
    const legacy = path.join(this.dir, 'open-reviews.json');
    if (existsSync(legacy)) {
      let reviews: OpenReview[] | null = null;
      try {
        const open = (JSON.parse(readFileSync(legacy, 'utf8')) as { open?: unknown }).open ?? [];
        if (Array.isArray(open)) reviews = open as OpenReview[];
      } catch {
        // damaged: reported below
      }
      if (reviews) for (const review of reviews) this.open.set(review.partId, review);
      else damagedMoved(legacy, 'is not a valid open reviews document', 'open reviews');
    }
    const valid = (v: unknown) => typeof (v as { closed?: unknown }).closed === 'string' || typeof (v as { opened?: { partId?: unknown } }).opened?.partId === 'string';
    for (const line of readJsonLines<JournalLine>(this.journal, 'open reviews', valid)) {
      if ('opened' in line) this.open.set(line.opened.partId, line.opened);
      else this.open.delete(line.closed);
    }
    // Decided, but not marked closed: the process died in between. Not open any more; the station
    // sends their clearing and verdict again and then marks them closed (`announced`). A crash
    // before that mark sends them once more: delivery is at least once.
    // A decision older than the open review belongs to an earlier review of a part id used again.
    if (this.open.size === 0) return;
    for (const closing of this.closings()) {
      const review = this.open.get(closing.partId);
      if (!review || closing.at < review.openedAt) continue;
      this.open.delete(closing.partId);
      this.decidedAtStart.push(closing);
    }
  }

  /**
   * Appends a change to the journal, before the open reviews in memory take it. The first write of a
   * process starts the journal again from the open reviews (the offline commands, calibrate, export
   * and fit, only read, and never rewrite it under a running station), and so does a write once
   * closed reviews have left most of its lines behind.
   */
  private append(line: JournalLine): void {
    if (this.fd < 0 || (this.lines > 1000 && this.lines > 4 * this.open.size)) this.compact();
    writeFully(this.fd, Buffer.from(`${JSON.stringify(line)}\n`), 'the open reviews');
    this.lines += 1;
  }

  /** Rewrites the journal as the open reviews alone: a temporary file renamed over it, so a crash leaves one or the other. */
  private compact(): void {
    const temporary = `${this.journal}.tmp`;
    try {
      writeFileSync(temporary, [...this.open.values()].map((review) => `${JSON.stringify({ opened: review })}\n`).join(''));
    } catch (error) {
      rmSync(temporary, { force: true });
      if (this.fd >= 0) throw error; // the journal as it is stays in use
      // The first write of a process on a full disk: append to the journal as it is.
      endCutShortLine(this.journal);
      this.fd = openSync(this.journal, 'a');
      return;
    }
    if (this.fd >= 0) closeSync(this.fd);
    renameSync(temporary, this.journal);
    rmSync(path.join(this.dir, 'open-reviews.json'), { force: true });
    this.fd = openSync(this.journal, 'a');
    this.lines = this.open.size;
  }
}

/** Appends one line, all of it or a StorageFull error (appendFileSync says nothing of a short write). */
function appendLine(file: string, text: string, what: string): void {
  const fd = openSync(file, 'a');
  try {
    writeFully(fd, Buffer.from(text), what);
  } finally {
    closeSync(fd);
  }
}
