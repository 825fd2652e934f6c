/**
 * Greedy k-centre, the coreset of every memory bank. It is pure arithmetic on one core and most of
 * a bank's fitting time, so `kCentreInWorker` runs it on a worker thread: the same function on the
 * same numbers (the same entries), while the main thread goes on feeding onnxruntime.
 */
import { Worker } from 'node:worker_threads';

/**
 * Greedy k-centre over `n` candidates of `dims` values each, laid end to end in `flat`: each next
 * entry is the candidate farthest from the bank so far. Answers `size` entries, end to end (and,
 * when `chosen` is given, which candidates they were); `onProgress` hears every 1,024 entries chosen
 * (the coreset is most of a bank's fitting time).
 */
export function kCentre(
  flat: Float32Array,
  n: number,
  dims: number,
  size: number,
  onProgress?: (chosen: number) => void,
  chosen?: Int32Array,
): Float32Array {
  const memory = new Float32Array(size * dims);
  const nearest = new Float32Array(n).fill(Infinity);
  let next = 0;
  for (let m = 0; m < size; m++) {
    if (onProgress && m > 0 && m % 1024 === 0) onProgress(m);
    memory.set(flat.subarray(next * dims, (next + 1) * dims), m * dims);
    if (chosen) chosen[m] = next;
    const centre = memory.subarray(m * dims, (m + 1) * dims);
    let farthest = 0;
    let farthestDistance = -1;
    for (let i = 0; i < n; i++) {
      // Only whether the new entry is nearer matters: stop summing once it cannot be (exact, and
      // most candidates stop after a few values once the bank has grown). Four values between
      // checks: the same entries, a fifth less time (docs/benchmarks.md).
      const limit = nearest[i];
      const base = i * dims;
      let d = 0;
      let c = 0;
      for (; c + 4 <= dims && d < limit; c += 4) {
        const a = flat[base + c] - centre[c];
        const b = flat[base + c + 1] - centre[c + 1];
        const e = flat[base + c + 2] - centre[c + 2];
        const f = flat[base + c + 3] - centre[c + 3];
        d += a * a + b * b + e * e + f * f;
      }
      for (; c < dims && d < limit; c++) d += (flat[base + c] - centre[c]) ** 2;
      if (d < limit) nearest[i] = d;
      if (nearest[i] > farthestDistance) {
        farthestDistance = nearest[i];
        farthest = i;
      }
    }
    next = farthest;
  }
  return memory;
}

/**
 * `kCentre` on a worker thread: `flat`'s buffer is moved there (the caller must not use it after),
 * and the bank (and which candidates it holds, into `chosen`) comes back.
 */
export function kCentreInWorker(
  flat: Float32Array,
  n: number,
  dims: number,
  size: number,
  onProgress?: (chosen: number) => void,
  chosen?: Int32Array,
): Promise<Float32Array> {
  const worker = new Worker(new URL('./kcentre-thread.js', import.meta.url), {
    workerData: { flat, n, dims, size },
    transferList: [flat.buffer as ArrayBuffer],
  });
  return new Promise<Float32Array>((resolve, reject) => {
    worker.on('message', (message: { progress?: number; memory?: Float32Array; chosen?: Int32Array }) => {
      if (message.progress !== undefined) onProgress?.(message.progress);
      if (message.memory) {
        if (chosen && message.chosen) chosen.set(message.chosen);
        resolve(message.memory);
        void worker.terminate();
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the coreset's worker stopped (exit code ${code})`)));
  });
}
