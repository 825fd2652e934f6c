/**
 * The durable outbox: every message a station owes the line (results, reviews, verdicts, errors) is
 * appended to a file before it is published, and forgotten only when the broker has acknowledged it
 * (QoS 1 PUBACK). While the broker is unreachable messages pile up on disk, in order; after a
 * reconnect, or a restart after SIGKILL, they are delivered in the order they were written.
 *
 * Files, per station: `outbox.jsonl` (one message a line, appended) and `outbox.ack` (the byte offset
 * up to which every message was acknowledged). Appends are `write()` calls that complete before the
 * message is handed to MQTT, so a killed process loses nothing; the file is fsynced every
 * `syncMs` against power loss. Delivery is at least once: a message in flight when the process died
 * is sent again.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface OutgoingMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

interface Entry extends OutgoingMessage {
  end: number;
  sent: boolean;
  acked: boolean;
}

/** What the outbox needs from the MQTT connection. */
export interface Publisher {
  readonly connected: boolean;
  publish(message: OutgoingMessage, done: (error?: Error) => void): void;
}

export class Outbox {
  private readonly file: string;
  private readonly ackFile: string;
  private fd: number;
  private size: number;
  private acked: number;
  private readonly pending: Entry[] = [];
  private inFlight = 0;
  private publisher: Publisher | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private dirty = false;
  private ackDirty = false;

  constructor(
    dir: string,
    private readonly window = 32,
    private readonly syncMs = 200,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'outbox.jsonl');
    this.ackFile = path.join(dir, 'outbox.ack');
    this.fd = openSync(this.file, 'a+');
    const content = readFileSync(this.file);
    this.size = content.length;
    this.acked = Math.min(this.size, existsSync(this.ackFile) ? Number(readFileSync(this.ackFile, 'utf8')) || 0 : 0);
    this.recover(content);
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

  /** Appends a message durably, then publishes it when its turn comes. */
  send(message: OutgoingMessage): void {
    const line = Buffer.from(`${JSON.stringify(message)}\n`);
    writeSync(this.fd, line, 0, line.length, this.size);
    this.size += line.length;
    this.dirty = true;
    this.pending.push({ ...message, end: this.size, sent: false, acked: false });
    this.pump();
  }

  /** Call when the connection is back: everything not yet acknowledged goes out again, in order. */
  resume(): void {
    this.pump();
  }

  /** Publishes the next messages in order, keeping at most `window` unacknowledged on the wire. */
  pump(): void {
    const publisher = this.publisher;
    if (!publisher?.connected) return;
    for (const entry of this.pending) {
      if (this.inFlight >= this.window) return;
      if (entry.sent) continue;
      entry.sent = true;
      this.inFlight += 1;
      publisher.publish(entry, (error) => {
        this.inFlight -= 1;
        if (error) {
          entry.sent = false; // not delivered: it stays in order and goes out again
        } else {
          entry.acked = true;
          this.advance();
        }
        this.pump();
      });
    }
  }

  close(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.sync();
    closeSync(this.fd);
  }

  /** Moves the acknowledged prefix forward; acknowledgements that arrive early wait for their elders. */
  private advance(): void {
    let moved = false;
    while (this.pending.length > 0 && this.pending[0].acked) {
      this.acked = (this.pending.shift() as Entry).end;
      moved = true;
    }
    if (moved) this.ackDirty = true;
  }

  private sync(): void {
    if (this.dirty) {
      fsyncSync(this.fd);
      this.dirty = false;
    }
    if (this.ackDirty) {
      this.ackDirty = false;
      if (this.pending.length === 0 && this.size > 1 << 20) {
        // Everything is delivered: start the file again rather than let it grow without bound.
        ftruncateSync(this.fd, 0);
        this.size = 0;
        this.acked = 0;
      }
      writeFileSync(this.ackFile, String(this.acked));
    }
  }

  /** Loads what was written after the acknowledged offset (a restart after a crash). */
  private recover(content: Buffer): void {
    let start = this.acked;
    while (start < content.length) {
      const newline = content.indexOf(10, start);
      if (newline < 0) {
        // A half-written last line (killed mid-write): drop it so the next append starts clean.
        ftruncateSync(this.fd, start);
        this.size = start;
        break;
      }
      try {
        const message = JSON.parse(content.subarray(start, newline).toString()) as OutgoingMessage;
        this.pending.push({ ...message, end: newline + 1, sent: false, acked: false });
      } catch {
        // an unreadable line cannot be delivered; skip it rather than block everything after it
      }
      start = newline + 1;
    }
  }
}
