/**
 * How what people and the station say becomes the defect log's events, split from defect-log.ts: a
 * final verdict (with the one it corrects), a person's decision, a second opinion or a settling. The
 * log decides whether a part is known and counts outcomes; these functions only shape the event that
 * is appended, leaving out what is empty, so that each stored line carries no more than was said.
 */
import type { Region } from '../../../contract/payloads.ts';
import type { DecidedBy, FinalVerdict, HumanAnswer } from '../../../contract/vocabulary.ts';
import type { OpinionFact } from '../review/second.ts';
import type { LogEvent } from './entry.ts';

export interface VerdictRecord {
  line: string;
  station: string;
  partId: string;
  verdict: FinalVerdict;
  decidedBy: DecidedBy;
  user?: string;
  category?: string;
  suggestion?: { category: string };
  at: string;
  /** a corrected verdict: the one it replaces (its count moves to the new outcome) */
  corrects?: { verdict: FinalVerdict; decidedBy: DecidedBy; user?: string; category?: string; at: string };
}

/** A person's decision on a part under review. */
export interface DecisionRecord {
  partId: string;
  user: string;
  decision: HumanAnswer;
  category?: string;
  note?: string;
  region?: Region;
  correction?: boolean;
}

export function verdictEvent(verdict: VerdictRecord): LogEvent {
  const { line, station, partId, at, corrects } = verdict;
  return {
    kind: 'verdict',
    line,
    station,
    partId,
    at,
    verdict: verdict.verdict,
    decidedBy: verdict.decidedBy,
    ...(verdict.user ? { user: verdict.user } : {}),
    ...(verdict.category ? { category: verdict.category } : {}),
    ...(corrects ? { corrects } : {}),
    ...(verdict.suggestion ? { suggestedCategory: verdict.suggestion.category } : {}),
  };
}

export function decisionEvent(line: string, station: string, decision: DecisionRecord, at: string): LogEvent {
  const { partId, user } = decision;
  return {
    kind: 'decision',
    line,
    station,
    partId,
    at,
    user,
    decision: decision.decision,
    ...(decision.category ? { category: decision.category } : {}),
    ...(decision.note ? { note: decision.note } : {}),
    ...(decision.region && decision.decision === 'reject' ? { region: decision.region } : {}),
    ...(decision.correction ? { correction: true } : {}),
  };
}

export function opinionEvent(line: string, station: string, fact: OpinionFact): LogEvent {
  const { partId, opinion } = fact;
  const said = {
    user: opinion.user,
    decision: opinion.verdict === 'pass' ? ('accept' as const) : ('reject' as const),
    ...(opinion.category ? { category: opinion.category } : {}),
  };
  const at = new Date(opinion.at).toISOString();
  if (fact.kind === 'opinion') return { kind: 'opinion', line, station, partId, at, ...said, agrees: fact.agrees };
  return { kind: 'settled', line, station, partId, at, ...said };
}
