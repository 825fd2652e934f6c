/**
 * Defect kinds unlike the synthetic painter's (lab/synth.ts): a faint 1.5-pixel scratch, a dark dent,
 * a flat grey patch (missing texture), a rust stain and a smeared (blurred) square. They are subtler
 * than bright paint, so `loupe fit --method auto` probes with them too, and
 * scripts/textures-other-defects.ts builds a test set with them that our own probes' kinds do not
 * decide. Drawn on a 256×256 canvas, scaled to the image.
 */
import sharp from 'sharp';

export interface OtherMark {
  svg?: string;
  blur?: { left: number; top: number; size: number };
  mask: string;
}

type Painter = (r: () => number) => OtherMark;

const at = (r: () => number, span: number) => 40 + r() * span;

export const OTHER_PAINTERS: Record<string, Painter> = {
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

export const OTHER_DEFECTS = Object.keys(OTHER_PAINTERS);

/** An SVG of the 256×256 drawing canvas, scaled to width × height. */
export const canvas = (body: string, background: string | null, width = 256, height = 256) =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 256 256">${background ? `<rect width="256" height="256" fill="${background}"/>` : ''}${body}</svg>`,
  );

/** `image` with the mark drawn on (a PNG); the blur's square is in canvas units, scaled to the image. */
export async function paintOther(image: Buffer, mark: OtherMark): Promise<Buffer> {
  const { width = 256, height = 256 } = await sharp(image).metadata();
  if (mark.blur) {
    const sx = width / 256;
    const sy = height / 256;
    const left = Math.round(mark.blur.left * sx);
    const top = Math.round(mark.blur.top * sy);
    const size = Math.max(1, Math.round(mark.blur.size * Math.min(sx, sy)));
    const smeared = await sharp(image).extract({ left, top, width: size, height: size }).blur(3).png().toBuffer();
    return sharp(image)
      .composite([{ input: smeared, left, top }])
      .png()
      .toBuffer();
  }
  return sharp(image)
    .composite([{ input: canvas(mark.svg ?? '', null, width, height) }])
    .png()
    .toBuffer();
}
