/**
 * The defect log: every inspection counted, every part that was not a plain auto-pass kept in full
 * with its timeline. Events are applied to an in-memory index at once (queries see them
 * immediately) and written in batches: appended lines and changed count documents go to disk every
 * `flushMs` (and on close), so a busy line costs a few writes a second, not one per part.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Result } from '../../../contract/payloads.ts';
import { apply, partKey, resultEvent, worthKeeping, type Entry, type LogEvent } from './entry.ts';
import type { OpinionFact } from '../review/second.ts';
import { decisionEvent, opinionEvent, verdictEvent, type DecisionRecord, type VerdictRecord } from './log-events.ts';
import { addCount, countsBetween, type Count, type MinuteCounts, type Outcome } from './minute-counts.ts';
import {
  countsDocument,
  countsFile,
  dayOf,
  days,
  hoursOf,
  partsFile,
  readCounts,
  readEvents,
  type Problem,
} from './partition.ts';

export type { Problem } from './partition.ts';

export interface DefectLogOptions {
  logger?: Logger;
  /** how long writes are gathered before they go to disk */
  flushMs?: number;
  /** the least time between two rewrites of an hour's counts (statistics, not records: a crash loses at most this) */
  countsEveryMs?: number;
}

export class DefectLog {
  readonly problems: Problem[] = [];
  private readonly entries = new Map<string, Entry>();
  /** entries in order of their result time, for range queries */
  private readonly ordered: Entry[] = [];
  /** hour (YYYY-MM-DDTHH) → "line|station|outcome" → a count per minute */
  private readonly counts: MinuteCounts = new Map();
  private readonly pendingLines = new Map<string, string[]>();
  private readonly dirtyHours = new Set<string>();
  private readonly knownDays = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private countsWrittenAt = 0;
  /** bytes and writes handed to the file system since open (what the benchmark and tests measure) */
  bytesWritten = 0;
  fileWrites = 0;
  /** told of every event recorded (with its part's entry) and every inspection counted: the plant feed */
  listener: {
    recorded(event: LogEvent, entry: Entry): void;
    counted(at: string, line: string, station: string): void;
  } | null = null;

  private constructor(
    readonly dir: string,
    private readonly logger: Logger | undefined,
    private readonly flushMs: number,
    private readonly countsEveryMs: number,
  ) {}

  static async open(dir: string, options: DefectLogOptions = {}): Promise<DefectLog> {
    const log = new DefectLog(dir, options.logger, options.flushMs ?? 200, options.countsEveryMs ?? 1000);
    await mkdir(dir, { recursive: true });
    for (const day of await days(dir)) {
      log.knownDays.add(day);
      const { events, problem } = await readEvents(partsFile(dir, day));
      if (problem) log.report(problem);
      for (const event of events) log.index(event);
      for (const hour of await hoursOf(dir, day)) {
        const read = await readCounts(countsFile(dir, hour));
        if (read.problem) log.report(read.problem);
        log.counts.set(hour, new Map(Object.entries(read.series)));
      }
    }
    return log;
  }

  private report(problem: Problem): void {
    this.problems.push(problem);
    this.logger?.error(
      { file: problem.file, movedTo: problem.movedTo, problem: problem.message },
      'defect log: damaged partition file moved aside; the rest of the log is loaded',
    );
  }

  /** The model's result for a part, with the evidence the station kept (paths relative to the images folder). */
  result(result: Result, evidence: { image?: string; heatmap?: string } = {}): void {
    if (result.verdict === 'review') this.count(result.at, result.line, result.station, 'review/model');
    if (worthKeeping(result)) this.record(resultEvent(result, evidence));
  }

  verdict(verdict: VerdictRecord): void {
    const { line, station, partId, at, corrects } = verdict;
    if (corrects) {
      // A correction moves the part from its old outcome to the new one, in the minute it was first counted.
      this.count(corrects.at, line, station, `${corrects.verdict}/${corrects.decidedBy}`, -1);
      this.count(corrects.at, line, station, `${verdict.verdict}/${verdict.decidedBy}`);
    } else this.count(at, line, station, `${verdict.verdict}/${verdict.decidedBy}`);
    if (!this.entries.has(partKey(line, station, partId))) return; // a plain auto-pass: counted only
    this.record(verdictEvent(verdict));
  }

  decision(line: string, station: string, decision: DecisionRecord, at: string): void {
    if (!this.entries.has(partKey(line, station, decision.partId))) return;
    this.record(decisionEvent(line, station, decision, at));
  }

  /** A person took the review of a part; false when the log does not know the part. */
  claimed(line: string, station: string, partId: string, user: string, at: string = new Date().toISOString()): boolean {
    if (!this.entries.has(partKey(line, station, partId))) return false;
    this.record({ kind: 'claim', line, station, partId, at, user });
    return true;
  }

  /** A second person's blind opinion on a part, or a manager settling a disagreement; false when the log does not know the part. */
  secondOpinion(line: string, station: string, fact: OpinionFact): boolean {
    if (!this.entries.has(partKey(line, station, fact.partId))) return false;
    this.record(opinionEvent(line, station, fact));
    return true;
  }

  /** Marks a part's image and heatmap as deleted by retention; the references stay. */
  expired(line: string, station: string, partId: string, at: string = new Date().toISOString()): void {
    const entry = this.entries.get(partKey(line, station, partId));
    if (!entry || (!entry.image && !entry.heatmap) || entry.image?.expired || entry.heatmap?.expired) return;
    this.record({ kind: 'expired', line, station, partId, at });
  }

  get(line: string, station: string, partId: string): Entry | undefined {
    return this.entries.get(partKey(line, station, partId));
  }

  /** Every stored entry, oldest first. */
  all(): readonly Entry[] {
    return this.ordered;
  }

  /** Per-minute counts between two ISO times (from inclusive, to exclusive, to the minute), in no particular order. */
  countsBetween(from?: string, to?: string): Count[] {
    return countsBetween(this.counts, from, to);
  }

  private count(at: string, line: string, station: string, outcome: Outcome, n = 1): void {
    this.dirtyHours.add(addCount(this.counts, at, line, station, outcome, n));
    this.schedule();
    this.listener?.counted(at, line, station);
  }

  private record(event: LogEvent): void {
    this.index(event);
    const entry = this.listener && this.entries.get(partKey(event.line, event.station, event.partId));
    if (entry) this.listener?.recorded(event, entry);
    const file = partsFile(this.dir, dayOf(event.at));
    let lines = this.pendingLines.get(file);
    if (!lines) this.pendingLines.set(file, (lines = []));
    lines.push(JSON.stringify(event));
    this.schedule();
  }

  private index(event: LogEvent): void {
    const entry = apply(this.entries, event);
    if (event.kind !== 'result' || !entry) return;
    const last = this.ordered[this.ordered.length - 1];
    if (!last || last.at <= entry.at) {
      this.ordered.push(entry);
      return;
    }
    // Out of order (a result stamped before the last one, or the same part logged again): keep the order.
    const existing = this.ordered.findIndex(
      (e) => e.line === entry.line && e.station === entry.station && e.partId === entry.partId,
    );
    if (existing >= 0) this.ordered.splice(existing, 1);
    let low = 0;
    let high = this.ordered.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.ordered[mid].at <= entry.at) low = mid + 1;
      else high = mid;
    }
    this.ordered.splice(low, 0, entry);
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush(false);
    }, this.flushMs);
  }

  /** Writes what has gathered; one flush at a time, so lines keep their order. */
  flush(everything = true): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.write(everything))
      .catch((error: unknown) => {
        this.logger?.error(
          { err: (error as Error).message },
          'defect log: write failed; kept in memory, retried at the next flush',
        );
      });
    return this.flushing;
  }

  private async write(everything: boolean): Promise<void> {
    const lines = [...this.pendingLines];
    this.pendingLines.clear();
    const countsDue = everything || Date.now() - this.countsWrittenAt >= this.countsEveryMs;
    const hours = countsDue ? [...this.dirtyHours] : [];
    if (countsDue) {
      this.dirtyHours.clear();
      this.countsWrittenAt = Date.now();
    } else if (this.dirtyHours.size > 0) this.schedule();
    for (const [file, batch] of lines) {
      const day = path.basename(path.dirname(file));
      if (!this.knownDays.has(day)) {
        await mkdir(path.dirname(file), { recursive: true });
        this.knownDays.add(day);
      }
      const text = batch.map((line) => `${line}\n`).join('');
      try {
        await appendFile(file, text);
      } catch (error) {
        // Put them back first: nothing is lost because the disk hiccupped once.
        const pending = this.pendingLines.get(file) ?? [];
        this.pendingLines.set(file, [...batch, ...pending]);
        throw error;
      }
      this.bytesWritten += Buffer.byteLength(text);
      this.fileWrites += 1;
    }
    for (const hour of hours) {
      const day = dayOf(hour);
      if (!this.knownDays.has(day)) {
        await mkdir(path.join(this.dir, day), { recursive: true });
        this.knownDays.add(day);
      }
      const db = countsDocument(countsFile(this.dir, hour));
      db.data = { series: Object.fromEntries(this.counts.get(hour) ?? []) };
      try {
        await db.write();
      } catch (error) {
        this.dirtyHours.add(hour);
        throw error;
      }
      this.bytesWritten += Buffer.byteLength(JSON.stringify(db.data));
      this.fileWrites += 1;
    }
  }

  /** Writes everything still gathered and stops the timer; later events stay in memory only. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    this.closed = true;
  }
}
