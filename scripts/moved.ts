/**
 * A held-out check of robustness to the part moving: synthetic brackets fitted as they sit in the
 * fixture, tested shifted by up to 10% of the frame, rotated by up to ±10° and lit 25% darker or
 * brighter, good and defective alike (masks move with the part). MVTec AD layout.
 *
 *   npx tsx scripts/moved.ts --out DIR [--seed S] [--count N]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CATEGORIES, generatePart } from '../lab/synth.ts';

export const MOVED = { shift: 0.1, degrees: 10, gain: [0.75, 1.25] as [number, number] };

export async function writeMovedDataset(options: { out: string; seed: number; count: number }): Promise<void> {
  const root = path.join(options.out, 'bracket-moved');
  const save = async (folder: string, name: string, data: Buffer) => {
    await mkdir(path.join(root, folder), { recursive: true });
    await writeFile(path.join(root, folder, name), data);
  };
  const pad = (n: number) => String(n).padStart(3, '0');
  let index = 0;
  for (let i = 0; i < options.count; i++)
    await save(
      'train/good',
      `${pad(i)}.png`,
      (await generatePart({ category: 'bracket', seed: options.seed, index: index++, defect: null })).image,
    );
  const testCount = Math.max(4, Math.round(options.count / 4));
  for (let i = 0; i < testCount; i++)
    await save(
      'test/good',
      `${pad(i)}.png`,
      (await generatePart({ category: 'bracket', seed: options.seed, index: index++, defect: null, moved: MOVED }))
        .image,
    );
  for (const defect of CATEGORIES.bracket) {
    for (let i = 0; i < testCount; i++) {
      const part = await generatePart({
        category: 'bracket',
        seed: options.seed,
        index: index++,
        defect,
        moved: MOVED,
      });
      await save(`test/${defect}`, `${pad(i)}.png`, part.image);
      await save(`ground_truth/${defect}`, `${pad(i)}_mask.png`, part.mask as Buffer);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '200' },
    },
  });
  if (!values.out) {
    console.error('usage: npx tsx scripts/moved.ts --out DIR [--seed S] [--count N]');
    process.exit(2);
  }
  await writeMovedDataset({ out: values.out, seed: Number(values.seed), count: Number(values.count) });
}
