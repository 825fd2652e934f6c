/**
 * Gives a station what this folder adds, in one call from `cli/run.ts`: its camera (when the config
 * has one), the quality gate in front of its model, their fields in the station's status, and their
 * gauges in /metrics. Answers a stopper.
 */
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { StationConfig } from '../../../config/schema.ts';
import type { EdgeMetrics } from '../health/metrics.ts';
import type { Station } from '../station.ts';
import { QualityGate } from '../vision/quality.ts';
import { LineCamera } from './camera.ts';
import type { ChildSpec } from './driver.ts';

/** Frames in a row not fit to be scored before the station raises an image-quality alert. */
const QUALITY_ALERT_AFTER = 5;

export function equipStation(station: Station, config: StationConfig, log: Logger, metrics: EdgeMetrics | null, spec?: ChildSpec): { camera: LineCamera | null; stop(): Promise<void> } {
  const gate = new QualityGate(QUALITY_ALERT_AFTER, (alert) => {
    log[alert.alert ? 'warn' : 'info']({ ...alert }, alert.alert ? 'frames in a row not fit to be scored: check focus, light and fixture' : 'frames fit to be scored again');
    station.publishStatus();
  });
  station.qualityGate = gate;
  let camera: LineCamera | null = null;
  if (config.camera) {
    camera = new LineCamera(config.camera, {
      station: config.id,
      frameTimeoutMs: config.trigger.frameTimeoutMs,
      submit: (frame) => station.submit(frame),
      onHealth: () => station.publishStatus(),
      log,
      spec,
    });
    if (config.camera.mode !== 'each') station.camera = camera;
    camera.start();
    if (metrics) watchCamera(metrics, config.id, camera);
  }
  const owned = camera;
  station.statusExtras = () => ({ ...(owned ? { cameras: [owned.health.message(performance.now())] } : {}), imageQuality: gate.alert });
  return { camera, stop: async () => owned?.stop() };
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
    gauge('loupe_camera_connected', '1 when the camera is open and sending (or answering, when triggered)', (c) => (c.health.connected ? 1 : 0));
    gauge('loupe_camera_fps', 'frames per second received from the camera over the last few seconds', (c, now) => c.health.fps(now));
    gauge('loupe_camera_dropped_frames', 'frames lost since start (incomplete, missing from the numbering, not taken in time)', (c) => c.health.dropped);
    gauge('loupe_camera_last_frame_age_seconds', 'seconds since the last frame from the camera (-1 before the first)', (c, now) => (c.health.lastFrameAt === null ? -1 : (now - c.health.lastFrameAt) / 1000));
    gauge('loupe_camera_reconnects', 'times the camera was opened again after it was lost', (c) => c.reconnects);
  }
  entry.read.push([station, camera]);
}
