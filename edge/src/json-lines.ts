/** Files of one JSON value a line, as the station's journals keep them. */
import path from 'node:path';
import { appendFileSync, closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { isNoSpace, StorageFull } from './storage/health.ts';
import { StationStore } from './store/store.ts';
import { damagedKept, damagedMoved } from '../../shared/damaged.ts';

/**
 * The values of a JSON-lines file, in order; none for a file that does not exist yet. A last line
 * cut short by a crash is skipped: what it held was never acknowledged or published. Any other line
 * that cannot be read (or fails `valid`) means the file was damaged: it is reported and a copy kept
 * aside (shared/damaged.ts), and the readable lines are answered. A file that cannot be
 * read at all (a folder in its place, say) is moved aside.
 */
export function readJsonLines<T>(file: string, holds = 'state', valid: (value: unknown) => boolean = isObject): T[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    if ((error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
    damagedMoved(file, `cannot be read (${(error as Error).message})`, holds);
    return [];
  }
  const out: T[] = [];
  const lines = text.split('\n');
  let bad = 0;
  let first = 0;
  lines.forEach((line, index) => {
    if (!line) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (value !== undefined && valid(value)) return void out.push(value as T);
    if (index === lines.length - 1) return; // the last line, cut short by a crash
    bad += 1;
    first ||= index + 1;
  });
  if (bad > 0)
    damagedKept(
      file,
      text.length,
      `${bad} of ${lines.length - 1} lines cannot be read (the first is line ${first}); the readable lines are used`,
      holds,
    );
  return out;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Lines of advice and statistics (suggestions, second opinions), never a part's answer, kept in the
 * station's store (edge/src/store/) under the file's name as their kind: `file` is where they were
 * kept before the store, in the station's state folder. On a full disk a line is not kept (the caller
 * keeps it in memory until the next restart) and the station goes on.
 */
export class AdviceLines {
  private readonly dir: string;
  private readonly kind: string;

  constructor(file: string) {
    this.dir = path.dirname(file);
    this.kind = path.basename(file);
  }

  /** The lines kept so far, oldest first. */
  read<T>(): T[] {
    return this.use((store) =>
      (
        store.db.prepare('SELECT line FROM advice WHERE kind = ? ORDER BY seq').all(this.kind) as { line: string }[]
      ).map((row) => JSON.parse(row.line) as T),
    );
  }

  /** Answers whether the line was kept. */
  append(value: unknown): boolean {
    try {
      this.use((store) =>
        store.transition(
          () => store.db.prepare('INSERT INTO advice (kind, line) VALUES (?, ?)').run(this.kind, JSON.stringify(value)),
          `the ${this.kind} advice`,
        ),
      );
      return true;
    } catch (error) {
      if (!(error instanceof StorageFull)) throw error;
      return false;
    }
  }

  /** The station's store, held only while it is used (the station holds it open for its life). */
  private use<T>(work: (store: StationStore) => T): T {
    const store = StationStore.at(this.dir);
    try {
      return work(store);
    } finally {
      store.close();
    }
  }
}

/**
 * Lines of advice appended to a file of their own (the shadow model's tallies, which rewrite their
 * file on attach and promote; not yet in the station's store): the first append ends a line a crash
 * cut short; on a full disk the line is not kept and the station goes on. Answers whether it was kept.
 */
export class AdviceFile {
  private started = false;

  constructor(private readonly file: string) {}

  append(value: unknown): boolean {
    if (!this.started) {
      endCutShortLine(this.file);
      this.started = true;
    }
    try {
      appendFileSync(this.file, `${JSON.stringify(value)}\n`);
      return true;
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      return false;
    }
  }
}

/**
 * Ends the last line of a JSON-lines file if a crash or a failed write cut it short, so the next
 * line appended does not join it and get lost with it. A file that does not exist is left alone.
 */
export function endCutShortLine(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const last = Buffer.alloc(1);
    const size = fstatSync(fd).size;
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10)
      writeFully(fd, Buffer.from('\n'), file, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes all of `bytes` (at `position`, or at the file's end for a file opened to append): writeSync
 * may write less than asked when the disk fills up, and the rest would be lost without a word.
 * Throws StorageFull when no more can be written.
 */
export function writeFully(fd: number, bytes: Buffer, what: string, position?: number): void {
  let offset = 0;
  while (offset < bytes.length) {
    let written: number;
    try {
      written = writeSync(fd, bytes, offset, bytes.length - offset, position === undefined ? null : position + offset);
    } catch (error) {
      if (isNoSpace(error)) throw Object.assign(new StorageFull(what), { cause: error });
      throw error;
    }
    if (written <= 0) throw new StorageFull(what);
    offset += written;
  }
}
