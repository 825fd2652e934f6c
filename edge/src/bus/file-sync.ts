/**
 * Background fsync of a file a station appends to (the outbox, the parts in hand): at most one fsync
 * at a time on libuv's thread pool, so the event loop never waits for the disk (milliseconds here,
 * hundreds on an SD card or eMMC), and the descriptor is closed only once no fsync is using it.
 * A failed fsync is never tried again as if nothing happened: after one, Linux may have dropped the
 * pages it could not write and a second fsync succeeds without them. It is reported (`failed`), and
 * the file is not counted as durable.
 */
import { closeSync, fsync, fsyncSync } from 'node:fs';

export class FileSync {
  /** written since the last fsync began */
  private dirty = false;
  private running = false;
  private closed = false;

  /** `failed`: told of a failed fsync (edge/src/storage/health.ts makes the station unhealthy) */
  constructor(
    readonly fd: number,
    private readonly failed: (error: Error) => void = () => undefined,
  ) {}

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
      if (error) this.failed(error); // loud, and not retried as if the data were now safe
      if (this.closed) closeSync(this.fd);
    });
  }

  /**
   * Closes the file, after an fsync on this thread when `durable` (the process may exit right after);
   * a file being replaced by a rewritten one needs none.
   */
  close(durable = true): void {
    if (this.closed) return;
    if (durable && this.dirty) {
      try {
        fsyncSync(this.fd);
      } catch (error) {
        this.failed(error as Error);
      }
    }
    this.dirty = false;
    this.closed = true;
    if (!this.running) closeSync(this.fd);
  }
}
