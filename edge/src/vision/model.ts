/**
 * A loaded model: decode a frame with sharp, bring it to the manifest's input (size, channels,
 * normalisation), run the ONNX session, and read the score and the anomaly map. Loading checks the
 * ONNX file against the manifest, so a mismatch fails at start with its name, not on the first part.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InspectionError } from '../reasons.ts';
import { loadManifest, ModelLoadError, type Manifest } from './manifest.ts';
import { framePixels, pixelsToFloats } from './preprocess.ts';
import { measureInput, measureQuality, refuseUnfit, type QualityMeasures } from './quality.ts';

export interface Inspection {
  score: number;
  /** the anomaly map, row-major, mapWidth × mapHeight */
  map: Float32Array;
  mapWidth: number;
  mapHeight: number;
  decodeMs: number;
  inferMs: number;
}

export interface InspectOptions {
  /**
   * Check the frame against the manifest's quality ranges before the model runs, on the pixels
   * decoded for it: an unfit frame is refused (QualityRefusal, reason image_quality), never scored.
   */
  quality?: boolean;
}

export interface Model {
  readonly manifest: Manifest;
  readonly dir: string;
  /** `evidence` is for inspection workers (they keep it themselves); a model in-process ignores it. */
  inspect(image: Buffer, evidence?: unknown, options?: InspectOptions): Promise<Inspection>;
  close(): Promise<void>;
}

export interface LoadOptions {
  /** ORT intra-op threads; 0 lets ORT choose */
  threads?: number;
}

export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  const manifest = await loadManifest(dir);
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, 'model.onnx'));
  } catch {
    throw new ModelLoadError(dir, 'model.onnx is missing');
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: options.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // ORT's intra-op threads otherwise spin between runs, waiting for the next: more than twice
      // the CPU a run for a fraction of a millisecond less latency, and the spinning thread takes a
      // core the decoder and the other workers need (docs/benchmarks.md, "Why the code is as it is").
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (error) {
    throw new ModelLoadError(dir, `model.onnx cannot be loaded by onnxruntime: ${(error as Error).message}`);
  }
  checkAgainstSession(dir, manifest, session);

  return {
    manifest,
    dir,
    async inspect(image: Buffer, _evidence?: unknown, options: InspectOptions = {}): Promise<Inspection> {
      const t0 = performance.now();
      const ranges = options.quality ? manifest.quality : undefined;
      const [decoded, measured] = await Promise.allSettled([
        framePixels(image, manifest.input),
        // Ranges fitted before version 2 were measured on the whole frame: measured so still, with a decode of their own.
        ranges?.version === 1 ? measureQuality(image, ranges.workSize) : null,
      ]);
      // A frame that cannot be measured is not an image: the model's decode says unreadable_image.
      if (ranges?.version === 1 && measured.status === 'fulfilled')
        refuseUnfit(measured.value as QualityMeasures, ranges);
      if (decoded.status === 'rejected') throw decoded.reason;
      const pixels = decoded.value;
      const { width, height, channels } = manifest.input;
      if (ranges?.version === 2) refuseUnfit(measureInput(pixels, width, height, channels), ranges);
      const tensor = tensorOf(pixels, manifest.input);
      const t1 = performance.now();
      let outputs: ort.InferenceSession.OnnxValueMapType;
      try {
        outputs = await session.run({ [manifest.input.name]: tensor });
      } catch (error) {
        throw new InspectionError('model_error', `onnxruntime failed: ${(error as Error).message}`, { cause: error });
      }
      const t2 = performance.now();
      return { ...readOutputs(manifest, outputs), decodeMs: t1 - t0, inferMs: t2 - t1 };
    },
    close: () => session.release(),
  };
}

/**
 * The model's input tensor for a frame. Our own models take the decoded bytes as they are:
 * conversion and normalisation run inside the graph, in C++, instead of a per-pixel loop here.
 */
export async function inputTensor(image: Buffer, input: Manifest['input']): Promise<ort.Tensor> {
  return tensorOf(await framePixels(image, input), input);
}

/** The input tensor of pixels already decoded by `framePixels`. */
function tensorOf(pixels: Buffer, input: Manifest['input']): ort.Tensor {
  const { width, height, channels } = input;
  if (input.format === 'uint8-nhwc')
    return new ort.Tensor('uint8', new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), [
      1,
      height,
      width,
      channels,
    ]);
  return new ort.Tensor('float32', pixelsToFloats(pixels, input), [1, channels, height, width]);
}

function readOutputs(
  manifest: Manifest,
  outputs: ort.InferenceSession.OnnxValueMapType,
): Pick<Inspection, 'score' | 'map' | 'mapWidth' | 'mapHeight'> {
  if (manifest.kind === 'classifier') {
    const probabilities = outputs[manifest.outputs.probabilities as string].data as Float32Array;
    const ok = (manifest.outputs.classes as string[]).indexOf('ok');
    // The classifier has no spatial evidence: its "map" is one cell holding the defect probability.
    const score = 1 - probabilities[ok];
    return { score, map: Float32Array.of(score), mapWidth: 1, mapHeight: 1 };
  }
  const scoreTensor = outputs[manifest.outputs.score as string];
  const mapTensor = outputs[manifest.outputs.map as string];
  const dims = mapTensor.dims;
  const map = mapTensor.data as Float32Array;
  const score = (scoreTensor.data as Float32Array)[0];
  if (!Number.isFinite(score))
    throw new InspectionError('model_error', `the model returned a score that is not a number (${score})`);
  return { score, map, mapWidth: dims[dims.length - 1], mapHeight: dims[dims.length - 2] };
}

function checkAgainstSession(dir: string, manifest: Manifest, session: ort.InferenceSession): void {
  const input = manifest.input;
  if (!session.inputNames.includes(input.name))
    throw new ModelLoadError(
      dir,
      `manifest input.name "${input.name}" is not an input of model.onnx (inputs: ${session.inputNames.join(', ')})`,
    );
  const meta = session.inputMetadata.find((m) => m.name === input.name);
  if (meta && meta.isTensor) {
    const nhwc = input.format === 'uint8-nhwc';
    const expected = nhwc
      ? [1, input.height, input.width, input.channels]
      : [1, input.channels, input.height, input.width];
    if (meta.type !== (nhwc ? 'uint8' : 'float32'))
      throw new ModelLoadError(
        dir,
        `model.onnx input "${input.name}" takes ${meta.type}, but the manifest's input.format ${input.format ?? 'float32-nchw'} gives ${nhwc ? 'uint8' : 'float32'}`,
      );
    const mismatch = meta.shape.some((d, i) => typeof d === 'number' && d !== expected[i]);
    if (meta.shape.length !== 4 || mismatch)
      throw new ModelLoadError(
        dir,
        `model.onnx input "${input.name}" has shape [${meta.shape.join(', ')}], but the manifest says [${expected.join(', ')}]`,
      );
  }
  const wanted =
    manifest.kind === 'classifier' ? [manifest.outputs.probabilities] : [manifest.outputs.score, manifest.outputs.map];
  for (const name of wanted) {
    if (name && !session.outputNames.includes(name))
      throw new ModelLoadError(
        dir,
        `manifest output "${name}" is not an output of model.onnx (outputs: ${session.outputNames.join(', ')})`,
      );
  }
}
