// The worker thread of lab/kcentre.ts: TypeScript through tsx, as the launcher does, then kCentre once.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { kCentre } = await import('./kcentre.ts');
const { flat, n, dims, size } = workerData;
const chosen = new Int32Array(size);
const memory = kCentre(flat, n, dims, size, (m) => parentPort.postMessage({ progress: m }), chosen);
parentPort.postMessage({ memory, chosen }, [memory.buffer, chosen.buffer]);
