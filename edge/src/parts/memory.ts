/**
 * What a station remembers of each part id it answered, so that a message delivered again gets the
 * same answer and a new frame under an old id is inspected. A PLC counter resets at shift start, a
 * camera is power-cycled: the id comes back on a different part, and answering it from memory would
 * pass a part nobody inspected. So a part id alone never decides; the frame's bytes do (a fingerprint),
 * and for a trigger its `requestId` or the MQTT redelivery flag.
 *
 * Answers are kept durably (a row per part id in the station's store, edge/src/store/) for a
 * configurable window, so a redelivery after any restart is recognised; what is outside the window is
 * deleted at start. An answer is written in the transition that records the part's result, and
 * remembered here once that has committed: an answer the disk could not take (StorageFull) is not
 * remembered either.
 */
import { createHash } from 'node:crypto';
import { StationStore } from '../store/store.ts';
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
export type Seen = { kind: 'again'; result: Result } | { kind: 'new'; replaces?: Result };

export class PartMemory {
  private readonly answers = new Map<string, Answer>();
  private store: StationStore | null = null;
  private readonly owned: boolean;

  /** `where` null: in memory only (tests, and stations built without a folder); else the station's store or its folder. */
  constructor(
    where: string | StationStore | null,
    private readonly options: PartMemoryOptions = { keepHours: 24, maxParts: 100_000 },
    private readonly now: () => number = Date.now,
  ) {
    this.owned = typeof where === 'string';
    if (where === null) return;
    const store = (this.store = typeof where === 'string' ? StationStore.at(where) : where);
    const since = this.now() - this.options.keepHours * 3_600_000;
    try {
      store.transition(() => store.db.prepare('DELETE FROM answers WHERE at < ?').run(since), 'the part answers');
    } catch {
      // A full disk at start: the old answers stay until the next start (they are skipped below), and the station starts.
    }
    for (const row of store.db.prepare('SELECT answer FROM answers WHERE at >= ? ORDER BY at').all(since) as {
      answer: string;
    }[])
      this.remember(JSON.parse(row.answer) as Answer);
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
    // In the store first: an answer that could not be written (StorageFull) is not remembered either.
    const store = this.store;
    if (!store) return this.remember(answer);
    store.transition(
      () =>
        store.db
          .prepare('INSERT OR REPLACE INTO answers VALUES (?, ?, ?)')
          .run(partId, answer.at, JSON.stringify(answer)),
      'the part answers',
    );
    store.after(() => this.remember(answer));
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
    if (!this.answers.has(partId))
      this.remember({ partId, frame: null, result, at: Date.parse(result.at) || this.now() });
  }

  close(): void {
    if (this.owned) this.store?.close();
    this.store = null;
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
