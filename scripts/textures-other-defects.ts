/**
 * A second photograph set, built unlike scripts/textures.ts so that it checks generalisation rather
 * than agreement with our own painter: training crops from the left of each photo and test crops
 * from its right, and defect kinds neither the probes of `loupe fit` nor the synthetic parts use —
 * a faint 1.5-pixel scratch, a dark dent, a flat grey patch (missing texture), a rust stain and a
 * smeared (blurred) square. Masks in the MVTec layout.
 *
 *   npx tsx scripts/textures-other-defects.ts --skimage DIR --out DIR [--seed S]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { rng } from '../lab/synth.ts';
import { TEXTURES } from './textures.ts';

const SIZE = 256;
const TRAIN = 80;
const TEST = 25;
const PER_DEFECT = 20;

type Painter = (r: () => number) => { svg?: string; blur?: { left: number; top: number; size: number }; mask: string };

const at = (r: () => number, span: number) => 40 + r() * span;

const PAINTERS: Record<string, Painter> = {
  faint_scratch: (r) => {
    const [x, y, a, l] = [at(r, 176), at(r, 176), r() * Math.PI, 30 + r() * 40];
    const line = `x1="${x}" y1="${y}" x2="${x + Math.cos(a) * l}" y2="${y + Math.sin(a) * l}"`;
    return {
      svg: `<line ${line} stroke="#fff" stroke-opacity="0.45" stroke-width="1.5"/>`,
      mask: `<line ${line} stroke="#fff" stroke-width="3"/>`,
    };
  },
  dark_dent: (r) => {
    const e = `cx="${at(r, 176)}" cy="${at(r, 176)}" rx="${6 + r() * 10}" ry="${4 + r() * 8}"`;
    return { svg: `<ellipse ${e} fill="#000" fill-opacity="0.45"/>`, mask: `<ellipse ${e} fill="#fff"/>` };
  },
  flat_patch: (r) => {
    const e = `x="${at(r, 150)}" y="${at(r, 150)}" width="${14 + r() * 20}" height="${14 + r() * 20}"`;
    return { svg: `<rect ${e} fill="#808080" fill-opacity="0.8"/>`, mask: `<rect ${e} fill="#fff"/>` };
  },
  stain: (r) => {
    const e = `cx="${at(r, 176)}" cy="${at(r, 176)}" r="${8 + r() * 12}"`;
    return { svg: `<circle ${e} fill="#a05020" fill-opacity="0.35"/>`, mask: `<circle ${e} fill="#fff"/>` };
  },
  blur: (r) => {
    const [left, top, size] = [Math.round(at(r, 150)), Math.round(at(r, 150)), Math.round(24 + r() * 24)];
    return {
      blur: { left, top, size },
      mask: `<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="#fff"/>`,
    };
  },
};

const svg = (body: string, background: string | null) =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">${background ? `<rect width="${SIZE}" height="${SIZE}" fill="${background}"/>` : ''}${body}</svg>`,
  );

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
    for (const [defect, paint] of Object.entries(PAINTERS)) {
      for (let i = 0; i < PER_DEFECT; i++) {
        const base = await crop('right');
        const mark = paint(r);
        let image: Buffer;
        if (mark.blur) {
          const { left, top, size } = mark.blur;
          const smeared = await sharp(base).extract({ left, top, width: size, height: size }).blur(3).png().toBuffer();
          image = await sharp(base)
            .composite([{ input: smeared, left, top }])
            .png()
            .toBuffer();
        } else {
          image = await sharp(base)
            .composite([{ input: svg(mark.svg ?? '', null) }])
            .png()
            .toBuffer();
        }
        await save(`test/${defect}`, `${i}.png`, image);
        await save(
          `ground_truth/${defect}`,
          `${i}_mask.png`,
          await sharp(svg(mark.mask, '#000')).greyscale().threshold(128).png().toBuffer(),
        );
      }
    }
    console.log(`${texture}: ${TRAIN} train, ${TEST + PER_DEFECT * Object.keys(PAINTERS).length} test parts`);
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
