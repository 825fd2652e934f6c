/**
 * The log's files: one folder per UTC day, `parts.jsonl` (events of stored parts, appended) and one
 * small lowdb document per hour, `counts-HH.json` (per-minute counts, rewritten as they change). No
 * write touches more than today's files, and the largest file ever rewritten is one hour of counts.
 *
 * Reading is where damage shows: a line cut short by a crash, a document that is not JSON. The file
 * is moved aside as `<file>.corrupt-<time>` (kept whole, for whoever wants to look), the good lines
 * of a JSONL file are written back in its place, and the problem is returned so it can be reported.
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { EventSchema, type LogEvent } from './entry.ts';

export interface Problem {
  file: string;
  movedTo: string;
  message: string;
}

/**
 * One hour of counts: per series (`line|station|outcome`), 60 numbers, one per minute. A series of
 * minute counts costs ~2 bytes a minute; one key per minute and outcome would cost ~45.
 */
export interface CountsDocument {
  series: Record<string, number[]>;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const COUNTS = /^counts-(\d{2})\.json$/;
const validEvent = TypeCompiler.Compile(EventSchema);

export const dayOf = (iso: string) => iso.slice(0, 10);
export const hourOf = (iso: string) => iso.slice(0, 13);
export const partsFile = (dir: string, day: string) => path.join(dir, day, 'parts.jsonl');
export const countsFile = (dir: string, hour: string) =>
  path.join(dir, hour.slice(0, 10), `counts-${hour.slice(11, 13)}.json`);

/** A compact document adapter: lowdb's JSONFile indents, which triples the bytes of every rewrite. */
export function countsDocument(file: string): Low<CountsDocument> {
  return new Low<CountsDocument>(
    new DataFile<CountsDocument>(file, { parse: JSON.parse, stringify: (data) => JSON.stringify(data) }),
    { series: {} },
  );
}

export async function days(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => DAY.test(name)).sort();
}

export async function hoursOf(dir: string, day: string): Promise<string[]> {
  const names = await readdir(path.join(dir, day)).catch(() => [] as string[]);
  return names.flatMap((name) => {
    const match = COUNTS.exec(name);
    return match ? [`${day}T${match[1]}`] : [];
  });
}

async function moveAside(file: string, message: string): Promise<Problem> {
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(file, movedTo);
  return { file, movedTo, message };
}

/** The events of one day; bad lines are moved aside with their file, the good ones stay. */
export async function readEvents(file: string): Promise<{ events: LogEvent[]; problem: Problem | null }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { events: [], problem: null };
  }
  const events: LogEvent[] = [];
  const good: string[] = [];
  let bad = 0;
  let firstBad = '';
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line === '') return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      event = undefined;
    }
    if (event !== undefined && validEvent.Check(event)) {
      events.push(event);
      good.push(line);
    } else {
      bad += 1;
      firstBad ||= `line ${index + 1}${index === lines.length - 1 ? ' (the last, cut short)' : ''}: ${line.slice(0, 80)}`;
    }
  });
  // A good last line without its newline (cut exactly there): end it, or the next append would join it.
  if (bad === 0 && text.length > 0 && !text.endsWith('\n')) await writeFile(file, '\n', { flag: 'a' });
  if (bad === 0) return { events, problem: null };
  const problem = await moveAside(file, `${bad} unreadable line(s), ${good.length} kept; first: ${firstBad}`);
  await writeFile(file, good.map((line) => `${line}\n`).join(''));
  return { events, problem };
}

/** The counts of one hour; a document that does not read is moved aside and the hour starts empty. */
export async function readCounts(file: string): Promise<{ series: Record<string, number[]>; problem: Problem | null }> {
  const db = countsDocument(file);
  try {
    await db.read();
    const series = db.data?.series;
    const valid =
      typeof series === 'object' &&
      series !== null &&
      Object.values(series).every(
        (minutes) => Array.isArray(minutes) && minutes.length === 60 && minutes.every(Number.isInteger),
      );
    if (!valid) throw new Error('expected { series: { "line|station|outcome": [60 minute counts] } }');
    return { series, problem: null };
  } catch (error) {
    return { series: {}, problem: await moveAside(file, `not a counts document: ${(error as Error).message}`) };
  }
}
