/**
 * Where a station keeps what must survive a crash: the reviews still open (a small lowdb file,
 * written atomically on every change), the decided history (append-only JSON lines, one file a day,
 * so no write rewrites a large file) and a histogram of every score seen (for the review rate a
 * threshold change would give). Writes happen before the matching message is published: after a
 * SIGKILL, nothing decided is forgotten and nothing open is lost.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { JSONFileSync } from 'lowdb/node';
import { LowSync } from 'lowdb';
import type { Closing, OpenReview } from './book.ts';

/**
 * A lowdb document backed by its file, always. (lowdb's own presets swap in an in-memory adapter
 * when NODE_ENV is "test", which would make every durability test pass without touching the disk.)
 */
export function jsonDocument<T>(file: string, defaults: T): LowSync<T> {
  const db = new LowSync<T>(new JSONFileSync<T>(file), defaults);
  db.read();
  return db;
}

export interface ReviewStore {
  openReviews(): OpenReview[];
  /** closings of the last `days` days, oldest first */
  closings(days?: number): Closing[];
  opened(review: OpenReview): void;
  closed(closing: Closing): void;
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

interface OpenFile {
  open: OpenReview[];
}

export class FileReviewStore implements ReviewStore {
  private readonly db: LowSync<OpenFile>;
  private readonly histogram: ScoreHistogram;
  private readonly scoresDb: LowSync<{ counts: number[] }>;
  private scoresDirty = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.db = jsonDocument<OpenFile>(path.join(dir, 'open-reviews.json'), { open: [] });
    this.scoresDb = jsonDocument<{ counts: number[] }>(path.join(dir, 'scores.json'), { counts: new Array(ScoreHistogram.BINS).fill(0) });
    this.histogram = new ScoreHistogram(this.scoresDb.data.counts.length === ScoreHistogram.BINS ? this.scoresDb.data.counts : undefined);
    // The histogram is statistics, not a record: written every few seconds, not per part.
    this.timer = setInterval(() => this.flushScores(), 5000);
    this.timer.unref();
  }

  openReviews(): OpenReview[] {
    return [...this.db.data.open];
  }

  closings(days = 2): Closing[] {
    const files = readdirSync(this.dir)
      .filter((name) => /^decisions-\d{4}-\d{2}-\d{2}\.jsonl$/.test(name))
      .sort()
      .slice(-days);
    const out: Closing[] = [];
    for (const file of files) {
      for (const line of readFileSync(path.join(this.dir, file), 'utf8').split('\n')) {
        if (!line) continue;
        try {
          out.push(JSON.parse(line) as Closing);
        } catch {
          // a line cut short by a crash: the closing it held was never published
        }
      }
    }
    return out;
  }

  opened(review: OpenReview): void {
    this.db.data.open.push(review);
    this.db.write();
  }

  closed(closing: Closing): void {
    appendFileSync(path.join(this.dir, `decisions-${new Date(closing.at).toISOString().slice(0, 10)}.jsonl`), `${JSON.stringify(closing)}\n`);
    this.db.data.open = this.db.data.open.filter((r) => r.partId !== closing.partId);
    this.db.write();
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
    this.scoresDirty = false;
    this.scoresDb.data.counts = this.histogram.counts;
    this.scoresDb.write();
  }

  close(): void {
    clearInterval(this.timer);
    this.flushScores();
  }

  static exists(dir: string): boolean {
    return existsSync(path.join(dir, 'open-reviews.json'));
  }
}
