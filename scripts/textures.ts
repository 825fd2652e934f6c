/**
 * Real photographs as a dataset: the brick, grass and gravel textures that Debian's python3-skimage
 * ships, cut into 256×256 parts (random crops and mirror images) with the synthetic defect kinds
 * painted on, in the MVTec AD layout. A photo is only 512×512, so two regions apart would each give
 * a handful of distinct 256×256 crops: train and test crops are drawn independently from the whole
 * photo (positions and mirroring differ), as a camera sees the same kind of surface again.
 *
 *   npx tsx scripts/textures.ts --skimage DIR --out DIR [--seed S] [--count N] [--apart] [--grey]
 *
 * --grey: the painted parts are turned grey like the photographs, so that a defect cannot be found
 * by its colour alone (the harder check).
 * Each texture's `visibility.json` gives every painted mark's contrast-to-noise ratio (lab/visibility.ts).
 * --min-cnr X: a mark below that ratio is painted again (another place, shape and severity, up to
 * 20 tries), so that every mark is one a person can see; this draws the random stream differently,
 * so the set is not the default one: name it apart.
 *
 * DIR is skimage's data folder; get it without installing Python with
 *   apt-get download python3-skimage && dpkg -x python3-skimage_*.deb /tmp/skimage
 *   → /tmp/skimage/usr/lib/python3/dist-packages/skimage/data
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { paintOnto, rng } from '../lab/synth.ts';
import { markVisibility, type Visibility } from '../lab/visibility.ts';

export const TEXTURES = ['brick', 'grass', 'gravel'] as const;
const DEFECTS = ['scratch', 'spot', 'crack', 'contamination'];
const SIZE = 256;

export async function writeTextureDataset(options: {
  skimage: string;
  out: string;
  seed: number;
  count: number;
  apart?: boolean;
  grey?: boolean;
  /** repaint marks below this contrast-to-noise ratio (changes the set: not the default) */
  minCnr?: number;
  only?: (typeof TEXTURES)[number][];
}): Promise<void> {
  for (const texture of options.only ?? TEXTURES) {
    const photo = path.join(options.skimage, `${texture}.png`);
    const meta = await sharp(photo).metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (width < SIZE || height < SIZE)
      throw new Error(`${photo}: ${width}×${height} is too small to cut 256×256 parts from`);
    const random = rng(options.seed * 31 + texture.length);
    // --apart: training crops from the top rows, test crops from the bottom rows (on a 512-pixel
    // photo they still share a quarter of their rows: a harder check, not a clean split).
    const crop = async (use: 'train' | 'test' = 'train'): Promise<Buffer> => {
      const left = Math.floor(random() * (width - SIZE + 1));
      const span = height - SIZE;
      const top = !options.apart
        ? Math.floor(random() * (span + 1))
        : use === 'train'
          ? Math.floor(random() * (span / 4 + 1))
          : span - Math.floor(random() * (span / 4 + 1));
      let part = sharp(photo).extract({ left, top, width: SIZE, height: SIZE });
      if (random() < 0.5) part = part.flop();
      return part.toColourspace('srgb').png().toBuffer();
    };
    const root = path.join(options.out, texture);
    const save = async (folder: string, name: string, data: Buffer) => {
      await mkdir(path.join(root, folder), { recursive: true });
      await writeFile(path.join(root, folder, name), data);
    };
    const pad = (n: number) => String(n).padStart(3, '0');
    for (let i = 0; i < options.count; i++) await save('train/good', `${pad(i)}.png`, await crop());
    const testCount = Math.max(4, Math.round(options.count / 4));
    for (let i = 0; i < testCount; i++) await save('test/good', `${pad(i)}.png`, await crop('test'));
    const visibility: Record<string, Visibility> = {};
    for (const defect of DEFECTS) {
      for (let i = 0; i < testCount; i++) {
        const clean = await crop('test');
        let image: Buffer;
        let mask: Buffer;
        let seen: Visibility;
        let tries = 0;
        do {
          const painted = await paintOnto(clean, defect, random);
          image = options.grey ? await sharp(painted.image).greyscale().png().toBuffer() : painted.image;
          mask = painted.mask;
          seen = await markVisibility(clean, image, mask);
        } while (options.minCnr !== undefined && seen.cnr < options.minCnr && ++tries < 20);
        visibility[`${defect}/${pad(i)}.png`] = seen;
        await save(`test/${defect}`, `${pad(i)}.png`, image);
        await save(`ground_truth/${defect}`, `${pad(i)}_mask.png`, mask);
      }
    }
    await writeFile(path.join(root, 'visibility.json'), JSON.stringify(visibility, null, 1));
    console.log(`${texture}: ${options.count} train, ${testCount * (1 + DEFECTS.length)} test parts`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      skimage: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '100' },
      apart: { type: 'boolean' },
      grey: { type: 'boolean' },
      'min-cnr': { type: 'string' },
    },
  });
  if (!values.skimage || !values.out) {
    console.error(
      'usage: npx tsx scripts/textures.ts --skimage DIR --out DIR [--seed S] [--count N] [--apart] [--grey] [--min-cnr X]',
    );
    process.exit(2);
  }
  await writeTextureDataset({
    skimage: values.skimage,
    out: values.out,
    seed: Number(values.seed),
    count: Number(values.count),
    apart: values.apart,
    grey: values.grey,
    minCnr: values['min-cnr'] === undefined ? undefined : Number(values['min-cnr']),
  });
}
