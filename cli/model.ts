/**
 * `loupe model` — models made elsewhere, and the known-good check of any model folder:
 * `import` turns an Anomalib or YOLO export into a Loupe model folder, `check` scores a folder's
 * reference images again, `references` records them.
 */
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { importModel, ImportError } from '../lab/import.ts';
import { loadModel } from '../edge/src/vision/model.ts';
import { ModelLoadError } from '../edge/src/vision/manifest.ts';
import { checkKnownGood, recordReferences, REFERENCES_FILE } from '../edge/src/vision/known-good.ts';

const USAGE = [
  'Usage: loupe model import DIR [--out models/NAME] [--id ID] [--version V] [--ok-class NAME] [--size N]',
  '                              [--pass-below X] [--reject-above X] [--references FOLDER]',
  '       loupe model references MODEL_DIR FILE...   (files relative to MODEL_DIR)',
  '       loupe model check MODEL_DIR',
  '',
  'import: DIR is an export folder as Anomalib writes it (2.x ONNX; 1.x ONNX with metadata.json) or a YOLO',
  '  classification export (--ok-class names the class of good parts). Writes model.onnx + manifest.json.',
  '  --references FOLDER: copies its images into the model folder (references/), scores them with the imported',
  `  model and records them in ${REFERENCES_FILE}: the known-good check a station runs before it goes online.`,
  'references: scores the given images with the model as it is now and records them as its known-good set.',
  `check: scores the reference images again; exit 1 when one moved more than the tolerance.`,
].join('\n');

export default async function modelCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'import') return await importCommand(rest);
    if (sub === 'references') return await referencesCommand(rest);
    if (sub === 'check') return await checkCommand(rest);
  } catch (error) {
    if (error instanceof ImportError || error instanceof ModelLoadError) {
      console.error(`loupe model ${sub}: ${error.message}`);
      return 1;
    }
    throw error;
  }
  console.log(USAGE);
  return sub === '--help' || sub === '-h' ? 0 : 2;
}

async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      id: { type: 'string' },
      version: { type: 'string' },
      'ok-class': { type: 'string' },
      size: { type: 'string' },
      'pass-below': { type: 'string' },
      'reject-above': { type: 'string' },
      references: { type: 'string' },
    },
  });
  const source = positionals[0];
  if (!source) {
    console.log(USAGE);
    return 2;
  }
  const number = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) throw new ImportError(`--${name}: got ${JSON.stringify(value)}; allowed: a number`);
    return n;
  };
  const out = values.out ?? path.join('models', path.basename(path.resolve(source)).replace(/\.onnx$/, ''));
  const imported = await importModel({
    source,
    out,
    id: values.id,
    version: values.version,
    okClass: values['ok-class'],
    size: number('size', values.size),
    passBelow: number('pass-below', values['pass-below']),
    rejectAbove: number('reject-above', values['reject-above']),
  });
  // Loaded once as a station would load it: a graph onnxruntime refuses fails here, not at the line.
  const model = await loadModel(out, { threads: 1 });
  try {
    console.log(
      `imported ${imported.kind} export as ${imported.manifest.id} v${imported.manifest.version} into ${out}`,
    );
    for (const note of imported.notes) console.log(`  note: ${note}`);
    console.log(
      `  thresholds: passBelow ${imported.manifest.thresholds.passBelow}, rejectAbove ${imported.manifest.thresholds.rejectAbove}`,
    );
    if (values.references) {
      const files = await copyImages(values.references, out);
      const references = await recordReferences(out, model, files);
      console.log(`  known-good: ${references.images.length} reference images recorded in ${REFERENCES_FILE}`);
    }
  } finally {
    await model.close();
  }
  return 0;
}

async function referencesCommand(argv: string[]): Promise<number> {
  const [dir, ...files] = argv;
  if (!dir || files.length === 0) {
    console.log(USAGE);
    return 2;
  }
  const model = await loadModel(dir, { threads: 1 });
  try {
    const references = await recordReferences(dir, model, files);
    for (const r of references.images) console.log(`${r.file}\t${r.score}`);
  } finally {
    await model.close();
  }
  return 0;
}

async function checkCommand(argv: string[]): Promise<number> {
  const [dir] = argv;
  if (!dir) {
    console.log(USAGE);
    return 2;
  }
  const model = await loadModel(dir, { threads: 1 });
  try {
    const checked = await checkKnownGood(dir, model);
    if (checked.length === 0) console.log(`${dir}: no ${REFERENCES_FILE}; nothing to check`);
    for (const c of checked) console.log(`${c.file}\texpected ${c.expected}\tgot ${c.got}\toff by ${c.difference}`);
  } finally {
    await model.close();
  }
  return 0;
}

/** Copies the images of `folder` into MODEL_DIR/references/; answers their paths relative to MODEL_DIR. */
async function copyImages(folder: string, modelDir: string): Promise<string[]> {
  const names = (await readdir(folder)).filter((n) => /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(n)).sort();
  if (names.length === 0) throw new ImportError(`${folder} holds no images`);
  await mkdir(path.join(modelDir, 'references'), { recursive: true });
  for (const n of names) await copyFile(path.join(folder, n), path.join(modelDir, 'references', n));
  return names.map((n) => path.join('references', n));
}
