/**
 * Parts people decided, as data: the images the station kept for its reviews, with the human
 * verdict and defect category. Used to export a labelled dataset and to refit on accepted parts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Closing } from '../edge/src/review/book.ts';
import { hasKeptImage, keptImage } from '../edge/src/evidence/files.ts';

export interface DecidedPart {
  partId: string;
  verdict: 'pass' | 'reject';
  category: string | null;
  /** the frame the station kept, as it arrived */
  image(): Promise<Buffer>;
}

/** Parts a person decided whose frame is still kept (retention may have deleted it). */
export function decidedParts(closings: Closing[], imageDir: string): DecidedPart[] {
  const parts: DecidedPart[] = [];
  for (const c of closings) {
    if (c.decidedBy !== 'human' || c.verdict === 'hold') continue;
    if (!hasKeptImage(imageDir, c.partId)) continue;
    const image = async () => {
      const bytes = await keptImage(imageDir, c.partId);
      if (!bytes) throw new Error(`the image of part ${c.partId} was deleted while it was being read`);
      return bytes;
    };
    parts.push({ partId: c.partId, verdict: c.verdict, category: c.category ?? null, image });
  }
  return parts;
}

/** Writes decided parts in the MVTec AD layout: accepted → train/good, rejected → test/<category>. */
export async function exportDataset(parts: DecidedPart[], out: string): Promise<{ good: number; defective: number }> {
  let good = 0;
  let defective = 0;
  for (const part of parts) {
    const folder = part.verdict === 'pass' ? path.join(out, 'train', 'good') : path.join(out, 'test', part.category ?? 'reject');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, `${part.partId}.png`), await sharp(await part.image()).png().toBuffer());
    if (part.verdict === 'pass') good++;
    else defective++;
  }
  return { good, defective };
}
