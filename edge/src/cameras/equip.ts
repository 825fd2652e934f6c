/**
 * Gives a station what this folder adds, from `cli/run.ts`: its camera or its views (when the config
 * has them), the quality gate in front of its model, their fields in the station's status, and their
 * gauges in /metrics. Built before the station (among its dependencies), started once it runs.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { StationConfig } from '../../../config/schema.ts';
import type { CameraConfig } from '../../../config/camera.ts';
import type { EdgeMetrics } from '../health/metrics.ts';
import type { Status } from '../../../contract/payloads.ts';
import type { Camera, Frame } from '../station.ts';
import { InspectionPool } from '../vision/pool.ts';
import { QualityGate, type QualityAlert } from '../vision/quality.ts';
import { LineCamera } from './camera.ts';
import type { ChildSpec } from './driver.ts';
import { ViewSet } from './views.ts';

/** Frames in a row not fit to be scored before the station raises an image-quality alert. */
const QUALITY_ALERT_AFTER = 5;

/** Where a camera's own frames go (mode each, unpaired frames): the station, once it exists. */
interface Sink {
  submit(frame: Frame): Promise<unknown>;
}

function lineCamera(
  camera: CameraConfig,
  config: StationConfig,
  sink: Sink,
  onHealth: () => void,
  log: Logger,
  spec?: ChildSpec,
): LineCamera {
  return new LineCamera(camera, {
    station: config.id,
    frameTimeoutMs: config.trigger.frameTimeoutMs,
    submit: (frame) => sink.submit(frame),
    onHealth,
    log,
    spec,
  });
}

const sinks = new WeakMap<ViewSet, { sink: Sink; health: { changed: () => void } }>();

/**
 * The views of a station with several cameras: each view's camera (not started yet) and model (an
 * inspection pool of its own). Stands in for the station's model; `equipment` starts the cameras.
 */
export async function startViews(config: StationConfig, log: Logger): Promise<ViewSet> {
  const sink: Sink = { submit: async () => undefined };
  const health = { changed: () => undefined as void };
  const views = [];
  try {
    for (const camera of config.cameras ?? []) {
      const model = await InspectionPool.start(path.resolve(camera.model ?? config.model), config.queue.workers);
      views.push({
        name: camera.name,
        camera: lineCamera(camera, config, sink, () => health.changed(), log),
        model,
        thresholds: camera.thresholds ?? model.manifest.thresholds,
      });
    }
  } catch (error) {
    await Promise.all(views.map((view) => view.model.close()));
    throw error;
  }
  const set = new ViewSet(views);
  sinks.set(set, { sink, health });
  return set;
}

/** Where the cameras' frames and health go, once the station they serve exists. */
export interface EquipmentTarget {
  submit(frame: Frame): Promise<unknown>;
  publishStatus(): void;
}

/** What this folder gives a station: built before it (they are among its dependencies), started after. */
export interface Equipment {
  /** what takes a picture when a trigger comes: the views, or the line camera unless it sends every frame itself */
  camera: Camera | null;
  qualityGate: QualityGate;
  /** the station's status fields owned here: camera health, image quality alert */
  statusExtras: () => Partial<Status>;
  /** Starts the cameras; their frames and health go to `target`. */
  start(target: EquipmentTarget): void;
  stop(): Promise<void>;
}

export function equipment(
  config: StationConfig,
  log: Logger,
  metrics: EdgeMetrics | null,
  views: ViewSet | null = null,
  spec?: ChildSpec,
): Equipment {
  let target: EquipmentTarget | null = null;
  const onAlert = (alert: QualityAlert) => {
    log[alert.alert ? 'warn' : 'info'](
      { ...alert },
      alert.alert
        ? 'frames in a row not fit to be scored: check focus, light and fixture'
        : 'frames fit to be scored again',
    );
    target?.publishStatus();
  };
  const gate = new QualityGate(QUALITY_ALERT_AFTER, onAlert);
  const sink: Sink = { submit: async (frame) => target?.submit(frame) };
  const onHealth = () => target?.publishStatus();
  let cameras: LineCamera[] = [];
  let gates = [gate];
  let camera: Camera | null = null;
  if (views) {
    const wiring = sinks.get(views);
    if (wiring) {
      wiring.sink.submit = sink.submit;
      wiring.health.changed = onHealth;
    }
    views.gates = views.views.map(() => new QualityGate(QUALITY_ALERT_AFTER, onAlert));
    gates = views.gates;
    cameras = views.views.map((view) => view.camera);
    camera = views;
  } else if (config.camera) {
    const line = lineCamera(config.camera, config, sink, onHealth, log, spec);
    if (config.camera.mode !== 'each') camera = line;
    cameras = [line];
  }
  // The status shows the view with the longest run of unfit frames.
  const worstAlert = () => gates.map((g) => g.alert).reduce((a, b) => (b.run > a.run ? b : a));
  return {
    camera,
    qualityGate: gate,
    statusExtras: () => ({
      ...(cameras.length > 0 ? { cameras: cameras.map((c) => c.health.message(performance.now())) } : {}),
      imageQuality: worstAlert(),
    }),
    start: (to) => {
      target = to;
      for (const c of cameras) {
        c.start();
        if (metrics) watchCamera(metrics, config.id, c);
      }
    },
    stop: async () => void (await Promise.all(cameras.map((c) => c.stop()))),
  };
}
const gauges = new WeakMap<EdgeMetrics, { read: [string, LineCamera][] }>();

/** The camera gauges, registered once per registry and read at scrape time. */
function watchCamera(metrics: EdgeMetrics, station: string, camera: LineCamera): void {
  let entry = gauges.get(metrics);
  if (!entry) {
    const read: [string, LineCamera][] = [];
    entry = { read };
    gauges.set(metrics, entry);
    const gauge = (name: string, help: string, value: (c: LineCamera, now: number) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['station', 'camera'],
        registers: [metrics.registry],
        collect() {
          const now = performance.now();
          for (const [id, c] of read) this.set({ station: id, camera: c.config.name }, value(c, now));
        },
      });
    gauge('loupe_camera_connected', '1 when the camera is open and sending (or answering, when triggered)', (c) =>
      c.health.connected ? 1 : 0,
    );
    gauge('loupe_camera_fps', 'frames per second received from the camera over the last few seconds', (c, now) =>
      c.health.fps(now),
    );
    gauge(
      'loupe_camera_dropped_frames',
      'frames lost since start (incomplete, missing from the numbering, not taken in time)',
      (c) => c.health.dropped,
    );
    gauge(
      'loupe_camera_last_frame_age_seconds',
      'seconds since the last frame from the camera (-1 before the first)',
      (c, now) => (c.health.lastFrameAt === null ? -1 : (now - c.health.lastFrameAt) / 1000),
    );
    gauge('loupe_camera_reconnects', 'times the camera was opened again after it was lost', (c) => c.reconnects);
  }
  entry.read.push([station, camera]);
}
