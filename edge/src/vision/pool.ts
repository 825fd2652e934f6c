/**
 * Inspection off the event loop. onnxruntime-node runs a session synchronously on the calling
 * thread, and decoding a megapixel frame takes milliseconds too: done on the main thread, both
 * would stall MQTT and HTTP for every part. The pool runs one model per worker thread and hands
 * each frame to the least busy worker. It offers the same `inspect` as a model loaded in-process,
 * so the station does not know.
 *
 * A worker needs fewer cores than it seems: sharp decodes on libuv's thread pool, not on the
 * worker's own thread, so one worker keeps several frames in flight and its thread only runs the
 * model. Decoding takes about half of a part's CPU, so by default there is one worker for every two
 * cores, each with one ORT thread: on two cores one worker inspects as many parts a second as two,
 * with less CPU a part and less memory (docs/benchmarks.md, "Why the code is as it is").
 *
 * A worker that dies fails its parts as model errors (they go to review) and is started again.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import type { InspectOptions, Inspection } from './model.ts';
import type { Manifest } from './manifest.ts';
import { InspectionError, type ReasonCode } from '../reasons.ts';
import type { EvidenceRequest, Kept } from '../evidence/files.ts';
import { QualityRefusal, type QualityMeasure } from './quality.ts';

/**
 * What a worker answers. Asked to keep evidence, it writes it itself when the score calls for it and
 * sends no map back: the event loop never needs it then.
 */
export type PoolInspection = Omit<Inspection, 'map'> & { map?: Float32Array; kept?: Kept; features?: number[] };

interface Pending {
  resolve: (inspection: PoolInspection) => void;
  reject: (error: Error) => void;
}

interface Slot {
  /** null while a crashed worker is being started again */
  worker: Worker | null;
  busy: number;
  pending: Map<number, Pending>;
}

type Reply =
  | { id: number; ok: true; inspection: PoolInspection }
  | { id: number; ok: false; code: ReasonCode | null; message: string; failed?: QualityMeasure[] }
  | { ready: true; manifest: Manifest }
  | { ready: false; message: string };

const bootstrap = new URL('./worker.js', import.meta.url);

/** Inspection workers a station runs unless configured: one for every two cores, at least one. */
export function defaultWorkers(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/** ORT threads per worker: the workers' sessions share half the cores, the decoders the other half. */
export function threadsPerWorker(workers: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / (2 * workers)));
}

/** How long to wait before starting a crashed worker again when the previous attempt failed. */
const RESPAWN_RETRY_MS = 5000;

/** Starts one worker and resolves once its model is loaded. */
async function spawnWorker(dir: string, threads: number): Promise<{ worker: Worker; manifest: Manifest }> {
  const worker = new Worker(bootstrap, {
    workerData: { dir, threads },
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
  try {
    const manifest = await new Promise<Manifest>((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        if (!('ready' in reply)) return;
        worker.off('message', onMessage);
        if (reply.ready) resolve(reply.manifest);
        else reject(new Error(reply.message));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`inspection worker exited with code ${code} while loading the model`)),
      );
    });
    return { worker, manifest };
  } catch (error) {
    await worker.terminate();
    throw error;
  }
}

export class InspectionPool {
  private nextId = 1;
  private closed = false;

  private constructor(
    readonly manifest: Manifest,
    readonly dir: string,
    private readonly slots: Slot[],
    private readonly threads: number,
  ) {}

  /** Starts `size` workers (default: one for every two cores), each loading the model in `dir`. */
  static async start(dir: string, size = defaultWorkers()): Promise<InspectionPool> {
    const threads = threadsPerWorker(size);
    const slots: Slot[] = [];
    let manifest: Manifest | null = null;
    try {
      for (let i = 0; i < size; i++) {
        const started = await spawnWorker(dir, threads);
        slots.push({ worker: started.worker, busy: 0, pending: new Map() });
        manifest = started.manifest;
      }
    } catch (error) {
      await Promise.all(slots.map((s) => s.worker?.terminate()));
      throw error;
    }
    const pool = new InspectionPool(manifest as Manifest, dir, slots, threads);
    for (const slot of slots) pool.listen(slot, slot.worker as Worker);
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * `quality`: the worker checks the frame against the model's quality ranges on the pixels it
   * decoded for the model, and refuses an unfit one (QualityRefusal) without running the model.
   */
  inspect(image: Buffer, evidence?: EvidenceRequest, options: InspectOptions = {}): Promise<PoolInspection> {
    let slot: Slot | null = null;
    for (const s of this.slots) if (s.worker && (!slot || s.busy < slot.busy)) slot = s;
    const worker = slot?.worker;
    if (!slot || !worker)
      return Promise.reject(
        new InspectionError(
          'model_error',
          'no inspection worker is running: the last one stopped and is being started again',
        ),
      );
    const id = this.nextId++;
    slot.busy += 1;
    const chosen = slot;
    return new Promise((resolve, reject) => {
      chosen.pending.set(id, { resolve, reject });
      // Copy into a fresh buffer that can be transferred: the caller's buffer may be a slice of a
      // pooled allocation (HTTP bodies, MQTT payloads) that must not be detached.
      const copy = Buffer.allocUnsafeSlow(image.length); // its own ArrayBuffer, not zero-filled
      image.copy(copy);
      worker.postMessage({ id, image: copy, evidence, quality: options.quality }, [copy.buffer]);
    });
  }

  /** Stops the workers; closing twice is harmless (the station and start-up clean-up may both do it). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }

  private listen(slot: Slot, worker: Worker): void {
    worker.on('message', (reply: Reply) => {
      if ('ready' in reply) return;
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      slot.busy -= 1;
      if (reply.ok) pending.resolve(reply.inspection);
      else if (reply.failed) pending.reject(new QualityRefusal(reply.failed, reply.message));
      else pending.reject(new InspectionError(reply.code ?? 'model_error', reply.message));
    });
    let reason = 'it stopped';
    worker.on('error', (error) => (reason = error.message));
    worker.once('exit', (code) => {
      if (this.closed) return;
      // Its parts fail as model errors (they go to review), never silently, and it starts again.
      slot.worker = null;
      for (const pending of slot.pending.values())
        pending.reject(new InspectionError('model_error', `inspection worker crashed (exit code ${code}): ${reason}`));
      slot.pending.clear();
      slot.busy = 0;
      this.respawn(slot);
    });
  }

  private respawn(slot: Slot): void {
    spawnWorker(this.dir, this.threads).then(
      ({ worker }) => {
        if (this.closed) return void worker.terminate();
        slot.worker = worker;
        this.listen(slot, worker);
      },
      () => {
        if (!this.closed) setTimeout(() => this.respawn(slot), RESPAWN_RETRY_MS).unref();
      },
    );
  }
}
