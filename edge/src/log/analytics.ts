/**
 * The trends a quality manager watches, per hour and per shift, from the log's counts and entries.
 * Pure: the log hands in what it holds, the shifts come from the configuration.
 *
 * - yield: share of final verdicts that are pass.
 * - review rate: share of inspected parts the model sent to a person.
 * - override rate: share of human decisions that went against the model's leaning. The leaning is
 *   the side of the midpoint of the thresholds in force the score fell on: at or above
 *   (passBelow + rejectAbove) / 2 the model leant to reject, below it to accept. An audit part
 *   (scored below passBelow) that a person rejects is an override: an escape the audit caught.
 *   Parts without a score (unreadable, model error) had no leaning and are left out.
 * - Pareto: rejected parts by the defect category the person chose (`uncategorised` when the model
 *   or a timeout rejected), most frequent first, with the cumulative share.
 *
 * Counts cover every inspection but only know line, station and outcome, so they are the basis when
 * the filter asks for nothing more; any other filter (verdict, category, user, ...) can only be
 * answered from the stored entries (`basis: "entries"`), which leave out plain auto-passes.
 * Counts are bucketed by the minute the event happened, entries by the time the part was inspected.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Shift } from '../../../config/schema.ts';
import type { Entry } from './entry.ts';
import type { Count } from './minute-counts.ts';
import type { Filter } from './query.ts';

const Rate = Type.Union([Type.Number(), Type.Null()], { description: 'null when the denominator is zero' });
const StatsProperties = {
  inspected: Type.Integer({ description: 'parts the model scored (or routed without scoring)' }),
  finals: Type.Integer({ description: 'final verdicts given' }),
  passed: Type.Integer(),
  yield: Rate,
  reviews: Type.Integer({ description: 'reviews opened' }),
  reviewRate: Rate,
  humanDecisions: Type.Integer({ description: 'human decisions on scored parts' }),
  overrides: Type.Integer({ description: "human decisions against the model's leaning" }),
  overrideRate: Rate,
};
export const AnalyticsSchema = Type.Object(
  {
    basis: Type.Union([Type.Literal('counts'), Type.Literal('entries')]),
    totals: Type.Object(StatsProperties),
    hours: Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), ...StatsProperties })),
    shifts: Type.Array(
      Type.Object({
        shift: Type.String(),
        date: Type.String({ description: 'local date the shift started' }),
        start: Type.String({ format: 'date-time' }),
        ...StatsProperties,
      }),
    ),
    pareto: Type.Array(
      Type.Object({
        category: Type.String(),
        count: Type.Integer(),
        share: Type.Number(),
        cumulativeShare: Type.Number(),
      }),
    ),
  },
  { $id: 'Analytics' },
);
export type Analytics = Static<typeof AnalyticsSchema>;
type Stats = Static<typeof AnalyticsSchema>['totals'];

interface Tally {
  inspected: number;
  finals: number;
  passed: number;
  reviews: number;
  humanDecisions: number;
  overrides: number;
}

const emptyTally = (): Tally => ({ inspected: 0, finals: 0, passed: 0, reviews: 0, humanDecisions: 0, overrides: 0 });
const ratio = (a: number, b: number) => (b === 0 ? null : a / b);
const stats = (t: Tally): Stats => ({
  ...t,
  yield: ratio(t.passed, t.finals),
  reviewRate: ratio(t.reviews, t.inspected),
  overrideRate: ratio(t.overrides, t.humanDecisions),
});

/** Whether a person's decision went against the side of the midpoint the score fell on; null without a score. */
export function overrode(entry: Entry): boolean | null {
  if (!entry.decision || entry.score === null) return null;
  const midpoint = (entry.thresholds.passBelow + entry.thresholds.rejectAbove) / 2;
  const leaning = entry.score >= midpoint ? 'reject' : 'accept';
  return entry.decision.decision !== leaning;
}

const pad = (n: number) => String(n).padStart(2, '0');
const localDate = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

type ShiftKey = { shift: string; date: string; start: string };

/**
 * Finds the shift a time falls in (local time): the last one started that day, else the last of the
 * day before. Analytics asks once per minute of a month, so the shifts are sorted once and a shift's
 * description is built once per day and shift.
 */
function shiftFinder(shifts: Shift[]): (time: number) => ShiftKey | null {
  const sorted = shifts.map((s) => ({ name: s.name, minute: minutesOf(s.start) })).sort((a, b) => a.minute - b.minute);
  const known = new Map<string, ShiftKey>();
  return (time) => {
    if (sorted.length === 0) return null;
    const d = new Date(time);
    const minute = d.getHours() * 60 + d.getMinutes();
    let index = sorted.length - 1;
    while (index >= 0 && sorted[index].minute > minute) index--;
    const previousDay = index < 0;
    if (previousDay) index = sorted.length - 1;
    const id = `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}-${previousDay ? 'p' : ''}${index}`;
    let key = known.get(id);
    if (!key) {
      const day = new Date(d.getFullYear(), d.getMonth(), d.getDate() - (previousDay ? 1 : 0));
      const start = new Date(
        day.getFullYear(),
        day.getMonth(),
        day.getDate(),
        Math.floor(sorted[index].minute / 60),
        sorted[index].minute % 60,
      );
      known.set(id, (key = { shift: sorted[index].name, date: localDate(day), start: start.toISOString() }));
    }
    return key;
  };
}

export function shiftOf(time: number, shifts: Shift[]): ShiftKey | null {
  return shiftFinder(shifts)(time);
}

/** Local hours, like shifts: in a time zone with a half-hour offset, UTC hours would cut across the line's hours. */
const hourStart = (time: number) => {
  const d = new Date(time);
  return time - d.getMinutes() * 60_000 - d.getSeconds() * 1000 - d.getMilliseconds();
};

/** Filters counts cannot answer: with any of them, the entries are the basis. */
const ENTRY_ONLY: (keyof Filter)[] = ['verdict', 'decidedBy', 'category', 'reason', 'modelVersion', 'user'];

export function analyse(
  entries: readonly Entry[],
  counts: readonly Count[],
  filter: Filter,
  shifts: Shift[],
): Analytics {
  const basis = ENTRY_ONLY.some((key) => filter[key] !== undefined) ? 'entries' : 'counts';
  const totals = emptyTally();
  const hours = new Map<number, Tally>();
  const findShift = shiftFinder(shifts);
  const shiftTallies = new Map<string, { key: ShiftKey; tally: Tally }>();
  // Hours and shifts start on whole minutes: the buckets of a minute are looked up once (a month of counts is ~40k minutes).
  const byMinute = new Map<number, Tally[]>();
  const tallies = (time: number): Tally[] => {
    const minute = Math.floor(time / 60_000);
    let found = byMinute.get(minute);
    if (!found) byMinute.set(minute, (found = bucketsOf(minute * 60_000)));
    return found;
  };
  const bucketsOf = (time: number): Tally[] => {
    const hour = hourStart(time);
    if (!hours.has(hour)) hours.set(hour, emptyTally());
    const out = [totals, hours.get(hour) as Tally];
    const shift = findShift(time);
    if (shift) {
      if (!shiftTallies.has(shift.start)) shiftTallies.set(shift.start, { key: shift, tally: emptyTally() });
      out.push((shiftTallies.get(shift.start) as { tally: Tally }).tally);
    }
    return out;
  };

  if (basis === 'counts') {
    for (const count of counts) {
      if ((filter.line && count.line !== filter.line) || (filter.station && count.station !== filter.station)) continue;
      const [verdict, decidedBy] = count.outcome.split('/');
      for (const t of tallies(count.minute)) {
        if (verdict === 'review') {
          t.reviews += count.n;
          t.inspected += count.n;
          continue;
        }
        t.finals += count.n;
        if (verdict === 'pass') t.passed += count.n;
        if (decidedBy === 'model') t.inspected += count.n;
      }
    }
  }
  const pareto = new Map<string, number>();
  for (const entry of entries) {
    const time = Date.parse(entry.at);
    const override = overrode(entry);
    for (const t of tallies(time)) {
      if (basis === 'entries') {
        t.inspected += 1;
        if (entry.modelVerdict === 'review') t.reviews += 1;
        if (entry.final) {
          t.finals += 1;
          if (entry.final.verdict === 'pass') t.passed += 1;
        }
      }
      if (override !== null) {
        t.humanDecisions += 1;
        if (override) t.overrides += 1;
      }
    }
    if (entry.final?.verdict === 'reject') {
      const suggested = entry.final.suggestedCategory;
      const category =
        entry.final.category ?? entry.decision?.category ?? (suggested ? `${suggested} (suggested)` : 'uncategorised');
      pareto.set(category, (pareto.get(category) ?? 0) + 1);
    }
  }
  const rejects = [...pareto.values()].reduce((a, b) => a + b, 0);
  let cumulative = 0;
  return {
    basis,
    totals: stats(totals),
    hours: [...hours]
      .sort(([a], [b]) => a - b)
      .map(([start, t]) => ({ start: new Date(start).toISOString(), ...stats(t) })),
    shifts: [...shiftTallies.values()]
      .sort((a, b) => a.key.start.localeCompare(b.key.start))
      .map(({ key, tally }) => ({ ...key, ...stats(tally) })),
    pareto: [...pareto]
      .sort(([a, n], [b, m]) => m - n || a.localeCompare(b))
      .map(([category, count]) => {
        cumulative += count;
        return { category, count, share: count / rejects, cumulativeShare: cumulative / rejects };
      }),
  };
}
