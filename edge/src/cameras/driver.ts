/**
 * A camera driver runs the program that talks to the camera (ffmpeg, or the Aravis helper) as a
 * child process and turns its output into frames. The child is supervised: when it exits or goes
 * silent, the camera counts as lost (every waiting part is answered `camera_lost` by the camera
 * above) and it is started again after a wait that doubles up to a limit, and starts over once a
 * frame comes. Only the child's own pid is ever signalled.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Logger } from 'pino';

/** How long a camera may take to open (to send its first bytes). */
const OPEN_MS = 15_000;

export interface DriverEvents {
  /** an encoded image (JPEG) and when its bytes arrived */
  frame(image: Buffer, at: number): void;
  /** frames lost (incomplete, missing from the camera's numbering, not encoded in time) */
  dropped(count: number): void;
  /** the camera is open (answers, or sends) */
  up(): void;
  /** the camera is lost: the child exited or went silent */
  down(why: string): void;
}

export interface ChildSpec {
  command: string;
  args: string[];
  options?: SpawnOptions;
  /** a new parser for each run of the child: gets its stdout, and may write to its stdin */
  attach(child: ChildProcess, events: DriverEvents): { stdout(chunk: Buffer): void; close?(): void };
}

export interface SupervisorOptions {
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** no output for this long counts as lost */
  silenceMs: number;
}

export class Supervisor {
  private child: ChildProcess | null = null;
  private stopped = false;
  private wait: number;
  private restartTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private lastOutput = 0;
  /** the running child has written something: from then on, silence means lost */
  private spoke = false;
  private isUp = false;
  /** times the child was started again after the camera was lost */
  restarts = 0;

  constructor(
    private readonly spec: ChildSpec,
    private readonly events: DriverEvents,
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
  ) {
    this.wait = options.reconnectMinMs;
  }

  start(): void {
    this.stopped = false;
    this.launch();
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(50, Math.min(500, this.options.silenceMs / 4)));
  }

  /** The running child (to write to its stdin), or null between runs. */
  get process(): ChildProcess | null {
    return this.child;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private launch(): void {
    const { command, args, options } = this.spec;
    let stderr = '';
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    this.child = child;
    this.lastOutput = performance.now();
    this.spoke = false;
    const events: DriverEvents = {
      frame: (image, at) => {
        this.wait = this.options.reconnectMinMs; // it works again: the next loss starts with a short wait
        this.markUp();
        this.events.frame(image, at);
      },
      dropped: (count) => this.events.dropped(count),
      up: () => this.markUp(),
      down: (why) => this.lose(child, why),
    };
    const parser = this.spec.attach(child, events);
    child.stdout?.on('data', (chunk: Buffer) => {
      this.lastOutput = performance.now();
      this.spoke = true;
      parser.stdout(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + String(chunk)).slice(-2000);
    });
    child.stdin?.on('error', () => undefined); // a write to a child that just died: its exit says why
    child.once('error', (error) => this.lose(child, `${command} could not run: ${error.message}`));
    child.once('exit', (code, signal) => {
      parser.close?.();
      const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
      this.lose(child, `${command} exited (${signal ?? code})${last ? `: ${last}` : ''}`);
    });
  }

  private markUp(): void {
    if (this.isUp) return;
    this.isUp = true;
    this.events.up();
  }

  private checkSilence(): void {
    const child = this.child;
    if (!child || this.stopped) return;
    // Opening takes longer than a frame interval (RTSP DESCRIBE and probing, GigE discovery): a child
    // that has not spoken yet gets OPEN_MS at least. The camera is not connected meanwhile, so parts
    // are answered camera_lost all the same.
    const limit = this.spoke ? this.options.silenceMs : Math.max(this.options.silenceMs, OPEN_MS);
    if (performance.now() - this.lastOutput > limit) {
      this.lose(
        child,
        this.spoke ? `no answer from the camera for ${limit} ms` : `the camera did not open within ${limit} ms`,
      );
    }
  }

  /** The camera is lost: tell, stop this child, start another after the backoff. Once per child. */
  private lose(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.isUp = false;
    this.events.down(why);
    if (this.stopped) return;
    this.log.warn({ why, retryInMs: this.wait }, 'camera lost; opening it again');
    const wait = this.wait;
    this.wait = Math.min(this.options.reconnectMaxMs, this.wait * 2);
    this.restartTimer = setTimeout(() => {
      this.restarts += 1;
      this.launch();
    }, wait);
  }
}
