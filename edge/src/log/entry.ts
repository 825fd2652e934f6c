/**
 * What the defect log keeps about a part, and how it is built: every stored part is a sequence of
 * events (the model's result, a claim, a person's decision, the final verdict, its image expiring),
 * appended as they happen and folded into one entry. Appending events, not rewriting entries, is
 * what lets a part's timeline grow without any write touching more than one line.
 */
import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import {
  ClaimEventSchema,
  DecisionEventSchema,
  ExpiredEventSchema,
  LogDecidedBySchema,
  LogFinalVerdictSchema,
  LogScored,
  PartEventSchema,
  RegionSchema,
  ResultEventSchema,
  VerdictEventSchema,
  type Result,
} from '../../../contract/payloads.ts';
import { HumanAnswerSchema, VerdictSchema } from '../../../contract/vocabulary.ts';

// TypeBox's own checker knows no formats; without this, every stored time would read as invalid.
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (value) => /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value)));

const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' });
const ModelVerdict = VerdictSchema;
// The events are part of the MQTT contract (loupe/log@1): defined there once.
export { ResultEventSchema, ClaimEventSchema, DecisionEventSchema, VerdictEventSchema, ExpiredEventSchema };
export const FinalVerdictSchema = LogFinalVerdictSchema;
export const DecidedBySchema = LogDecidedBySchema;
export const EventSchema = PartEventSchema;
const Scored = LogScored;
export type LogEvent = Static<typeof EventSchema>;
export type ResultEvent = Static<typeof ResultEventSchema>;

const Evidence = Type.Union([
  Type.Object({
    path: Type.String(),
    expired: Type.Boolean({ description: 'deleted by image retention; the reference stays' }),
  }),
  Type.Null(),
]);

/** A stored part as the log answers it: where and when, what the model said, what people did. */
export const EntrySchema = Type.Object(
  {
    line: Type.String(),
    station: Type.String(),
    partId: Type.String(),
    at: Type.String({ format: 'date-time', description: 'time of the model result' }),
    modelVerdict: ModelVerdict,
    ...Scored,
    image: Evidence,
    heatmap: Evidence,
    claimedBy: Type.Union([Type.String(), Type.Null()], { description: 'the last person who claimed the review' }),
    decision: Type.Union([
      Type.Object({
        user: Type.String(),
        decision: HumanAnswerSchema,
        category: Type.Optional(Type.String()),
        note: Type.Optional(Type.String()),
        region: Type.Optional(RegionSchema),
        at: Time,
      }),
      Type.Null(),
    ]),
    final: Type.Union(
      [
        Type.Object({
          verdict: FinalVerdictSchema,
          decidedBy: DecidedBySchema,
          user: Type.Optional(Type.String()),
          category: Type.Optional(Type.String()),
          suggestedCategory: Type.Optional(Type.String()),
          at: Time,
        }),
        Type.Null(),
      ],
      { description: 'null while the review is open' },
    ),
  },
  { $id: 'LogEntry', description: 'a part that was not a plain auto-pass' },
);
export type Entry = Static<typeof EntrySchema> & { timeline: LogEvent[] };

export const partKey = (line: string, station: string, partId: string) => `${line}/${station}/${partId}`;

/** A part is stored in full unless the model passed it for no reason worth a second look. */
export function worthKeeping(result: Pick<Result, 'verdict' | 'reasons'>): boolean {
  return result.verdict !== 'pass' || result.reasons.length > 0;
}

export function resultEvent(result: Result, evidence: { image?: string; heatmap?: string }): ResultEvent {
  const event: ResultEvent = {
    kind: 'result',
    line: result.line,
    station: result.station,
    partId: result.partId,
    at: result.at,
    verdict: result.verdict,
    score: result.score,
    thresholds: result.thresholds,
    model: result.model,
    reasons: result.reasons,
    source: result.source,
  };
  if (result.detail) event.detail = result.detail;
  if (evidence.image) event.image = evidence.image;
  if (evidence.heatmap) event.heatmap = evidence.heatmap;
  return event;
}

/**
 * Applies one event to the entry of its part. Events of a part without its result (its result
 * partition was moved aside as corrupt) are dropped: there is nothing to hang them on.
 */
export function apply(entries: Map<string, Entry>, event: LogEvent): Entry | null {
  const key = partKey(event.line, event.station, event.partId);
  if (event.kind === 'result') {
    const entry: Entry = {
      line: event.line,
      station: event.station,
      partId: event.partId,
      at: event.at,
      modelVerdict: event.verdict,
      score: event.score,
      thresholds: event.thresholds,
      model: event.model,
      reasons: event.reasons,
      source: event.source,
      image: event.image ? { path: event.image, expired: false } : null,
      heatmap: event.heatmap ? { path: event.heatmap, expired: false } : null,
      claimedBy: null,
      decision: null,
      final: null,
      timeline: [event],
    };
    if (event.detail) entry.detail = event.detail;
    entries.set(key, entry);
    return entry;
  }
  const entry = entries.get(key);
  if (!entry) return null;
  entry.timeline.push(event);
  switch (event.kind) {
    case 'claim':
      entry.claimedBy = event.user;
      break;
    case 'decision':
      entry.decision = {
        user: event.user,
        decision: event.decision,
        at: event.at,
        ...(event.category ? { category: event.category } : {}),
        ...(event.note ? { note: event.note } : {}),
        ...(event.region ? { region: event.region } : {}),
      };
      break;
    case 'verdict':
      entry.final = {
        verdict: event.verdict,
        decidedBy: event.decidedBy,
        at: event.at,
        ...(event.user ? { user: event.user } : {}),
        ...(event.category ? { category: event.category } : {}),
        ...(event.suggestedCategory ? { suggestedCategory: event.suggestedCategory } : {}),
      };
      break;
    case 'expired':
      if (entry.image) entry.image.expired = true;
      if (entry.heatmap) entry.heatmap.expired = true;
      break;
  }
  return entry;
}
