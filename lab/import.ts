/**
 * Models as they come: an export folder written by Anomalib (2.x, or 1.x with its metadata.json) or
 * a YOLO classification export becomes a Loupe model folder (model.onnx + manifest.json), so a data
 * scientist's model serves on a station without anyone re-implementing its pre- and post-processing.
 *
 * The aim is that a model loaded this way scores an image exactly as Anomalib's own inferencer does:
 * - Anomalib 2.x puts its pre-processing (resize, ImageNet normalisation) and post-processing
 *   (min-max normalisation, threshold 0.5) inside the graph: the graph is taken as it is and fed
 *   0..1 RGB floats, as `anomalib.deploy` does.
 * - Anomalib 1.x (and 0.x) leave both outside: the transform and the normalisation statistics are in
 *   metadata.json. The transform becomes the manifest's input (size, mean, std), and the min-max
 *   normalisation of `anomalib.utils.normalization.min_max.normalize` —
 *   `clip((x − threshold) / (max − min) + 0.5, 0, 1)` — is appended to the graph, for the score with
 *   the image threshold and for the map with the pixel threshold, as the 1.x inferencer applies them.
 *   A graph with only a map scores the part by the map's maximum, as that inferencer does.
 * - YOLO classification: softmax over the classes; the class that means "good" is named at import
 *   and called `ok` in the manifest; the score is one minus its probability.
 */
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { onnx as types } from 'onnx-proto';
import { checkManifest, type Manifest } from '../edge/src/vision/manifest.ts';
import { floats, node, onnx } from './onnx.ts';

export type ExportKind = 'anomalib-2' | 'anomalib-1' | 'yolo-classify';

export interface ImportOptions {
  /** the export folder, or the .onnx file in it */
  source: string;
  /** the Loupe model folder to write */
  out: string;
  id?: string;
  version?: string;
  /** YOLO: the class that means a good part */
  okClass?: string;
  /** input size when the graph leaves it open (default 256) */
  size?: number;
  passBelow?: number;
  rejectAbove?: number;
}

export interface Imported {
  kind: ExportKind;
  manifest: Manifest;
  /** what the import assumed or changed, for the person running it */
  notes: string[];
}

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

/** Anomalib's defaults when a 1.x export names no normalisation: ImageNet statistics. */
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** Around the 0.5 that Anomalib's normalised scores and softmax probabilities are cut at. */
const DEFAULT_BAND = { passBelow: 0.4, rejectAbove: 0.6 };
const OK_LIKE = ['ok', 'good', 'normal', 'pass'];

/** Reads an export folder, detects which kind it is, and writes the Loupe model folder `out`. */
export async function importModel(options: ImportOptions): Promise<Imported> {
  const { onnxFile, metadataFile } = await locate(options.source);
  const bytes = await readFile(onnxFile);
  let model: types.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ImportError(`${onnxFile} is not an ONNX model: ${(error as Error).message}`);
  }
  const graph = model.graph;
  if (!graph) throw new ImportError(`${onnxFile} has no graph`);
  const props = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const outputs = (graph.output ?? []).map((o) => o.name);

  let kind: ExportKind;
  if (props.has('names') && (props.get('task') ?? 'classify') === 'classify') kind = 'yolo-classify';
  else if (props.has('names'))
    throw new ImportError(
      `${onnxFile} is a YOLO ${props.get('task')} export; Loupe imports YOLO classification exports (task classify)`,
    );
  else if (metadataFile) kind = 'anomalib-1';
  else if (outputs.includes('pred_score')) kind = 'anomalib-2';
  else
    throw new ImportError(
      `${onnxFile}: not recognised (outputs ${outputs.join(', ')}, no metadata.json); Loupe imports Anomalib 2.x (an output pred_score), Anomalib 1.x (with metadata.json) and YOLO classification exports`,
    );

  const notes: string[] = [];
  const input = graphInput(graph);
  const dims = shapeOf(input);
  const fixed = (i: number) => (typeof dims[i] === 'number' && (dims[i] as number) > 0 ? (dims[i] as number) : null);
  const size = { height: fixed(2) ?? options.size ?? 256, width: fixed(3) ?? options.size ?? 256 };
  if (fixed(2) === null || fixed(3) === null)
    notes.push(
      `the graph leaves its input size open: frames are brought to ${size.width} × ${size.height}${options.size ? '' : ' (--size to change)'}`,
    );
  if (dims.length !== 4 || fixed(1) !== 3)
    throw new ImportError(
      `${onnxFile}: input "${input.name}" has shape [${dims.join(', ')}]; an RGB image input [1, 3, H, W] is needed`,
    );

  const id = options.id ?? path.basename(path.resolve(options.out));
  const version = options.version ?? '1';
  const band = {
    passBelow: options.passBelow ?? DEFAULT_BAND.passBelow,
    rejectAbove: options.rejectAbove ?? DEFAULT_BAND.rejectAbove,
  };
  const base = { id, version, createdBy: 'loupe model import' };
  let manifest: Manifest;
  let graphBytes: Uint8Array = bytes;

  if (kind === 'anomalib-2') {
    const map = outputs.includes('anomaly_map') ? 'anomaly_map' : null;
    if (!map) {
      notes.push('the export has no anomaly_map (a classification model): the map is its score, one cell');
      addMapFromScore(graph, 'pred_score', 'loupe_map');
      graphBytes = encode(model);
    }
    manifest = {
      ...base,
      kind: 'anomalib',
      input: {
        name: input.name,
        ...size,
        channels: 3,
        mean: [0, 0, 0],
        std: [1, 1, 1],
        resize: 'fill',
        format: 'float32-nchw',
      },
      outputs: { score: 'pred_score', map: map ?? 'loupe_map' },
      thresholds: band,
      lineage: {
        importedFrom: 'anomalib 2.x ONNX export',
        source: path.resolve(onnxFile),
        anomalibThreshold: 0.5,
        note: 'pre- and post-processing (normalisation, threshold 0.5) are inside the graph',
      },
    };
  } else if (kind === 'anomalib-1') {
    const metadata = await readJson(metadataFile as string);
    const transform = readTransform(metadata, notes);
    const inputSize = transform.size ?? size;
    const normalisation = readNormalisation(metadata, notes);
    const { score, map } = rewriteAnomalib1(graph, normalisation, notes);
    graphBytes = encode(model);
    const thresholds = normalisation.score ? band : rawBand(normalisation.imageThreshold, options);
    manifest = {
      ...base,
      kind: 'anomalib',
      input: {
        name: input.name,
        ...inputSize,
        channels: 3,
        mean: transform.mean,
        std: transform.std,
        resize: 'fill',
        format: 'float32-nchw',
      },
      outputs: { score, map },
      thresholds,
      lineage: {
        importedFrom: 'anomalib 1.x ONNX export with metadata.json',
        source: path.resolve(onnxFile),
        metadata: pick(metadata, [
          'task',
          'image_threshold',
          'pixel_threshold',
          'min',
          'max',
          'pred_scores.min',
          'pred_scores.max',
          'anomaly_maps.min',
          'anomaly_maps.max',
        ]),
      },
    };
  } else {
    const names = classNames(props.get('names') ?? '');
    const okClass = options.okClass ?? names.find((n) => OK_LIKE.includes(n.toLowerCase()));
    if (!okClass)
      throw new ImportError(`name the class that means a good part with --ok-class (classes: ${names.join(', ')})`);
    if (!names.includes(okClass))
      throw new ImportError(`--ok-class ${okClass} is not a class of this model (classes: ${names.join(', ')})`);
    if (!options.okClass) notes.push(`"${okClass}" taken as the good class (--ok-class to choose another)`);
    if (names.filter((n) => n === 'ok').length > 0 && okClass !== 'ok')
      throw new ImportError(
        `the model has a class "ok" that is not the good class ${okClass}; Loupe reserves "ok" for the good class`,
      );
    const probabilities = softmaxOutput(graph, notes);
    graphBytes = encode(model);
    manifest = {
      ...base,
      kind: 'classifier',
      input: {
        name: input.name,
        ...size,
        channels: 3,
        mean: [0, 0, 0],
        std: [1, 1, 1],
        resize: 'cover',
        format: 'float32-nchw',
      },
      outputs: { probabilities, classes: names.map((n) => (n === okClass ? 'ok' : n)) },
      thresholds: band,
      lineage: {
        importedFrom: 'YOLO classification ONNX export',
        source: path.resolve(onnxFile),
        okClass,
        classes: names,
      },
    };
  }
  const checked = checkManifest(manifest, options.out);
  await mkdir(options.out, { recursive: true });
  await writeFile(path.join(options.out, 'model.onnx'), graphBytes);
  await writeFile(path.join(options.out, 'manifest.json'), JSON.stringify(checked, null, 2) + '\n');
  if (metadataFile) await copyFile(metadataFile, path.join(options.out, 'anomalib-metadata.json'));
  return { kind, manifest: checked, notes };
}

/** The .onnx file of an export (the folder itself, `weights/onnx/`, or `onnx/`) and its metadata.json, if any. */
async function locate(source: string): Promise<{ onnxFile: string; metadataFile: string | null }> {
  let info;
  try {
    info = await stat(source);
  } catch {
    throw new ImportError(`${source} does not exist`);
  }
  let onnxFile: string;
  if (info.isFile()) onnxFile = source;
  else {
    const found: string[] = [];
    for (const sub of ['', 'weights/onnx', 'onnx', 'weights']) {
      const dir = path.join(source, sub);
      const names = await readdir(dir).catch(() => [] as string[]);
      found.push(...names.filter((n) => n.endsWith('.onnx')).map((n) => path.join(dir, n)));
      if (found.length > 0) break;
    }
    if (found.length === 0)
      throw new ImportError(`${source}: no .onnx file (looked in it, weights/onnx/, onnx/ and weights/)`);
    if (found.length > 1)
      throw new ImportError(`${source}: several .onnx files (${found.join(', ')}); name the one to import`);
    onnxFile = found[0];
  }
  const candidates = [
    path.join(path.dirname(onnxFile), 'metadata.json'),
    ...(info.isFile() ? [] : [path.join(source, 'metadata.json')]),
  ];
  for (const candidate of candidates) {
    if (
      await stat(candidate).then(
        () => true,
        () => false,
      )
    )
      return { onnxFile, metadataFile: candidate };
  }
  return { onnxFile, metadataFile: null };
}

function graphInput(graph: types.IGraphProto): types.IValueInfoProto & { name: string } {
  const initialisers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initialisers.has(i.name));
  if (inputs.length !== 1 || !inputs[0].name)
    throw new ImportError(
      `the graph must take one image input, it takes ${inputs.map((i) => i.name).join(', ') || 'none'}`,
    );
  return inputs[0] as types.IValueInfoProto & { name: string };
}

function shapeOf(info: types.IValueInfoProto): (number | string)[] {
  return (info.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : (d.dimParam ?? '?'),
  );
}

function encode(model: types.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ImportError(`${file} cannot be read as JSON: ${(error as Error).message}`);
  }
}

function pick(data: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
}

/**
 * The input a 1.x transform describes: albumentations (`__class_fullname__`) or torchvision
 * transforms, as Anomalib serialises them; a Resize gives the size, a Normalize the mean and std.
 */
function readTransform(
  metadata: Record<string, unknown>,
  notes: string[],
): { size: { width: number; height: number } | null; mean: number[]; std: number[] } {
  let size: { width: number; height: number } | null = null;
  let normalise: { mean: number[]; std: number[] } | null = null;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    const name = String(o.__class_fullname__ ?? o.class_path ?? o.type ?? o.name ?? '');
    const args = (o.init_args && typeof o.init_args === 'object' ? o.init_args : o) as Record<string, unknown>;
    if (/resize/i.test(name)) {
      const s = args.size;
      if (typeof args.height === 'number' && typeof args.width === 'number')
        size = { height: args.height, width: args.width };
      else if (Array.isArray(s) && s.length === 2) size = { height: Number(s[0]), width: Number(s[1]) };
      else if (typeof s === 'number') size = { height: s, width: s };
    }
    if (/normali[sz]e/i.test(name) && Array.isArray(args.mean) && Array.isArray(args.std)) {
      const scale =
        typeof args.max_pixel_value === 'number' && args.max_pixel_value !== 255 ? args.max_pixel_value / 255 : 1;
      normalise = { mean: args.mean.map((v) => Number(v) * scale), std: args.std.map((v) => Number(v) * scale) };
    }
    Object.values(o).forEach(visit);
  };
  visit(metadata.transform);
  if (!normalise)
    notes.push('metadata.json names no Normalize: ImageNet mean and std assumed, as Anomalib 1.x uses by default');
  const chosen = normalise ?? IMAGENET;
  return { size, mean: chosen.mean.slice(0, 3), std: chosen.std.slice(0, 3) };
}

interface Normalisation {
  imageThreshold: number;
  /** null: the export has no min/max, Anomalib then leaves scores raw */
  score: { threshold: number; min: number; max: number } | null;
  map: { threshold: number; min: number; max: number } | null;
}

/** The statistics Anomalib's 1.x inferencer normalises with (`pred_scores.*`, `anomaly_maps.*`, or 0.x's shared `min` / `max`). */
function readNormalisation(metadata: Record<string, unknown>, notes: string[]): Normalisation {
  const num = (key: string): number | null =>
    typeof metadata[key] === 'number' && Number.isFinite(metadata[key]) ? (metadata[key] as number) : null;
  const imageThreshold = num('image_threshold');
  if (imageThreshold === null) throw new ImportError('metadata.json has no image_threshold');
  const pixelThreshold = num('pixel_threshold') ?? imageThreshold;
  const scoreMin = num('pred_scores.min') ?? num('min');
  const scoreMax = num('pred_scores.max') ?? num('max');
  const mapMin = num('anomaly_maps.min') ?? (num('pred_scores.min') === null ? num('min') : null);
  const mapMax = num('anomaly_maps.max') ?? (num('pred_scores.max') === null ? num('max') : null);
  if (scoreMin === null || scoreMax === null) {
    notes.push(
      'metadata.json has no min/max: scores stay raw, as Anomalib leaves them, and the thresholds are set around image_threshold',
    );
    return { imageThreshold, score: null, map: null };
  }
  if (!(scoreMax > scoreMin))
    throw new ImportError(`metadata.json: score max (${scoreMax}) must exceed min (${scoreMin})`);
  const map =
    mapMin !== null && mapMax !== null && mapMax > mapMin
      ? { threshold: pixelThreshold, min: mapMin, max: mapMax }
      : null;
  if (!map)
    notes.push('metadata.json has no anomaly map min/max: the map stays raw (Anomalib does not normalise it either)');
  return { imageThreshold, score: { threshold: imageThreshold, min: scoreMin, max: scoreMax }, map };
}

function rawBand(threshold: number, options: ImportOptions): { passBelow: number; rejectAbove: number } {
  const margin = 0.1 * Math.abs(threshold);
  return { passBelow: options.passBelow ?? threshold - margin, rejectAbove: options.rejectAbove ?? threshold + margin };
}

/**
 * Appends Anomalib 1.x's post-processing to the graph and answers the names of the new score and map
 * outputs. The map is the output of rank 3 or 4 (or one named like a map); the score the output
 * named like a score, else the map's maximum.
 */
function rewriteAnomalib1(graph: types.IGraphProto, n: Normalisation, notes: string[]): { score: string; map: string } {
  const outputs = graph.output ?? [];
  const scoreOut = outputs.find((o) => /score/i.test(o.name ?? ''));
  const mapOut = outputs.find((o) => o !== scoreOut && (/map|output/i.test(o.name ?? '') || shapeOf(o).length >= 3));
  if (!scoreOut && !mapOut)
    throw new ImportError(
      `cannot tell the score or the anomaly map among the outputs ${outputs.map((o) => o.name).join(', ')}`,
    );
  const nodes = graph.node as types.INodeProto[];
  const inits = graph.initializer as types.ITensorProto[];
  let rawScore: string;
  if (scoreOut) rawScore = scoreOut.name as string;
  else {
    notes.push(
      `the export has no score output: the score is the maximum of ${mapOut?.name}, as Anomalib's inferencer takes it`,
    );
    rawScore = 'loupe_raw_score';
    nodes.push(node('ReduceMax', [mapOut?.name as string], [rawScore], { keepdims: 0 }));
  }
  // clip((x − threshold) / (max − min) + 0.5, 0, 1), in Anomalib's order of operations
  const normalise = (x: string, s: { threshold: number; min: number; max: number }, prefix: string): string => {
    inits.push(
      floats(`${prefix}_threshold`, [], [s.threshold]),
      floats(`${prefix}_range`, [], [s.max - s.min]),
      floats(`${prefix}_half`, [], [0.5]),
      floats(`${prefix}_zero`, [], [0]),
      floats(`${prefix}_one`, [], [1]),
    );
    nodes.push(
      node('Sub', [x, `${prefix}_threshold`], [`${prefix}_centred`]),
      node('Div', [`${prefix}_centred`, `${prefix}_range`], [`${prefix}_scaled`]),
      node('Add', [`${prefix}_scaled`, `${prefix}_half`], [`${prefix}_shifted`]),
      node('Min', [`${prefix}_shifted`, `${prefix}_one`], [`${prefix}_capped`]),
      node('Max', [`${prefix}_capped`, `${prefix}_zero`], [`${prefix}_normalised`]),
    );
    return `${prefix}_normalised`;
  };
  const score = n.score ? normalise(rawScore, n.score, 'loupe_score') : rawScore;
  let map: string;
  if (mapOut) map = n.map ? normalise(mapOut.name as string, n.map, 'loupe_map') : (mapOut.name as string);
  else {
    notes.push('the export has no anomaly map (a classification model): the map is its score, one cell');
    map = 'loupe_map_cell';
    inits.push(
      onnx.TensorProto.create({
        name: 'loupe_map_shape',
        dims: [2],
        dataType: onnx.TensorProto.DataType.INT64,
        int64Data: [1, 1],
      }),
    );
    nodes.push(node('Reshape', [score, 'loupe_map_shape'], [map]));
  }
  const final = [
    { from: score, name: 'loupe_score' },
    { from: map, name: 'loupe_anomaly_map' },
  ];
  for (const f of final) nodes.push(node('Identity', [f.from], [f.name]));
  graph.output = final.map((f) =>
    onnx.ValueInfoProto.create({ name: f.name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }),
  );
  return { score: 'loupe_score', map: 'loupe_anomaly_map' };
}

function addMapFromScore(graph: types.IGraphProto, score: string, map: string): void {
  (graph.initializer as types.ITensorProto[]).push(
    onnx.TensorProto.create({
      name: `${map}_shape`,
      dims: [2],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: [1, 1],
    }),
  );
  (graph.node as types.INodeProto[]).push(node('Reshape', [score, `${map}_shape`], [map]));
  (graph.output as types.IValueInfoProto[]).push(
    onnx.ValueInfoProto.create({ name: map, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }),
  );
}

/** Ultralytics writes class names as a Python dict: `{0: 'good', 1: 'scratch'}`. */
export function classNames(text: string): string[] {
  const entries = [...text.matchAll(/(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g)].map(
    (m) => [Number(m[1]), m[2] ?? m[3]] as const,
  );
  if (entries.length < 2)
    throw new ImportError(
      `cannot read the class names from the model's metadata (${JSON.stringify(text.slice(0, 80))})`,
    );
  const names: string[] = [];
  for (const [i, name] of entries) names[i] = name;
  if (names.some((n) => n === undefined))
    throw new ImportError(`the class indices in the model's metadata have gaps (${JSON.stringify(text.slice(0, 80))})`);
  return names;
}

/** The output carrying class probabilities: a Softmax already in the graph, else one appended. */
function softmaxOutput(graph: types.IGraphProto, notes: string[]): string {
  const outputs = graph.output as types.IValueInfoProto[];
  if (outputs.length !== 1)
    throw new ImportError(
      `a classification export has one output, this one has ${outputs.map((o) => o.name).join(', ')}`,
    );
  const name = outputs[0].name as string;
  const producer = (graph.node ?? []).find((n) => (n.output ?? []).includes(name));
  if (producer?.opType === 'Softmax') return name;
  notes.push(`${name} is not produced by a Softmax: one is appended, so the score is a probability`);
  (graph.node as types.INodeProto[]).push(node('Softmax', [name], ['loupe_probabilities'], { axis: -1 }));
  graph.output = [
    onnx.ValueInfoProto.create({
      name: 'loupe_probabilities',
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
    }),
  ];
  return 'loupe_probabilities';
}
