/**
 * Parts in hand: every part a station has accepted (a frame, or a trigger waiting for its frame) and
 * not yet answered with a result. Once the broker has a frame's PUBACK it never sends that frame
 * again, so a station killed while parts wait in its queue would otherwise leave the line with no
 * answer for them. A part is written to the station's store (edge/src/store/) when it is taken,
 * before the message handler returns and so before mqtt.js sends the PUBACK; it is marked answered
 * in the same transaction that puts its result in the outbox, so a crash leaves both or neither. A
 * restart answers what is left as `review` with reason `interrupted`: the frame itself is not kept
 * (writing every frame would cost more than inspecting it), so a person looks at the part.
 */
import { StationStore } from '../store/store.ts';
import type { StorageHealth } from '../storage/health.ts';

/** A part taken and not answered. */
export interface InHand {
  partId: string;
  /** how it came: a frame, or a trigger waiting for its frame */
  source: string;
  /** when it was taken, ISO 8601 */
  at: string;
}

export class PartsInHand {
  readonly store: StationStore;
  private readonly open = new Set<string>();
  private closed = false;
  private readonly owned: boolean;
  /** the parts a previous process took and never answered, as found at start */
  readonly left: InHand[];

  /** `where`: the station's store, or the folder of one; `storage`: told of a full disk */
  constructor(where: string | StationStore, storage?: StorageHealth) {
    this.store = typeof where === 'string' ? StationStore.at(where, { storage }) : where;
    this.owned = typeof where === 'string';
    this.left = (
      this.store.db.prepare('SELECT part_id AS partId, source, at FROM in_hand ORDER BY rowid').all() as InHand[]
    ).map((part) => ({ ...part }));
    for (const part of this.left) this.open.add(part.partId);
  }

  /**
   * Records a part as taken. Call before the message that brought it is acknowledged. Throws
   * StorageFull when the disk cannot take it: the part is not taken.
   */
  take(partId: string, source: string): void {
    if (this.open.has(partId)) return;
    if (this.closed) throw new Error(`part ${partId} cannot be taken: the parts in hand are closed`);
    this.store.transition(
      () =>
        this.store.db
          .prepare('INSERT OR IGNORE INTO in_hand VALUES (?, ?, ?)')
          .run(partId, source, new Date().toISOString()),
      'the parts in hand',
    );
    this.store.after(() => this.open.add(partId));
  }

  /** Marks a part answered: inside the transition that records its result, or on its own. */
  answer(partId: string): void {
    if (!this.open.has(partId) || this.closed) return;
    try {
      this.store.transition(
        () => this.store.db.prepare('DELETE FROM in_hand WHERE part_id = ?').run(partId),
        'the parts in hand',
      );
    } catch (error) {
      // Outside a transition (a part answered without a record, on a full disk): still in hand on
      // disk, so a restart answers it interrupted, fail-safe. Inside one, the caller's write fails with it.
      if (this.store.inTransition) throw error;
      return;
    }
    this.store.after(() => this.open.delete(partId));
  }

  /** Nothing waits to be written: every mark is written when it is made. Kept for the callers. */
  flush(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.store.close();
  }
}
