/**
 * A camera's health as the line sees it: is it there, how many frames a second it sends, how many
 * it lost, how old its last frame is. The counters are updated by the camera's driver; the status
 * message and /metrics read them.
 */
import type { Status } from '../../../contract/payloads.ts';

export type CameraHealthMessage = NonNullable<Status['cameras']>[number];

const WINDOW_MS = 5000;

export class CameraHealth {
  connected = false;
  dropped = 0;
  reconnects = 0;
  error: string | null = null;
  lastFrameAt: number | null = null;
  private readonly arrivals: number[] = [];

  constructor(
    readonly name: string,
    readonly kind: CameraHealthMessage['kind'],
    readonly mode: CameraHealthMessage['mode'],
  ) {}

  frame(at: number): void {
    this.lastFrameAt = at;
    this.arrivals.push(at);
    while (this.arrivals.length > 0 && at - this.arrivals[0] > WINDOW_MS) this.arrivals.shift();
  }

  /** Frames per second over the last few seconds (0 when none came in that time). */
  fps(now: number): number {
    while (this.arrivals.length > 0 && now - this.arrivals[0] > WINDOW_MS) this.arrivals.shift();
    if (this.arrivals.length < 2) return 0;
    const span = Math.max(now - this.arrivals[0], (this.arrivals.length - 1) * 1) / 1000;
    return Math.round(((this.arrivals.length - 1) / Math.max(span, 1e-3)) * 100) / 100;
  }

  message(now: number): CameraHealthMessage {
    return {
      name: this.name,
      kind: this.kind,
      mode: this.mode,
      connected: this.connected,
      fps: this.fps(now),
      droppedFrames: this.dropped,
      lastFrameAgeMs: this.lastFrameAt === null ? null : Math.round(now - this.lastFrameAt),
      reconnects: this.reconnects,
      ...(this.error && !this.connected ? { error: this.error } : {}),
    };
  }
}
