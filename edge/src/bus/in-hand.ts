/**
 * Parts in hand: every part a station has accepted (a frame, or a trigger waiting for its frame) and
 * not yet answered with a result. Once the broker has a frame's PUBACK it never sends that frame
 * again, so a station killed while parts wait in its queue would otherwise leave the line with no
 * answer for them. A part is appended to `in-hand.jsonl` when it is taken, before the message handler
 * returns and so before mqtt.js sends the PUBACK; when its result is in the outbox it is marked
 * answered. A restart answers what is left as `review` with reason `interrupted`: the frame itself is
 * not kept (writing every frame would cost more than inspecting it), so a person looks at the part.
 *
 * Taking a part is one small `write()`; the answered marks are written in batches, on the outbox's
 * sync tick and always before the outbox starts its file again, so a part whose mark was lost in a
 * crash still has its result line in the outbox, where the restart finds it. The same tick fsyncs
 * the file on libuv's thread pool, as the outbox does, against power loss.
 */
import { fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileSync } from './file-sync.ts';
import { endCutShortLine, readJsonLines, writeFully } from '../json-lines.ts';
import { isNoSpace, type StorageHealth } from '../storage/health.ts';

/** A part taken and not answered. */
export interface InHand {
  partId: string;
  /** how it came: a frame, or a trigger waiting for its frame */
  source: string;
  /** when it was taken, ISO 8601 */
  at: string;
}

type Line = { in: InHand } | { out: string };

/** Past this many lines, and when they are mostly answered parts, the file starts again. */
const COMPACT_LINES = 10_000;

export class PartsInHand {
  private readonly file: string;
  private readonly open = new Map<string, InHand>();
  /** the open journal, fsynced on the thread pool; null once closed */
  private durable: FileSync | null;
  private lines = 0;
  private answered: string[] = [];
  /** the parts a previous process took and never answered, as found at start */
  readonly left: InHand[];

  /** `storage`: told of a full disk and of a failed fsync */
  constructor(
    dir: string,
    private readonly storage?: StorageHealth,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'in-hand.jsonl');
    const left = new Map<string, InHand>();
    // A line cut short by a crash is skipped: that part was not accepted yet (no PUBACK went out).
    const valid = (v: unknown) => typeof (v as { out?: unknown }).out === 'string' || typeof (v as { in?: { partId?: unknown } }).in?.partId === 'string';
    for (const line of readJsonLines<Line>(this.file, 'parts in hand (parts owed a result)', valid)) {
      if ('in' in line) left.set(line.in.partId, line.in);
      else left.delete(line.out);
    }
    this.left = [...left.values()];
    for (const part of this.left) this.open.set(part.partId, part);
    this.durable = this.startJournal();
  }

  /** The journal rewritten; on a full disk, the journal as it is (a start must not fail for want of space). */
  private startJournal(): FileSync {
    try {
      return this.compact();
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      this.storage?.full('the parts in hand', error);
      rmSync(`${this.file}.tmp`, { force: true });
      endCutShortLine(this.file);
      return new FileSync(openSync(this.file, 'a'), (failure) => this.storage?.fsyncFailed(this.file, failure));
    }
  }

  /**
   * Records a part as taken. Call before the message that brought it is acknowledged. Throws
   * StorageFull when the disk cannot take it: the part is not taken.
   */
  take(partId: string, source: string): void {
    if (this.open.has(partId)) return;
    const durable = this.durable;
    if (!durable) throw new Error(`part ${partId} cannot be taken: the parts-in-hand journal is closed`);
    const part: InHand = { partId, source, at: new Date().toISOString() };
    const write = () => {
      const size = fstatSync(durable.fd).size;
      try {
        writeFully(durable.fd, Buffer.from(`${JSON.stringify({ in: part })}\n`), 'the parts in hand');
      } catch (error) {
        ftruncateSync(durable.fd, size); // no half line for the next one to join
        throw error;
      }
    };
    if (this.storage) this.storage.guard('the parts in hand', write);
    else write();
    this.open.set(partId, part);
    this.lines += 1;
    durable.wrote();
  }

  /** Marks a part answered, once its result is in the outbox; written at the next flush. */
  answer(partId: string): void {
    if (!this.open.delete(partId)) return;
    this.answered.push(partId);
  }

  /**
   * Writes the answered marks (or starts the file again when answered parts make up most of it),
   * then fsyncs what was written since the last time, off the event loop.
   */
  flush(): void {
    if (!this.durable) return;
    this.writeMarks(this.durable).tick();
  }

  /** Makes everything durable before it returns: the process may exit right after. */
  close(): void {
    if (!this.durable) return;
    this.writeMarks(this.durable).close();
    this.durable = null;
  }

  /** Returns the journal the marks went to: a new one when it started again. */
  private writeMarks(durable: FileSync): FileSync {
    const answered = this.answered;
    if (answered.length === 0) return durable;
    this.answered = [];
    if (this.lines > COMPACT_LINES && this.lines > 4 * this.open.size && !durable.busy) {
      let next: FileSync;
      try {
        next = this.compact();
      } catch (error) {
        this.answered = answered.concat(this.answered); // the journal as it was stays in use
        throw error;
      }
      durable.close(false); // replaced by the rewritten file
      this.durable = next;
      return next;
    }
    try {
      writeFully(durable.fd, Buffer.from(answered.map((partId) => `${JSON.stringify({ out: partId })}\n`).join('')), 'the parts in hand');
    } catch (error) {
      this.answered = answered.concat(this.answered); // written at a later tick, once there is space
      throw error;
    }
    this.lines += answered.length;
    durable.wrote();
    return durable;
  }

  /** Writes the open parts alone to a temporary file renamed over the journal: a crash leaves one or the other. */
  private compact(): FileSync {
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, [...this.open.values()].map((part) => `${JSON.stringify({ in: part })}\n`).join(''));
    renameSync(temporary, this.file);
    this.lines = this.open.size;
    const durable = new FileSync(openSync(this.file, 'a'), (error) => this.storage?.fsyncFailed(this.file, error));
    durable.wrote(); // the rewritten file reaches the disk on the next tick
    return durable;
  }
}
