/**
 * What a station remembers of each part id it answered, so that a message delivered again gets the
 * same answer and a new frame under an old id is inspected. A PLC counter resets at shift start, a
 * camera is power-cycled: the id comes back on a different part, and answering it from memory would
 * pass a part nobody inspected. So a part id alone never decides; the frame's bytes do (a fingerprint),
 * and for a trigger its `requestId` or the MQTT redelivery flag.
 *
 * Answers are kept durably (one JSON line per answer in `answers.jsonl`, beside the reviews) for a
 * configurable window, so a redelivery after any restart is recognised. The file is rewritten at start
 * with what is still inside the window (kept as it is when the disk is full at start). Writes are
 * checked (a short write is finished or thrown as StorageFull, and the answer is not remembered); they
 * are not fsynced: they survive a killed process, not a power loss (the outbox's in-hand list covers
 * that case by answering `interrupted`).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { endCutShortLine, readJsonLines, writeFully } from '../json-lines.ts';
import { isNoSpace } from '../storage/health.ts';
import path from 'node:path';
import type { Result } from '../../../contract/payloads.ts';

export interface PartMemoryOptions {
  /** how long an answer is remembered */
  keepHours: number;
  /** at most this many part ids are remembered (the oldest are forgotten first) */
  maxParts: number;
}

/** One remembered answer: the part's last result, and what brought it. */
interface Answer {
  partId: string;
  /** fingerprint of the frame that was inspected; null when no frame was (missing, interrupted) */
  frame: string | null;
  requestId?: string;
  result: Result;
  /** when it was answered (ms since epoch) */
  at: number;
}

/** What to do with a frame or trigger under a part id. */
export type Seen =
  | { kind: 'again'; result: Result }
  | { kind: 'new'; replaces?: Result };

export class PartMemory {
  private readonly answers = new Map<string, Answer>();
  private fd: number | null = null;

  /** `dir` null: in memory only (tests, and stations built without a folder). */
  constructor(
    private readonly dir: string | null,
    private readonly options: PartMemoryOptions = { keepHours: 24, maxParts: 100_000 },
    private readonly now: () => number = Date.now,
  ) {
    if (dir === null) return;
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'answers.jsonl');
    if (existsSync(file)) this.load(file);
    // Rewritten with what is still remembered, so the file does not grow for ever.
    const temp = `${file}.tmp`;
    try {
      writeFileSync(temp, [...this.answers.values()].map((answer) => `${JSON.stringify(answer)}\n`).join(''));
      renameSync(temp, file);
    } catch (error) {
      // A full disk at start: the file stays as it is (appended to), and the station starts.
      if (!isNoSpace(error)) throw error;
      rmSync(temp, { force: true });
      endCutShortLine(file);
    }
    this.fd = openSync(file, 'a');
  }

  /** The fingerprint of a frame's bytes: the same bytes again are the same frame. */
  static fingerprint(image: Buffer): string {
    return createHash('sha256').update(image).digest('base64url').slice(0, 32);
  }

  /** A frame under `partId`: the same bytes as the answered frame are a redelivery; other bytes are a new part. */
  forFrame(partId: string, fingerprint: string): Seen {
    const answer = this.recall(partId);
    if (!answer) return { kind: 'new' };
    if (answer.frame === fingerprint) return { kind: 'again', result: answer.result };
    return { kind: 'new', replaces: answer.result };
  }

  /**
   * A trigger under `partId`: the same `requestId`, or the broker's redelivery of the same message,
   * gets the answer again; any other trigger asks for a new picture.
   */
  forTrigger(partId: string, requestId: string | undefined, redelivered: boolean): Seen {
    const answer = this.recall(partId);
    if (!answer) return { kind: 'new' };
    const same = requestId !== undefined ? answer.requestId === requestId : redelivered;
    return same ? { kind: 'again', result: answer.result } : { kind: 'new', replaces: answer.result };
  }

  /** The last answer under `partId`, if still remembered. */
  get(partId: string): Result | undefined {
    return this.recall(partId)?.result;
  }

  /** Records a part's answer (on disk before the caller goes on). */
  answered(partId: string, frame: string | null, requestId: string | undefined, result: Result): void {
    const answer: Answer = { partId, frame, ...(requestId !== undefined ? { requestId } : {}), result, at: this.now() };
    // On disk first: an answer that could not be written (StorageFull) is not remembered either.
    if (this.fd !== null) writeFully(this.fd, Buffer.from(`${JSON.stringify(answer)}\n`), 'the part answers');
    this.remember(answer);
  }

  /**
   * An answer the disk could not take (a full disk): remembered in memory only, so the same frame
   * sent again in this process gets it again. It replaces any answer of the same part written earlier.
   */
  rememberOnly(partId: string, frame: string | null, requestId: string | undefined, result: Result): void {
    this.remember({ partId, frame, ...(requestId !== undefined ? { requestId } : {}), result, at: this.now() });
  }

  /** Brings back an answer known from elsewhere (reviews written before this file existed), in memory only. */
  seed(partId: string, result: Result): void {
    if (!this.answers.has(partId)) this.remember({ partId, frame: null, result, at: Date.parse(result.at) || this.now() });
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private recall(partId: string): Answer | undefined {
    const answer = this.answers.get(partId);
    if (answer && answer.at < this.now() - this.options.keepHours * 3_600_000) {
      this.answers.delete(partId);
      return undefined;
    }
    return answer;
  }

  private remember(answer: Answer): void {
    this.answers.delete(answer.partId); // re-inserted last: the map's order is the order of answers
    this.answers.set(answer.partId, answer);
    while (this.answers.size > this.options.maxParts) this.answers.delete(this.answers.keys().next().value as string);
  }

  private load(file: string): void {
    const since = this.now() - this.options.keepHours * 3_600_000;
    // A line cut short by a crash is skipped (that answer was never given); other unreadable lines are reported.
    const valid = (v: unknown) => typeof (v as Answer).partId === 'string' && typeof (v as Answer).at === 'number' && typeof (v as Answer).result === 'object';
    for (const answer of readJsonLines<Answer>(file, 'part answers (what a redelivered frame is answered)', valid)) if (answer.at >= since) this.remember(answer);
  }

}

/** A frame or trigger refused because its part id is still in use by another part (in inspection, or waiting for a person). */
export class PartIdInUse extends Error {
  readonly code = 'duplicate_part_id';
  constructor(
    readonly partId: string,
    why: 'inspecting' | 'review',
  ) {
    super(
      why === 'review'
        ? `part ${partId} is waiting for a person; a different frame under the same part id is refused until that review is decided`
        : `part ${partId} is being inspected; a different frame under the same part id is refused until its result is out`,
    );
  }
}
