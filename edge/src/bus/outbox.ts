/**
 * The durable outbox: every message a station owes the line (results, reviews, verdicts, errors) is
 * appended to a file before it is published, and forgotten only when the broker has acknowledged it
 * (QoS 1 PUBACK). While the broker is unreachable messages pile up on disk, in order; after a
 * reconnect, or a restart after SIGKILL, they are delivered in the order they were written.
 *
 * Files, per station: `outbox.jsonl` (one message a line, appended) and `outbox.ack` (the byte offset
 * up to which every message was acknowledged). Appends are `write()` calls that complete before the
 * message is handed to MQTT, so a killed process loses nothing; the file is fsynced every
 * `syncMs` against power loss, on libuv's thread pool: an fsync takes milliseconds on this machine and
 * can take hundreds on an edge box's SD card or eMMC, and the event loop must not wait for it. The
 * acknowledged offset is rewritten in place, padded to a fixed width, on a file kept open. Delivery
 * is at least once: a message in flight when the process died is sent again.
 */
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FileSync } from './file-sync.ts';

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

/** What a station ties to the outbox's file. */
export interface OutboxHooks {
  /** runs on every sync tick, before the file is fsynced or started again */
  beforeSync?: () => void;
  /** called at start for every message the file still holds, delivered or not */
  written?: (message: OutgoingMessage) => void;
}

/** Wide enough for any byte offset (2^53 has 16 digits); old files hold a shorter unpadded number. */
const ACK_WIDTH = 16;

export class Outbox {
  private readonly file: string;
  private readonly ackFile: string;
  private readonly fd: number;
  /** fsyncs the file on the thread pool; closes it after the last fsync */
  private readonly durable: FileSync;
  private size: number;
  private acked: number;
  private readonly pending: Entry[] = [];
  private inFlight = 0;
  /** index in `pending` from which unsent entries are looked for */
  private cursor = 0;
  private publisher: Publisher | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private readonly ackFd: number;
  private ackDirty = false;

  constructor(
    dir: string,
    private readonly window = 32,
    private readonly syncMs = 200,
    private readonly hooks: OutboxHooks = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'outbox.jsonl');
    this.ackFile = path.join(dir, 'outbox.ack');
    this.fd = openSync(this.file, 'a+');
    this.durable = new FileSync(this.fd);
    // Read and written in place: not truncated (it holds the offset to resume from), and not opened
    // for appending, which on Linux makes a positioned write append.
    this.ackFd = openSync(this.ackFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    const content = readFileSync(this.file);
    this.size = content.length;
    this.acked = Math.min(this.size, Number(readFileSync(this.ackFile, 'utf8')) || 0);
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

  /**
   * Appends messages durably, then publishes each when its turn comes. Messages sent together are
   * one `write()`: a process killed meanwhile leaves all of them on disk or none.
   */
  send(...messages: OutgoingMessage[]): void {
    const lines = messages.map((message) => Buffer.from(`${JSON.stringify(message)}\n`));
    const bytes = lines.length === 1 ? lines[0] : Buffer.concat(lines);
    writeSync(this.fd, bytes, 0, bytes.length, this.size);
    this.durable.wrote();
    messages.forEach((message, i) => {
      this.size += lines[i].length;
      this.pending.push({ ...message, end: this.size, sent: false, acked: false });
    });
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

  /** Makes everything durable before it returns: the process may exit right after. */
  close(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.writeAck();
    closeSync(this.ackFd);
    this.durable.close();
  }

  /** Moves the acknowledged prefix forward; acknowledgements that arrive early wait for their elders. */
  private advance(): void {
    let moved = false;
    while (this.pending.length > 0 && this.pending[0].acked) {
      this.acked = (this.pending.shift() as Entry).end;
      this.cursor = Math.max(0, this.cursor - 1);
      moved = true;
    }
    if (moved) this.ackDirty = true;
  }

  private sync(): void {
    this.hooks.beforeSync?.();
    this.durable.tick();
    if (this.ackDirty && this.pending.length === 0 && this.size > 1 << 20) {
      // Everything is delivered: start the file again rather than let it grow without bound.
      ftruncateSync(this.fd, 0);
      this.size = 0;
      this.acked = 0;
    }
    this.writeAck();
  }

  /** Rewrites the acknowledged offset in place (one write, no truncation, so never a torn number). */
  private writeAck(): void {
    if (!this.ackDirty) return;
    this.ackDirty = false;
    const text = Buffer.from(String(this.acked).padEnd(ACK_WIDTH));
    writeSync(this.ackFd, text, 0, text.length, 0);
  }

  /**
   * Loads what was written after the acknowledged offset (a restart after a crash); with a `written`
   * hook, shows it the delivered lines before that offset too.
   */
  private recover(content: Buffer): void {
    let start = this.hooks.written ? 0 : this.acked;
    while (start < content.length) {
      const newline = content.indexOf(10, start);
      if (newline < 0) {
        // A half-written last line (killed mid-write): drop it so the next append starts clean.
        ftruncateSync(this.fd, start);
        this.size = start;
        break;
      }
      let message: OutgoingMessage | null = null;
      try {
        message = JSON.parse(content.subarray(start, newline).toString()) as OutgoingMessage;
      } catch {
        // an unreadable line cannot be delivered; skip it rather than block everything after it
      }
      if (message) {
        if (start >= this.acked) this.pending.push({ ...message, end: newline + 1, sent: false, acked: false });
        this.hooks.written?.(message);
      }
      start = newline + 1;
    }
  }
}
