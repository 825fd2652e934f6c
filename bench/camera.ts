/**
 * Cameras: what taking frames from a camera costs, against a bare decode of the same frames in the
 * same run. The camera is an MJPEG stream of 1280×1024 good parts at 25 fps, served on loopback by
 * ffmpeg (`-re`, frames copied, so the server costs little), read by Loupe's ffmpeg camera.
 * - sustained fps: frames received per second over the measuring window (source: 25);
 * - CPU per frame: Loupe's process (pipe, splitting, a full decode of every frame with sharp) plus
 *   its ffmpeg child, over the CPU of a bare sharp decode of the same frames;
 * - trigger-to-result: a whole Loupe (embedded broker, station, model) on the camera in free run,
 *   triggers over MQTT, until the result comes back: p50 and p99, and p99 over the bare decode.
 *
 *   npx tsx bench/camera.ts            prints one JSON object
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import sharp from 'sharp';
import { Value } from '@sinclair/typebox/value';
import { CameraSchema, type CameraConfig } from '../config/camera.ts';
import { checkConfig } from '../config/load.ts';
import { LineCamera } from '../edge/src/cameras/camera.ts';
import { generatePart } from '../lab/synth.ts';
import { run } from '../cli/run.ts';
import type { Result } from '../contract/payloads.ts';

const WIDTH = 1280;
const HEIGHT = 1024;
const FPS = 25;

export async function benchCamera(
  options: { seconds?: number; triggers?: number } = {},
): Promise<Record<string, number>> {
  const seconds = options.seconds ?? 8;
  const triggers = options.triggers ?? 60;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-camera-'));
  const log = pino({ level: 'silent' });
  try {
    const frames: Buffer[] = [];
    // Good parts, as a camera with a 1280×1024 sensor would frame them (the default model's parts, stretched to the sensor).
    for (let i = 0; i < 25; i++)
      frames.push(
        await sharp((await generatePart({ category: 'bracket', seed: 1, index: 500 + i, defect: null })).image)
          .resize(WIDTH, HEIGHT, { fit: 'fill' })
          .jpeg({ quality: 90 })
          .toBuffer(),
      );
    const file = path.join(dir, 'parts.mjpeg');
    await writeFile(file, Buffer.concat(frames));
    // One server per phase: ffmpeg's HTTP listen mode serves one client.
    const serve = async () => {
      const url = `http://127.0.0.1:${await freePort()}/cam.mjpg`;
      const server = spawn(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-re',
          '-stream_loop',
          '-1',
          '-f',
          'mjpeg',
          '-framerate',
          String(FPS),
          '-i',
          file,
          '-c:v',
          'copy',
          '-f',
          'mpjpeg',
          '-listen',
          '1',
          url,
        ],
        { stdio: 'ignore' },
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { url, stop: () => server.kill('SIGTERM') };
    };
    let server = await serve();
    const acquisition = await acquire(server.url, seconds, log).finally(() => server.stop());
    const bare = await bareDecode(frames, acquisition.frames);
    server = await serve();
    const latency = await triggerToResult(server.url, dir, triggers, log).finally(() => server.stop());
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return {
      cameraSourceFps: FPS,
      cameraFps: r(acquisition.fps),
      cameraFpsShare: r(acquisition.fps / FPS),
      cameraCpuMsPerFrame: r(acquisition.cpuMsPerFrame),
      cameraChildCpuMsPerFrame: r(acquisition.childCpuMsPerFrame),
      cameraBareDecodeCpuMsPerFrame: r(bare.cpuMsPerFrame),
      cameraBareDecodeMs: r(bare.wallMsPerFrame),
      cameraCpuOverBareDecode: r((acquisition.cpuMsPerFrame + acquisition.childCpuMsPerFrame) / bare.cpuMsPerFrame),
      cameraTriggerToResultP50Ms: r(latency.p50),
      cameraTriggerToResultP99Ms: r(latency.p99),
      cameraTriggerToResultP99OverBareDecode: r(latency.p99 / bare.wallMsPerFrame),
      cameraTriggerParts: latency.count,
      cameraTriggerUnscored: latency.unscored,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads the stream for `seconds` after a one-second warm-up, decoding every frame as the model's pre-processing would begin. */
async function acquire(
  url: string,
  seconds: number,
  log: pino.Logger,
): Promise<{ fps: number; frames: number; cpuMsPerFrame: number; childCpuMsPerFrame: number }> {
  const config = Value.Default(CameraSchema, { kind: 'ffmpeg', mode: 'each', url, copy: true }) as CameraConfig;
  let counting = false;
  let count = 0;
  let first = 0;
  let last = 0;
  let decoding: Promise<unknown> = Promise.resolve();
  const camera = new LineCamera(config, {
    station: 'bench',
    frameTimeoutMs: 5000,
    log,
    submit: async (frame) => {
      if (!counting) return;
      if (count === 0) first = frame.receivedAt;
      last = frame.receivedAt;
      count += 1;
      decoding = decoding.then(() => sharp(frame.image).raw().toBuffer());
    },
  });
  camera.start();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const pid = camera.pid;
  const child0 = pid ? childCpuMs(pid) : 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  counting = true;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  counting = false;
  await decoding;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const child1 = pid ? childCpuMs(pid) : 0;
  await camera.stop();
  const frames = Math.max(1, count);
  // frames over the time between the first and the last one counted: the rate they arrived at
  return {
    fps: count > 1 ? ((count - 1) * 1000) / (last - first) : count / elapsed,
    frames: count,
    cpuMsPerFrame: (cpu.user + cpu.system) / 1000 / frames,
    childCpuMsPerFrame: (child1 - child0) / frames,
  };
}

async function bareDecode(frames: Buffer[], count: number): Promise<{ cpuMsPerFrame: number; wallMsPerFrame: number }> {
  const n = Math.max(50, count);
  for (let i = 0; i < 10; i++)
    await sharp(frames[i % frames.length])
      .raw()
      .toBuffer();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++)
    await sharp(frames[i % frames.length])
      .raw()
      .toBuffer();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuMsPerFrame: (cpu.user + cpu.system) / 1000 / n, wallMsPerFrame: wall / n };
}

/** A whole Loupe on the camera (free run); a trigger every 200 ms; publish to result received. */
async function triggerToResult(
  url: string,
  dir: string,
  count: number,
  log: pino.Logger,
): Promise<{ p50: number; p99: number; count: number; unscored: number }> {
  const config = checkConfig(
    {
      dataDir: path.join(dir, 'data'),
      mqtt: { port: await freePort() },
      http: { port: await freePort() },
      dashboard: { admin: { password: 'bench-camera-password' } },
      stations: [
        {
          id: 'cam',
          queue: { workers: 1 },
          camera: { kind: 'ffmpeg', mode: 'freerun', url, copy: true, maxAgeMs: 1000 },
        },
      ],
    },
    'bench-camera.yaml',
    {},
    {},
  );
  const running = await run(config, { broker: true, edge: true, dashboard: false }, log);
  const client = await mqtt.connectAsync(running.mqttUrl);
  try {
    const base = 'loupe/line-1/cam';
    const sent = new Map<string, number>();
    const took: number[] = [];
    let unscored = 0;
    let wake: () => void = () => undefined;
    client.on('message', (_topic, payload) => {
      const result = JSON.parse(payload.toString()) as Result;
      const at = sent.get(result.partId);
      if (at === undefined) return;
      if (result.score === null) unscored += 1; // no frame, or not fit to be scored: reported, not hidden
      took.push(performance.now() - at);
      wake();
    });
    await client.subscribeAsync(`${base}/result`, { qos: 1 });
    // wait for the camera to be connected: a status with cameras[0].connected
    const deadline = Date.now() + 15_000;
    await client.subscribeAsync(`${base}/status`, { qos: 1 });
    while (Date.now() < deadline && !(await connected(running.httpUrl)))
      await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < count + 5; i++) {
      const partId = `bench-${i}`;
      if (i >= 5) sent.set(partId, performance.now()); // the first five warm up the worker
      await client.publishAsync(`${base}/trigger`, JSON.stringify({ partId }), { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const until = Date.now() + 10_000;
    while (took.length < count && Date.now() < until)
      await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, 200)));
    took.sort((a, b) => a - b);
    const at = (q: number) => took[Math.min(took.length - 1, Math.floor(q * took.length))] ?? NaN;
    return { p50: at(0.5), p99: at(0.99), count: took.length, unscored };
  } finally {
    await client.endAsync();
    await running.stop();
  }
}

async function connected(httpUrl: string): Promise<boolean> {
  const health = (await (await fetch(new URL('/healthz', httpUrl))).json()) as {
    stations: { cameras?: { connected: boolean }[] }[];
  };
  return health.stations[0]?.cameras?.[0]?.connected === true;
}

/** CPU milliseconds (user + system) a child process has used so far, from /proc. */
function childCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / clockTicks()) * 1000;
  } catch {
    return 0;
  }
}

let ticks = 0;
function clockTicks(): number {
  if (!ticks) ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return ticks;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchCamera()));
