/**
 * Shadow tallies: how a candidate model would have done against the live one, on the same frames.
 * A candidate attached in shadow scores live frames without deciding anything (edge/src/vision/shadow.ts);
 * each frame it scored is a line with both scores and the thresholds in force. The truth is what
 * people decided: a part a person rejected is a defect, one they accepted is good, whether it came
 * to them as a borderline part or as an audit sample of a passed part (timeouts teach nothing).
 * Each model is judged by its own score against its own thresholds — the live model at the
 * thresholds in force when the frame came, the candidate at the thresholds it proposes — so the two
 * columns compare like with like: escapes (a defect it would pass), false rejects (a good part it
 * would reject), and the review rate it would send to people, over every frame both scored.
 *
 * Pure: the lines and the closings are passed in, so the tallies can be recomputed from what is
 * stored after any crash, and tested without a station.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Closing } from './book.ts';

export interface Limits {
  passBelow: number;
  rejectAbove: number;
}

/** One frame scored by both models. */
export interface ShadowScore {
  partId: string;
  at: number;
  /** the live model's score and the thresholds the part was decided with */
  live: number;
  liveThresholds: Limits;
  /** the live verdict was an audit sample (the model passed it, a person was asked anyway) */
  audit?: boolean;
  /** the candidate's score */
  candidate: number;
}

export type ByScore = 'pass' | 'review' | 'reject';

/** What a model would do with a score at these thresholds (the policy's rule, without audit draws). */
export function byScore(score: number, limits: Limits): ByScore {
  if (score < limits.passBelow) return 'pass';
  if (score >= limits.rejectAbove) return 'reject';
  return 'review';
}

const Ref = Type.Object({ id: Type.String(), version: Type.String() }, { additionalProperties: false });
const Thresholds = Type.Object(
  { passBelow: Type.Number(), rejectAbove: Type.Number() },
  { additionalProperties: false },
);

export const ModelTallySchema = Type.Object(
  {
    model: Ref,
    thresholds: Type.Union([Thresholds, Type.Null()], {
      description:
        "the candidate's proposed thresholds; null for the live model, judged at the thresholds in force for each part",
    }),
    escapes: Type.Integer({ description: 'parts a person rejected that this model would have passed' }),
    falseRejects: Type.Integer({ description: 'parts a person accepted that this model would have rejected' }),
    reviews: Type.Integer({ description: 'frames this model would have sent to a person (audit draws left out)' }),
    reviewRate: Type.Union([Type.Number(), Type.Null()], { description: 'reviews over frames scored by both models' }),
    passes: Type.Integer(),
    rejects: Type.Integer(),
  },
  { additionalProperties: false },
);
export type ModelTally = Static<typeof ModelTallySchema>;

export const TalliesSchema = Type.Object(
  {
    scored: Type.Integer({ description: 'frames scored by both models' }),
    decided: Type.Integer({
      description: 'of those, parts a person decided (accept or reject): the truth the columns are judged on',
    }),
    audits: Type.Integer({ description: 'of the decided parts, audit samples of parts the live model passed' }),
    defects: Type.Integer({ description: 'decided parts a person rejected' }),
    live: ModelTallySchema,
    candidate: ModelTallySchema,
    disagreements: Type.Object(
      {
        candidatePassesLiveRejects: Type.Integer({
          description: 'frames the live model rejects by score that the candidate would pass',
        }),
        candidateRejectsLivePasses: Type.Integer({
          description: 'frames the live model passes by score that the candidate would reject',
        }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type Tallies = Static<typeof TalliesSchema>;

/**
 * The two columns over the frames both models scored. `closings` are the station's decided parts;
 * a part scored twice (a new frame under its id) counts with its last frame.
 */
export function tally(
  scores: ShadowScore[],
  closings: Closing[],
  live: { id: string; version: string },
  candidate: { model: { id: string; version: string }; thresholds: Limits },
): Tallies {
  const last = new Map<string, ShadowScore>();
  for (const score of scores) last.set(score.partId, score);
  const truth = new Map<string, 'pass' | 'reject'>();
  for (const closing of closings) {
    if (closing.decidedBy === 'human' && (closing.verdict === 'pass' || closing.verdict === 'reject'))
      truth.set(closing.partId, closing.verdict);
  }
  const column = (model: { id: string; version: string }, thresholds: Limits | null): ModelTally => ({
    model,
    thresholds,
    escapes: 0,
    falseRejects: 0,
    reviews: 0,
    reviewRate: null,
    passes: 0,
    rejects: 0,
  });
  const liveColumn = column(live, null);
  const candidateColumn = column(candidate.model, candidate.thresholds);
  const out: Tallies = {
    scored: 0,
    decided: 0,
    audits: 0,
    defects: 0,
    live: liveColumn,
    candidate: candidateColumn,
    disagreements: { candidatePassesLiveRejects: 0, candidateRejectsLivePasses: 0 },
  };
  const count = (into: ModelTally, verdict: ByScore, person: 'pass' | 'reject' | undefined) => {
    if (verdict === 'review') into.reviews++;
    else if (verdict === 'pass') into.passes++;
    else into.rejects++;
    if (person === 'reject' && verdict === 'pass') into.escapes++;
    if (person === 'pass' && verdict === 'reject') into.falseRejects++;
  };
  for (const score of last.values()) {
    out.scored++;
    const person = truth.get(score.partId);
    if (person) {
      out.decided++;
      if (score.audit) out.audits++;
      if (person === 'reject') out.defects++;
    }
    const liveVerdict = byScore(score.live, score.liveThresholds);
    const candidateVerdict = byScore(score.candidate, candidate.thresholds);
    count(liveColumn, liveVerdict, person);
    count(candidateColumn, candidateVerdict, person);
    if (liveVerdict === 'reject' && candidateVerdict === 'pass') out.disagreements.candidatePassesLiveRejects++;
    if (liveVerdict === 'pass' && candidateVerdict === 'reject') out.disagreements.candidateRejectsLivePasses++;
  }
  for (const c of [liveColumn, candidateColumn]) c.reviewRate = out.scored > 0 ? c.reviews / out.scored : null;
  return out;
}

const ModelInfo = Type.Object(
  {
    model: Ref,
    dir: Type.String({ description: 'the model folder' }),
    goodImages: Type.Union([Type.Integer(), Type.Null()], {
      description: 'good images it was fitted on, from its manifest',
    }),
    lineage: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: "its manifest's lineage (parent, parts added, promotions)",
    }),
  },
  { additionalProperties: false },
);

export const PromotionSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    by: Type.String({ description: 'the manager whose session promoted it' }),
    model: Ref,
    dir: Type.String(),
    replaced: Ref,
    evidence: Type.Union([TalliesSchema, Type.Null()], { description: 'the shadow tallies when it was promoted' }),
    skipped: Type.Integer({ description: 'live frames the candidate had skipped while it was in shadow' }),
  },
  { additionalProperties: false },
);
export type Promotion = Static<typeof PromotionSchema>;

export const ShadowSchema = Type.Object(
  {
    station: Type.String(),
    live: ModelInfo,
    candidate: Type.Union(
      [
        Type.Composite(
          [
            ModelInfo,
            Type.Object({
              thresholds: Thresholds,
              attachedBy: Type.String(),
              attachedAt: Type.String({ format: 'date-time' }),
              state: Type.Union([Type.Literal('scoring'), Type.Literal('failed')], {
                description: 'failed: the candidate could not be loaded again after a restart; detach or attach again',
              }),
            }),
          ],
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      { description: 'the model in shadow; null when none is attached' },
    ),
    frames: Type.Object(
      {
        scored: Type.Integer({ description: 'live frames the candidate scored since it was attached' }),
        skipped: Type.Integer({
          description: 'live frames it let go because it was still busy or the live queue had frames waiting',
        }),
        failed: Type.Integer({
          description: 'frames the candidate could not score (its error; the live verdict is untouched)',
        }),
      },
      { additionalProperties: false },
    ),
    tallies: Type.Union([TalliesSchema, Type.Null()]),
    promotions: Type.Array(PromotionSchema, {
      description: 'models promoted from shadow on this station, oldest first',
    }),
  },
  { additionalProperties: false, $id: 'Shadow' },
);
export type ShadowView = Static<typeof ShadowSchema>;
export type ModelInfo = Static<typeof ModelInfo>;
