/**
 * A candidate model in shadow. A manager attaches a model folder to a station; from then on the
 * station offers it every frame its live model scored, after the part's result is out. The
 * candidate never decides anything and is never waited for: it runs in its own inspection worker,
 * takes a frame only when it is idle and the live queue has none waiting, and otherwise lets the
 * frame go and counts it as skipped. What it scored is appended to `shadow.jsonl` beside the review
 * state; the tallies against the live model (edge/src/review/shadow.ts) are computed from those
 * lines and the station's decided parts, so after a SIGKILL they are recomputed from what is stored
 * and the candidate is loaded again.
 *
 * Promoting the candidate is the station's model swap (Station.swapModel: no frame dropped or scored
 * twice), with the tallies of the moment recorded as evidence: in `shadow.jsonl` (the station's
 * lineage) and in the promoted model's own manifest (`lineage.promotions`). A promotion outlives a
 * restart: at start, while the configured model is still the one it replaced, the promoted one is
 * swapped in again. Attaching another candidate starts its tallies afresh and compacts the file to
 * its history.
 *
 * The file and what is replayed from it (the record, the view and the tallies) are the desk's base
 * class, in shadow-record.ts; this module keeps the models themselves.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Result } from '../../../contract/payloads.ts';
import type { Limits, Promotion, ShadowScore, ShadowView } from '../review/shadow.ts';
import { loadManifest, type Manifest } from './manifest.ts';
import { InspectionPool } from './pool.ts';
import { checkKnownGood } from './known-good.ts';
import {
  publicPromotion,
  ShadowRecord,
  type Attached,
  type CandidateModel,
  type ShadowOptions,
} from './shadow-record.ts';

export class ShadowError extends Error {
  constructor(
    readonly code: 'no_candidate' | 'invalid_model',
    message: string,
  ) {
    super(message);
  }
}

export class ShadowDesk extends ShadowRecord {
  private candidate: CandidateModel | null = null;
  private inFlight = 0;
  private idle: (() => void)[] = [];

  /** After a restart: the promoted model again (if the configuration did not change since) and the candidate loaded again. */
  async resume(): Promise<void> {
    this.liveDir = this.options.liveDir;
    const last = this.promotions.at(-1);
    if (last && path.resolve(last.replacedDir) === path.resolve(this.options.liveDir)) {
      try {
        await this.options.host().swapModel(await this.options.load(last.dir, 'live'));
        this.liveDir = last.dir;
        this.options.log.info(
          { model: last.model, replaced: last.replaced },
          'the model promoted from shadow is in force again',
        );
      } catch (error) {
        this.options.log.error(
          { dir: last.dir, err: (error as Error).message },
          'the model promoted from shadow cannot be loaded; the configured model stays in force',
        );
      }
    }
    this.liveManifest = await loadManifest(this.liveDir).catch(() => null);
    if (!this.attached) return;
    try {
      this.candidate = await this.options.load(this.attached.dir, 'shadow');
      this.candidateManifest = this.candidate.manifest;
      this.options.log.info(
        { model: this.attached.model, scored: this.scores.length },
        'shadow candidate attached again after the restart',
      );
    } catch (error) {
      this.failedToLoad = true;
      this.options.log.error(
        { dir: this.attached.dir, err: (error as Error).message },
        'the shadow candidate cannot be loaded again; it scores nothing until it is attached again',
      );
    }
  }

  /**
   * A frame the live model scored, after its result went out. Taken when the candidate is idle and
   * no live frame waits, else counted as skipped; never throws, never delays the caller.
   */
  offer(result: Result, image: Buffer): void {
    const candidate = this.candidate;
    if (!candidate || result.score === null) return;
    if (this.inFlight >= (this.options.maxInFlight ?? 1) || this.options.host().waiting > 0) {
      this.unwritten.skipped++;
      return;
    }
    this.inFlight++;
    const live = result.score;
    const audit = result.reasons.includes('audit');
    candidate
      .inspect(image)
      .then(
        (inspection) => {
          if (this.candidate !== candidate) return; // detached or replaced meanwhile
          const score: ShadowScore = {
            partId: result.partId,
            at: Date.now(),
            live,
            liveThresholds: result.thresholds,
            candidate: inspection.score,
            ...(audit ? { audit } : {}),
          };
          const { skipped, failed } = this.unwritten;
          this.unwritten = { skipped: 0, failed: 0 };
          this.write({
            p: score.partId,
            at: score.at,
            l: live,
            lt: [result.thresholds.passBelow, result.thresholds.rejectAbove],
            ...(audit ? { a: 1 as const } : {}),
            c: score.candidate,
            ...(skipped ? { s: skipped } : {}),
            ...(failed ? { f: failed } : {}),
          });
        },
        (error: unknown) => {
          if (this.candidate !== candidate) return;
          this.unwritten.failed++;
          this.options.log.warn(
            { partId: result.partId, err: (error as Error).message },
            'the shadow candidate could not score a frame; the live verdict is untouched',
          );
        },
      )
      .catch((error: unknown) => this.options.log.error({ err: (error as Error).message }, 'shadow tally not kept'))
      .finally(() => {
        this.inFlight--;
        if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
  }

  /** Resolves once the candidate has no frame in hand. */
  settled(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Attaches a model folder in shadow (replacing any candidate); its tallies start from nothing. */
  async attach(dir: string, by: string, thresholds?: Limits): Promise<ShadowView> {
    let model: CandidateModel;
    try {
      model = await this.options.load(dir, 'shadow');
    } catch (error) {
      throw new ShadowError('invalid_model', (error as Error).message);
    }
    const previous = this.candidate;
    const attached: Attached = {
      dir,
      model: { id: model.manifest.id, version: String(model.manifest.version) },
      thresholds: thresholds ?? model.manifest.thresholds,
      by,
      at: Date.now(),
    };
    // The file keeps the history (promotions) and this attachment; the earlier candidate's lines go.
    this.compact({ attach: attached });
    // The previous candidate finishes the frame in hand first: a closed pool would never answer it.
    this.candidate = null;
    await this.settled();
    await previous?.close();
    this.candidate = model;
    this.candidateManifest = model.manifest;
    this.failedToLoad = false;
    this.options.log.info(
      { model: attached.model, dir, thresholds: attached.thresholds, by },
      'candidate model attached in shadow',
    );
    return this.view();
  }

  async detach(by: string): Promise<void> {
    if (!this.attached)
      throw new ShadowError('no_candidate', `station "${this.options.host().id}" has no model in shadow`);
    this.write({ detach: { by, at: Date.now() } });
    const candidate = this.candidate;
    this.candidate = null;
    this.options.log.info({ by }, 'shadow candidate detached');
    await this.settled();
    await candidate?.close();
  }

  /**
   * Makes the candidate the live model through the station's swap, recording the tallies as the
   * evidence; the shadow is empty afterwards.
   */
  async promote(by: string): Promise<Promotion> {
    const attached = this.attached;
    if (!attached || !this.candidate)
      throw new ShadowError(
        'no_candidate',
        `station "${this.options.host().id}" has no model in shadow${this.failedToLoad ? ' that loaded' : ''}`,
      );
    let next: CandidateModel;
    try {
      next = await this.options.load(attached.dir, 'live');
    } catch (error) {
      throw new ShadowError('invalid_model', (error as Error).message);
    }
    const evidence = this.tallies();
    const promotion: Promotion & { replacedDir: string } = {
      at: new Date().toISOString(),
      by,
      model: attached.model,
      dir: attached.dir,
      replaced: this.options.host().modelRef,
      evidence,
      skipped: this.counts.skipped + this.unwritten.skipped,
      replacedDir: this.liveDir,
    };
    // On disk before the swap: a crash in between finds the promotion and swaps it in at start.
    this.write({ promote: promotion });
    const candidate = this.candidate;
    this.candidate = null;
    await this.settled();
    await this.options.host().swapModel(next);
    await candidate.close();
    this.liveDir = attached.dir;
    this.liveManifest = next.manifest;
    this.options.log.info(
      { model: attached.model, replaced: promotion.replaced, by, evidence },
      'shadow candidate promoted to the live model',
    );
    await this.recordInManifest(attached.dir, promotion);
    return publicPromotion(promotion);
  }

  async close(): Promise<void> {
    const candidate = this.candidate;
    this.candidate = null;
    await this.settled();
    await candidate?.close();
  }

  /** The evidence in the promoted model's manifest too; a folder that cannot be written is logged (the station keeps its record). */
  private async recordInManifest(dir: string, promotion: Promotion & { replacedDir: string }): Promise<void> {
    const file = path.join(dir, 'manifest.json');
    try {
      const manifest = JSON.parse(await readFile(file, 'utf8')) as Manifest;
      const lineage = manifest.lineage ?? {};
      const promotions = Array.isArray(lineage.promotions) ? (lineage.promotions as unknown[]) : [];
      manifest.lineage = {
        ...lineage,
        promotions: [...promotions, { station: this.options.host().id, ...publicPromotion(promotion) }],
      };
      await writeFile(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(`${file}.tmp`, file);
      this.liveManifest = manifest;
    } catch (error) {
      this.options.log.warn(
        { dir, err: (error as Error).message },
        "the promotion could not be written into the model's manifest; the station's shadow.jsonl keeps it",
      );
    }
  }
}

/** Loads a model folder as the station does: a pool of inspection workers (one in shadow), known-good checked. */
export function poolLoader(liveWorkers?: number): ShadowOptions['load'] {
  return async (dir, role) => {
    const pool = await InspectionPool.start(path.resolve(dir), role === 'shadow' ? 1 : liveWorkers);
    try {
      await checkKnownGood(path.resolve(dir), pool);
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  };
}
