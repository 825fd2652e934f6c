/**
 * How visible a painted mark is, without any model: a test set whose marks change the pixels less
 * than the texture differs from itself measures the painter, not the model. The contrast-to-noise
 * ratio (CNR) of a mark is the mean change of brightness inside its mask (painted minus clean)
 * over the standard deviation of the clean texture around it (the mask's bounding box widened by
 * `RING` pixels). A mark that changes texture rather than brightness (a blur, a flat patch) keeps
 * its mean; for those the root-mean-square change over the same spread says more, so both are given.
 */
import sharp from 'sharp';

/** pixels around the mask's bounding box whose spread stands for the texture's own variation */
export const RING = 16;

export interface Visibility {
  /** |mean brightness change inside the mask| / local standard deviation of the clean texture */
  cnr: number;
  /** root-mean-square brightness change inside the mask / the same standard deviation */
  rms: number;
  /** mask pixels */
  area: number;
}

async function brightness(png: Buffer): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height), ...info };
}

/** The visibility of the mark `mask` (white where painted) that turned `clean` into `painted` (PNGs of one size). */
export async function markVisibility(clean: Buffer, painted: Buffer, mask: Buffer): Promise<Visibility> {
  const [c, p, m] = await Promise.all([brightness(clean), brightness(painted), brightness(mask)]);
  const { width, height } = c;
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  let area = 0;
  let change = 0;
  let changeSq = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (m.data[i] < 128) continue;
      area++;
      const d = p.data[i] - c.data[i];
      change += d;
      changeSq += d * d;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
  }
  if (area === 0) return { cnr: 0, rms: 0, area: 0 };
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (let y = Math.max(0, y0 - RING); y <= Math.min(height - 1, y1 + RING); y++) {
    for (let x = Math.max(0, x0 - RING); x <= Math.min(width - 1, x1 + RING); x++) {
      const v = c.data[y * width + x];
      n++;
      sum += v;
      sumSq += v * v;
    }
  }
  const std = Math.max(Math.sqrt(Math.max(0, sumSq / n - (sum / n) ** 2)), 1);
  return { cnr: Math.abs(change / area) / std, rms: Math.sqrt(changeSq / area) / std, area };
}
