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
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { stringify } from 'yaml';
import { startEmbeddedBroker } from '../broker/embedded.ts';
import { sendWithoutDelay } from '../shared/mqtt.ts';
import { generatePart } from '../lab/synth.ts';
import { loadManifest } from '../edge/src/vision/manifest.ts';
import type { Result } from '../contract/payloads.ts';

const root = path.resolve(import.meta.dirname, '..');

export interface PipelineBenchOptions {
  modelDir?: string;
  /** a folder of images of the model's kind (searched recursively); default: synthetic brackets */
  framesDir?: string;
  distinctImages?: number;
  /** parts sent before anything is measured (at most 30 s of them) */
  warmupParts?: number;
  /** saturation is measured in this many blocks, each between two blocks of the raw work */
  blocks?: number;
  /** parts per saturation block */
  blockParts?: number;
  /** bare decode + run iterations per raw block */
  rawIterations?: number;
  latencyParts?: number;
  maxSeconds?: number;
  workers?: number;
  /**
   * Takes the run's data folder instead of removing it at the end, for a caller that removes it
   * later: on a file system that skips inodes freed in the last minutes (ext4 without a journal, as
   * on this machine) files created soon after many deletions cost several times the CPU, and the
   * next run should not pay for this one's clean-up.
   */
  keepFolder?: (dir: string) => void;
  /**
   * `floor`: drive the contract's floor (bench/contract-floor.ts) instead of a Loupe station, to
   * see how much of the overhead any station answering the contract pays.
   */
  station?: 'loupe' | 'floor';
  /** a model folder attached in shadow before the station starts (edge/src/vision/shadow.ts): what the candidate costs the live pipeline */
  shadowModel?: string;
}

export async function benchPipeline(options: PipelineBenchOptions = {}): Promise<Record<string, number>> {
  const modelDir = options.modelDir ?? path.join(root, 'models', 'default');
  const images = options.framesDir
    ? await megapixelFrames(options.framesDir, options.distinctImages ?? 24)
    : await megapixelParts(options.distinctImages ?? 24);
  const raw = await rawWork(modelDir, images);

  const broker = await startEmbeddedBroker('127.0.0.1', 0);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-'));
  const config = {
    line: 'bench',
    dataDir: path.join(dir, 'data'),
    mqtt: { url: broker.url },
    http: { port: 0 },
    stations: [
      {
        id: 'bench-1',
        model: modelDir,
        queue: { maxDepth: 1000, concurrency: 4, ...(options.workers ? { workers: options.workers } : {}) },
        review: { deadlineSeconds: 3600 },
      },
    ],
  };
  await writeFile(path.join(dir, 'loupe.yaml'), stringify(config));
  const stateDir = path.join(dir, 'data', 'reviews', 'bench', 'bench-1');
  if (options.shadowModel) {
    // Attached as a manager's attach would leave it: the station loads it again at start.
    const candidate = await loadManifest(options.shadowModel);
    await mkdir(stateDir, { recursive: true });
    const attach = {
      dir: options.shadowModel,
      model: { id: candidate.id, version: candidate.version },
      thresholds: candidate.thresholds,
      by: 'bench',
      at: Date.now(),
    };
    await writeFile(path.join(stateDir, 'shadow.jsonl'), `${JSON.stringify({ attach })}\n`);
  }
  const command =
    options.station === 'floor'
      ? [path.join(root, 'bench', 'contract-floor.js')]
      : [path.join(root, 'bin', 'loupe.js'), 'edge'];
  // As deployed by `npm start`: a 2 MB young generation for the event loop too (bin/v8-flags.js).
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=2', ...command, '--config', path.join(dir, 'loupe.yaml')],
    {
      cwd: root,
      // Also as deployed: glibc keeps at most eight malloc arenas. Two made the decoding threads
      // queue for malloc's locks (~3% more CPU a part); unbounded, a many-core box grows more.
      // A password of its own for the station's first admin, which it would otherwise make up and print.
      env: {
        ...process.env,
        LOUPE_LOG_LEVEL: 'info',
        MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '8',
        LOUPE_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const client = mqtt.connect(broker.url, { clientId: `loupe-bench-${process.pid}` });
  sendWithoutDelay(client);
  try {
    await waitForReady(child);
    await client.subscribeAsync('loupe/bench/bench-1/result', { qos: 1 });
    await stationOnline(client, 'loupe/bench/bench-1/status');
    const arrivals = new Map<string, (result: Result) => void>();
    // A part the station did not score (a frame its quality check refuses, a failed inference) costs
    // almost nothing and would make any model look fast: the run is void, and says why.
    const unscored = new Map<string, { count: number; detail: string }>();
    client.on('message', (_topic, payload) => {
      const result = JSON.parse(payload.toString()) as Result;
      if (result.score === null) {
        const key = result.reasons.join(',');
        const seen = unscored.get(key) ?? { count: 0, detail: result.detail ?? '' };
        seen.count++;
        unscored.set(key, seen);
      }
      arrivals.get(result.partId)?.(result);
      arrivals.delete(result.partId);
    });
    let serial = 0;
    const send = (): Promise<{ ms: number; result: Result }> => {
      const partId = `b-${serial}`;
      const image = images[serial++ % images.length];
      const sentAt = performance.now();
      const arrived = new Promise<{ ms: number; result: Result }>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no result for part ${partId} within 30 s: the station lost it or stalled`)),
          30_000,
        );
        arrivals.set(partId, (result) => {
          clearTimeout(timer);
          resolve({ ms: performance.now() - sentAt, result });
        });
      });
      client.publish(`loupe/bench/bench-1/frame/${partId}`, image, { qos: 1 });
      return arrived;
    };

    const pid = child.pid as number;
    const deadline = Date.now() + (options.maxSeconds ?? 90) * 1000;
    // Warm up: the first inferences pay for lazy allocations in ORT and sharp, and V8 optimises the
    // station's hottest functions only after a thousand parts or more (traced with --trace-opt; see
    // docs/benchmarks.md). A station runs for hours; its first seconds are not what it costs.
    // Bounded in time too, so a slow machine still has time left to measure.
    await closedLoop(send, options.warmupParts ?? 2000, 8, Math.min(deadline, Date.now() + 30_000));
    // Saturation and the raw work alternate, block by block, and the ratio is the median over the
    // blocks: on a shared machine a neighbour's burst then spoils one block, not the figure.
    const blocks = options.blocks ?? 7;
    const blockParts = options.blockParts ?? 120;
    const rawIterations = options.rawIterations ?? 60;
    // Not counted: right after the warm-up, the raw work shares the cores with what the warm-up left
    // behind (this process collecting 2,000 parts' garbage, the station's deferred writes), and that
    // block came out dearer than the run's median raw block (docs/benchmarks.md).
    await raw.measure(rawIterations);
    const rawBlocks = [await raw.measure(rawIterations)];
    const saturation: { parts: number; ms: number; cpuMs: number; mainMs: number }[] = [];
    for (let b = 0; b < blocks && Date.now() < deadline; b++) {
      const cpuBefore = cpuMs(pid);
      const mainBefore = cpuMs(pid, pid);
      const block = await closedLoop(send, blockParts, 8, deadline);
      saturation.push({
        parts: block.done,
        ms: block.ms,
        cpuMs: cpuMs(pid) - cpuBefore,
        mainMs: cpuMs(pid, pid) - mainBefore,
      });
      rawBlocks.push(await raw.measure(rawIterations));
    }
    const ratios = saturation.map(
      (block, b) => block.cpuMs / block.parts / ((rawBlocks[b].cpuMsPerPart + rawBlocks[b + 1].cpuMsPerPart) / 2),
    );
    const parts = sum(saturation.map((b) => b.parts));
    const partsPerSecond = parts / (sum(saturation.map((b) => b.ms)) / 1000);
    // Latency is measured even when saturation used up the run's time (a slow model): each load
    // gets the time its parts take at that rate, and a little more, bounded.
    const latencyParts = options.latencyParts ?? 200;
    const budget = (rate: number) => Date.now() + Math.min(120_000, (latencyParts / rate) * 1500 + 5_000);
    const at50 = await openLoop(send, partsPerSecond * 0.5, latencyParts, budget(partsPerSecond * 0.5));
    const at90 = await openLoop(send, partsPerSecond * 0.9, latencyParts, budget(partsPerSecond * 0.9));
    if (unscored.size > 0) {
      const what = [...unscored].map(([reasons, { count, detail }]) => `${count} × ${reasons} (${detail})`);
      throw new Error(
        `the station did not score ${sum([...unscored.values()].map((u) => u.count))} of ${serial} parts: ${what.join('; ')}. ` +
          'The frames do not suit the model: give images of its kind with --frames DIR.',
      );
    }
    const rawCpu = sum(rawBlocks.map((b) => b.cpuMsPerPart)) / rawBlocks.length;
    return {
      partsPerSecond: round(partsPerSecond),
      p50Ms: round(percentile(at50, 0.5)),
      p99Ms: round(percentile(at50, 0.99)),
      p50MsAt90: round(percentile(at90, 0.5)),
      p99MsAt90: round(percentile(at90, 0.99)),
      cpuMsPerPart: round(sum(saturation.map((b) => b.cpuMs)) / parts, 2),
      mainThreadMsPerPart: round(sum(saturation.map((b) => b.mainMs)) / parts, 2),
      rawMsPerPart: round(rawCpu, 2),
      rawDecodeMsPerPart: round(sum(rawBlocks.map((b) => b.decodeMs)) / rawBlocks.length, 2),
      rawRunMsPerPart: round(sum(rawBlocks.map((b) => b.runMs)) / rawBlocks.length, 2),
      overheadRatio: round(percentile(ratios, 0.5), 3),
      overheadRatioMin: round(Math.min(...ratios), 3),
      overheadRatioMax: round(Math.max(...ratios), 3),
      rssMb: round(childPeakRssMb(pid)),
      frameMegapixels: round(raw.megapixels, 2),
      benchParts: serial,
      ...(options.shadowModel ? shadowCounts(stateDir) : {}),
    };
  } finally {
    await client.endAsync().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await broker.close();
    await raw.close();
    if (options.keepFolder) options.keepFolder(dir);
    else await rm(dir, { recursive: true, force: true });
  }
}

/** ~1 MP JPEG frames of synthetic parts, a quarter of them defective, as a camera would send. */
async function megapixelParts(count: number): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const part = await generatePart({
      category: 'bracket',
      seed: 11,
      index,
      defect: index % 4 === 3 ? undefined : null,
    });
    frames.push(await sharp(part.image).resize(1280, 800, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  }
  return frames;
}

/** ~1 MP JPEG frames of the images in a folder (the model's own kind of part), in a fixed order. */
async function megapixelFrames(dir: string, count: number): Promise<Buffer[]> {
  const files = (await readdir(dir, { recursive: true }))
    .filter((name) => /\.(png|jpe?g)$/i.test(name) && !/_mask\.png$/i.test(name))
    .sort();
  if (files.length === 0) throw new Error(`--frames ${dir}: no .png or .jpg images in it`);
  // As the bracket frames: one part in four defective, when the folder tells them apart (a `good`
  // folder, as in a data set's test split). A test split is mostly defects, and a station's kept
  // parts (review and reject: evidence written, heat maps drawn) cost more than its passes.
  const good = files.filter((name) => name.split(path.sep).includes('good'));
  const bad = files.filter((name) => !name.split(path.sep).includes('good'));
  const spread = (list: string[], n: number) =>
    Array.from(
      { length: Math.min(n, list.length) },
      (_, i) => list[Math.floor((i * list.length) / Math.min(n, list.length))],
    );
  // every fourth frame defective, as in megapixelParts
  const goodOnes = spread(good, count - Math.floor(count / 4));
  const badOnes = spread(bad, Math.floor(count / 4));
  const chosen =
    good.length > 0 && bad.length > 0
      ? Array.from({ length: goodOnes.length + badOnes.length }, (_, i) =>
          i % 4 === 3 && badOnes.length > 0
            ? (badOnes.shift() as string)
            : (goodOnes.shift() ?? (badOnes.shift() as string)),
        )
      : spread(files, count);
  const frames: Buffer[] = [];
  for (const file of chosen) {
    const image = sharp(path.join(dir, file));
    const { width = 1, height = 1 } = await image.metadata();
    const scale = Math.sqrt(1_048_576 / (width * height));
    frames.push(
      await image
        .resize(Math.round(width * scale), Math.round(height * scale))
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  return frames;
}

/**
 * The unavoidable work, bare: decode + resize with sharp, then one `session.run`, one part at a
 * time, with the settings the station's workers use (libvips on one thread without its cache, ORT on
 * one thread with every graph optimisation), so the ratio compares the same work done the same way.
 */
async function rawWork(modelDir: string, images: Buffer[]) {
  const manifest = await loadManifest(modelDir);
  const { width, height, channels } = manifest.input;
  const session = await ort.InferenceSession.create(readFileSync(path.join(modelDir, 'model.onnx')), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const meta = await sharp(images[0]).metadata();
  let serial = 0;
  const one = async () => {
    const t0 = performance.now();
    const pixels = await sharp(images[serial++ % images.length])
      .resize(width, height, { fit: manifest.input.resize })
      .raw()
      .toBuffer();
    const t1 = performance.now();
    const tensor =
      manifest.input.format === 'uint8-nhwc'
        ? new ort.Tensor('uint8', new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), [
            1,
            height,
            width,
            channels,
          ])
        : new ort.Tensor(
            'float32',
            Float32Array.from(pixels, (v) => v / 255),
            [1, channels, height, width],
          );
    const t2 = performance.now();
    await session.run({ [inputName]: tensor });
    return { decodeMs: t1 - t0, runMs: performance.now() - t2 };
  };
  const settings = { concurrency: sharp.concurrency(), cache: sharp.cache() };
  const measure = async (iterations: number) => {
    sharp.concurrency(1);
    sharp.cache(false);
    try {
      await one(); // the first call after an idle spell pays for waking libvips' threads
      let decodeMs = 0;
      let runMs = 0;
      const cpuStart = process.cpuUsage();
      for (let i = 0; i < iterations; i++) {
        const t = await one();
        decodeMs += t.decodeMs;
        runMs += t.runMs;
      }
      const cpu = process.cpuUsage(cpuStart);
      return {
        decodeMs: decodeMs / iterations,
        runMs: runMs / iterations,
        cpuMsPerPart: (cpu.user + cpu.system) / 1000 / iterations,
      };
    } finally {
      sharp.concurrency(settings.concurrency);
      sharp.cache({
        memory: settings.cache.memory.max,
        files: settings.cache.files.max,
        items: settings.cache.items.max,
      });
    }
  };
  await measure(10); // warm-up
  return { measure, close: () => session.release(), megapixels: ((meta.width ?? 0) * (meta.height ?? 0)) / 1e6 };
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

async function openLoop(
  send: () => Promise<{ ms: number }>,
  rate: number,
  parts: number,
  deadline: number,
): Promise<number[]> {
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

/** CPU time of a process, or of one of its threads (the main thread's id is the process id). */
function cpuMs(pid: number, thread?: number): number {
  const fields = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8')
    .split(') ')[1]
    .split(' ');
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

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  console.log(
    JSON.stringify(
      await benchPipeline({
        workers: process.env.LOUPE_BENCH_WORKERS ? Number(process.env.LOUPE_BENCH_WORKERS) : undefined,
      }),
    ),
  );
}

/** Frames the shadow candidate scored and skipped, from its lines (edge/src/vision/shadow.ts). */
function shadowCounts(stateDir: string): { shadowScored: number; shadowSkipped: number } {
  const lines = readFileSync(path.join(stateDir, 'shadow.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { p?: string; s?: number });
  const scored = lines.filter((line) => line.p !== undefined);
  return { shadowScored: scored.length, shadowSkipped: sum(scored.map((line) => line.s ?? 0)) };
}
