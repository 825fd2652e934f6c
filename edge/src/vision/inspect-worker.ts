/** One inspection worker: loads the model once, then inspects frames sent by the pool. */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { loadModel, type Model } from './model.ts';
import { InspectionError } from '../reasons.ts';

// Each worker decodes one frame at a time: libvips needs no thread pool of its own here, and its
// operation cache only helps repeated operations on the same image, which frames never are.
sharp.cache(false);
sharp.concurrency(1);

const port = parentPort;
if (!port) throw new Error('inspect-worker must run in a worker thread');

let model: Model;
try {
  const { dir, threads } = workerData as { dir: string; threads: number };
  model = await loadModel(dir, { threads });
  port.postMessage({ ready: true, manifest: model.manifest });
} catch (error) {
  port.postMessage({ ready: false, message: (error as Error).message });
  throw error;
}

port.on('message', async ({ id, image }: { id: number; image: Uint8Array }) => {
  try {
    const inspection = await model.inspect(Buffer.from(image.buffer, image.byteOffset, image.byteLength));
    port.postMessage({ id, ok: true, inspection }, [inspection.map.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ id, ok: false, code: error instanceof InspectionError ? error.code : null, message: (error as Error).message });
  }
});
