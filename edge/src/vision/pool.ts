/**
 * Inspection off the event loop. onnxruntime-node runs a session synchronously on the calling
 * thread, and decoding a megapixel frame takes milliseconds too: done on the main thread, both
 * would stall MQTT and HTTP for every part. The pool runs one model per worker thread (one ORT
 * thread each, so workers do not fight over cores) and hands each frame to the least busy worker.
 * It offers the same `inspect` as a model loaded in-process, so the station does not know.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import type { Inspection } from './model.ts';
import type { Manifest } from './manifest.ts';
import { InspectionError, type ReasonCode } from '../reasons.ts';
import type { EvidenceRequest, Kept } from '../evidence/files.ts';

/**
 * What a worker answers. Asked to keep evidence, it writes it itself when the score calls for it and
 * sends no map back: the event loop never needs it then.
 */
export type PoolInspection = Omit<Inspection, 'map'> & { map?: Float32Array; kept?: Kept };

interface Pending {
  resolve: (inspection: PoolInspection) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
  pending: Map<number, Pending>;
}

type Reply =
  | { id: number; ok: true; inspection: PoolInspection }
  | { id: number; ok: false; code: ReasonCode | null; message: string }
  | { ready: true; manifest: Manifest }
  | { ready: false; message: string };

const bootstrap = new URL('./worker.js', import.meta.url);

export class InspectionPool {
  private nextId = 1;

  private constructor(
    readonly manifest: Manifest,
    readonly dir: string,
    private readonly slots: Slot[],
  ) {}

  /** Starts `size` workers (default: one per core), each loading the model in `dir`. */
  static async start(dir: string, size = Math.max(1, os.availableParallelism())): Promise<InspectionPool> {
    const slots: Slot[] = [];
    let manifest: Manifest | null = null;
    try {
      for (let i = 0; i < size; i++) {
        // Cores are shared out between workers: each worker's ORT session gets its share of threads.
        const threads = Math.max(1, Math.floor(os.availableParallelism() / size));
        const worker = new Worker(bootstrap, { workerData: { dir, threads }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
        slots.push({ worker, busy: 0, pending: new Map() });
        manifest = await new Promise<Manifest>((resolve, reject) => {
          const onMessage = (reply: Reply) => {
            if (!('ready' in reply)) return;
            worker.off('message', onMessage);
            if (reply.ready) resolve(reply.manifest);
            else reject(new Error(reply.message));
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
        });
      }
    } catch (error) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw error;
    }
    const pool = new InspectionPool(manifest as Manifest, dir, slots);
    for (const slot of slots) pool.listen(slot);
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  inspect(image: Buffer, evidence?: EvidenceRequest): Promise<PoolInspection> {
    const slot = this.slots.reduce((best, s) => (s.busy < best.busy ? s : best));
    const id = this.nextId++;
    slot.busy += 1;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      // Copy into a fresh buffer that can be transferred: the caller's buffer may be a slice of a
      // pooled allocation (HTTP bodies, MQTT payloads) that must not be detached.
      const copy = Buffer.allocUnsafeSlow(image.length); // its own ArrayBuffer, not zero-filled
      image.copy(copy);
      slot.worker.postMessage({ id, image: copy, evidence }, [copy.buffer]);
    });
  }

  /** Stops the workers; closing twice is harmless (the station and start-up clean-up may both do it). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private listen(slot: Slot): void {
    slot.worker.on('message', (reply: Reply) => {
      if ('ready' in reply) return;
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      slot.busy -= 1;
      if (reply.ok) pending.resolve(reply.inspection);
      else pending.reject(new InspectionError(reply.code ?? 'model_error', reply.message));
    });
    slot.worker.on('error', (error) => {
      // A crashed worker fails its parts as model errors (they go to review), never silently.
      for (const pending of slot.pending.values()) pending.reject(new InspectionError('model_error', `inspection worker crashed: ${error.message}`));
      slot.pending.clear();
      slot.busy = Number.POSITIVE_INFINITY;
    });
  }
}
