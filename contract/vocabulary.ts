/**
 * Loupe's words, each defined once: why a part was not simply passed (reasons), what the model
 * answers (verdicts), what a part ends as (final verdicts), who gave the final word, and the
 * alphabets of ids. The MQTT payloads, the HTTP schemas, the edge, the dashboard and (as JSDoc
 * types) the browser code all take them from here; contract/words.ts gives each code its plain words.
 */
import { Type, type TLiteral, type TUnion } from '@sinclair/typebox';

/** Why a part was not simply passed. Every code that means "we could not look at it properly" sends it to review, never to pass. */
export const REASONS = [
  'borderline', // score between pass_below and reject_above
  'above_reject', // score at or above reject_above while auto-reject is off
  'audit', // random audit sample of an auto-passed part
  'unreadable_image', // the frame could not be decoded (corrupt, truncated, not an image)
  'model_error', // the model failed on a decodable frame
  'overload', // the station's queue was full; the part was not inspected
  'missing_frame', // a trigger arrived and no frame came for it in time
  'interrupted', // the station stopped (crash, kill, power) while the part was queued or being inspected
  'camera_lost', // the camera was disconnected or stopped sending when the part's trigger came
  'image_quality', // the frame was not fit to be scored (focus, exposure or framing outside the good parts' ranges)
  'unpaired_frame', // a hardware-triggered camera sent a frame no trigger message matched
  'storage_full', // the station's disk was full: the part was answered without a record
] as const;
export type Reason = (typeof REASONS)[number];

/** The model's answer on a part: review hands it to a person. */
export const VERDICTS = ['pass', 'reject', 'review'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** The final word on a part (a review's default action is one of these too). */
export const FINAL_VERDICTS = ['pass', 'reject', 'hold'] as const;
export type FinalVerdict = (typeof FINAL_VERDICTS)[number];

/** Who gave the final word: the model, a person, or nobody in time (the default applied). */
export const DECIDERS = ['model', 'human', 'timeout'] as const;
export type DecidedBy = (typeof DECIDERS)[number];

/** What a person answers on a review. */
export const HUMAN_ANSWERS = ['accept', 'reject'] as const;
export type HumanAnswer = (typeof HUMAN_ANSWERS)[number];

/** Line and station ids: they are MQTT topic levels, URL segments and folder names. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
/** Part ids travel in topics and file names: keep them to a safe alphabet. */
export const PART_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
/** People's names, on the dashboard and as MQTT users who may decide. */
export const USER_NAME_PATTERN = '^[A-Za-z0-9._@-]{1,64}$';

const idRegex = new RegExp(ID_PATTERN);
const partIdRegex = new RegExp(PART_ID_PATTERN);
const userNameRegex = new RegExp(USER_NAME_PATTERN);
export const isId = (value: string): boolean => idRegex.test(value);
export const isPartId = (value: string): boolean => partIdRegex.test(value);
export const isUserName = (value: string): boolean => userNameRegex.test(value);

/** One literal per value: `Static<>` of it is the values' union, as the list's own type is. */
const literals = <T extends string>(values: readonly T[]): TUnion<TLiteral<T>[]> =>
  Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<TLiteral<T>[]>;

export const ReasonSchema = literals(REASONS);
export const VerdictSchema = literals(VERDICTS);
export const FinalVerdictSchema = literals(FINAL_VERDICTS);
export const DecidedBySchema = literals(DECIDERS);
export const HumanAnswerSchema = literals(HUMAN_ANSWERS);
export const IdSchema = (description?: string) =>
  Type.String({ pattern: ID_PATTERN, ...(description ? { description } : {}) });
export const PartIdSchema = Type.String({
  pattern: PART_ID_PATTERN,
  description: 'the part id: letters, digits and . _ : -, at most 128 characters',
});
