/**
 * State files found damaged at start (a disk error, a bad copy, a hand edit): each is named with
 * what is wrong, kept aside as it was (`<file>.damaged-<time>`), and the station goes on with what
 * could be read. It never hangs or crash-loops on one, and never drops open reviews without a loud
 * word: cli/run.ts logs every report at error level, with the way to restore them (README).
 */
import { copyFileSync, renameSync } from 'node:fs';

export interface DamageReport {
  file: string;
  /** what is wrong with it */
  problem: string;
  /** where the file, as it was found, is kept */
  keptAt: string | null;
  /** what the file holds, for the log line ("open reviews" are the ones a person may need back) */
  holds: string;
}

const listeners = new Set<(report: DamageReport) => void>();
/** files already reported in this process, with their size then: a file read again is not copied again */
const reported = new Map<string, number>();

/** Hears every damaged state file found from now on; answers the way to stop hearing. */
export function onDamage(listener: (report: DamageReport) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function aside(file: string): string {
  return `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

function report(damage: DamageReport): void {
  for (const listener of listeners) listener(damage);
  if (listeners.size === 0)
    console.error(
      `loupe: damaged state file ${damage.file}: ${damage.problem}; kept at ${damage.keptAt ?? '(not kept)'}`,
    );
}

/**
 * A file the station goes on using (it keeps what could be read): a copy of it as it was is kept
 * aside, once per process and size.
 */
export function damagedKept(file: string, size: number, problem: string, holds: string): void {
  if (reported.get(file) === size) return;
  reported.set(file, size);
  let keptAt: string | null = aside(file);
  try {
    copyFileSync(file, keptAt);
  } catch {
    keptAt = null; // a full disk, say: the report still goes out
  }
  report({ file, problem, keptAt, holds });
}

/** A file the station cannot use at all: moved aside, and the station starts without it. */
export function damagedMoved(file: string, problem: string, holds: string): void {
  let keptAt: string | null = aside(file);
  try {
    renameSync(file, keptAt);
  } catch {
    keptAt = null;
  }
  reported.delete(file);
  report({ file, problem, keptAt, holds });
}
