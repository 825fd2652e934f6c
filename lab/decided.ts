/**
 * Parts people decided, as data: the images the station kept for its reviews, with the human
 * verdict and defect category. Used to export a labelled dataset and to refit on accepted parts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Closing } from '../edge/src/review/book.ts';

export interface DecidedPart {
  partId: string;
  verdict: 'pass' | 'reject';
  category: string | null;
  image: string;
}

export function decidedParts(closings: Closing[], imageDir: string): DecidedPart[] {
  const parts: DecidedPart[] = [];
  for (const c of closings) {
    if (c.decidedBy !== 'human' || c.verdict === 'hold') continue;
    const image = path.join(imageDir, `${c.partId}.img`);
    if (!existsSync(image)) continue;
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
    await writeFile(path.join(folder, `${part.partId}.png`), await sharp(await readFile(part.image)).png().toBuffer());
    if (part.verdict === 'pass') good++;
    else defective++;
  }
  return { good, defective };
}
