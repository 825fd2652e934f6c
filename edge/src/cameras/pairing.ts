/**
 * Which frame belongs to which part. The PLC says "part N is here" on MQTT; the camera sends frames
 * on its own wire. Pairing them wrongly would score one part's image as another's, so every way it
 * can go wrong ends in a review with its reason, never in a pass:
 * - software trigger: Loupe fires the camera for the part, the next frame is the part's;
 * - hardware trigger: the line fires the camera, so frames and trigger messages arrive separately,
 *   each in order: they pair by order within a time window; a trigger with no frame is
 *   `missing_frame`, a frame with no trigger is `unpaired_frame` (handed to `onUnpaired`);
 * - free run: the camera streams; a trigger takes the first frame at or after its time, at most
 *   `maxAgeMs` later.
 * When the camera is lost, every part waiting is answered `camera_lost` at once (`lost()`), and so
 * is every trigger that comes while it stays lost (the camera refuses them before asking here).
 * Times are `performance.now()` milliseconds, passed in; timers are the only clock used here.
 */
import { InspectionError } from '../reasons.ts';

export interface Shot {
  image: Buffer;
  /** when the frame arrived, performance.now() */
  at: number;
}

export type PairingMode = 'software' | 'hardware' | 'freerun';

export interface PairingOptions {
  mode: PairingMode;
  /** hardware: how far apart a frame and its trigger message may arrive */
  windowMs: number;
  /** free run: how long after the trigger a frame may be taken */
  maxAgeMs: number;
  /** software: how long a fired trigger waits for its frame */
  timeoutMs: number;
  /** hardware: a frame that no trigger claimed within the window */
  onUnpaired?: (shot: Shot) => void;
}

interface Request {
  partId: string;
  at: number;
  resolve: (shot: Shot) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Held {
  shot: Shot;
  timer: NodeJS.Timeout;
}

export class Pairing {
  private readonly requests: Request[] = [];
  /** hardware: frames waiting for their trigger; free run: recent frames */
  private readonly held: Held[] = [];
  private readonly recent: Shot[] = [];
  /** frames no part took in time (software: late frames; free run counts none) */
  late = 0;

  constructor(private readonly options: PairingOptions) {}

  /** A part's trigger at time `at`: resolves with its frame or rejects with the reason it has none. */
  request(partId: string, at: number): Promise<Shot> {
    const { mode } = this.options;
    if (mode === 'freerun') {
      const taken = this.recent.find((shot) => shot.at >= at && shot.at - at <= this.options.maxAgeMs);
      if (taken) return Promise.resolve(taken);
    }
    if (mode === 'hardware') {
      const ready = this.held.findIndex((held) => Math.abs(held.shot.at - at) <= this.options.windowMs);
      if (ready >= 0) {
        // Frames before the one taken had no trigger: they are unpaired (order is kept on both sides).
        const before = this.held.splice(0, ready + 1);
        const taken = before.pop() as Held;
        clearTimeout(taken.timer);
        for (const stale of before) this.unpaired(stale);
        return Promise.resolve(taken.shot);
      }
    }
    return new Promise<Shot>((resolve, reject) => {
      const wait =
        mode === 'software'
          ? this.options.timeoutMs
          : mode === 'hardware'
            ? this.options.windowMs
            : this.options.maxAgeMs;
      const request: Request = {
        partId,
        at,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.remove(request);
          reject(new InspectionError('missing_frame', missingDetail(mode, wait)));
        }, wait),
      };
      this.requests.push(request);
    });
  }

  /** A frame from the camera. */
  offer(shot: Shot): void {
    const { mode } = this.options;
    if (mode === 'freerun') {
      this.recent.push(shot);
      while (this.recent.length > 0 && (this.recent.length > 8 || shot.at - this.recent[0].at > this.options.maxAgeMs))
        this.recent.shift();
      // Every waiting trigger at or before this frame takes it (two parts in one frame is the line's business).
      for (const request of [...this.requests]) if (shot.at >= request.at) this.grant(request, shot);
      return;
    }
    if (mode === 'software') {
      const request = this.requests.find((r) => shot.at >= r.at);
      if (request) this.grant(request, shot);
      else this.late += 1; // fired for a part that already went to review as missing_frame
      return;
    }
    // hardware: the oldest trigger within the window takes it; older triggers had no frame.
    while (this.requests.length > 0 && shot.at - this.requests[0].at > this.options.windowMs) {
      const stale = this.requests.shift() as Request;
      clearTimeout(stale.timer);
      stale.reject(new InspectionError('missing_frame', missingDetail('hardware', this.options.windowMs)));
    }
    const request = this.requests[0];
    if (request && Math.abs(shot.at - request.at) <= this.options.windowMs) {
      this.grant(request, shot);
      return;
    }
    const held: Held = {
      shot,
      timer: setTimeout(() => {
        const index = this.held.indexOf(held);
        if (index >= 0) this.unpaired(this.held.splice(index, 1)[0]);
      }, this.options.windowMs),
    };
    this.held.push(held);
  }

  /** The camera is gone: every part waiting is answered at once. */
  lost(detail: string): void {
    for (const request of this.requests.splice(0)) {
      clearTimeout(request.timer);
      request.reject(new InspectionError('camera_lost', detail));
    }
    for (const held of this.held.splice(0)) clearTimeout(held.timer);
    this.recent.length = 0;
  }

  get waiting(): number {
    return this.requests.length;
  }

  private grant(request: Request, shot: Shot): void {
    this.remove(request);
    clearTimeout(request.timer);
    request.resolve(shot);
  }

  private remove(request: Request): void {
    const index = this.requests.indexOf(request);
    if (index >= 0) this.requests.splice(index, 1);
  }

  private unpaired(held: Held): void {
    clearTimeout(held.timer);
    this.options.onUnpaired?.(held.shot);
  }
}

function missingDetail(mode: PairingMode, ms: number): string {
  if (mode === 'software') return `the camera was fired and sent no frame within ${ms} ms`;
  if (mode === 'hardware')
    return `no frame arrived within ${ms} ms of the trigger (hardware trigger: is the trigger line wired, did the camera fire?)`;
  return `the free-running camera sent no frame within ${ms} ms after the trigger`;
}
