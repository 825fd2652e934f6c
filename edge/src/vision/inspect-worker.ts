/** One inspection worker: loads the model once, then inspects frames sent by the pool. */
import { featuresOf } from '../review/suggest.ts';
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';
import vm from 'node:vm';
import sharp from 'sharp';
import { loadModel, type Model } from './model.ts';
import { InspectionError } from '../reasons.ts';
import { QualityRefusal } from './quality.ts';
import { keepEvidenceSync, type EvidenceRequest } from '../evidence/files.ts';

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

// A worker makes little JavaScript garbage but much native memory per frame: the frame, its decoded
// pixels and the model's outputs, half a megabyte held by small JavaScript objects. V8 frees that
// memory only when it collects those objects, and with so little JavaScript allocated the young
// generation rarely fills: the buffers piled up until they forced a full mark-compact every ~40
// frames, in every worker. A minor collection every few frames frees them young (figures in
// docs/benchmarks.md, "Why the code is as it is").
v8.setFlagsFromString('--expose-gc');
const collectYoung = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
const FRAMES_PER_COLLECTION = 8;
let inspected = 0;
interface Request {
  id: number;
  image: Uint8Array;
  evidence?: EvidenceRequest;
  /** check the frame against the model's quality ranges first (edge/src/vision/quality.ts) */
  quality?: boolean;
}
port.on('message', async ({ id, image, evidence, quality }: Request) => {
  try {
    const frame = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
    const inspection = await model.inspect(frame, undefined, { quality });
    if (evidence) {
      const kept = inspection.score >= evidence.from ? keepEvidenceSync(evidence, frame, inspection) : undefined;
      // A part that keeps evidence may need a category suggestion: its map's features go back, not the map.
      const features = kept
        ? featuresOf(inspection.score, inspection.map, inspection.mapWidth, inspection.mapHeight)
        : null;
      port.postMessage({
        id,
        ok: true,
        inspection: { ...inspection, map: undefined, kept, ...(features ? { features } : {}) },
      });
    } else port.postMessage({ id, ok: true, inspection }, [inspection.map.buffer as ArrayBuffer]);
    if (++inspected % FRAMES_PER_COLLECTION === 0) collectYoung({ type: 'minor' });
  } catch (error) {
    port.postMessage({
      id,
      ok: false,
      code: error instanceof InspectionError ? error.code : null,
      message: (error as Error).message,
      ...(error instanceof QualityRefusal ? { failed: error.failed } : {}),
    });
  }
});
