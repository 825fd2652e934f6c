/**
 * A part's evidence on disk: the frame as it arrived and its anomaly map, kept for every part a
 * person or an auditor may look at (reviews and rejects). Files live under
 * `<dataDir>/images/<line>/<station>/`, named by part id: `<partId>.img` (the original bytes, so
 * nothing is lost to re-encoding) and `<partId>.map.png` (the map alone, RGBA, at the map's own
 * size; the browser scales and blends it over the image, so opacity is the viewer's choice).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

export const imageFile = (dir: string, partId: string) => path.join(dir, `${partId}.img`);
export const mapFile = (dir: string, partId: string) => path.join(dir, `${partId}.map.png`);

export type ImageKind = 'image/png' | 'image/jpeg';

/** The browser type of image bytes, from their first bytes; null when they are neither PNG nor JPEG. */
export function sniff(bytes: Buffer): ImageKind | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  return null;
}

export type Viewable = { ok: true; type: ImageKind; bytes: Buffer } | { ok: false; code: 'not_found' | 'unreadable_image'; message: string };

/**
 * A part's image as a browser can show it: PNG and JPEG as they are, any other format sharp reads
 * converted to PNG, and a clear refusal for bytes no one can decode (an unreadable frame is kept
 * as evidence, but there is no picture to show).
 */
export async function viewableImage(dir: string, partId: string): Promise<Viewable> {
  let bytes: Buffer;
  try {
    bytes = await readFile(imageFile(dir, partId));
  } catch {
    return { ok: false, code: 'not_found', message: `no image kept for part ${partId}` };
  }
  const type = sniff(bytes);
  if (type) return { ok: true, type, bytes };
  try {
    return { ok: true, type: 'image/png', bytes: await sharp(bytes).png().toBuffer() };
  } catch (error) {
    return { ok: false, code: 'unreadable_image', message: `the image of part ${partId} cannot be decoded: ${(error as Error).message}` };
  }
}
