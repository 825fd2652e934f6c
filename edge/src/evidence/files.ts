/**
 * A part's evidence on disk: the frame as it arrived and its anomaly map, kept for every part a
 * person or an auditor may look at (reviews and rejects). Files live under
 * `<dataDir>/images/<line>/<station>/`, named by part id: `<partId>.img` (the original bytes, so
 * nothing is lost to re-encoding) and `<partId>.map` (the anomaly map, max-pooled to at most 64×64
 * and scaled to one byte a cell between the floor and full colour chosen when it was kept). The map
 * becomes a PNG only when someone asks to see it: most kept parts are never looked at, and
 * encoding a PNG for every reject cost more CPU than inspecting it.
 */
import { writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Thresholds } from '../../../config/schema.ts';
import { renderMap, shrinkMap, type MapOf } from '../vision/heatmap.ts';

export const imageFile = (dir: string, partId: string) => path.join(dir, `${partId}.img`);
export const mapFile = (dir: string, partId: string) => path.join(dir, `${partId}.map`);

/** What was kept of a part: file names inside its station's images folder. */
export interface Kept {
  image?: string;
  heatmap?: string;
  /** writes that failed, with the file system's reason; the part goes on without them */
  errors?: string[];
}

/** Which part's evidence to keep, where, and the thresholds its map is scaled against. */
export interface EvidenceOf {
  dir: string;
  partId: string;
  thresholds: Thresholds;
}

/** Evidence to keep once the part's score is known: only if it reaches `from`. */
export type EvidenceRequest = EvidenceOf & { from: number };

/**
 * The files of a part's evidence: the frame's bytes as they are, and the map max-pooled and scaled
 * at full colour to its peak, but never brighter than a reject nor dimmer than a pass (the evidence
 * of a borderline part always shows, and a faint map means a faint anomaly); values below half of
 * that (or of pass_below) stay transparent.
 */
function evidenceFiles(of: EvidenceOf, image: Buffer, map: MapOf | null): { file: string; bytes: Buffer; kind: 'image' | 'heatmap' }[] {
  const files: { file: string; bytes: Buffer; kind: 'image' | 'heatmap' }[] = [];
  if (image.length > 0) files.push({ file: imageFile(of.dir, of.partId), bytes: image, kind: 'image' });
  if (map && map.mapWidth > 0 && map.mapHeight > 0) {
    const { passBelow, rejectAbove } = of.thresholds;
    const small = shrinkMap(map); // max-pooled: its peak is the map's peak
    let strongest = 0;
    for (const v of small.map) strongest = v > strongest ? v : strongest;
    const fullScale = Math.min(Math.max(strongest, passBelow), rejectAbove);
    files.push({ file: mapFile(of.dir, of.partId), bytes: encodeMap(small, Math.min(passBelow * 0.5, fullScale * 0.5), fullScale), kind: 'heatmap' });
  }
  return files;
}

/**
 * Keeps a part's evidence from an inspection worker, which holds the frame and the full map: the
 * writes block only that worker, and neither the map nor a file system round trip crosses to the
 * event loop.
 */
export function keepEvidenceSync(of: EvidenceOf, image: Buffer, map: MapOf | null): Kept {
  const kept: Kept = {};
  for (const { file, bytes, kind } of evidenceFiles(of, image, map)) {
    try {
      writeFileSync(file, bytes);
      kept[kind] = path.basename(file);
    } catch (error) {
      (kept.errors ??= []).push(`${path.basename(file)}: ${(error as Error).message}`);
    }
  }
  return kept;
}

/** The same from the event loop, for parts no worker kept (unreadable frames, overload, a model in process). */
export async function keepEvidence(of: EvidenceOf, image: Buffer, map: MapOf | null): Promise<Kept> {
  const kept: Kept = {};
  await Promise.all(
    evidenceFiles(of, image, map).map(({ file, bytes, kind }) =>
      writeFile(file, bytes).then(
        () => (kept[kind] = path.basename(file)),
        (error: unknown) => (kept.errors ??= []).push(`${path.basename(file)}: ${(error as Error).message}`),
      ),
    ),
  );
  return kept;
}

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

const MAGIC = 0x4c4d4150; // "LMAP"
const HEADER = 8;

/**
 * The map as kept: "LMAP", width and height (u16), then one byte a cell, 0 at `floor`, 255 at
 * `fullScale`. A map larger than 64 a side is max-pooled first (a no-op for one already shrunk).
 */
export function encodeMap(full: MapOf, floor: number, fullScale: number): Buffer {
  const { map, mapWidth, mapHeight } = shrinkMap(full);
  const span = fullScale > floor ? fullScale - floor : 1;
  const bytes = Buffer.alloc(HEADER + map.length);
  bytes.writeUInt32BE(MAGIC, 0);
  bytes.writeUInt16BE(mapWidth, 4);
  bytes.writeUInt16BE(mapHeight, 6);
  for (let i = 0; i < map.length; i++) bytes[HEADER + i] = Math.round(Math.min(1, Math.max(0, (map[i] - floor) / span)) * 255);
  return bytes;
}

export function decodeMap(bytes: Buffer): MapOf | null {
  if (bytes.length < HEADER || bytes.readUInt32BE(0) !== MAGIC) return null;
  const mapWidth = bytes.readUInt16BE(4);
  const mapHeight = bytes.readUInt16BE(6);
  if (bytes.length !== HEADER + mapWidth * mapHeight) return null;
  const map = new Float32Array(mapWidth * mapHeight);
  for (let i = 0; i < map.length; i++) map[i] = bytes[HEADER + i] / 255;
  return { map, mapWidth, mapHeight };
}

export type ViewableMap = { ok: true; png: Buffer } | { ok: false; code: 'not_found' | 'unreadable_map'; message: string };

/** A kept map as an RGBA PNG (transparent where normal, full colour at the kept scale). */
export async function viewableMap(dir: string, partId: string): Promise<ViewableMap> {
  const bytes = await readFile(mapFile(dir, partId)).catch(() => null);
  if (!bytes) return { ok: false, code: 'not_found', message: `no anomaly map kept for part ${partId} (the model did not run on it, or it has expired)` };
  const map = decodeMap(bytes);
  if (!map) return { ok: false, code: 'unreadable_map', message: `the anomaly map of part ${partId} is damaged` };
  return { ok: true, png: await renderMap(map, { floor: 0, fullScale: 1, opacity: 1 }) };
}
