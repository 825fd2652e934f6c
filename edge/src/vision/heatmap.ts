/**
 * The anomaly map as people see it: a colour overlay on the part's image (blue → yellow → red),
 * transparent where the part looks normal, so the defect evidence is where the eye goes.
 */
import sharp from 'sharp';
import type { Inspection } from './model.ts';

export interface HeatmapOptions {
  format?: 'png' | 'jpeg';
  /** opacity of the overlay where the map is strongest, 0..1 */
  opacity?: number;
  /** map value drawn at full colour; typically the station's reject_above. Default: the map's maximum. */
  fullScale?: number;
  /** map values below this are not drawn; typically pass_below. Default: 0. */
  floor?: number;
}

export type MapOf = Pick<Inspection, 'map' | 'mapWidth' | 'mapHeight'>;

/**
 * The map shrunk to at most `maxSide` cells a side, each the maximum of the cells it covers (a peak
 * is never averaged away). Anomaly maps are smooth at that scale (the models pool patches), and a
 * map kept for every reject must cost little: 64×64 is 16 times less to colour and encode than 256×256.
 */
export function shrinkMap({ map, mapWidth, mapHeight }: MapOf, maxSide = 64): MapOf {
  const factor = Math.ceil(Math.max(mapWidth, mapHeight) / maxSide);
  if (factor <= 1) return { map, mapWidth, mapHeight };
  const width = Math.ceil(mapWidth / factor);
  const height = Math.ceil(mapHeight / factor);
  const out = new Float32Array(width * height).fill(-Infinity);
  // Row by row, each run of `factor` cells into its output cell: no division per cell (this runs
  // for every part kept as evidence).
  for (let y = 0; y < mapHeight; y++) {
    const row = Math.floor(y / factor) * width;
    const from = y * mapWidth;
    for (let cell = 0, x = 0; cell < width; cell++) {
      let peak = out[row + cell];
      for (const end = Math.min(x + factor, mapWidth); x < end; x++) {
        const v = map[from + x];
        if (v > peak) peak = v;
      }
      out[row + cell] = peak;
    }
  }
  return { map: out, mapWidth: width, mapHeight: height };
}

/** The map alone as an RGBA PNG of its own size (for a client that draws it over the image itself). */
export async function renderMap(inspection: MapOf, options: HeatmapOptions = {}): Promise<Buffer> {
  return sharp(colourise(inspection, options), {
    raw: { width: inspection.mapWidth, height: inspection.mapHeight, channels: 4 },
  })
    .png()
    .toBuffer();
}

/** The map over the image, at the image's own size. */
export async function renderHeatmap(image: Buffer, inspection: MapOf, options: HeatmapOptions = {}): Promise<Buffer> {
  const base = sharp(image).flatten({ background: '#000' }).toColourspace('srgb');
  const { width = inspection.mapWidth, height = inspection.mapHeight } = await base.metadata();
  const overlay = await sharp(colourise(inspection, options), {
    raw: { width: inspection.mapWidth, height: inspection.mapHeight, channels: 4 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .png()
    .toBuffer();
  const composed = base.composite([{ input: overlay }]);
  return options.format === 'jpeg' ? composed.jpeg({ quality: 88 }).toBuffer() : composed.png().toBuffer();
}

function colourise({ map }: MapOf, options: HeatmapOptions): Buffer {
  const floor = options.floor ?? 0;
  let top = options.fullScale ?? 0;
  if (!(top > floor)) for (const v of map) top = v > top ? v : top;
  const span = top > floor ? top - floor : 1;
  const opacity = options.opacity ?? 0.6;
  const rgba = Buffer.alloc(map.length * 4);
  for (let i = 0; i < map.length; i++) {
    const t = Math.min(1, Math.max(0, (map[i] - floor) / span));
    const [r, g, b] = ramp(t);
    rgba[i * 4] = r;
    rgba[i * 4 + 1] = g;
    rgba[i * 4 + 2] = b;
    rgba[i * 4 + 3] = Math.round(255 * opacity * Math.min(1, t * 1.5));
  }
  return rgba;
}

/** blue (0) → cyan → yellow → red (1) */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [40, 60, 255],
    [0, 220, 255],
    [255, 230, 0],
    [255, 30, 0],
  ];
  const x = t * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f)) as [
    number,
    number,
    number,
  ];
}
