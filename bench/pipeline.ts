/**
 * Throughput and latency of a station through its real ingest path (MQTT frames in, results out),
 * against the raw cost of the two steps no pipeline can avoid — sharp decode + resize, and a bare
 * `session.run` — measured in the same run on the same images. The station runs as `loupe edge` in
 * a child process, so its CPU time and peak RSS are its own; the broker (Aedes) and the load
 * generator run here.
 *
 *   npx tsx bench/pipeline.ts            prints one JSON object
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { stringify } from 'yaml';
import { startEmbeddedBroker } from '../broker/embedded.ts';
import { sendWithoutDelay } from '../edge/src/bus/link.ts';
import { generatePart } from '../lab/synth.ts';
import { loadManifest } from '../edge/src/vision/manifest.ts';
import type { Result } from '../contract/payloads.ts';

const root = path.resolve(import.meta.dirname, '..');

export interface PipelineBenchOptions {
  modelDir?: string;
  distinctImages?: number;
  saturationParts?: number;
  latencyParts?: number;
  maxSeconds?: number;
  workers?: number;
}

export async function benchPipeline(options: PipelineBenchOptions = {}): Promise<Record<string, number>> {
  const modelDir = options.modelDir ?? path.join(root, 'models', 'default');
  const images = await megapixelParts(options.distinctImages ?? 24);
  // Raw cost before and after the station runs, averaged, so drift on a shared machine hits both sides.
  const rawBefore = await rawCost(modelDir, images, 150);

  const broker = await startEmbeddedBroker('127.0.0.1', 0);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-'));
  const config = {
    line: 'bench',
    dataDir: path.join(dir, 'data'),
    mqtt: { url: broker.url },
    http: { port: 0 },
    stations: [{ id: 'bench-1', model: modelDir, queue: { maxDepth: 1000, concurrency: 4, ...(options.workers ? { workers: options.workers } : {}) }, review: { deadlineSeconds: 3600 } }],
  };
  await writeFile(path.join(dir, 'loupe.yaml'), stringify(config));
  const child = spawn(process.execPath, [path.join(root, 'bin', 'loupe.js'), 'edge', '--config', path.join(dir, 'loupe.yaml')], {
    cwd: root,
    // As deployed (npm start, the systemd unit in the README): a log line per part is part of the cost,
    // and glibc keeps at most two malloc arenas, so libvips' and ORT's threads do not fragment memory.
    env: { ...process.env, LOUPE_LOG_LEVEL: 'info', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const client = mqtt.connect(broker.url, { clientId: `loupe-bench-${process.pid}` });
  sendWithoutDelay(client);
  try {
    await waitForReady(child);
    await client.subscribeAsync('loupe/bench/bench-1/result', { qos: 1 });
    await stationOnline(client, 'loupe/bench/bench-1/status');
    const arrivals = new Map<string, (result: Result) => void>();
    client.on('message', (_topic, payload) => {
      const result = JSON.parse(payload.toString()) as Result;
      arrivals.get(result.partId)?.(result);
      arrivals.delete(result.partId);
    });
    let serial = 0;
    const send = (): Promise<{ ms: number; result: Result }> => {
      const partId = `b-${serial}`;
      const image = images[serial++ % images.length];
      const sentAt = performance.now();
      const arrived = new Promise<{ ms: number; result: Result }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no result for part ${partId} within 30 s: the station lost it or stalled`)), 30_000);
        arrivals.set(partId, (result) => {
          clearTimeout(timer);
          resolve({ ms: performance.now() - sentAt, result });
        });
      });
      client.publish(`loupe/bench/bench-1/frame/${partId}`, image, { qos: 1 });
      return arrived;
    };

    const deadline = Date.now() + (options.maxSeconds ?? 60) * 1000;
    // Warm up: first inferences pay for lazy allocations in ORT and sharp.
    await closedLoop(send, 20, 4, deadline);
    const cpuBefore = childCpuMs(child.pid as number);
    const saturation = await closedLoop(send, options.saturationParts ?? 300, 8, deadline);
    const cpuMs = childCpuMs(child.pid as number) - cpuBefore;
    const partsPerSecond = saturation.done / (saturation.ms / 1000);
    const at50 = await openLoop(send, partsPerSecond * 0.5, options.latencyParts ?? 200, deadline);
    const at90 = await openLoop(send, partsPerSecond * 0.9, options.latencyParts ?? 200, deadline);
    const cpuMsPerPart = cpuMs / saturation.done;
    const rawAfter = await rawCost(modelDir, images, 150);
    const raw = {
      cpuMsPerPart: (rawBefore.cpuMsPerPart + rawAfter.cpuMsPerPart) / 2,
      decodeMs: (rawBefore.decodeMs + rawAfter.decodeMs) / 2,
      runMs: (rawBefore.runMs + rawAfter.runMs) / 2,
      megapixels: rawBefore.megapixels,
    };
    return {
      partsPerSecond: round(partsPerSecond),
      p50Ms: round(percentile(at50, 0.5)),
      p99Ms: round(percentile(at50, 0.99)),
      p50MsAt90: round(percentile(at90, 0.5)),
      p99MsAt90: round(percentile(at90, 0.99)),
      cpuMsPerPart: round(cpuMsPerPart),
      rawMsPerPart: round(raw.cpuMsPerPart),
      rawDecodeMsPerPart: round(raw.decodeMs),
      rawRunMsPerPart: round(raw.runMs),
      overheadRatio: round(cpuMsPerPart / raw.cpuMsPerPart, 3),
      rssMb: round(childPeakRssMb(child.pid as number)),
      frameMegapixels: round(raw.megapixels, 2),
      benchParts: saturation.done + at50.length + at90.length,
    };
  } finally {
    await client.endAsync().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await broker.close();
  }
}

/** ~1 MP JPEG frames of synthetic parts, a quarter of them defective, as a camera would send. */
async function megapixelParts(count: number): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const part = await generatePart({ category: 'bracket', seed: 11, index, defect: index % 4 === 3 ? undefined : null });
    frames.push(await sharp(part.image).resize(1280, 800, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  }
  return frames;
}

/** The unavoidable work, bare: decode + resize with sharp, then one `session.run`, on one thread. */
async function rawCost(modelDir: string, images: Buffer[], iterations: number) {
  const manifest = await loadManifest(modelDir);
  const { width, height, channels } = manifest.input;
  const session = await ort.InferenceSession.create(readFileSync(path.join(modelDir, 'model.onnx')), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const inputName = session.inputNames[0];
  let decodeMs = 0;
  let runMs = 0;
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const pixels = await sharp(images[i % images.length]).resize(width, height, { fit: manifest.input.resize }).raw().toBuffer();
    const t1 = performance.now();
    const tensor =
      manifest.input.format === 'uint8-nhwc'
        ? new ort.Tensor('uint8', new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), [1, height, width, channels])
        : new ort.Tensor('float32', Float32Array.from(pixels, (v) => v / 255), [1, channels, height, width]);
    const t2 = performance.now();
    await session.run({ [inputName]: tensor });
    runMs += performance.now() - t2;
    decodeMs += t1 - t0;
  }
  const cpu = process.cpuUsage(cpuStart);
  await session.release();
  const meta = await sharp(images[0]).metadata();
  return { decodeMs: decodeMs / iterations, runMs: runMs / iterations, cpuMsPerPart: (cpu.user + cpu.system) / 1000 / iterations, megapixels: ((meta.width ?? 0) * (meta.height ?? 0)) / 1e6 };
}

async function closedLoop(send: () => Promise<unknown>, parts: number, window: number, deadline: number) {
  const start = performance.now();
  let started = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (done === started && (started >= parts || Date.now() > deadline)) return resolve();
      if (started >= parts || Date.now() > deadline) return;
      started += 1;
      send().then(() => {
        done += 1;
        next();
      }, reject);
    };
    for (let i = 0; i < window; i++) next();
  });
  return { done, ms: performance.now() - start };
}

async function openLoop(send: () => Promise<{ ms: number }>, rate: number, parts: number, deadline: number): Promise<number[]> {
  const latencies: Promise<number>[] = [];
  const start = performance.now();
  for (let i = 0; i < parts && Date.now() < deadline; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    latencies.push(send().then((r) => r.ms));
  }
  return Promise.all(latencies);
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function childCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
  return (ticks * 1000) / 100;
}

function childPeakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Resolves when the station's retained status says online (it then listens for frames). */
async function stationOnline(client: mqtt.MqttClient, topic: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`station not online on ${topic} within 30 s`)), 30_000);
    const onMessage = (received: string, payload: Buffer) => {
      if (received !== topic || !payload.toString().includes('"state":"online"')) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve();
    };
    client.on('message', onMessage);
    void client.subscribeAsync(topic, { qos: 1 });
  });
}

function waitForReady(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`station not ready within 30 s: ${seen}`)), 30_000);
    let ready = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (ready) return; // keep draining the pipe so the station never blocks on its log
      seen += chunk.toString();
      if (seen.includes('"msg":"ready"')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`station exited with ${code}: ${seen}`)));
  });
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  console.log(JSON.stringify(await benchPipeline({ workers: process.env.LOUPE_BENCH_WORKERS ? Number(process.env.LOUPE_BENCH_WORKERS) : undefined })));
}
