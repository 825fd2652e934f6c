/**
 * A small lowdb document (people, claims, thresholds history, drift state): always backed by its
 * file, and a damaged file never stops a start. Shared by the edge and the dashboard.
 */
import { JSONFileSync } from 'lowdb/node';
import { LowSync } from 'lowdb';
import { damagedMoved } from './damaged.ts';

/**
 * A lowdb document backed by its file, always. (lowdb's own presets swap in an in-memory adapter
 * when NODE_ENV is "test", which would make every durability test pass without touching the disk.)
 * A file that is not JSON, or lacks a field of `defaults`, is moved aside and reported (damaged.ts);
 * the document then starts from the defaults rather than crash-loop.
 */
export function jsonDocument<T extends object>(file: string, defaults: T, holds = 'state'): LowSync<T> {
  const db = new LowSync<T>(new JSONFileSync<T>(file), defaults);
  let problem: string | null = null;
  try {
    db.read();
    if (!sameShape(db.data, defaults))
      problem = 'does not hold what it should (a field is missing or of the wrong kind)';
  } catch (error) {
    problem = `is not valid JSON (${(error as Error).message})`;
  }
  if (problem !== null) {
    damagedMoved(file, problem, holds);
    db.data = structuredClone(defaults);
  }
  return db;
}

function sameShape(data: unknown, defaults: object): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  return Object.entries(defaults).every(([key, value]) => {
    const found = (data as Record<string, unknown>)[key];
    return Array.isArray(value) ? Array.isArray(found) : typeof found === typeof value;
  });
}
