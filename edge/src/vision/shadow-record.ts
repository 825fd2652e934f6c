/**
 * What a station's shadow has on record: `shadow.jsonl` beside the review state, replayed into the
 * candidate attached, the frames it scored (and skipped and failed), and the promotions so far, with
 * the view and tallies computed from them. Split out of the shadow desk (shadow.ts), which extends
 * this record with the models themselves: loading the candidate, offering it frames, promoting it.
 * The file is the truth: after a SIGKILL the record is rebuilt from its lines alone.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { AdviceFile, readJsonLines } from '../json-lines.ts';
import type { Closing } from '../review/book.ts';
import {
  tally,
  type Limits,
  type ModelInfo,
  type Promotion,
  type ShadowScore,
  type ShadowView,
  type Tallies,
} from '../review/shadow.ts';
import type { Manifest } from './manifest.ts';
import type { Inspector } from '../station.ts';

type Ref = { id: string; version: string };

/** A loaded model as the desk needs it (an InspectionPool is one). */
export type CandidateModel = Inspector & { readonly manifest: Manifest; close(): Promise<void> };

/** What the desk needs from its station. */
export interface ShadowHost {
  readonly id: string;
  readonly modelRef: Ref;
  /** frames waiting for the live model: while any wait, the candidate takes none */
  readonly waiting: number;
  swapModel(next: CandidateModel): Promise<void>;
}

export interface ShadowOptions {
  /** the state folder (the station's review state) */
  dir: string;
  /** the folder of the model the station started with */
  liveDir: string;
  /** the station (a function: the desk is built before the station it is given to) */
  host: () => ShadowHost;
  /** the station's decided parts (the truth the tallies are judged on) */
  closings: () => Closing[];
  /** loads a model folder: `shadow` for the candidate (one worker), `live` for a promotion (the station's pool, known-good checked) */
  load: (dir: string, role: 'shadow' | 'live') => Promise<CandidateModel>;
  log: Logger;
  /** frames the candidate may have in hand at once */
  maxInFlight?: number;
  /** scored frames kept in memory for the tallies */
  keep?: number;
}

export interface Attached {
  dir: string;
  model: Ref;
  thresholds: Limits;
  by: string;
  at: number;
}

type Line =
  | { attach: Attached }
  | { detach: { by: string; at: number } }
  | { promote: Promotion & { replacedDir: string } }
  /** a scored frame; `s` and `f`: frames skipped and failed since the previous line */
  | { p: string; at: number; l: number; lt: [number, number]; a?: 1; c: number; s?: number; f?: number };

/** The shadow's state as its file has it; the desk (shadow.ts) adds the models. */
export class ShadowRecord {
  private readonly file: string;
  private lines: AdviceFile;
  protected attached: Attached | null = null;
  protected failedToLoad = false;
  protected scores: ShadowScore[] = [];
  protected readonly promotions: (Promotion & { replacedDir: string })[] = [];
  /** skipped and failed frames, as written with the scored lines */
  protected counts = { skipped: 0, failed: 0 };
  /** skipped and failed frames not yet written with a scored line (lost in a crash: they are counts, not parts) */
  protected unwritten = { skipped: 0, failed: 0 };
  protected liveDir: string;
  protected liveManifest: Manifest | null = null;
  protected candidateManifest: Manifest | null = null;

  constructor(protected readonly options: ShadowOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.file = path.join(options.dir, 'shadow.jsonl');
    this.lines = new AdviceFile(this.file);
    this.liveDir = options.liveDir;
    for (const line of readJsonLines<Line>(this.file, 'shadow tallies')) this.apply(line);
  }

  view(): ShadowView {
    const attached = this.attached;
    const info = (dir: string, model: Ref, manifest: Manifest | null): ModelInfo => ({
      model,
      dir,
      goodImages: typeof manifest?.fittedOn?.goodImages === 'number' ? manifest.fittedOn.goodImages : null,
      lineage: manifest?.lineage ?? null,
    });
    return {
      station: this.options.host().id,
      live: info(this.liveDir, this.options.host().modelRef, this.liveManifest),
      candidate: attached
        ? {
            ...info(attached.dir, attached.model, this.candidateManifest),
            thresholds: attached.thresholds,
            attachedBy: attached.by,
            attachedAt: new Date(attached.at).toISOString(),
            state: this.failedToLoad ? 'failed' : 'scoring',
          }
        : null,
      frames: {
        scored: this.scores.length,
        skipped: this.counts.skipped + this.unwritten.skipped,
        failed: this.counts.failed + this.unwritten.failed,
      },
      tallies: this.tallies(),
      promotions: this.promotions.map(publicPromotion),
    };
  }

  protected tallies(): Tallies | null {
    const attached = this.attached;
    if (!attached) return null;
    return tally(this.scores, this.options.closings(), this.options.host().modelRef, {
      model: attached.model,
      thresholds: attached.thresholds,
    });
  }

  protected write(line: Line): void {
    this.lines.append(line);
    this.apply(line);
  }

  private apply(line: Line): void {
    if ('attach' in line) {
      this.attached = line.attach;
      this.scores = [];
      this.counts = { skipped: 0, failed: 0 };
      this.unwritten = { skipped: 0, failed: 0 };
    } else if ('detach' in line) {
      this.attached = null;
      this.scores = [];
    } else if ('promote' in line) {
      this.promotions.push(line.promote);
      this.liveDir = line.promote.dir;
      this.attached = null;
      this.scores = [];
    } else if (this.attached) {
      this.scores.push({
        partId: line.p,
        at: line.at,
        live: line.l,
        liveThresholds: { passBelow: line.lt[0], rejectAbove: line.lt[1] },
        candidate: line.c,
        ...(line.a ? { audit: true } : {}),
      });
      if (this.scores.length > (this.options.keep ?? 100_000)) this.scores.shift();
      this.counts.skipped += line.s ?? 0;
      this.counts.failed += line.f ?? 0;
    }
  }

  /** Rewrites the file as its history and one new line (temporary file, then rename). */
  protected compact(next: Line): void {
    const kept = readJsonLines<Line>(this.file, 'shadow tallies').filter((line) => 'promote' in line);
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, [...kept, next].map((line) => `${JSON.stringify(line)}\n`).join(''));
    renameSync(temporary, this.file);
    this.lines = new AdviceFile(this.file);
    this.apply(next);
  }
}

export function publicPromotion(promotion: Promotion & { replacedDir?: string }): Promotion {
  const { replacedDir: _replacedDir, ...rest } = promotion;
  return rest;
}
