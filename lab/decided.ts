/**
 * Parts people decided, as data: the images the station kept for its reviews, with the human
 * verdict, defect category and, where the person marked it, the defect's region. Used to export a
 * labelled dataset (with `ground_truth` masks for the marked rejects) and to refit on accepted parts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Region } from '../contract/payloads.ts';
import type { Closing } from '../edge/src/review/book.ts';
import { regionMask } from './region-mask.ts';
import { hasKeptImage, keptImage } from '../edge/src/evidence/files.ts';

export interface DecidedPart {
  partId: string;
  verdict: 'pass' | 'reject';
  category: string | null;
  /** where the person marked the defect (rejects only), or null */
  region: Region | null;
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
    parts.push({ partId: c.partId, verdict: c.verdict, category: c.category ?? null, region: c.region ?? null, image });
  }
  return parts;
}

/** Of the accepted parts, every HELD_OUT-th (the 2nd, 7th, …) goes to test/good, so `loupe eval` has good parts it was not fitted on. */
const HELD_OUT = 5;

export interface ExportCounts {
  good: number;
  /** accepted parts held out as test/good (counted in good too) */
  testGood: number;
  defective: number;
  /** rejected parts written with a ground_truth mask of their marked region */
  masks: number;
}

/**
 * Writes decided parts in the MVTec AD layout: accepted → train/good (one in HELD_OUT → test/good),
 * rejected → test/<category>, and a rejected part's marked region → ground_truth/<category>/<name>_mask.png
 * at the image's size. A reject without a mark has no mask: `loupe eval` scores its pixels only where masks exist.
 */
export async function exportDataset(parts: DecidedPart[], out: string): Promise<ExportCounts> {
  const counts: ExportCounts = { good: 0, testGood: 0, defective: 0, masks: 0 };
  for (const part of parts) {
    const heldOut = part.verdict === 'pass' && counts.good % HELD_OUT === 1;
    const kind = part.verdict === 'pass' ? 'good' : (part.category ?? 'reject');
    const folder = part.verdict === 'pass' && !heldOut ? path.join(out, 'train', 'good') : path.join(out, 'test', kind);
    await mkdir(folder, { recursive: true });
    const image = sharp(await part.image());
    await writeFile(path.join(folder, `${part.partId}.png`), await image.clone().png().toBuffer());
    if (part.verdict === 'pass') {
      counts.good++;
      if (heldOut) counts.testGood++;
      continue;
    }
    counts.defective++;
    if (!part.region) continue;
    const { width, height } = await image.metadata();
    if (!width || !height) throw new Error(`the image of part ${part.partId} has no size: its mask cannot be drawn`);
    const masks = path.join(out, 'ground_truth', kind);
    await mkdir(masks, { recursive: true });
    await writeFile(path.join(masks, `${part.partId}_mask.png`), await regionMask(part.region, width, height));
    counts.masks++;
  }
  return counts;
}
