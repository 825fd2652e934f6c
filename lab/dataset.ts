/**
 * Datasets in the MVTec AD layout, the convention of the field, so real datasets plug in:
 *   CATEGORY/train/good/*.png, CATEGORY/test/good/*.png, CATEGORY/test/<defect>/NNN.png,
 *   CATEGORY/ground_truth/<defect>/NNN_mask.png
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CATEGORIES, generatePart, type Category } from './synth.ts';

const IMAGE = /\.(png|jpe?g|bmp|tiff?)$/i;

export interface Sample {
  file: string;
  defect: string | null;
  mask: string | null;
}

export async function listImages(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => IMAGE.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

export async function trainImages(categoryDir: string): Promise<string[]> {
  const files = await listImages(path.join(categoryDir, 'train', 'good'));
  if (files.length === 0)
    throw new Error(`${categoryDir}: no images in train/good (expected the MVTec AD layout CATEGORY/train/good/*.png)`);
  return files;
}

export async function testSamples(categoryDir: string): Promise<Sample[]> {
  const testDir = path.join(categoryDir, 'test');
  const kinds = (await readdir(testDir, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  if (kinds.length === 0) {
    const flat = (await listImages(categoryDir).catch(() => [])).length;
    throw new DatasetLayoutError(
      `${categoryDir}: no test/<kind> folders${flat > 0 ? ` (it holds ${flat} images directly)` : ''}. loupe eval expects the MVTec AD layout: ` +
        'CATEGORY/test/good/*.png (good parts), CATEGORY/test/<defect>/*.png (one folder per defect kind), and optionally ' +
        'CATEGORY/ground_truth/<defect>/<name>_mask.png for the pixel score. `loupe synth --out DIR` writes an example.',
    );
  }
  const samples: Sample[] = [];
  for (const kind of kinds) {
    for (const file of await listImages(path.join(testDir, kind))) {
      const defect = kind === 'good' ? null : kind;
      const maskFile = defect
        ? path.join(categoryDir, 'ground_truth', kind, `${path.basename(file).replace(IMAGE, '')}_mask.png`)
        : null;
      const mask = maskFile && existsSync(maskFile) ? maskFile : null; // a dataset without masks: image scores only
      samples.push({ file, defect, mask });
    }
  }
  return samples;
}

/** A dataset folder not laid out as loupe expects; its message says what the layout is. */
export class DatasetLayoutError extends Error {}

export async function readImage(file: string): Promise<Buffer> {
  return readFile(file);
}

export interface SynthOptions {
  out: string;
  seed: number;
  /** good training parts per category; the test set has a quarter as many good parts and as many per defect */
  count: number;
  categories?: Category[];
}

/** Writes a synthetic dataset; the same seed writes the same files. */
export async function writeSyntheticDataset(
  options: SynthOptions,
): Promise<{ category: string; train: number; test: number }[]> {
  const summary = [];
  for (const category of options.categories ?? (Object.keys(CATEGORIES) as Category[])) {
    const root = path.join(options.out, category);
    const testCount = Math.max(2, Math.round(options.count / 4));
    let index = 0;
    const write = async (folder: string, name: string, buffer: Buffer) => {
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, name), buffer);
    };
    for (let i = 0; i < options.count; i++) {
      const part = await generatePart({ category, seed: options.seed, index: index++, defect: null });
      await write(path.join(root, 'train', 'good'), `${pad(i)}.png`, part.image);
    }
    for (let i = 0; i < testCount; i++) {
      const part = await generatePart({ category, seed: options.seed, index: index++, defect: null });
      await write(path.join(root, 'test', 'good'), `${pad(i)}.png`, part.image);
    }
    for (const defect of CATEGORIES[category]) {
      for (let i = 0; i < testCount; i++) {
        const part = await generatePart({ category, seed: options.seed, index: index++, defect });
        await write(path.join(root, 'test', defect), `${pad(i)}.png`, part.image);
        await write(path.join(root, 'ground_truth', defect), `${pad(i)}_mask.png`, part.mask as Buffer);
      }
    }
    summary.push({ category, train: options.count, test: testCount * (1 + CATEGORIES[category].length) });
  }
  return summary;
}

const pad = (n: number) => String(n).padStart(3, '0');
