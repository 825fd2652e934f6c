/**
 * One schema per MQTT payload, v1. Types are derived from these schemas; the JSON files in
 * contract/schemas/ are generated from them (`npm run schemas`) and a test keeps them in step.
 * Inbound payloads (trigger, decision) are validated before any code acts on them.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  DecidedBySchema,
  FinalVerdictSchema,
  HumanAnswerSchema,
  PartIdSchema,
  ReasonSchema,
  VerdictSchema as ModelVerdictSchema,
} from './vocabulary.ts';

const PartId = PartIdSchema;
const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 time' });
const schemaTag = (name: string) => Type.Literal(`loupe/${name}@1`, { description: 'payload schema and version' });
const Verdict = ModelVerdictSchema;
const FinalVerdict = FinalVerdictSchema;
const Reason = ReasonSchema;
const Thresholds = Type.Object(
  { passBelow: Type.Number(), rejectAbove: Type.Number() },
  { additionalProperties: false },
);
/** Optional in v1: a category suggested from people's earlier categories, never a person's word. */
const Suggestion = Type.Object(
  {
    category: Type.String(),
    confidence: Type.Number({
      minimum: 0,
      maximum: 1,
      description: "the winning share of the nearest labelled parts' vote",
    }),
  },
  {
    additionalProperties: false,
    description:
      'the defect category suggested from the categories people gave similar parts; a suggestion, not a decision',
  },
);
/**
 * Optional in v1: where a person marked the defect on the part's image, in normalised image
 * coordinates (0..1 from the left and top edge), so it means the same at any image size. Boxes and
 * brush strokes; bounded so a marked decision stays a small MQTT message. Rasterised to an MVTec
 * `ground_truth` mask by `loupe export` (lab/region-mask.ts).
 */
const Unit = Type.Number({ minimum: 0, maximum: 1 });
export const RegionSchema = Type.Object(
  {
    boxes: Type.Optional(
      Type.Array(
        Type.Object(
          { x: Unit, y: Unit, w: Unit, h: Unit },
          { additionalProperties: false, description: 'a box: its top-left corner, width and height' },
        ),
        { minItems: 1, maxItems: 16 },
      ),
    ),
    strokes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            r: Type.Number({
              exclusiveMinimum: 0,
              maximum: 0.5,
              description: "the brush radius, as a share of the image's shorter side",
            }),
            points: Type.Array(Type.Array(Unit, { minItems: 2, maxItems: 2 }), {
              minItems: 1,
              maxItems: 256,
              description: 'the path of the brush, [x, y] each',
            }),
          },
          { additionalProperties: false, description: 'a brush stroke: everything within r of its path' },
        ),
        { minItems: 1, maxItems: 16 },
      ),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'where the defect is, marked by the person who rejected the part (normalised image coordinates); only with reject',
  },
);
const ModelRef = Type.Object({ id: Type.String(), version: Type.String() }, { additionalProperties: false });
/** Optional in v1 (an older reader or sender is unaffected): a trigger's or decision's id, echoed in what answers it. */
const RequestId = Type.String({
  minLength: 1,
  maxLength: 128,
  description:
    "the caller's id for this request; the station echoes it in the ack, result, verdict or error that answers it",
});

const CameraHealth = Type.Object(
  {
    name: Type.String({ description: 'the view this camera gives (e.g. top), or its configured name' }),
    kind: Type.Union([Type.Literal('aravis'), Type.Literal('ffmpeg')]),
    mode: Type.Union(
      [Type.Literal('software'), Type.Literal('hardware'), Type.Literal('freerun'), Type.Literal('each')],
      {
        description: 'acquisition: software or hardware trigger, free run paired with triggers, or every frame a part',
      },
    ),
    connected: Type.Boolean({ description: 'the camera is open and sending (or, when triggered, answering)' }),
    fps: Type.Number({ description: 'frames per second received over the last few seconds' }),
    droppedFrames: Type.Integer({
      description: "frames lost since start: incomplete, missing from the camera's numbering, or not taken in time",
    }),
    lastFrameAgeMs: Type.Union([Type.Integer(), Type.Null()], {
      description: 'milliseconds since the last frame from this camera; null before the first',
    }),
    reconnects: Type.Integer({ description: 'times the camera was opened again after losing it' }),
    error: Type.Optional(Type.String({ description: 'why it is disconnected, when it is' })),
  },
  { additionalProperties: false },
);
const ImageQuality = Type.Object(
  {
    alert: Type.Boolean({
      description: 'a run of frames was not fit to be scored (lens out of focus, lamp failing, part out of place)',
    }),
    run: Type.Integer({ description: 'frames in a row not fit to be scored' }),
    failed: Type.Array(Type.String(), {
      description: 'the measures the last unfit frame failed: focus, mean, clipped, centerX, centerY',
    }),
  },
  { additionalProperties: false },
);

export const TriggerSchema = Type.Object(
  {
    schema: Type.Optional(schemaTag('trigger')),
    partId: PartId,
    requestId: Type.Optional(RequestId),
  },
  {
    additionalProperties: false,
    $id: 'loupe/trigger@1',
    title: 'trigger (in)',
    description: 'asks the station to inspect part partId',
  },
);

export const DecisionSchema = Type.Object(
  {
    schema: Type.Optional(schemaTag('decision')),
    partId: PartId,
    decision: Type.Union(HumanAnswerSchema.anyOf, { description: 'accept: the part is good; reject: it is defective' }),
    category: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "one of the station's defectCategories" }),
    ),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
    user: Type.String({ minLength: 1, maxLength: 64, description: 'who decided' }),
    requestId: Type.Optional(RequestId),
    region: Type.Optional(RegionSchema),
    correction: Type.Optional(
      Type.Boolean({
        description:
          'true: this decision replaces the one already taken on the part (by a person or by timeout); the station answers with a verdict carrying `corrects`',
      }),
    ),
  },
  {
    additionalProperties: false,
    $id: 'loupe/decision@1',
    title: 'decision (in)',
    description: "a person's decision on a review",
  },
);

export const ResultSchema = Type.Object(
  {
    schema: schemaTag('result'),
    line: Type.String(),
    station: Type.String(),
    partId: PartId,
    verdict: Verdict,
    score: Type.Union([Type.Number(), Type.Null()], { description: 'null when the part could not be scored' }),
    thresholds: Thresholds,
    model: ModelRef,
    reasons: Type.Array(Reason),
    detail: Type.Optional(Type.String({ description: 'human-readable detail for error reasons' })),
    source: Type.String({ description: 'where the frame came from: http, folder, mqtt, synthetic, trigger' }),
    timings: Type.Object(
      { queueMs: Type.Number(), decodeMs: Type.Number(), inferMs: Type.Number(), totalMs: Type.Number() },
      { additionalProperties: false, description: 'milliseconds from frame arrival' },
    ),
    requestId: Type.Optional(RequestId),
    replaces: Type.Optional(
      Type.Object(
        { verdict: Verdict, score: Type.Union([Type.Number(), Type.Null()]), at: Timestamp },
        {
          additionalProperties: false,
          description:
            'a new frame under a part id already answered: the earlier result this one replaces (its verdict, score and time)',
        },
      ),
    ),
    at: Timestamp,
  },
  {
    additionalProperties: false,
    $id: 'loupe/result@1',
    title: 'result (out)',
    description: "the model's result, exactly one per part",
  },
);

export const ReviewSchema = Type.Object(
  {
    schema: schemaTag('review'),
    line: Type.String(),
    station: Type.String(),
    partId: PartId,
    score: Type.Union([Type.Number(), Type.Null()]),
    thresholds: Thresholds,
    model: ModelRef,
    reasons: Type.Array(Reason),
    openedAt: Timestamp,
    deadline: Timestamp,
    defaultAction: FinalVerdict,
    categories: Type.Array(Type.String()),
    suggestion: Type.Optional(Suggestion),
  },
  {
    additionalProperties: false,
    $id: 'loupe/review@1',
    title: 'review (out, retained until decided)',
    description: 'a part waiting for a person',
  },
);

export const VerdictSchema = Type.Object(
  {
    schema: schemaTag('verdict'),
    line: Type.String(),
    station: Type.String(),
    partId: PartId,
    verdict: FinalVerdict,
    decidedBy: DecidedBySchema,
    user: Type.Optional(Type.String()),
    category: Type.Optional(Type.String()),
    note: Type.Optional(Type.String()),
    suggestion: Type.Optional(Suggestion),
    score: Type.Union([Type.Number(), Type.Null()]),
    requestId: Type.Optional(RequestId),
    at: Timestamp,
    corrects: Type.Optional(
      Type.Object(
        {
          verdict: FinalVerdict,
          decidedBy: DecidedBySchema,
          user: Type.Optional(Type.String()),
          category: Type.Optional(Type.String()),
          at: Timestamp,
        },
        {
          additionalProperties: false,
          description: 'present on a corrected verdict: the verdict of this part it replaces',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    $id: 'loupe/verdict@1',
    title: 'verdict (out)',
    description: 'the final word on a part',
  },
);

const Drift = Type.Object(
  {
    detected: Type.Boolean({ description: 'a shift is significant and large enough to look at; nothing was changed' }),
    signals: Type.Array(Type.Union([Type.Literal('passed_scores'), Type.Literal('review_rate')]), {
      description: 'what shifted',
    }),
    passedScores: Type.Optional(
      Type.Object(
        {
          reference: Type.Integer({ description: 'passed parts in the reference window' }),
          recent: Type.Integer({ description: 'passed parts in the recent window' }),
          statistic: Type.Number({
            description: 'Kolmogorov-Smirnov D: the largest gap between the two score distributions (0 to 1)',
          }),
          pValue: Type.Number(),
          referenceMedian: Type.Number(),
          recentMedian: Type.Number(),
        },
        { additionalProperties: false },
      ),
    ),
    reviewRate: Type.Optional(
      Type.Object(
        {
          reference: Type.Number({ description: 'share of parts sent to a person in the reference window' }),
          recent: Type.Number({ description: 'the same share over the recent window' }),
          referenceParts: Type.Integer(),
          recentParts: Type.Integer(),
          pValue: Type.Number(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'drift of the passed scores or the review rate against a reference window, with the evidence',
  },
);

export const StatusSchema = Type.Object(
  {
    schema: schemaTag('status'),
    line: Type.String(),
    station: Type.String(),
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')], {
      description: 'offline is also the last will, published by the broker when the station vanishes',
    }),
    software: Type.Optional(
      Type.String({ description: "the Loupe version the station runs (package.json's version)" }),
    ),
    model: Type.Optional(ModelRef),
    modelLoaded: Type.Optional(Type.Boolean({ description: 'the model is loaded and inspecting' })),
    queueDepth: Type.Optional(Type.Integer({ description: 'frames waiting for or under inspection' })),
    overloaded: Type.Optional(
      Type.Boolean({ description: 'the queue is full: new frames go to review with reason overload' }),
    ),
    openReviews: Type.Optional(Type.Integer({ description: 'reviews waiting for a person' })),
    outboxDepth: Type.Optional(
      Type.Integer({
        description: 'messages not yet acknowledged by the broker (after an outage, what is still being delivered)',
      }),
    ),
    storage: Type.Optional(
      Type.Union([Type.Literal('ok'), Type.Literal('full'), Type.Literal('failed')], {
        description:
          'the station disk: full (frames are answered review with reason storage_full until space is back, by itself) or failed (an fsync failed: restart the station once the disk is checked)',
      }),
    ),
    storageDetail: Type.Optional(
      Type.String({ description: 'what went wrong with the disk, while storage is not ok' }),
    ),
    drift: Type.Optional(Drift),
    lastFrameAgeMs: Type.Optional(
      Type.Union([Type.Integer(), Type.Null()], {
        description: 'milliseconds since the last frame arrived; null before the first',
      }),
    ),
    cameras: Type.Optional(
      Type.Array(CameraHealth, { description: "the station's cameras, when it takes frames from one directly" }),
    ),
    imageQuality: Type.Optional(ImageQuality),
    at: Timestamp,
  },
  {
    additionalProperties: false,
    $id: 'loupe/status@1',
    title: 'status (out, retained, last will)',
    description: 'station availability and health',
  },
);

export const ErrorSchema = Type.Object(
  {
    schema: schemaTag('error'),
    line: Type.String(),
    station: Type.String(),
    topic: Type.String({ description: 'the topic of the message that was refused' }),
    code: Type.Union(
      [
        'malformed_json',
        'invalid_payload',
        'unknown_part',
        'conflict',
        'invalid_part_id',
        'frame_too_large',
        'duplicate_part_id',
        'storage_full',
      ].map((c) => Type.Literal(c)),
    ),
    message: Type.String({ description: 'what was wrong, in plain words' }),
    partId: Type.Optional(Type.String({ description: 'the part the refused message was about, when it named one' })),
    requestId: Type.Optional(RequestId),
    at: Timestamp,
  },
  {
    additionalProperties: false,
    $id: 'loupe/error@1',
    title: 'error (out)',
    description: 'why an inbound message was not used',
  },
);

export const TriggerAckSchema = Type.Object(
  {
    schema: schemaTag('trigger-ack'),
    line: Type.String(),
    station: Type.String(),
    partId: PartId,
    requestId: Type.Optional(RequestId),
    state: Type.Union([Type.Literal('accepted'), Type.Literal('answered')], {
      description:
        'accepted: an inspection starts, its result follows; answered: the same trigger again, its result is published again',
    }),
    at: Timestamp,
  },
  {
    additionalProperties: false,
    $id: 'loupe/trigger-ack@1',
    title: 'trigger ack (out)',
    description: 'a trigger was received and taken in hand; sent at once, before the result',
  },
);

export const ClaimSchema = Type.Object(
  {
    schema: schemaTag('claim'),
    line: Type.String(),
    station: Type.String(),
    partId: PartId,
    holder: Type.String({ minLength: 1, maxLength: 64, description: 'the person deciding this part' }),
    claimedAt: Timestamp,
    expiresAt: Timestamp,
  },
  {
    additionalProperties: false,
    $id: 'loupe/claim@1',
    title: 'claim (dashboards, retained)',
    description:
      'who is deciding a part, shared by every dashboard on the broker; an empty retained message releases it',
  },
);

/**
 * A station's defect-log events, as the log appends them (edge/src/log/entry.ts folds them into
 * entries), and the per-minute tallies of every inspection: what a plant service needs to keep the
 * plant's records. Published through the station's outbox, so they survive outages, in order.
 */
const LogWhere = { line: Type.String(), station: Type.String(), partId: Type.String(), at: Timestamp };
/** What a part's score was measured against: shared by the log event and the log's entries. */
export const LogScored = {
  score: Type.Union([Type.Number(), Type.Null()]),
  thresholds: Type.Object({ passBelow: Type.Number(), rejectAbove: Type.Number() }),
  model: Type.Object({ id: Type.String(), version: Type.String() }),
  reasons: Type.Array(Type.String()),
  detail: Type.Optional(Type.String()),
  source: Type.String(),
};
export const LogFinalVerdictSchema = FinalVerdictSchema;
export const LogDecidedBySchema = DecidedBySchema;
export const ResultEventSchema = Type.Object({
  kind: Type.Literal('result'),
  ...LogWhere,
  verdict: Verdict,
  ...LogScored,
  image: Type.Optional(Type.String({ description: 'path of the kept frame, relative to the images folder' })),
  heatmap: Type.Optional(Type.String({ description: 'path of the kept anomaly map, relative to the images folder' })),
});
export const ClaimEventSchema = Type.Object({ kind: Type.Literal('claim'), ...LogWhere, user: Type.String() });
export const DecisionEventSchema = Type.Object({
  kind: Type.Literal('decision'),
  ...LogWhere,
  user: Type.String(),
  decision: HumanAnswerSchema,
  category: Type.Optional(Type.String()),
  note: Type.Optional(Type.String()),
  region: Type.Optional(RegionSchema),
  correction: Type.Optional(Type.Boolean({ description: 'replaces the decision already taken on the part' })),
});
export const VerdictEventSchema = Type.Object({
  kind: Type.Literal('verdict'),
  ...LogWhere,
  verdict: LogFinalVerdictSchema,
  decidedBy: LogDecidedBySchema,
  user: Type.Optional(Type.String()),
  category: Type.Optional(Type.String()),
  suggestedCategory: Type.Optional(
    Type.String({ description: "suggested from people's earlier categories, not chosen by a person" }),
  ),
  corrects: Type.Optional(
    Type.Object(
      {
        verdict: LogFinalVerdictSchema,
        decidedBy: LogDecidedBySchema,
        user: Type.Optional(Type.String()),
        category: Type.Optional(Type.String()),
        at: Timestamp,
      },
      { description: 'a corrected verdict: the one it replaced' },
    ),
  ),
});
export const ExpiredEventSchema = Type.Object({ kind: Type.Literal('expired'), ...LogWhere });
export const OpinionEventSchema = Type.Object(
  {
    kind: Type.Literal('opinion'),
    ...LogWhere,
    user: Type.String({ description: 'the second person, who answered blind' }),
    decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]),
    category: Type.Optional(Type.String()),
    agrees: Type.Boolean({
      description: 'the same answer as the first person; when false, the part waits for a manager to settle it',
    }),
  },
  { description: "a second person's blind opinion on a part already decided" },
);
export const SettledEventSchema = Type.Object(
  {
    kind: Type.Literal('settled'),
    ...LogWhere,
    user: Type.String({ description: 'the manager who settled the disagreement' }),
    decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]),
    category: Type.Optional(Type.String()),
  },
  {
    description:
      'a manager settled two people disagreeing on a part: the answer refits and calibration learn from (the verdict already given stands)',
  },
);
export const PartEventSchema = Type.Union([
  ResultEventSchema,
  ClaimEventSchema,
  DecisionEventSchema,
  VerdictEventSchema,
  ExpiredEventSchema,
  OpinionEventSchema,
  SettledEventSchema,
]);

/** What is counted per minute: a final verdict and who gave it, or a review the model opened. */
export const OUTCOMES = [
  'pass/model',
  'pass/human',
  'pass/timeout',
  'reject/model',
  'reject/human',
  'reject/timeout',
  'hold/model',
  'hold/human',
  'hold/timeout',
  'review/model',
] as const;
export const TallyEventSchema = Type.Object(
  {
    kind: Type.Literal('tally'),
    line: Type.String(),
    station: Type.String(),
    minute: Type.String({ format: 'date-time', description: 'start of the minute (UTC)' }),
    counts: Type.Record(
      Type.String({ pattern: '^(pass|reject|hold)/(model|human|timeout)$|^review/model$' }),
      Type.Integer({ minimum: 0 }),
      {
        description: "the minute's whole count per outcome so far: a later tally of the same minute replaces it",
      },
    ),
  },
  { additionalProperties: false },
);

export const LogSchema = Type.Object(
  {
    schema: schemaTag('log'),
    inspectedAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description: "time of the part's result: the same for every event of a part (absent on tallies)",
      }),
    ),
    event: Type.Union([PartEventSchema, TallyEventSchema]),
  },
  {
    additionalProperties: false,
    $id: 'loupe/log@1',
    title: 'log (out)',
    description: "a defect-log event of a part, or a minute's tally of every inspection: the plant's records",
  },
);

export type Trigger = Static<typeof TriggerSchema>;
export type Claim = Static<typeof ClaimSchema>;
export type Decision = Static<typeof DecisionSchema>;
export type Region = Static<typeof RegionSchema>;
export type Result = Static<typeof ResultSchema>;
export type Review = Static<typeof ReviewSchema>;
export type VerdictMessage = Static<typeof VerdictSchema>;
export type Status = Static<typeof StatusSchema>;
export type ErrorMessage = Static<typeof ErrorSchema>;
export type TriggerAck = Static<typeof TriggerAckSchema>;
export type LogMessage = Static<typeof LogSchema>;
export type PartEvent = Static<typeof PartEventSchema>;
export type TallyEvent = Static<typeof TallyEventSchema>;
export type { Reason, Verdict, FinalVerdict, DecidedBy, HumanAnswer } from './vocabulary.ts';
export type Drift = Static<typeof Drift>;

export const payloadSchemas: Record<string, TSchema> = {
  trigger: TriggerSchema,
  'trigger-ack': TriggerAckSchema,
  decision: DecisionSchema,
  result: ResultSchema,
  review: ReviewSchema,
  verdict: VerdictSchema,
  status: StatusSchema,
  error: ErrorSchema,
  claim: ClaimSchema,
  log: LogSchema,
};
