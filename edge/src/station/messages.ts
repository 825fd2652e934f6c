/**
 * The station's messages built from what it knows, as pure functions: a part's result, the review a
 * person is asked for, a part's verdict. Nothing here writes or publishes; the units that do call
 * these first, so a message is the same whichever path a part took.
 */
import type { Logger } from 'pino';
import type { StationConfig, Thresholds } from '../../../config/schema.ts';
import type { Result, Review, VerdictMessage } from '../../../contract/payloads.ts';
import type { Ruling } from '../decide/policy.ts';
import type { StationObserver } from '../integrations/observer.ts';
import type { Closing } from '../review/book.ts';
import type { Suggestion } from '../review/suggest.ts';
import type { Address, ModelRef, Part } from './types.ts';

/** The time a part spent: queued, decoded, inferred, in all (ms). Nothing decoded or inferred is 0. */
export interface Spent {
  startedAt: number;
  decodeMs?: number;
  inferMs?: number;
}

export function resultMessage(
  at: Address,
  part: Part,
  ruling: Ruling,
  score: number | null,
  thresholds: Thresholds,
  scoredBy: ModelRef,
  spent: Spent,
  detail?: string,
): Result {
  const now = performance.now();
  const result: Result = {
    schema: 'loupe/result@1',
    line: at.line,
    station: at.station,
    partId: part.partId,
    verdict: ruling.verdict,
    score,
    thresholds,
    model: scoredBy,
    reasons: ruling.reasons,
    source: part.source,
    ...(part.requestId !== undefined ? { requestId: part.requestId } : {}),
    ...(part.replaces
      ? { replaces: { verdict: part.replaces.verdict, score: part.replaces.score, at: part.replaces.at } }
      : {}),
    timings: {
      queueMs: round(spent.startedAt - part.receivedAt),
      decodeMs: round(spent.decodeMs ?? 0),
      inferMs: round(spent.inferMs ?? 0),
      totalMs: round(now - part.receivedAt),
    },
    at: new Date().toISOString(),
  };
  if (detail) result.detail = detail;
  return result;
}

/** The review a person is asked for, opened now with the station's review settings. */
export function reviewMessage(
  at: Address,
  config: StationConfig,
  result: Result,
  now: number,
  suggestion: Suggestion | null,
): Review {
  return {
    schema: 'loupe/review@1',
    line: at.line,
    station: at.station,
    partId: result.partId,
    score: result.score,
    thresholds: result.thresholds,
    model: result.model,
    reasons: result.reasons,
    openedAt: new Date(now).toISOString(),
    deadline: new Date(now + config.review.deadlineSeconds * 1000).toISOString(),
    defaultAction: config.review.defaultAction,
    categories: config.defectCategories,
    ...(suggestion ? { suggestion } : {}),
  };
}

export interface VerdictOf {
  partId: string;
  verdict: VerdictMessage['verdict'];
  decidedBy: VerdictMessage['decidedBy'];
  score: number | null;
  at: number;
  user?: string;
  category?: string;
  note?: string;
  requestId?: string;
  corrects?: Closing['corrects'];
  suggestion?: Suggestion;
}

/**
 * A part's verdict message. Its fields are picked one by one: a closing carries more (the part's
 * result) than the verdict schema allows.
 */
export function verdictMessage(at: Address, v: VerdictOf): VerdictMessage {
  const message: VerdictMessage = {
    schema: 'loupe/verdict@1',
    line: at.line,
    station: at.station,
    partId: v.partId,
    verdict: v.verdict,
    decidedBy: v.decidedBy,
    score: v.score,
    at: new Date(v.at).toISOString(),
  };
  for (const key of ['user', 'category', 'note', 'requestId'] as const) if (v[key] !== undefined) message[key] = v[key];
  if (v.corrects) message.corrects = { ...v.corrects, at: new Date(v.corrects.at).toISOString() };
  if (v.suggestion) message.suggestion = { category: v.suggestion.category, confidence: v.suggestion.confidence };
  return message;
}

/** Tells the observers; one that throws is logged and changes nothing for the part. */
export function tell(
  observers: Iterable<StationObserver>,
  log: Logger,
  result: Result | null,
  verdict: VerdictMessage | null,
): void {
  for (const observer of observers) {
    try {
      if (result) observer.result?.(result);
      if (verdict) observer.verdict?.(verdict);
    } catch (error) {
      log.error(
        { err: (error as Error).message, partId: (result ?? verdict)?.partId },
        'an integration failed on a message; the MQTT contract is not affected',
      );
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
