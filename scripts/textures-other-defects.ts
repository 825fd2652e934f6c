/**
 * A second photograph set, built unlike scripts/textures.ts so that it checks generalisation rather
 * than agreement with our own painter: training crops from the left of each photo and test crops
 * from its right, and defect kinds neither the probes of `loupe fit` nor the synthetic parts use —
 * a faint 1.5-pixel scratch, a dark dent, a flat grey patch (missing texture), a rust stain and a
 * smeared (blurred) square (lab/other-defects.ts). Masks in the MVTec layout; each texture's
 * `visibility.json` gives every mark's contrast-to-noise ratio (lab/visibility.ts).
 *
 *   npx tsx scripts/textures-other-defects.ts --skimage DIR --out DIR [--seed S]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { rng } from '../lab/synth.ts';
import { canvas, OTHER_PAINTERS, paintOther } from '../lab/other-defects.ts';
import { markVisibility, type Visibility } from '../lab/visibility.ts';
import { TEXTURES } from './textures.ts';

const SIZE = 256;
const TRAIN = 80;
const TEST = 25;
const PER_DEFECT = 20;

export async function writeOtherDefectsDataset(options: { skimage: string; out: string; seed: number }): Promise<void> {
  for (const texture of TEXTURES) {
    const photo = path.join(options.skimage, `${texture}.png`);
    const { width = 0, height = 0 } = await sharp(photo).metadata();
    if (width < 2 * SIZE || height < SIZE)
      throw new Error(`${photo}: ${width}×${height} is too small for left and right crops`);
    const r = rng(options.seed * 101 + texture.length);
    const crop = (side: 'left' | 'right') => {
      const left = side === 'left' ? Math.floor(r() * (width - 2 * SIZE + 129)) : width - SIZE - Math.floor(r() * 65);
      const top = Math.floor(r() * (height - SIZE + 1));
      return sharp(photo).extract({ left, top, width: SIZE, height: SIZE }).toColourspace('srgb').png().toBuffer();
    };
    const root = path.join(options.out, texture);
    const save = async (folder: string, name: string, data: Buffer) => {
      await mkdir(path.join(root, folder), { recursive: true });
      await writeFile(path.join(root, folder, name), data);
    };
    for (let i = 0; i < TRAIN; i++) await save('train/good', `${i}.png`, await crop('left'));
    for (let i = 0; i < TEST; i++) await save('test/good', `${i}.png`, await crop('right'));
    const visibility: Record<string, Visibility> = {};
    for (const [defect, paint] of Object.entries(OTHER_PAINTERS)) {
      for (let i = 0; i < PER_DEFECT; i++) {
        const base = await crop('right');
        const mark = paint(r);
        const image = await paintOther(base, mark);
        const mask = await sharp(canvas(mark.mask, '#000')).greyscale().threshold(128).png().toBuffer();
        visibility[`${defect}/${i}.png`] = await markVisibility(base, image, mask);
        await save(`test/${defect}`, `${i}.png`, image);
        await save(`ground_truth/${defect}`, `${i}_mask.png`, mask);
      }
    }
    await writeFile(path.join(root, 'visibility.json'), JSON.stringify(visibility, null, 1));
    console.log(`${texture}: ${TRAIN} train, ${TEST + PER_DEFECT * Object.keys(OTHER_PAINTERS).length} test parts`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: { skimage: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string', default: '5' } },
  });
  if (!values.skimage || !values.out) {
    console.error('usage: npx tsx scripts/textures-other-defects.ts --skimage DIR --out DIR [--seed S]');
    process.exit(2);
  }
  await writeOtherDefectsDataset({ skimage: values.skimage, out: values.out, seed: Number(values.seed) });
}
