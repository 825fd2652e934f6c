/**
 * Whether a station's disk still keeps what it must. A full disk (ENOSPC, EDQUOT) must not kill the
 * station, and it must not let a part pass that could not be recorded: every durable write reports
 * a full disk here, the station answers frames fail-safe while it lasts, and a probe write every
 * second notices when space is back, so the station recovers by itself. A failed fsync is worse: the
 * kernel may have dropped the pages it could not write, and a second fsync would succeed as if they
 * were safe. It is reported once, loudly, and the station stays unhealthy until it is restarted
 * (the restart reads back what the files really hold).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type StorageState = 'ok' | 'full' | 'failed';

/** A write refused for lack of space (ENOSPC) or quota (EDQUOT). */
export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A write that could not be finished (a short write is one: the disk filled up under it). */
export class StorageFull extends Error {
  readonly code = 'ENOSPC';
  constructor(what: string) {
    super(`no space left to write ${what}`);
  }
}

/** Room a probe asks for before the station trusts the disk again. */
const PROBE_BYTES = 256 * 1024;

export class StorageHealth {
  private current: StorageState = 'ok';
  private why: string | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly listeners: ((state: StorageState) => void)[] = [];

  /** `probeDir`: where the probe writes (the station's data folder); null: never recovers by itself (tests). */
  constructor(
    private readonly probeDir: string | null,
    private readonly probeMs = 1000,
    private readonly report: (level: 'error' | 'info', detail: string) => void = () => undefined,
  ) {}

  get state(): StorageState {
    return this.current;
  }

  /** what went wrong, for status and /healthz; null while ok */
  get detail(): string | null {
    return this.why;
  }

  get ok(): boolean {
    return this.current === 'ok';
  }

  onChange(listener: (state: StorageState) => void): void {
    this.listeners.push(listener);
  }

  /** A write found the disk full. Starts probing for space. */
  full(what: string, error?: unknown): void {
    if (this.current !== 'ok') return;
    this.set(
      'full',
      `disk full while writing ${what}${error ? ` (${(error as Error).message})` : ''}; frames are answered review with reason storage_full until space is back`,
    );
    this.report('error', this.why as string);
    if (this.probeDir !== null && !this.probeTimer) {
      this.probeTimer = setInterval(() => this.probe(), this.probeMs);
      this.probeTimer.unref();
    }
  }

  /** An fsync failed: what the file holds on disk is unknown. Sticky until the process restarts. */
  fsyncFailed(file: string, error: unknown): void {
    if (this.current === 'failed') return;
    this.stopProbe();
    this.set(
      'failed',
      `fsync of ${file} failed (${(error as Error).message}); what it holds may not be on disk. Restart the station once the disk is checked`,
    );
    this.report('error', this.why as string);
  }

  /**
   * Runs a durable write; a full disk is reported and thrown as StorageFull, anything else is thrown
   * as it is.
   */
  guard<T>(what: string, write: () => T): T {
    try {
      return write();
    } catch (error) {
      if (error instanceof StorageFull || isNoSpace(error)) {
        this.full(what, error);
        throw error instanceof StorageFull ? error : Object.assign(new StorageFull(what), { cause: error });
      }
      throw error;
    }
  }

  close(): void {
    this.stopProbe();
  }

  private probe(): void {
    if (this.current !== 'full' || this.probeDir === null) return this.stopProbe();
    const file = path.join(this.probeDir, '.space-probe');
    try {
      mkdirSync(this.probeDir, { recursive: true });
      writeFileSync(file, Buffer.alloc(PROBE_BYTES));
    } catch (error) {
      rmSync(file, { force: true });
      if (!isNoSpace(error)) this.report('error', `space probe failed: ${(error as Error).message}`);
      return;
    }
    rmSync(file, { force: true });
    this.stopProbe();
    this.set('ok', null);
    this.report('info', 'disk space is back; frames are inspected again');
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private set(state: StorageState, detail: string | null): void {
    this.current = state;
    this.why = detail;
    for (const listener of this.listeners) listener(state);
  }
}
