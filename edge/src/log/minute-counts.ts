/**
 * The defect log's per-minute counts, split from defect-log.ts: every inspection is counted, stored
 * or not, as one number per hour, line, station, outcome and minute. Kept in memory as hour
 * (YYYY-MM-DDTHH) → "line|station|outcome" → sixty minutes, the shape partition.ts writes to one
 * small document per hour; these are the pure operations on that map, the log does the writing.
 */
import type { DecidedBy, FinalVerdict } from '../../../contract/vocabulary.ts';
import { hourOf } from './partition.ts';

/** What is counted per minute: a final verdict and who decided it, or a review opened by the model. */
export type Outcome = `${FinalVerdict}/${DecidedBy}` | 'review/model';

export interface Count {
  /** start of the minute, ms since the epoch */
  minute: number;
  line: string;
  station: string;
  outcome: Outcome;
  n: number;
}

/** hour (YYYY-MM-DDTHH) → "line|station|outcome" → a count per minute */
export type MinuteCounts = Map<string, Map<string, number[]>>;

/** Adds n (negative to take back, never below zero) to the minute of `at`; returns the hour changed. */
export function addCount(
  counts: MinuteCounts,
  at: string,
  line: string,
  station: string,
  outcome: Outcome,
  n: number,
): string {
  const hour = hourOf(at);
  let hourCounts = counts.get(hour);
  if (!hourCounts) counts.set(hour, (hourCounts = new Map()));
  const key = `${line}|${station}|${outcome}`;
  let minutes = hourCounts.get(key);
  if (!minutes) hourCounts.set(key, (minutes = new Array<number>(60).fill(0)));
  const minute = Number(at.slice(14, 16));
  minutes[minute] = Math.max(0, minutes[minute] + n);
  return hour;
}

/** Per-minute counts between two ISO times (from inclusive, to exclusive, to the minute), in no particular order. */
export function countsBetween(all: MinuteCounts, from?: string, to?: string): Count[] {
  const out: Count[] = [];
  const fromMinute = from ? Math.floor(Date.parse(from) / 60_000) * 60_000 : -Infinity;
  const toMinute = to ? Math.floor(Date.parse(to) / 60_000) * 60_000 : Infinity;
  for (const [hour, counts] of all) {
    if ((from && hour < from.slice(0, 13)) || (to && `${hour}:00` >= to.slice(0, 16))) continue;
    const hourStart = Date.parse(`${hour}:00:00.000Z`);
    for (const [key, minutes] of counts) {
      const [line, station, outcome] = key.split('|');
      minutes.forEach((n, m) => {
        const minute = hourStart + m * 60_000;
        if (n === 0 || minute < fromMinute || minute >= toMinute) return;
        out.push({ minute, line, station, outcome: outcome as Outcome, n });
      });
    }
  }
  return out;
}
