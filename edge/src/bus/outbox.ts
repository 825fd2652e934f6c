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
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FileSync } from './file-sync.ts';
import { writeFully } from '../json-lines.ts';
import { isNoSpace, StorageFull, type StorageHealth } from '../storage/health.ts';
import { damagedKept } from '../../../shared/damaged.ts';

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
  /** told of a full disk and of a failed fsync */
  storage?: StorageHealth;
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
    this.durable = new FileSync(this.fd, (error) => hooks.storage?.fsyncFailed(this.file, error));
    // Read and written in place: not truncated (it holds the offset to resume from), and not opened
    // for appending, which on Linux makes a positioned write append.
    this.ackFd = openSync(this.ackFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    const content = readFileSync(this.file);
    this.size = content.length;
    const ackText = readFileSync(this.ackFile, 'utf8');
    const acked = Number(ackText);
    if (ackText.trim() !== '' && !(Number.isInteger(acked) && acked >= 0)) {
      // Delivery is at least once: from the start, everything not yet acknowledged goes out again.
      damagedKept(this.ackFile, ackText.length, `holds "${ackText.slice(0, 40)}", not a byte offset; every message in the outbox is sent again`, 'outbox delivery offset');
    }
    this.acked = Math.min(this.size, Number.isInteger(acked) && acked >= 0 ? acked : 0);
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
   * one `write()`: a process killed meanwhile leaves all of them on disk or none. A write the disk
   * cannot take (full, or short) is undone and throws StorageFull: nothing of it is sent.
   */
  send(...messages: OutgoingMessage[]): void {
    const lines = messages.map((message) => Buffer.from(`${JSON.stringify(message)}\n`));
    const bytes = lines.length === 1 ? lines[0] : Buffer.concat(lines);
    try {
      writeFully(this.fd, bytes, 'the outbox', this.size);
    } catch (error) {
      // What was written of it goes: a restart must not find half of a message, or a message the
      // station never sent and answered otherwise.
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // the next append starts at this.size and overwrites it
      }
      if (error instanceof StorageFull || isNoSpace(error)) {
        this.hooks.storage?.full('the outbox', error);
        throw error instanceof StorageFull ? error : Object.assign(new StorageFull('the outbox'), { cause: error });
      }
      throw error;
    }
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
    try {
      this.writeAck();
    } catch (error) {
      // Not fatal: the unacknowledged offset only makes the next start send some messages again.
      if (!isNoSpace(error) && !(error instanceof StorageFull)) throw error;
    }
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
    try {
      this.syncOnce();
    } catch (error) {
      // On a timer: a full disk must not end the process. What could not be written is written at a later tick.
      if (!isNoSpace(error) && !(error instanceof StorageFull)) throw error;
      this.hooks.storage?.full('the outbox acknowledgements', error);
    }
  }

  private syncOnce(): void {
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
    const text = Buffer.from(String(this.acked).padEnd(ACK_WIDTH));
    writeFully(this.ackFd, text, 'the outbox acknowledged offset', 0);
    this.ackDirty = false;
  }

  /**
   * Loads what was written after the acknowledged offset (a restart after a crash); with a `written`
   * hook, shows it the delivered lines before that offset too.
   */
  private recover(content: Buffer): void {
    let start = this.hooks.written ? 0 : this.acked;
    let unreadable = 0;
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
        unreadable += 1;
      }
      if (message && (typeof message.topic !== 'string' || typeof message.payload !== 'string')) {
        message = null;
        unreadable += 1;
      }
      if (message) {
        if (start >= this.acked) this.pending.push({ ...message, end: newline + 1, sent: false, acked: false });
        this.hooks.written?.(message);
      }
      start = newline + 1;
    }
    if (unreadable > 0) damagedKept(this.file, content.length, `${unreadable} lines cannot be read and are not delivered`, 'outbox (messages owed to the line)');
  }
}
