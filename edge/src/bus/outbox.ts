/**
 * The durable outbox: every message a station owes the line (results, reviews, verdicts, errors) is
 * written to the station's store (edge/src/store/) before it is published, and forgotten only when the
 * broker has acknowledged it (QoS 1 PUBACK). While the broker is unreachable messages pile up in the
 * store, in order; after a reconnect, or a restart after SIGKILL, they are delivered in the order they
 * were written. Messages sent inside a station's transition are committed with the rest of it (the
 * part's answer, its review), and published only once committed. Acknowledged messages are deleted
 * in batches on the sync tick. Delivery is at least once: a message in flight when the process died
 * is sent again.
 */
import type { Statement } from 'better-sqlite3';
import { StationStore } from '../store/store.ts';
import type { StorageHealth } from '../storage/health.ts';

export interface OutgoingMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

interface Entry extends OutgoingMessage {
  seq: number;
  sent: boolean;
  acked: boolean;
}

/** What the outbox needs from the MQTT connection. */
export interface Publisher {
  readonly connected: boolean;
  publish(message: OutgoingMessage, done: (error?: Error) => void): void;
}

/** What a station ties to the outbox's file. */
export interface OutboxHooks {
  /** runs on every sync tick, before the file is fsynced or started again */
  beforeSync?: () => void;
  /** called at start for every message the file still holds, delivered or not */
  written?: (message: OutgoingMessage) => void;
  /** told of a full disk and of a failed fsync */
  storage?: StorageHealth;
}

export class Outbox {
  readonly store: StationStore;
  private readonly pending: Entry[] = [];
  private inFlight = 0;
  /** index in `pending` from which unsent entries are looked for */
  private cursor = 0;
  private publisher: Publisher | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  /** every message up to this sequence number is acknowledged, and not yet deleted */
  private acked = 0;
  private ackDirty = false;
  private readonly insert: Statement<[string, string, number]>;
  /** the store was opened here, from a folder: closed with the outbox */
  private readonly owned: boolean;

  /** `where`: the station's store, or the folder of one (opened and closed with the outbox) */
  constructor(
    where: string | StationStore,
    private readonly window = 32,
    private readonly syncMs = 200,
    private readonly hooks: OutboxHooks = {},
  ) {
    this.store = typeof where === 'string' ? StationStore.at(where, { storage: hooks.storage }) : where;
    this.owned = typeof where === 'string';
    this.insert = this.store.db.prepare<[string, string, number]>(
      'INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)',
    );
    for (const row of this.store.db.prepare('SELECT seq, topic, payload, retain FROM outbox ORDER BY seq').all() as {
      seq: number;
      topic: string;
      payload: string;
      retain: number;
    }[]) {
      const message = { topic: row.topic, payload: row.payload, retain: row.retain === 1 };
      this.pending.push({ ...message, seq: row.seq, sent: false, acked: false });
      this.hooks.written?.(message);
    }
  }

  /** Messages written and not yet acknowledged. */
  get depth(): number {
    return this.pending.length;
  }

  attach(publisher: Publisher): void {
    this.publisher = publisher;
    this.syncTimer = setInterval(() => this.sync(), this.syncMs);
    this.pump();
  }

  /**
   * Writes messages durably (inside the caller's transition, if any), then publishes each when its
   * turn comes, once committed. Messages sent together are one transaction: all or none. A write the
   * disk cannot take throws StorageFull: nothing of it is sent.
   */
  send(...messages: OutgoingMessage[]): void {
    const entries = this.store.transition(
      () =>
        messages.map((message) => ({
          ...message,
          seq: Number(this.insert.run(message.topic, message.payload, message.retain ? 1 : 0).lastInsertRowid),
          sent: false,
          acked: false,
        })),
      'the outbox',
    );
    this.store.after(() => {
      this.pending.push(...entries);
      this.pump();
    });
  }

  /** Call when the connection is back: everything not yet acknowledged goes out again, in order. */
  resume(): void {
    this.pump();
  }

  /** Publishes the next messages in order, keeping at most `window` unacknowledged on the wire. */
  pump(): void {
    const publisher = this.publisher;
    if (!publisher?.connected) return;
    // `cursor`: no entry before it is waiting to be sent, so a wide window is not rescanned on every send.
    while (this.inFlight < this.window && this.cursor < this.pending.length) {
      const entry = this.pending[this.cursor++];
      if (entry.sent) continue;
      entry.sent = true;
      this.inFlight += 1;
      publisher.publish(entry, (error) => {
        this.inFlight -= 1;
        if (error) {
          entry.sent = false; // not delivered: it stays in order and goes out again
          this.cursor = 0;
        } else {
          entry.acked = true;
          this.advance();
        }
        this.pump();
      });
    }
  }

  /** Writes what is acknowledged before it returns: the process may exit right after. */
  close(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    this.sync();
    if (this.owned) this.store.close();
  }

  /** Moves the acknowledged prefix forward; acknowledgements that arrive early wait for their elders. */
  private advance(): void {
    let moved = false;
    while (this.pending.length > 0 && this.pending[0].acked) {
      this.acked = (this.pending.shift() as Entry).seq;
      this.cursor = Math.max(0, this.cursor - 1);
      moved = true;
    }
    if (moved) this.ackDirty = true;
  }

  /** Deletes what the broker acknowledged; on a timer, so a full disk is reported, never thrown. */
  private sync(): void {
    this.hooks.beforeSync?.();
    if (!this.ackDirty || !this.store.db.open) return;
    try {
      this.store.transition(
        () => this.store.db.prepare('DELETE FROM outbox WHERE seq <= ?').run(this.acked),
        'the outbox acknowledgements',
      );
      this.ackDirty = false;
    } catch {
      // reported to the storage health by the store; deleted at a later tick (until then a restart sends them again)
    }
  }
}
