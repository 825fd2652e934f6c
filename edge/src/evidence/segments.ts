/**
 * Evidence segments: the kept parts' frames and maps appended to a few files a station an hour,
 * instead of two new files a part. Creating a file costs an inode, and more right after many files
 * were deleted nearby (ext4 without a journal walks past recently freed inodes): evidence files were
 * the largest single cost a station added to a part (docs/benchmarks.md, "Why the code is as it is").
 *
 * In a station's images folder (`<images>/<line>/<station>/`), each writer (an inspection worker, or
 * the event loop for parts no worker kept) appends to its own pair of files for the current UTC hour:
 * - `evidence-<YYYY-MM-DDTHH>-<writer>.seg`: a part's frame bytes as they arrived, then its map;
 * - `evidence-<YYYY-MM-DDTHH>-<writer>.idx`: one JSON line a part, written after its bytes:
 *   `{"partId","at","image":[offset,length],"map":[offset,length]}`.
 * A crash between the two leaves bytes no line points to, never a line pointing to missing bytes; a
 * line cut short is skipped. Writers never share a file (the writer's name holds its process and
 * thread), so no write interleaves with another. Retention deletes a segment and its index together,
 * never one of the last two hours (a writer may still be appending to it).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync, writeSync, writevSync } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { endCutShortLine } from '../json-lines.ts';

/** Where a part's evidence is in a segment: byte ranges of its frame and map. */
export interface Location {
  segment: string;
  at: number;
  image?: [number, number];
  map?: [number, number];
}

interface IndexLine {
  partId: string;
  at: number;
  image?: [number, number];
  map?: [number, number];
}

/** A segment's or its index's name: `evidence-<hour>-<writer>.<seg|idx>`. */
const NAME = /^evidence-(\d{4}-\d{2}-\d{2}T\d{2})-[\w.-]+\.(seg|idx)$/;
const isIndex = (name: string) => NAME.exec(name)?.[2] === 'idx';
const HOUR = 3_600_000;

/** The UTC hour a time falls in, as segment names spell it. */
export function hourOf(time: number): string {
  return new Date(time).toISOString().slice(0, 13);
}

/** An index file's segment: the same name, `.seg` for `.idx`. */
export function segmentOf(index: string): string {
  return index.slice(0, -'.idx'.length) + '.seg';
}

/** Whether an index or segment file belongs to the hour `time` is in or the one before (still written to). */
export function isCurrent(name: string, time: number): boolean {
  const hour = NAME.exec(name)?.[1];
  return hour !== undefined && hour >= hourOf(time - HOUR);
}

/** Appends parts' evidence to this writer's segment of the current hour. */
export class SegmentWriter {
  private hour = '';
  private name = '';
  private seg = -1;
  private idx = -1;
  private size = 0;

  constructor(
    private readonly dir: string,
    private readonly writer = `${process.pid}-${threadId}`,
  ) {}

  /**
   * Appends a part's frame and map; answers where they are, as `<segment>#<offset>+<length>` for the
   * log. Throws what the file system says (the caller keeps the part going without its evidence).
   */
  append(
    partId: string,
    image: Buffer | null,
    map: Buffer | null,
    now = Date.now(),
  ): { image?: string; heatmap?: string } {
    try {
      this.open(now);
      const line: IndexLine = { partId, at: now };
      const chunks: Buffer[] = [];
      let offset = this.size;
      if (image && image.length > 0) {
        line.image = [offset, image.length];
        chunks.push(image);
        offset += image.length;
      }
      if (map && map.length > 0) {
        line.map = [offset, map.length];
        chunks.push(map);
        offset += map.length;
      }
      if (chunks.length === 0) return {};
      const written = writevSync(this.seg, chunks);
      if (written !== offset - this.size) throw new Error(`wrote ${written} of ${offset - this.size} bytes`);
      this.size = offset;
      writeSync(this.idx, `${JSON.stringify(line)}\n`);
      const where = (range: [number, number]) => `${this.name}.seg#${range[0]}+${range[1]}`;
      return { ...(line.image ? { image: where(line.image) } : {}), ...(line.map ? { heatmap: where(line.map) } : {}) };
    } catch (error) {
      // Opened again at the next part, its size read afresh: a failed write may have left part of it.
      this.close();
      throw error;
    }
  }

  close(): void {
    if (this.seg >= 0) closeSync(this.seg);
    if (this.idx >= 0) closeSync(this.idx);
    this.seg = this.idx = -1;
  }

  private open(now: number): void {
    const hour = hourOf(now);
    if (hour === this.hour && this.seg >= 0) return;
    this.close();
    this.name = `evidence-${hour}-${this.writer}`;
    this.seg = openSync(path.join(this.dir, `${this.name}.seg`), 'a');
    try {
      const index = path.join(this.dir, `${this.name}.idx`);
      endCutShortLine(index); // a line a failed write cut short would swallow the next one
      this.idx = openSync(index, 'a');
    } catch (error) {
      this.close();
      throw error;
    }
    this.size = fstatSync(this.seg).size;
    this.hour = hour;
  }
}

/** One segment's index as read so far. */
interface IndexState {
  /** bytes parsed, up to the last whole line */
  read: number;
  /** read to its end after its hour was over: it will not grow */
  sealed: boolean;
  parts: Map<string, Location>;
}

/**
 * Finds parts' evidence in a station's segments: the index files are read once, then only what was
 * appended since; the newest evidence of a part id wins (a part id used again).
 */
export class SegmentIndex {
  private readonly files = new Map<string, IndexState>();
  private readonly parts = new Map<string, Location>();
  private refreshedAt = -Infinity;

  constructor(private readonly dir: string) {}

  /**
   * Where a part's evidence is, or null when no segment holds it. What was appended since is read
   * at most once a second, and on every miss (the part may have been kept a moment ago).
   */
  find(partId: string, now = Date.now()): Location | null {
    if (now - this.refreshedAt > 1000 || !this.parts.has(partId)) this.refresh(now);
    return this.parts.get(partId) ?? null;
  }

  /** The part ids an index file holds, as last read. */
  partsOf(index: string): string[] {
    return [...(this.files.get(index)?.parts.keys() ?? [])];
  }

  /** The bytes of one range of a segment; null once the segment is gone (retention). */
  read(location: Location, range: [number, number]): Buffer | null {
    let fd: number;
    try {
      fd = openSync(path.join(this.dir, location.segment), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.refresh();
      return null;
    }
    try {
      const bytes = Buffer.allocUnsafe(range[1]);
      const got = readSync(fd, bytes, 0, range[1], range[0]);
      return got === range[1] ? bytes : null;
    } finally {
      closeSync(fd);
    }
  }

  /** Reads what was appended to the index files since the last time, and forgets deleted ones. */
  refresh(now = Date.now()): void {
    this.refreshedAt = now;
    let names: string[];
    try {
      names = readdirSync(this.dir).filter(isIndex);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      names = [];
    }
    const present = new Set(names);
    for (const [name, state] of this.files) {
      if (present.has(name)) continue;
      this.files.delete(name);
      for (const [partId, location] of state.parts) if (this.parts.get(partId) === location) this.parts.delete(partId);
    }
    for (const name of names.sort()) {
      let state = this.files.get(name);
      if (!state) this.files.set(name, (state = { read: 0, sealed: false, parts: new Map() }));
      if (!state.sealed) this.readMore(name, state, now);
    }
  }

  private readMore(name: string, state: IndexState, now: number): void {
    const file = path.join(this.dir, name);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return; // deleted meanwhile: the next refresh forgets it
    }
    const over = !isCurrent(name, now);
    if (size > state.read) {
      const fd = openSync(file, 'r');
      let text: Buffer;
      try {
        text = Buffer.allocUnsafe(size - state.read);
        readSync(fd, text, 0, text.length, state.read);
      } finally {
        closeSync(fd);
      }
      const end = text.lastIndexOf(10) + 1;
      const segment = segmentOf(name);
      for (const line of text.subarray(0, end).toString('utf8').split('\n')) {
        if (!line) continue;
        let entry: IndexLine;
        try {
          entry = JSON.parse(line) as IndexLine;
        } catch {
          continue; // cut short by a crash
        }
        const location: Location = { segment, at: entry.at, image: entry.image, map: entry.map };
        state.parts.set(entry.partId, location);
        const known = this.parts.get(entry.partId);
        if (!known || known.at <= entry.at) this.parts.set(entry.partId, location);
      }
      state.read += end;
    }
    state.sealed = over;
  }
}

/** This process's index of each station folder, kept between lookups and sweeps. */
const indexes = new Map<string, SegmentIndex>();

/** The index of a station's images folder, read as it grows; one a process. */
export function segmentIndex(dir: string): SegmentIndex {
  let index = indexes.get(dir);
  if (!index) indexes.set(dir, (index = new SegmentIndex(dir)));
  return index;
}

/** A segment as retention sees it: its two files, their bytes, its last write and the parts in it. */
export interface SegmentFiles {
  segment: string;
  files: { path: string; bytes: number }[];
  time: number;
  partIds: string[];
}

/** Every segment of a station's images folder, with the part ids its index holds. */
export function listSegments(dir: string, now = Date.now()): SegmentFiles[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const index = segmentIndex(dir);
  index.refresh(now); // what was appended since the last time; sealed indexes are known already
  // By base name, so that a segment whose index was never created (killed between the two opens) goes too.
  const bases = new Set(names.filter((name) => NAME.test(name)).map((name) => name.replace(/\.(seg|idx)$/, '')));
  const out: SegmentFiles[] = [];
  for (const base of [...bases].sort()) {
    const files: { path: string; bytes: number }[] = [];
    let time = 0;
    for (const file of [`${base}.seg`, `${base}.idx`]) {
      try {
        const info = statSync(path.join(dir, file));
        files.push({ path: path.join(dir, file), bytes: info.size });
        time = Math.max(time, info.mtimeMs);
      } catch {
        // one of the two is missing: what is there goes with the other
      }
    }
    out.push({ segment: `${base}.seg`, files, time, partIds: index.partsOf(`${base}.idx`) });
  }
  return out;
}
