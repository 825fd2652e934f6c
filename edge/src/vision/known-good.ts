/**
 * The known-good check: a model folder may carry a few reference images with the scores the model
 * gave them when it was made (`references.json`). Before a station goes online with the model, each
 * image is scored again through the same path as a part; a model that no longer reproduces them (a
 * changed onnxruntime or sharp, a corrupted or swapped file, a manifest edited by hand) is refused,
 * with the image and the difference named, instead of scoring parts wrongly without anyone noticing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { ModelLoadError } from './manifest.ts';

export const REFERENCES_FILE = 'references.json';

/** How far a score may move before the model counts as changed, unless the file says otherwise. */
export const DEFAULT_TOLERANCE = 1e-4;

export const ReferencesSchema = Type.Object(
  {
    tolerance: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'largest allowed difference, absolute for scores up to 1, relative above',
      }),
    ),
    images: Type.Array(
      Type.Object(
        {
          file: Type.String({ minLength: 1, description: 'image file, relative to the model folder' }),
          score: Type.Number({ description: 'the score the model must give it' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    recordedBy: Type.Optional(Type.String()),
    recordedAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type References = Static<typeof ReferencesSchema>;

const validate = new Ajv({ allErrors: true, strict: false }).compile<References>(ReferencesSchema);

/** What the check needs: the station's own inspector (a pool or a loaded model). */
export interface Scorer {
  inspect(image: Buffer): Promise<{ score: number }>;
}

export interface Checked {
  file: string;
  expected: number;
  /** null: the image could not be scored */
  got: number | null;
  difference: number | null;
  problem?: string;
}

export class KnownGoodError extends ModelLoadError {
  constructor(
    dir: string,
    readonly failed: Checked[],
    tolerance: number,
  ) {
    const figure = (x: number) => String(Number(x.toPrecision(6)));
    const say = (c: Checked) =>
      c.got === null
        ? `${c.file}: ${c.problem}`
        : `${c.file} scores ${figure(c.got)}, expected ${figure(c.expected)} (off by ${figure(c.difference as number)}, tolerance ${tolerance})`;
    super(dir, `does not reproduce its reference scores: ${failed.map(say).join('; ')}`);
    this.name = 'KnownGoodError';
  }
}

/** The folder's references, or null when it has none; a malformed file throws. */
export async function readReferences(dir: string): Promise<References | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, REFERENCES_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ModelLoadError(dir, `${REFERENCES_FILE} cannot be read: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(dir, `${REFERENCES_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map(
      (e) => `${e.instancePath.slice(1).replace(/\//g, '.') || '(top)'} ${e.message}`,
    );
    throw new ModelLoadError(dir, `${REFERENCES_FILE}: ${problems.join('; ')}`);
  }
  return data;
}

function within(got: number, expected: number, tolerance: number): boolean {
  return Math.abs(got - expected) <= tolerance * Math.max(1, Math.abs(expected));
}

/**
 * Scores every reference image of `dir` with `scorer`. Answers what was checked (empty without
 * references); throws KnownGoodError naming each image that scored otherwise or could not be scored.
 */
export async function checkKnownGood(dir: string, scorer: Scorer): Promise<Checked[]> {
  const references = await readReferences(dir);
  if (!references) return [];
  const tolerance = references.tolerance ?? DEFAULT_TOLERANCE;
  const checked: Checked[] = [];
  for (const { file, score: expected } of references.images) {
    let image: Buffer;
    try {
      image = await readFile(path.resolve(dir, file));
    } catch (error) {
      checked.push({
        file,
        expected,
        got: null,
        difference: null,
        problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      });
      continue;
    }
    try {
      const { score } = await scorer.inspect(image);
      checked.push({ file, expected, got: score, difference: Math.abs(score - expected) });
    } catch (error) {
      checked.push({
        file,
        expected,
        got: null,
        difference: null,
        problem: `cannot be scored: ${(error as Error).message}`,
      });
    }
  }
  const failed = checked.filter((c) => c.got === null || !within(c.got, c.expected, tolerance));
  if (failed.length > 0) throw new KnownGoodError(dir, failed, tolerance);
  return checked;
}

/** Scores `files` (paths relative to `dir`) with `scorer` and writes them as the folder's references. */
export async function recordReferences(
  dir: string,
  scorer: Scorer,
  files: string[],
  tolerance?: number,
): Promise<References> {
  const images: References['images'] = [];
  for (const file of files) {
    const { score } = await scorer.inspect(await readFile(path.resolve(dir, file)));
    images.push({ file, score });
  }
  const references: References = {
    ...(tolerance === undefined ? {} : { tolerance }),
    images,
    recordedBy: 'loupe model',
    recordedAt: new Date().toISOString(),
  };
  await writeFile(path.join(dir, REFERENCES_FILE), JSON.stringify(references, null, 2) + '\n');
  return references;
}
