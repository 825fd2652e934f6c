/**
 * Image retention: a part's frame and anomaly map are deleted when they are older than the
 * configured days, and, oldest first, while the images folder is over its quota — never those of a
 * review still open (someone may be looking at it right now), and never those written in the last
 * minute (a part's evidence is on disk a moment before its review is). The log keeps the references
 * and marks them expired.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { partKey } from './entry.ts';
import type { DefectLog } from './defect-log.ts';

export interface KeptPart {
  line: string;
  station: string;
  partId: string;
  /** time of the newest of its files, ms */
  time: number;
  files: { path: string; bytes: number }[];
}

export interface RetentionRule {
  now: number;
  maxAgeMs: number;
  quotaBytes: number;
  /** keys `line/station/partId` of reviews still open */
  open: ReadonlySet<string>;
  graceMs?: number;
}

/** Which parts' images go: too old, then the oldest while over quota; open reviews and fresh files stay. */
export function planExpiry(parts: readonly KeptPart[], rule: RetentionRule): KeptPart[] {
  const grace = rule.graceMs ?? 60_000;
  const bytes = (p: KeptPart) => p.files.reduce((sum, f) => sum + f.bytes, 0);
  let total = parts.reduce((sum, p) => sum + bytes(p), 0);
  const doomed: KeptPart[] = [];
  for (const part of [...parts].sort((a, b) => a.time - b.time)) {
    if (rule.open.has(partKey(part.line, part.station, part.partId)) || rule.now - part.time < grace) continue;
    if (rule.now - part.time > rule.maxAgeMs || total > rule.quotaBytes) {
      doomed.push(part);
      total -= bytes(part);
    }
  }
  return doomed;
}

const FILE = /^(.+?)(\.img|\.map)$/;

/** Every part with kept evidence under `<imagesDir>/<line>/<station>/`. */
export async function keptParts(imagesDir: string): Promise<KeptPart[]> {
  const parts = new Map<string, KeptPart>();
  const list = (dir: string) => readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const line of await list(imagesDir)) {
    if (!line.isDirectory()) continue;
    for (const station of await list(path.join(imagesDir, line.name))) {
      if (!station.isDirectory()) continue;
      const dir = path.join(imagesDir, line.name, station.name);
      for (const file of await list(dir)) {
        const match = FILE.exec(file.name);
        if (!file.isFile() || !match) continue;
        const info = await stat(path.join(dir, file.name)).catch(() => null);
        if (!info) continue;
        const key = partKey(line.name, station.name, match[1]);
        let part = parts.get(key);
        if (!part) parts.set(key, (part = { line: line.name, station: station.name, partId: match[1], time: 0, files: [] }));
        part.files.push({ path: path.join(dir, file.name), bytes: info.size });
        part.time = Math.max(part.time, info.mtimeMs);
      }
    }
  }
  return [...parts.values()];
}

export interface Sweep {
  parts: number;
  bytes: number;
}

/** Deletes what the rule says and tells the log; a file that will not go is retried at the next sweep. */
export async function sweepImages(imagesDir: string, log: DefectLog, rule: Omit<RetentionRule, 'open'> & { openParts: () => Iterable<string> }): Promise<Sweep> {
  const parts = await keptParts(imagesDir);
  // Asked last, after the slow scan: a review opened meanwhile is protected too.
  const doomed = planExpiry(parts, { ...rule, open: new Set(rule.openParts()) });
  const swept: Sweep = { parts: 0, bytes: 0 };
  for (const part of doomed) {
    let all = true;
    for (const file of part.files) {
      try {
        await unlink(file.path);
        swept.bytes += file.bytes;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') all = false;
      }
    }
    if (all) {
      swept.parts += 1;
      log.expired(part.line, part.station, part.partId, new Date(rule.now).toISOString());
    }
  }
  return swept;
}
