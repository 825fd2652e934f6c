/** Files of one JSON value a line, as the station's journals keep them. */
import { readFileSync } from 'node:fs';

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
