/**
 * A model's manifest: everything the serving code needs to know about a model travels with it —
 * input size and normalisation, which outputs carry the score and the map, the thresholds proposed
 * when it was fitted, and what it was fitted on. The serving code has no model-specific constants.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { QualityRangesSchema } from './quality.ts';

const Input = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'name of the ONNX input' }),
    width: Type.Integer({ minimum: 8, maximum: 4096 }),
    height: Type.Integer({ minimum: 8, maximum: 4096 }),
    channels: Type.Union([Type.Literal(1), Type.Literal(3)]),
    mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3, description: 'per channel, on the 0..1 scale' }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3 }),
    resize: Type.Union([Type.Literal('fill'), Type.Literal('cover'), Type.Literal('contain')], {
      description: 'how frames of another size are brought to width × height',
    }),
    format: Type.Optional(
      Type.Union([Type.Literal('float32-nchw'), Type.Literal('uint8-nhwc')], {
        description:
          'float32-nchw (default): normalised planar floats, as exported models expect; uint8-nhwc: the decoded bytes as they are, the graph converts and normalises them itself (no copy in JavaScript)',
      }),
    ),
  },
  { additionalProperties: false },
);

const Thresholds = Type.Object(
  { passBelow: Type.Number(), rejectAbove: Type.Number() },
  { additionalProperties: false },
);

export const ManifestSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    version: Type.String({ minLength: 1 }),
    kind: Type.Union([Type.Literal('loupe-padim'), Type.Literal('anomalib'), Type.Literal('classifier')], {
      description:
        'loupe-padim and anomalib: outputs an image score and an anomaly map; classifier: softmax over classes, one of them "ok"',
    }),
    input: Input,
    outputs: Type.Object(
      {
        score: Type.Optional(Type.String({ minLength: 1 })),
        map: Type.Optional(Type.String({ minLength: 1 })),
        probabilities: Type.Optional(Type.String({ minLength: 1 })),
        classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 2 })),
      },
      { additionalProperties: false },
    ),
    thresholds: Thresholds,
    fittedOn: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    lineage: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    quality: Type.Optional(QualityRangesSchema),
    createdBy: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;

const validate = new Ajv({ allErrors: true, strict: false }).compile<Manifest>(ManifestSchema);

export class ModelLoadError extends Error {
  constructor(dir: string, problem: string) {
    super(`model ${dir}: ${problem}`);
    this.name = 'ModelLoadError';
  }
}

export async function loadManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelLoadError(dir, 'manifest.json is missing (a model folder holds model.onnx and manifest.json)');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(dir, `manifest.json is not valid JSON: ${(error as Error).message}`);
  }
  return checkManifest(data, dir);
}

export function checkManifest(data: unknown, dir = '<manifest>'): Manifest {
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => {
      const key = e.instancePath.slice(1).replace(/\//g, '.') || '(top)';
      const extra =
        e.keyword === 'additionalProperties'
          ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"`
          : '';
      return `manifest.json: ${key} ${e.message}${extra}`;
    });
    throw new ModelLoadError(dir, problems.join('; '));
  }
  const m = data;
  const problems: string[] = [];
  if (m.input.mean.length !== m.input.channels || m.input.std.length !== m.input.channels) {
    problems.push(
      `input.mean and input.std need one value per channel (${m.input.channels}), got ${m.input.mean.length} and ${m.input.std.length}`,
    );
  }
  if (m.kind === 'classifier') {
    if (!m.outputs.probabilities || !m.outputs.classes)
      problems.push('a classifier needs outputs.probabilities and outputs.classes');
    else if (!m.outputs.classes.includes('ok'))
      problems.push(`outputs.classes must include "ok", got ${m.outputs.classes.join(', ')}`);
  } else if (!m.outputs.score || !m.outputs.map) {
    problems.push(`a ${m.kind} model needs outputs.score and outputs.map`);
  }
  if (!(m.thresholds.passBelow <= m.thresholds.rejectAbove))
    problems.push(
      `thresholds.passBelow (${m.thresholds.passBelow}) must not exceed thresholds.rejectAbove (${m.thresholds.rejectAbove})`,
    );
  if (problems.length > 0) throw new ModelLoadError(dir, problems.map((p) => `manifest.json: ${p}`).join('; '));
  return m;
}
