/** One inspection worker: loads the model once, then inspects frames sent by the pool. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, type Model } from './model.ts';
import { InspectionError } from '../reasons.ts';

const port = parentPort;
if (!port) throw new Error('inspect-worker must run in a worker thread');

let model: Model;
try {
  model = await loadModel((workerData as { dir: string }).dir, { threads: 1 });
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
