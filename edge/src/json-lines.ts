/** Files of one JSON value a line, as the station's journals keep them. */
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { StorageFull } from './storage/health.ts';

/**
 * The values of a JSON-lines file, in order; none for a file that does not exist yet. A line cut
 * short by a crash is skipped: what it held was never acknowledged or published.
 */
export function readJsonLines<T>(file: string): T[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // cut short by a crash
    }
  }
  return out;
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
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10) writeSync(fd, '\n', size);
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
    const written = writeSync(fd, bytes, offset, bytes.length - offset, position === undefined ? null : position + offset);
    if (written <= 0) throw new StorageFull(what);
    offset += written;
  }
}
