/**
 * A station's camera: a driver (Aravis or ffmpeg, supervised) for the frames, a pairing for which
 * part each frame belongs to, and its health. It is the station's `Camera`: a part's trigger asks
 * `capture`, which fires the camera in software-trigger mode and answers the paired frame, or
 * rejects with the part's reason — at once with `camera_lost` while the camera is gone. In mode
 * `each` there are no triggers: every frame is submitted as a new part.
 */
import type { Logger } from 'pino';
import type { CameraConfig } from '../../../config/camera.ts';
import { InspectionError } from '../reasons.ts';
import type { Camera, Frame } from '../station.ts';
import { aravisSpec } from './aravis.ts';
import { Supervisor, type ChildSpec } from './driver.ts';
import { ffmpegSpec } from './ffmpeg.ts';
import { CameraHealth } from './health.ts';
import { Pairing } from './pairing.ts';

export interface LineCameraOptions {
  station: string;
  /** how long a software trigger waits for its frame */
  frameTimeoutMs: number;
  /** where frames that are parts of their own go (mode each, and unpaired frames) */
  submit: (frame: Frame) => Promise<unknown>;
  /** health changed (connected or not): the station publishes its status */
  onHealth?: () => void;
  log: Logger;
  /** the child process to run instead of the one the config says (tests, benchmarks) */
  spec?: ChildSpec;
}

export class LineCamera implements Camera {
  readonly health: CameraHealth;
  private readonly pairing: Pairing | null;
  private readonly supervisor: Supervisor;
  private index = 0;
  private unpaired = 0;
  // Part ids must never repeat, also across restarts: a run prefix (start time, base 36) sees to it.
  private readonly run = Date.now().toString(36);

  constructor(
    readonly config: CameraConfig,
    private readonly options: LineCameraOptions,
  ) {
    this.health = new CameraHealth(config.name, config.kind, config.mode);
    this.pairing =
      config.mode === 'each'
        ? null
        : new Pairing({
            mode: config.mode,
            windowMs: config.windowMs,
            maxAgeMs: config.maxAgeMs,
            timeoutMs: options.frameTimeoutMs,
            onUnpaired: (shot) => {
              const partId = `${options.station}-unpaired-${this.run}-${String(++this.unpaired).padStart(6, '0')}`;
              options.log.warn(
                { partId, camera: config.name },
                'a frame came with no trigger; sent to review as unpaired_frame',
              );
              void options.submit({
                partId,
                image: shot.image,
                source: 'camera',
                receivedAt: shot.at,
                unfit: {
                  reason: 'unpaired_frame',
                  detail: `camera ${config.name} sent a frame no trigger message matched within ${config.windowMs} ms`,
                },
              });
            },
          });
    const spec = options.spec ?? (config.kind === 'aravis' ? aravisSpec(config) : ffmpegSpec(config));
    this.supervisor = new Supervisor(
      spec,
      {
        frame: (image, at) => this.frame(image, at),
        dropped: (count) => (this.health.dropped += count),
        up: () => {
          if (this.health.connected) return;
          this.health.connected = true;
          this.health.error = null;
          this.health.reconnects = this.supervisor.restarts;
          options.log.info({ camera: config.name, kind: config.kind, mode: config.mode }, 'camera connected');
          options.onHealth?.();
        },
        down: (why) => {
          const was = this.health.connected;
          this.health.connected = false;
          this.health.error = why;
          this.pairing?.lost(`camera ${config.name} lost: ${why}`);
          if (was) options.onHealth?.();
        },
      },
      { reconnectMinMs: config.reconnect.minMs, reconnectMaxMs: config.reconnect.maxMs, silenceMs: config.lostAfterMs },
      options.log.child({ camera: config.name }),
    );
  }

  start(): void {
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
  }

  /** The pid of the program talking to the camera, while it runs (for CPU accounting). */
  get pid(): number | undefined {
    return this.supervisor.process?.pid;
  }

  get reconnects(): number {
    return this.supervisor.restarts;
  }

  async capture(partId: string): Promise<Buffer> {
    const at = performance.now();
    if (!this.pairing)
      throw new InspectionError(
        'missing_frame',
        `camera ${this.config.name} runs in mode each (every frame is a part); a trigger has no frame of its own`,
      );
    if (!this.health.connected)
      throw new InspectionError(
        'camera_lost',
        `camera ${this.config.name} is not connected: ${this.health.error ?? 'not opened yet'}`,
      );
    const shot = this.pairing.request(partId, at);
    if (this.config.mode === 'software') {
      const child = this.supervisor.process;
      if (!child?.stdin?.writable) {
        this.pairing.lost(`camera ${this.config.name} cannot be fired: its helper is not running`);
      } else child.stdin.write('trigger\n');
    }
    return (await shot).image;
  }

  private frame(image: Buffer, at: number): void {
    this.health.frame(at);
    this.health.reconnects = this.supervisor.restarts;
    if (this.pairing) {
      this.pairing.offer({ image, at });
      this.health.dropped += this.pairing.late;
      this.pairing.late = 0;
      return;
    }
    const partId = `${this.options.station}-${this.config.name}-${this.run}-${String(this.index++).padStart(6, '0')}`;
    void this.options.submit({ partId, image, source: 'camera', receivedAt: at });
  }
}
