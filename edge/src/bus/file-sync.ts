/**
 * Background fsync of a file a station appends to (the outbox, the parts in hand): at most one fsync
 * at a time on libuv's thread pool, so the event loop never waits for the disk (milliseconds here,
 * hundreds on an SD card or eMMC), and the descriptor is closed only once no fsync is using it.
 */
import { closeSync, fsync, fsyncSync } from 'node:fs';

export class FileSync {
  /** written since the last fsync began */
  private dirty = false;
  private running = false;
  private closed = false;

  constructor(readonly fd: number) {}

  /** An fsync is on the thread pool: the file must not be replaced under it. */
  get busy(): boolean {
    return this.running;
  }

  /** Notes a write the next tick must make durable. */
  wrote(): void {
    this.dirty = true;
  }

  /** Starts an fsync of what was written, unless one is still running (the next tick catches up). */
  tick(): void {
    if (!this.dirty || this.running || this.closed) return;
    this.dirty = false;
    this.running = true;
    fsync(this.fd, (error) => {
      this.running = false;
      if (error) this.dirty = true; // the lines are written: the next tick tries again
      if (this.closed) closeSync(this.fd);
    });
  }

  /**
   * Closes the file, after an fsync on this thread when `durable` (the process may exit right after);
   * a file being replaced by a rewritten one needs none.
   */
  close(durable = true): void {
    if (this.closed) return;
    if (durable && this.dirty) fsyncSync(this.fd);
    this.dirty = false;
    this.closed = true;
    if (!this.running) closeSync(this.fd);
  }
}
