/**
 * What happens to a part once its inspection is over, scored or failed: one named, ordered list of
 * steps (CONCLUDE_STEPS), so the order that keeps a crash safe is written down once and tested. The
 * order matters: the part's answer is remembered and its review is on disk before any message about
 * it goes out, so a crash in between cannot leave a part the line was told waits for a person with
 * no one knowing, nor a redelivery answered differently. A full disk at any step answers the part
 * fail-safe (review, storage_full) without a record; it is never passed. The steps that write the
 * part's state (its answer, its review, its result in the outbox) are one transition of the
 * station's store (edge/src/store/): a crash leaves all of them or none.
 */
import type { Result, Review, VerdictMessage } from '../../../contract/payloads.ts';
import { failSafe, type Ruling } from '../decide/policy.ts';
import { keepEvidenceSync } from '../evidence/files.ts';
import { featuresOf, type Suggestion } from '../review/suggest.ts';
import { StorageFull } from '../storage/health.ts';
import type { ReviewDesk } from './desk.ts';
import { resultMessage, tell, verdictMessage } from './messages.ts';
import type { Inspection, Measured, ModelRef, Part, StationCore } from './types.ts';

/** One part on its way through the steps: what it came with, and what the steps made of it. */
export interface Conclusion {
  readonly part: Part;
  readonly inspection: Inspection;
  readonly ruling: Ruling;
  readonly score: number | null;
  readonly result: Result;
  evidence: { image?: string; heatmap?: string };
  suggestion: Suggestion | null;
  /** what follows the result: the review a person is to decide, or the model's verdict */
  next: Review | VerdictMessage | null;
  published: boolean;
}

export interface ConcludeStep {
  readonly name: string;
  /** consecutive steps marked `together` are one transition of the station's store: all written, or none */
  readonly together?: true;
  /** answers 'unrecorded' when the part cannot be recorded: the steps stop, the part is answered fail-safe */
  run(core: StationCore, desk: ReviewDesk, c: Conclusion): 'unrecorded' | void;
}

const notPassed = (c: Conclusion) => c.ruling.verdict !== 'pass';
const verdictIn = (c: Conclusion): VerdictMessage | null => (c.next && 'decidedBy' in c.next ? c.next : null);

/** The steps of a concluded part, in the order they run. */
export const CONCLUDE_STEPS: readonly ConcludeStep[] = [
  { name: 'count the score', run: (core, _desk, c) => void (c.score !== null && core.deps.reviews.scored(c.score)) },
  { name: 'stop on a full disk', run: (core) => (core.storage.state === 'full' ? 'unrecorded' : undefined) },
  {
    name: 'watch drift',
    run: (core, _desk, c) => core.deps.drift?.observe({ verdict: c.ruling.verdict, score: c.score }),
  },
  { name: 'keep evidence', run: (core, _desk, c) => void (notPassed(c) && (c.evidence = keepEvidence(core, c))) },
  {
    name: 'suggest a category',
    run: (core, _desk, c) =>
      void (
        notPassed(c) &&
        c.inspection.kind === 'scored' &&
        (c.suggestion = suggest(core, c.part.partId, c.inspection.score, c.inspection.measured))
      ),
  },
  { name: 'log the result', run: (core, _desk, c) => core.deps.defectLog?.result(c.result, c.evidence) },
  // Remembered before the result goes out: a redelivery after a crash right after it gets this answer.
  {
    name: 'remember the answer',
    together: true,
    run: (core, _desk, c) => core.parts.answered(c.part.partId, c.part.fingerprint ?? null, c.part.requestId, c.result),
  },
  {
    name: 'open the review or give the model verdict',
    together: true,
    run: (core, desk, c) =>
      void (c.next = c.ruling.verdict === 'review' ? desk.open(c.result, c.suggestion) : modelVerdict(core, c)),
  },
  {
    name: 'publish',
    together: true,
    run: (core, _desk, c) => void (core.deps.link.publishResult(c.result, c.next ?? undefined), (c.published = true)),
  },
  // In the defect log once it is in the outbox: a verdict the full disk kept from the line is not logged.
  {
    name: 'log the verdict',
    run: (core, _desk, c) => void (verdictIn(c) && core.deps.defectLog?.verdict(verdictIn(c) as VerdictMessage)),
  },
  { name: 'tell the observers', run: (core, _desk, c) => tell(core.observers, core.deps.log, c.result, verdictIn(c)) },
  {
    name: 'offer the shadow model',
    run: (core, _desk, c) => void (c.score !== null && c.part.image && core.deps.shadow?.offer(c.result, c.part.image)),
  },
  { name: 'count in metrics', run: count },
];

/** Concludes a part: every step in order; answers the part's result. */
export async function conclude(
  core: StationCore,
  desk: ReviewDesk,
  part: Part,
  inspection: Inspection,
): Promise<Result> {
  const scored = inspection.kind === 'scored';
  const ruling = scored ? inspection.ruling : failSafe(inspection.reason);
  const score = scored ? inspection.score : null;
  const scoredBy = scored ? inspection.scoredBy : refOf(core);
  const spent = {
    startedAt: inspection.startedAt,
    ...(scored ? { decodeMs: inspection.measured.decodeMs, inferMs: inspection.measured.inferMs } : {}),
  };
  const result = resultMessage(
    core.at,
    part,
    ruling,
    score,
    core.thresholds(),
    scoredBy,
    spent,
    scored ? undefined : inspection.detail,
  );
  const c: Conclusion = {
    part,
    inspection,
    ruling,
    score,
    result,
    evidence: {},
    suggestion: null,
    next: null,
    published: false,
  };
  for (let i = 0; i < CONCLUDE_STEPS.length; i++) {
    const step = CONCLUDE_STEPS[i];
    try {
      if (step.together) {
        const group = [step];
        while (CONCLUDE_STEPS[i + 1]?.together) group.push(CONCLUDE_STEPS[++i]);
        const write = () => group.forEach((member) => member.run(core, desk, c));
        try {
          if (core.deps.store) core.deps.store.transition(write, `the record of part ${part.partId}`);
          else write();
        } catch (error) {
          c.published = false; // rolled back: nothing of it went out
          throw error;
        }
      } else if (step.run(core, desk, c) === 'unrecorded')
        return unrecorded(core, part, { startedAt: inspection.startedAt, score, scoredBy });
    } catch (error) {
      // A review opened whose result could not be sent is not waiting for anyone.
      if (c.next && !verdictIn(c) && !c.published) desk.unopen(part.partId);
      if (!(error instanceof StorageFull)) throw error;
      // The disk filled up while the part was recorded: nothing of it went out; it is answered fail-safe.
      core.storage.full(`the record of part ${part.partId}`, error);
      return unrecorded(core, part, { startedAt: inspection.startedAt, score, scoredBy });
    }
  }
  return result;
}

/**
 * The answer to a part the disk could not record: review, reason storage_full, published at once
 * (not through the outbox, which cannot take it) and remembered in memory only. Never a pass.
 */
export function unrecorded(
  core: StationCore,
  part: Part,
  how: { startedAt: number; score?: number | null; scoredBy?: ModelRef },
): Result {
  const detail = `the station disk is full: this part could not be recorded (${core.storage.detail ?? 'no space left'}); hold it for a person`;
  const result = resultMessage(
    core.at,
    part,
    failSafe('storage_full'),
    how.score ?? null,
    core.thresholds(),
    how.scoredBy ?? refOf(core),
    { startedAt: how.startedAt },
    detail,
  );
  core.deps.log.warn(
    { partId: part.partId, source: part.source },
    'disk full; part answered review (storage_full) without a record',
  );
  core.parts.rememberOnly(part.partId, part.fingerprint ?? null, part.requestId, result);
  core.deps.defectLog?.result(result); // the log's last word on the part, as the line's (kept in memory until the disk takes it)
  core.deps.link.publishUnrecorded(result);
  core.deps.metrics?.frames.inc({
    station: core.at.station,
    source: part.source,
    verdict: result.verdict,
    reason: 'storage_full',
  });
  return result;
}

export function refOf(core: StationCore): ModelRef {
  const { manifest } = core.model();
  return { id: manifest.id, version: String(manifest.version) };
}

function modelVerdict(core: StationCore, c: Conclusion): VerdictMessage {
  const { part, ruling, score, suggestion } = c;
  const verdict = ruling.verdict as 'pass' | 'reject';
  return verdictMessage(core.at, {
    partId: part.partId,
    verdict,
    decidedBy: 'model',
    score,
    at: Date.now(),
    requestId: part.requestId,
    ...(suggestion && verdict === 'reject' ? { suggestion } : {}),
  });
}

/**
 * Keeps the image and anomaly map of a part someone may look at, unless the inspector kept them
 * (a part no worker kept: unreadable, overloaded, or thresholds changed while it was inspected); a
 * failure is logged, never fatal. Answers where they are, relative to the images folder
 * (`<line>/<station>/<segment>#<offset>+<length>`), for the log.
 */
function keepEvidence(core: StationCore, c: Conclusion): { image?: string; heatmap?: string } {
  const { result, part } = c;
  const measured: Partial<Measured> = c.inspection.kind === 'scored' ? c.inspection.measured : {};
  const { map, mapWidth, mapHeight } = measured;
  const hasMap = map && mapWidth && mapHeight;
  if (!measured.kept && !part.image?.length && !hasMap) return {}; // no frame came, and no map was made: nothing to keep
  const kept =
    measured.kept ??
    keepEvidenceSync(
      { dir: core.deps.imageDir, partId: result.partId, thresholds: result.thresholds },
      part.image ?? Buffer.alloc(0),
      hasMap ? { map, mapWidth, mapHeight } : null,
    );
  for (const error of kept.errors ?? [])
    core.deps.log.error({ partId: result.partId, err: error }, 'could not keep the evidence of a part');
  const relative = (file: string) => `${core.at.line}/${core.at.station}/${file}`;
  return {
    ...(kept.image ? { image: relative(kept.image) } : {}),
    ...(kept.heatmap ? { heatmap: relative(kept.heatmap) } : {}),
  };
}

/** A category suggested for a part the model rejects or sends to a person, recorded with its features. */
function suggest(core: StationCore, partId: string, score: number, measured: Measured): Suggestion | null {
  const book = core.deps.categories;
  const features = book
    ? (measured.features ?? featuresOf(score, measured.map, measured.mapWidth, measured.mapHeight))
    : null;
  if (!book || !features) return null;
  const suggestion = book.suggest(features);
  book.featured(partId, features, suggestion, Date.now());
  return suggestion;
}

function count(core: StationCore, _desk: ReviewDesk, c: Conclusion): void {
  const { metrics, log } = core.deps;
  const { part, result, score, inspection } = c;
  const station = core.at.station;
  metrics?.frames.inc({ station, source: part.source, verdict: result.verdict, reason: result.reasons[0] ?? '' });
  if (inspection.kind === 'scored')
    metrics?.inference.observe({ station }, (inspection.measured.decodeMs + inspection.measured.inferMs) / 1000);
  metrics?.endToEnd.observe({ station }, (performance.now() - part.receivedAt) / 1000);
  // One line per part only at debug: the defect log keeps every part, and a line per part at info
  // would be millions a day in the journal of a busy line.
  log.debug(
    { partId: part.partId, verdict: result.verdict, score, reasons: result.reasons, ms: result.timings.totalMs },
    'result',
  );
}
