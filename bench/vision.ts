/**
 * What the project adds around the model: preprocessing (bytes → normalised planar tensor) and
 * postprocessing (reading score and map), over a bare `session.run` on the same tensors, and over
 * a bare sharp decode + resize of the same frames — all measured in the same run.
 *
 *   npx tsx bench/vision.ts            prints one JSON object
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { inputTensor, loadModel } from '../edge/src/vision/model.ts';
import { generatePart } from '../lab/synth.ts';

const root = path.resolve(import.meta.dirname, '..');

export async function benchVision(
  options: { modelDir?: string; iterations?: number } = {},
): Promise<Record<string, number>> {
  const modelDir = options.modelDir ?? path.join(root, 'models', 'default');
  const iterations = options.iterations ?? 200;
  const model = await loadModel(modelDir, { threads: 1 });
  const { input } = model.manifest;
  const frames: Buffer[] = [];
  for (let i = 0; i < 16; i++)
    frames.push(
      await sharp(
        (await generatePart({ category: 'bracket', seed: 5, index: i, defect: i % 4 === 0 ? undefined : null })).image,
      )
        .png()
        .toBuffer(),
    );
  const tensors = await Promise.all(frames.map((f) => inputTensor(f, input)));
  const bare = await ort.InferenceSession.create(readFileSync(path.join(modelDir, 'model.onnx')), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });

  // Warm both paths, then interleave them so drift on a shared machine hits both alike.
  for (let i = 0; i < 10; i++) {
    await model.inspect(frames[i % frames.length]);
    await bare.run({ [input.name]: tensors[i % tensors.length] });
  }
  let decodeMs = 0;
  let runMs = 0;
  let inspectMs = 0;
  let inferMs = 0;
  for (let i = 0; i < iterations; i++) {
    const frame = frames[i % frames.length];
    let t = performance.now();
    await sharp(frame).resize(input.width, input.height, { fit: input.resize }).raw().toBuffer();
    decodeMs += performance.now() - t;
    t = performance.now();
    await bare.run({ [input.name]: tensors[i % tensors.length] });
    runMs += performance.now() - t;
    t = performance.now();
    const inspection = await model.inspect(frame);
    inspectMs += performance.now() - t;
    inferMs += inspection.inferMs;
  }
  await bare.release();
  await model.close();
  const per = (ms: number) => Math.round((ms / iterations) * 1000) / 1000;
  return {
    visionDecodeMs: per(decodeMs),
    sessionRunMs: per(runMs),
    inspectMs: per(inspectMs),
    // inspect = decode + preprocess + run + postprocess; the ratio is everything inspect does over
    // the two steps it cannot avoid.
    visionOverheadRatio: Math.round((inspectMs / (decodeMs + runMs)) * 1000) / 1000,
    // the model call alone (tensor wrapping + run + reading outputs) over a bare run on the same tensors
    inferOverheadRatio: Math.round((inferMs / runMs) * 1000) / 1000,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  console.log(JSON.stringify(await benchVision()));
}
