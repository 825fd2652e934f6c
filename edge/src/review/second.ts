/**
 * Second opinions: people's labels carry bias and fatigue too, so a configurable share of parts a
 * person decided is queued again, blind (the second person sees the part and its score, not the
 * first answer), to a different person. Where the two agree, the answer stands; where they differ,
 * the part goes to a manager, whose settled answer is what calibration learns from. From the pairs
 * Loupe reports agreement per pair of people and per category (Cohen's kappa, with the number of
 * parts it rests on) and each person's override rate (how often the settled answer went against
 * theirs) beside the station's.
 *
 * The rules and the statistics are pure (`kappa`, `agreement`); `SecondOpinions` keeps its cases as
 * advice lines of the station's store (kind `second-opinions.jsonl`, one per fact, written before it
 * is acted on). Which parts are drawn is a random number passed in.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { AdviceLines } from '../json-lines.ts';
import type { Closing } from './book.ts';

export interface Opinion {
  user: string;
  verdict: 'pass' | 'reject';
  category?: string;
  at: number;
}

export interface Case {
  partId: string;
  score: number | null;
  first: Opinion;
  second?: Opinion;
  settled?: Opinion;
}

type Line =
  | { queued: { partId: string; score: number | null; first: Opinion } }
  | { second: Opinion & { partId: string } }
  | { settled: Opinion & { partId: string } };

/** What a person's label means for agreement on categories: good, or the defect's category. */
const labelOf = (o: Opinion) => (o.verdict === 'pass' ? 'good' : (o.category ?? 'uncategorised'));

/** Cohen's kappa of two raters over the same items; null when chance agreement is total (nothing to tell). */
export function kappa(pairs: [string, string][]): number | null {
  if (pairs.length === 0) return null;
  const labels = new Set(pairs.flat());
  const observed = pairs.filter(([a, b]) => a === b).length / pairs.length;
  let expected = 0;
  for (const label of labels)
    expected +=
      (pairs.filter(([a]) => a === label).length / pairs.length) *
      (pairs.filter(([, b]) => b === label).length / pairs.length);
  if (expected >= 1) return null;
  return (observed - expected) / (1 - expected);
}

const Kappa = Type.Union([Type.Number(), Type.Null()], {
  description: "Cohen's kappa; null when it cannot be told (one label only)",
});
export const AgreementSchema = Type.Object(
  {
    station: Type.String(),
    share: Type.Number({ description: 'share of human-decided parts queued for a second opinion' }),
    cases: Type.Integer({ description: 'parts with two opinions' }),
    waiting: Type.Integer({ description: 'parts waiting for a second opinion' }),
    disputes: Type.Integer({ description: 'disagreements waiting for a manager' }),
    pairs: Type.Array(
      Type.Object(
        {
          people: Type.Array(Type.String(), { minItems: 2, maxItems: 2 }),
          n: Type.Integer(),
          agreement: Type.Number(),
          kappa: Kappa,
        },
        { additionalProperties: false },
      ),
      {
        description: 'agreement on pass/reject per pair of people',
      },
    ),
    categories: Type.Array(
      Type.Object({ category: Type.String(), n: Type.Integer(), kappa: Kappa }, { additionalProperties: false }),
      {
        description: 'agreement on each label (good or a category) against all others',
      },
    ),
    people: Type.Array(
      Type.Object(
        {
          user: Type.String(),
          opinions: Type.Integer(),
          settledAgainst: Type.Integer(),
          overrideRate: Type.Union([Type.Number(), Type.Null()], {
            description: "share of this person's opinions the final answer went against",
          }),
        },
        { additionalProperties: false },
      ),
    ),
    stationOverrideRate: Type.Union([Type.Number(), Type.Null()], {
      description:
        'share of all opinions on parts with a final answer (agreed or settled) that the final answer went against',
    }),
  },
  { additionalProperties: false, $id: 'Agreement' },
);
export type Agreement = Static<typeof AgreementSchema>;

export function agreement(station: string, share: number, cases: Case[]): Agreement {
  const both = cases.filter((c): c is Case & { second: Opinion } => c.second !== undefined);
  const byPair = new Map<string, { people: [string, string]; verdicts: [string, string][] }>();
  for (const c of both) {
    const people = [c.first.user, c.second.user].sort() as [string, string];
    const key = people.join('\u0000');
    const pair = byPair.get(key) ?? { people, verdicts: [] };
    const [a, b] = c.first.user === people[0] ? [c.first, c.second] : [c.second, c.first];
    pair.verdicts.push([a.verdict, b.verdict]);
    byPair.set(key, pair);
  }
  const labels = new Set(both.flatMap((c) => [labelOf(c.first), labelOf(c.second)]));
  const categories = [...labels].sort().map((label) => {
    const pairs = both.map(
      (c) => [labelOf(c.first) === label ? 'y' : 'n', labelOf(c.second) === label ? 'y' : 'n'] as [string, string],
    );
    return { category: label, n: pairs.length, kappa: kappa(pairs) };
  });
  // Against the answer the part stands on (agreed, or settled by a manager): how often each person was overridden.
  const people = new Map<string, { opinions: number; judged: number; settledAgainst: number }>();
  let judged = 0;
  let against = 0;
  for (const c of both) {
    const final = finalOf(c);
    for (const o of [c.first, c.second]) {
      const p = people.get(o.user) ?? { opinions: 0, judged: 0, settledAgainst: 0 };
      p.opinions++;
      if (final) {
        p.judged++;
        judged++;
        if (final.verdict !== o.verdict) {
          p.settledAgainst++;
          against++;
        }
      }
      people.set(o.user, p);
    }
  }
  return {
    station,
    share,
    cases: both.length,
    waiting: cases.filter((c) => !c.second).length,
    disputes: both.filter((c) => c.first.verdict !== c.second.verdict && !c.settled).length,
    pairs: [...byPair.values()].map(({ people: pair, verdicts }) => ({
      people: pair,
      n: verdicts.length,
      agreement: verdicts.filter(([a, b]) => a === b).length / verdicts.length,
      kappa: kappa(verdicts),
    })),
    categories,
    people: [...people.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([user, p]) => ({
        user,
        opinions: p.opinions,
        settledAgainst: p.settledAgainst,
        overrideRate: p.judged ? p.settledAgainst / p.judged : null,
      })),
    stationOverrideRate: judged ? against / judged : null,
  };
}

/** The answer a case stands on: the settled one, else an agreed one; undefined while open or disputed. */
export function finalOf(c: Case): Opinion | undefined {
  if (c.settled) return c.settled;
  if (c.second && c.second.verdict === c.first.verdict) return c.first;
  return undefined;
}

/** What the defect log is told: a second opinion given, or a disagreement settled. */
export type OpinionFact = { partId: string; opinion: Opinion } & (
  { kind: 'opinion'; agrees: boolean } | { kind: 'settled' }
);

export type GiveOutcome =
  { kind: 'agreed' | 'disputed'; case: Case } | { kind: 'unknown' | 'same_person' | 'already'; message: string };

export class SecondOpinions {
  private readonly cases = new Map<string, Case>();
  private readonly file: string;
  private readonly lines: AdviceLines | null;
  /** told of each opinion given and each settlement, once it is on disk (the part's timeline in the defect log) */
  told: ((fact: OpinionFact) => void) | null = null;

  constructor(
    dir: string | null,
    readonly share: number,
  ) {
    this.file = dir ? path.join(dir, 'second-opinions.jsonl') : '';
    this.lines = dir ? new AdviceLines(this.file) : null;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const line of this.lines?.read<Line>() ?? []) this.apply(line);
    }
  }

  /** A part a person decided: queued again for someone else when the draw falls under the share. */
  consider(closing: Closing, draw: number): boolean {
    if (closing.decidedBy !== 'human' || !closing.user || closing.verdict === 'hold' || !(draw < this.share))
      return false;
    const first: Opinion = {
      user: closing.user,
      verdict: closing.verdict,
      at: closing.at,
      ...(closing.category ? { category: closing.category } : {}),
    };
    this.write({ queued: { partId: closing.partId, score: closing.score, first } });
    return true;
  }

  /** Parts waiting for a second opinion that this person may give, blind: no first answer. */
  waitingFor(user: string): { partId: string; score: number | null }[] {
    return [...this.cases.values()]
      .filter((c) => !c.second && c.first.user !== user)
      .map((c) => ({ partId: c.partId, score: c.score }));
  }

  give(partId: string, opinion: Opinion): GiveOutcome {
    const c = this.cases.get(partId);
    if (!c) return { kind: 'unknown', message: `no second opinion is asked for part ${partId}` };
    if (c.second) return { kind: 'already', message: `part ${partId} already has its second opinion` };
    if (c.first.user === opinion.user)
      return {
        kind: 'same_person',
        message: `${opinion.user} gave the first opinion on part ${partId}; a second must come from someone else`,
      };
    this.write({ second: { partId, ...opinion } });
    const agrees = c.first.verdict === opinion.verdict;
    this.told?.({ kind: 'opinion', partId, opinion, agrees });
    return { kind: agrees ? 'agreed' : 'disputed', case: c };
  }

  /** Disagreements waiting for a manager: both answers shown, they are no longer blind. */
  disputes(): Case[] {
    return [...this.cases.values()].filter((c) => c.second && c.second.verdict !== c.first.verdict && !c.settled);
  }

  settle(partId: string, opinion: Opinion): { ok: true; case: Case } | { ok: false; message: string } {
    const c = this.cases.get(partId);
    if (!c || !c.second || c.second.verdict === c.first.verdict)
      return { ok: false, message: `part ${partId} has no disagreement to settle` };
    if (c.settled) return { ok: false, message: `part ${partId} was already settled by ${c.settled.user}` };
    this.write({ settled: { partId, ...opinion } });
    this.told?.({ kind: 'settled', partId, opinion });
    return { ok: true, case: c };
  }

  /**
   * The closings as calibration should learn from them: a disputed part's verdict is the settled
   * one, and a part still in dispute is left out (two people could not agree: not a label yet).
   */
  learnFrom(closings: Closing[]): Closing[] {
    return closings.flatMap((closing) => {
      const c = this.cases.get(closing.partId);
      if (!c || closing.decidedBy !== 'human' || !c.second) return [closing];
      const final = finalOf(c);
      if (!final) return [];
      // A part settled as good has no defect category; one settled as a defect keeps the one given with it.
      const settled: Closing = { ...closing, verdict: final.verdict };
      delete settled.category;
      const category = final.verdict === 'reject' ? (final.category ?? closing.category) : undefined;
      return [category ? { ...settled, category } : settled];
    });
  }

  agreement(station: string): Agreement {
    return agreement(station, this.share, [...this.cases.values()]);
  }

  private write(line: Line): void {
    this.lines?.append(line);
    this.apply(line);
  }

  private apply(line: Line): void {
    if ('queued' in line) this.cases.set(line.queued.partId, { ...line.queued });
    else if ('second' in line) {
      const { partId, ...opinion } = line.second;
      const c = this.cases.get(partId);
      if (c) c.second = opinion;
    } else {
      const { partId, ...opinion } = line.settled;
      const c = this.cases.get(partId);
      if (c) c.settled = opinion;
    }
  }
}
