/**
 * Synthetic parts: a machined bracket (an aligned object) and a brushed-metal texture, with the
 * nuisance variation a real line has — lighting, small shift and rotation, sensor noise — and
 * painted defects with pixel masks. Deterministic for (category, seed, index). Parts are drawn as
 * SVG and rendered by sharp (librsvg), so the geometry reads as code.
 */
import sharp from 'sharp';

export const CATEGORIES = {
  bracket: ['scratch', 'spot', 'crack', 'missing', 'contamination'],
  brushed: ['scratch', 'spot', 'crack', 'contamination'],
} as const satisfies Record<string, readonly string[]>;

export type Category = keyof typeof CATEGORIES;

export interface PartOptions {
  category: string;
  seed: number;
  index: number;
  /** a defect name, `null` for a good part, or undefined to pick one of the category's defects */
  defect?: string | null;
  width?: number;
  height?: number;
  /** a part that moved and a light that changed beyond the fixture's usual play: shift up to this share of the frame, rotation up to ± these degrees, brightness gain in this range */
  moved?: { shift: number; degrees: number; gain: [number, number] };
}

export interface Part {
  /** PNG, 8-bit RGB */
  image: Buffer;
  /** PNG, 8-bit grey, white where the defect is; null for a good part */
  mask: Buffer | null;
  defect: string | null;
}

export function isCategory(name: string): name is Category {
  return Object.hasOwn(CATEGORIES, name);
}

export async function generatePart(options: PartOptions): Promise<Part> {
  const { category, seed, index } = options;
  if (!isCategory(category))
    throw new Error(`unknown synthetic category "${category}"; categories: ${Object.keys(CATEGORIES).join(', ')}`);
  const width = options.width ?? 256;
  const height = options.height ?? 256;
  const random = rng(seed * 7919 + index * 104_729 + category.length);
  const defects: readonly string[] = CATEGORIES[category];
  const defect = options.defect === undefined ? defects[Math.floor(random() * defects.length)] : options.defect;
  if (defect !== null && !defects.includes(defect))
    throw new Error(`category ${category} has no defect "${defect}"; defects: ${defects.join(', ')}`);

  // Nuisance: the part sits a little differently and the light changes from shot to shot.
  let dx = (random() - 0.5) * 6;
  let dy = (random() - 0.5) * 6;
  let angle = (random() - 0.5) * 3;
  let gain = 0.9 + random() * 0.2;
  if (options.moved) {
    // drawn from a generator of its own, so the rest of the part (its defect, its noise) stays as without
    const move = rng(seed * 131 + index * 7 + 1);
    const {
      shift,
      degrees,
      gain: [low, high],
    } = options.moved;
    dx = (move() * 2 - 1) * shift * 256;
    dy = (move() * 2 - 1) * shift * 256;
    angle = (move() * 2 - 1) * degrees;
    gain = low + move() * (high - low);
  }
  const pose = `translate(${dx.toFixed(2)} ${dy.toFixed(2)}) rotate(${angle.toFixed(2)} 128 128)`;

  const base = category === 'bracket' ? bracket(defect === 'missing') : brushed(random);
  const mark = defect ? paintDefect(defect, category, random) : null;
  // Defects come in all severities: a faint scratch is as real as a deep one, and it is the faint
  // ones a person has to look at.
  const severity = 0.25 + 0.75 * random();
  const svg = (body: string, background: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 256 256"><rect width="256" height="256" fill="${background}"/><g transform="${pose}">${body}</g></svg>`;

  const rendered = await sharp(
    Buffer.from(
      svg(
        base + (mark ? `<g opacity="${severity.toFixed(2)}">${mark.draw}</g>` : ''),
        category === 'bracket' ? '#2b2d31' : '#8a8d92',
      ),
    ),
  )
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = rendered.data;
  for (let i = 0; i < pixels.length; i++) {
    const noisy = pixels[i] * gain + gaussian(random) * 3;
    pixels[i] = noisy < 0 ? 0 : noisy > 255 ? 255 : noisy;
  }
  const image = await sharp(pixels, { raw: { width, height, channels: rendered.info.channels } })
    .png()
    .toBuffer();
  const mask = mark
    ? await sharp(Buffer.from(svg(mark.mask, '#000')))
        .greyscale()
        .threshold(128)
        .png()
        .toBuffer()
    : null;
  return { image, mask, defect };
}

const HOLES: [number, number][] = [
  [70, 70],
  [186, 70],
  [70, 186],
  [186, 186],
];

/** A machined bracket: plate with chamfered corners, four holes, a slot and a printed label. */
function bracket(missingHole: boolean): string {
  const holes = HOLES.filter((_, i) => !(missingHole && i === 1))
    .map(([x, y]) => `<circle cx="${x}" cy="${y}" r="14" fill="#2b2d31" stroke="#6d7178" stroke-width="3"/>`)
    .join('');
  return (
    `<polygon points="44,28 212,28 228,44 228,212 212,228 44,228 28,212 28,44" fill="#b9bcc2" stroke="#8e9299" stroke-width="3"/>` +
    holes +
    `<rect x="104" y="118" width="48" height="20" rx="10" fill="#2b2d31"/>` +
    `<rect x="96" y="150" width="64" height="22" fill="#e8e2c8"/>` +
    `<text x="128" y="166" font-family="DejaVu Sans, sans-serif" font-size="13" font-weight="bold" text-anchor="middle" fill="#1f2a44">LP-204</text>`
  );
}

/** Brushed metal: many fine horizontal strokes of slightly different shade. */
function brushed(random: () => number): string {
  let strokes = '';
  for (let i = 0; i < 140; i++) {
    const y = random() * 256;
    const shade = 120 + Math.floor(random() * 40);
    strokes += `<line x1="-20" y1="${y.toFixed(1)}" x2="276" y2="${(y + (random() - 0.5) * 3).toFixed(1)}" stroke="rgb(${shade},${shade + 2},${shade + 6})" stroke-width="${(0.6 + random() * 1.6).toFixed(2)}"/>`;
  }
  return strokes;
}

/**
 * Paints a defect onto any image (a photograph, say) and returns the image with its mask, so real
 * textures get the same defect kinds as the synthetic parts.
 */
export async function paintOnto(
  image: Buffer,
  defect: string,
  random: () => number,
): Promise<{ image: Buffer; mask: Buffer }> {
  const { width = 256, height = 256 } = await sharp(image).metadata();
  const mark = paintDefect(defect, 'brushed', random);
  const severity = 0.35 + 0.65 * random();
  const svg = (body: string, background: string | null) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 256 256">${background ? `<rect width="256" height="256" fill="${background}"/>` : ''}${body}</svg>`;
  const painted = await sharp(image)
    .toColourspace('srgb')
    .composite([{ input: Buffer.from(svg(`<g opacity="${severity.toFixed(2)}">${mark.draw}</g>`, null)) }])
    .png()
    .toBuffer();
  const mask = await sharp(Buffer.from(svg(mark.mask, '#000')))
    .greyscale()
    .threshold(128)
    .png()
    .toBuffer();
  return { image: painted, mask };
}

/** A defect as SVG, and the same shape in white for its mask. */
function paintDefect(defect: string, category: Category, random: () => number): { draw: string; mask: string } {
  // Defects land on visible surface: on the plate, not inside a hole, the slot or the label, where
  // a dark spot would be invisible and its label a lie.
  let cx = 0;
  let cy = 0;
  do {
    cx = 50 + random() * 156;
    cy = 50 + random() * 156;
  } while (category === 'bracket' && hidden(cx, cy));
  const white = (shape: string) => shape.replace(/(fill|stroke)="(?!none)[^"]*"/g, '$1="#fff"');
  switch (defect) {
    case 'scratch': {
      const a = random() * Math.PI;
      const len = 40 + random() * 50;
      const [x1, y1, x2, y2] = [
        cx - (Math.cos(a) * len) / 2,
        cy - (Math.sin(a) * len) / 2,
        cx + (Math.cos(a) * len) / 2,
        cy + (Math.sin(a) * len) / 2,
      ];
      const shape = `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#f4f6fa" stroke-width="${(2 + random() * 2).toFixed(1)}" stroke-linecap="round"/>`;
      return { draw: shape, mask: white(shape) };
    }
    case 'spot': {
      const r = 5 + random() * 7;
      const shape = `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="#3c3324"/>`;
      return { draw: shape, mask: white(shape) };
    }
    case 'crack': {
      let d = `M${cx.toFixed(1)},${cy.toFixed(1)}`;
      let [x, y] = [cx, cy];
      const heading = random() * Math.PI * 2;
      for (let i = 0; i < 7; i++) {
        const a = heading + (random() - 0.5) * 1.4;
        x += Math.cos(a) * 8;
        y += Math.sin(a) * 8;
        d += ` L${x.toFixed(1)},${y.toFixed(1)}`;
      }
      const shape = `<path d="${d}" fill="none" stroke="#17181b" stroke-width="2.5" stroke-linejoin="round"/>`;
      return { draw: shape, mask: white(shape).replace('stroke-width="2.5"', 'stroke-width="4"') };
    }
    case 'missing': {
      // The hole that is not drilled: the mask covers where it should have been.
      const [x, y] = HOLES[1];
      return { draw: '', mask: `<circle cx="${x}" cy="${y}" r="17" fill="#fff"/>` };
    }
    case 'contamination': {
      let blobs = '';
      for (let i = 0; i < 5; i++) {
        blobs += `<ellipse cx="${(cx + (random() - 0.5) * 24).toFixed(1)}" cy="${(cy + (random() - 0.5) * 24).toFixed(1)}" rx="${(3 + random() * 6).toFixed(1)}" ry="${(2 + random() * 4).toFixed(1)}" fill="${category === 'bracket' ? '#6b5a2e' : '#4a3b1c'}" fill-opacity="0.85"/>`;
      }
      return { draw: blobs, mask: white(blobs).replace(/fill-opacity="[^"]*"/g, '') };
    }
    default:
      throw new Error(`no painter for defect "${defect}"`);
  }
}

function hidden(x: number, y: number): boolean {
  const inHole = HOLES.some(([hx, hy]) => Math.hypot(x - hx, y - hy) < 24);
  const inSlotOrLabel = x > 86 && x < 170 && y > 108 && y < 182;
  return inHole || inSlotOrLabel;
}

/** mulberry32: a small, fast, seedable generator; the same seed gives the same parts everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}
