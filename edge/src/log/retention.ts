/**
 * Image retention: a part's frame and anomaly map are deleted when they are older than the
 * configured days, and, oldest first, while the images folder is over its quota — never those of a
 * review still open (someone may be looking at it right now), and never those written in the last
 * minute (a part's evidence is on disk a moment before its review is). The log keeps the references
 * and marks them expired. Evidence lives in hourly segments (edge/src/evidence/segments.ts), deleted
 * whole: a segment goes when every part in it may go, and never while its hour or the next is
 * running (its writer may still append). Files of the layout before segments, `<partId>.img` and
 * `<partId>.map`, are swept part by part.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { partKey } from './entry.ts';
import type { DefectLog } from './defect-log.ts';
import { isCurrent, listSegments } from '../evidence/segments.ts';

/** What retention deletes at once: one part's files, or a segment and its index. */
export interface KeptPart {
  line: string;
  station: string;
  /** the parts whose evidence it holds */
  partIds: string[];
  /** time of the newest of its files, ms */
  time: number;
  files: { path: string; bytes: number }[];
  /** a segment its writer may still be appending to: it stays */
  current?: boolean;
}

export interface RetentionRule {
  now: number;
  maxAgeMs: number;
  quotaBytes: number;
  /** keys `line/station/partId` of reviews still open */
  open: ReadonlySet<string>;
  graceMs?: number;
}

/** Which evidence goes: too old, then the oldest while over quota; open reviews, fresh files and current segments stay. */
export function planExpiry(parts: readonly KeptPart[], rule: RetentionRule): KeptPart[] {
  const grace = rule.graceMs ?? 60_000;
  const bytes = (p: KeptPart) => p.files.reduce((sum, f) => sum + f.bytes, 0);
  let total = parts.reduce((sum, p) => sum + bytes(p), 0);
  const doomed: KeptPart[] = [];
  for (const part of [...parts].sort((a, b) => a.time - b.time)) {
    if (part.current || rule.now - part.time < grace) continue;
    if (part.partIds.some((partId) => rule.open.has(partKey(part.line, part.station, partId)))) continue;
    if (rule.now - part.time > rule.maxAgeMs || total > rule.quotaBytes) {
      doomed.push(part);
      total -= bytes(part);
    }
  }
  return doomed;
}

const FILE = /^(.+?)(\.img|\.map)$/;

/** Every part's or segment's kept evidence under `<imagesDir>/<line>/<station>/`. */
export async function keptParts(imagesDir: string, now = Date.now()): Promise<KeptPart[]> {
  const parts = new Map<string, KeptPart>();
  const segments: KeptPart[] = [];
  const list = (dir: string) => readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const line of await list(imagesDir)) {
    if (!line.isDirectory()) continue;
    for (const station of await list(path.join(imagesDir, line.name))) {
      if (!station.isDirectory()) continue;
      const dir = path.join(imagesDir, line.name, station.name);
      for (const segment of listSegments(dir, now)) {
        segments.push({
          line: line.name,
          station: station.name,
          partIds: segment.partIds,
          time: segment.time,
          files: segment.files,
          current: isCurrent(segment.segment, now),
        });
      }
      for (const file of await list(dir)) {
        const match = FILE.exec(file.name);
        if (!file.isFile() || !match) continue;
        const info = await stat(path.join(dir, file.name)).catch(() => null);
        if (!info) continue;
        const key = partKey(line.name, station.name, match[1]);
        let part = parts.get(key);
        if (!part)
          parts.set(key, (part = { line: line.name, station: station.name, partIds: [match[1]], time: 0, files: [] }));
        part.files.push({ path: path.join(dir, file.name), bytes: info.size });
        part.time = Math.max(part.time, info.mtimeMs);
      }
    }
  }
  return [...parts.values(), ...segments];
}

export interface Sweep {
  parts: number;
  bytes: number;
}

/** Deletes what the rule says and tells the log; a file that will not go is retried at the next sweep. */
export async function sweepImages(
  imagesDir: string,
  log: DefectLog,
  rule: Omit<RetentionRule, 'open'> & { openParts: () => Iterable<string> },
): Promise<Sweep> {
  const parts = await keptParts(imagesDir, rule.now);
  // Asked last, after the slow scan: a review opened meanwhile is protected too.
  const doomed = planExpiry(parts, { ...rule, open: new Set(rule.openParts()) });
  const going = new Set(doomed);
  // A part id used again has evidence in a newer segment that stays: its log entry is not expired.
  const staying = new Set(
    parts
      .filter((part) => !going.has(part))
      .flatMap((part) => part.partIds.map((partId) => partKey(part.line, part.station, partId))),
  );
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
    if (!all) continue;
    for (const partId of part.partIds) {
      if (staying.has(partKey(part.line, part.station, partId))) continue;
      swept.parts += 1;
      log.expired(part.line, part.station, partId, new Date(rule.now).toISOString());
    }
  }
  return swept;
}
