/**
 * What the camera tests share: a whole Loupe (broker, edge) started in process on free loopback
 * ports with a camera in its config, and the system programs the cameras need.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import pino from 'pino';
import { checkConfig } from '../../config/load.ts';
import { run, type Running } from '../../cli/run.ts';
import type { CameraConfig } from '../../config/camera.ts';
import { Collector } from '../support/collector.ts';
import { freePort, inCI, requireSystem } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import type { Result, Status } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import { ResultSchema, StatusSchema } from '../../contract/payloads.ts';

export const ffmpegPath = () => requireSystem('ffmpeg', ['ffmpeg'], 'apt-get install ffmpeg');

/** Aravis's fake GigE Vision camera, and Python with Aravis's GObject bindings for the helper. */
export function aravisTools(): string | null {
  const fake = requireSystem(
    'Aravis fake GigE camera',
    ['arv-fake-gv-camera-0.8'],
    'apt-get install aravis-tools gir1.2-aravis-0.8 python3-gi',
  );
  if (!fake) return null;
  const gi = spawnSync(
    '/usr/bin/python3',
    ['-c', "import gi; gi.require_version('Aravis', '0.8'); from gi.repository import Aravis"],
    { encoding: 'utf8' },
  );
  if (gi.status !== 0) {
    const message = `Aravis GObject bindings missing (${gi.stderr.trim().split('\n').pop()}); install them with: apt-get install gir1.2-aravis-0.8 python3-gi`;
    if (inCI) throw new Error(`CI=true and ${message}`);
    console.warn(`SKIPPED: ${message}`);
    return null;
  }
  return fake;
}

export interface Line {
  running: Running;
  collector: Collector;
  base: string;
  stop(): Promise<void>;
  result(partId: string): Promise<Result>;
  /** the latest status that satisfies `predicate`, among messages from index `since` on */
  status(predicate: (s: Status) => boolean, what: string, since?: number): Promise<Status>;
  trigger(partId: string): Promise<void>;
}

/** Loupe with one station `cam` taking frames from `camera` (or from the views in `station.cameras`). */
export async function startLine(
  camera: (Partial<CameraConfig> & Pick<CameraConfig, 'kind' | 'mode'>) | undefined,
  station: Record<string, unknown> = {},
): Promise<Line> {
  const dir = await tempDir('loupe-camera-');
  const config = checkConfig(
    {
      dataDir: dir,
      mqtt: { port: await freePort() },
      http: { port: await freePort() },
      dashboard: { admin: { password: 'camera-test-password' } },
      stations: [
        { id: 'cam', statusIntervalSeconds: 1, queue: { workers: 1 }, ...(camera ? { camera } : {}), ...station },
      ],
    },
    'camera-test.yaml',
    {},
    {},
  );
  const running = await run(
    config,
    { broker: true, edge: true, dashboard: false },
    pino({ level: process.env.LOUPE_TEST_LOG ?? 'silent' }),
  );
  const base = 'loupe/line-1/cam';
  const collector = await Collector.connect(running.mqttUrl, [`${base}/#`]);
  await collector.stationOnline(base);
  const valid = <T>(schema: Parameters<typeof checkPayload>[0], data: unknown): T => {
    const checked = checkPayload(schema, data);
    if (!checked.ok) throw new Error(`message does not match its schema: ${checked.message}`);
    return checked.value as T;
  };
  return {
    running,
    collector,
    base,
    async stop() {
      await collector.close();
      await running.stop();
    },
    result: (partId) =>
      collector
        .waitFor(`the result of ${partId}`, () => collector.json<Result>('/result').find((r) => r.partId === partId))
        .then((r) => valid<Result>(ResultSchema, r)),
    status: (predicate, what, since = 0) =>
      collector
        .waitFor(
          what,
          () =>
            collector.messages
              .slice(since)
              .filter((m) => m.topic.endsWith('/status') && m.payload.length > 0)
              .map((m) => JSON.parse(m.payload.toString()) as Status)
              .reverse()
              .find(predicate),
          20_000,
        )
        .then((s) => valid<Status>(StatusSchema, s)),
    trigger: async (partId) => {
      await collector.client.publishAsync(`${base}/trigger`, JSON.stringify({ partId }), { qos: 1 });
    },
  };
}

/** A child process owned by a test; stopped by its own pid only. */
export function child(command: string, args: string[]): { process: ChildProcess; stop(): Promise<void> } {
  const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return {
    process: proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
