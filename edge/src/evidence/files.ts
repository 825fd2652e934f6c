/**
 * A part's evidence on disk: the frame as it arrived and its anomaly map, kept for every part a
 * person or an auditor may look at (reviews and rejects). They are appended to the station's
 * evidence segments (see segments.ts) under `<dataDir>/images/<line>/<station>/`: the frame's
 * original bytes, so nothing is lost to re-encoding, and the anomaly map, max-pooled to at most
 * 64×64 and scaled to one byte a cell between the floor and full colour chosen when it was kept. The
 * map becomes a PNG only when someone asks to see it: most kept parts are never looked at, and
 * encoding a PNG for every reject cost more CPU than inspecting it. Stations before segments wrote
 * `<partId>.img` and `<partId>.map`; those are still read, and swept by retention.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Thresholds } from '../../../config/schema.ts';
import { renderMap, shrinkMap, type MapOf } from '../vision/heatmap.ts';
import { SegmentWriter, segmentIndex } from './segments.ts';

/** The files of the layout before segments, one pair a part. */
export const imageFile = (dir: string, partId: string) => path.join(dir, `${partId}.img`);
export const mapFile = (dir: string, partId: string) => path.join(dir, `${partId}.map`);

/** What was kept of a part: where, inside its station's images folder (`<segment>#<offset>+<length>`). */
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
 * The map as kept: max-pooled and scaled at full colour to its peak, but never brighter than a
 * reject nor dimmer than a pass (the evidence of a borderline part always shows, and a faint map
 * means a faint anomaly); values below half of that (or of pass_below) stay transparent.
 */
function keptMap(of: EvidenceOf, map: MapOf | null): Buffer | null {
  if (!map || map.mapWidth <= 0 || map.mapHeight <= 0) return null;
  const { passBelow, rejectAbove } = of.thresholds;
  const small = shrinkMap(map); // max-pooled: its peak is the map's peak
  let strongest = 0;
  for (const v of small.map) strongest = v > strongest ? v : strongest;
  const fullScale = Math.min(Math.max(strongest, passBelow), rejectAbove);
  return encodeMap(small, Math.min(passBelow * 0.5, fullScale * 0.5), fullScale);
}

/** This thread's writer for each images folder (an inspection worker's, or the event loop's). */
const writers = new Map<string, SegmentWriter>();

/**
 * Keeps a part's evidence: from an inspection worker, which holds the frame and the full map (the
 * write blocks only that worker, and neither the map nor a file system round trip crosses to the
 * event loop), or from the event loop for parts no worker kept.
 */
export function keepEvidenceSync(of: EvidenceOf, image: Buffer, map: MapOf | null): Kept {
  let writer = writers.get(of.dir);
  if (!writer) writers.set(of.dir, (writer = new SegmentWriter(of.dir)));
  try {
    return writer.append(of.partId, image, keptMap(of, map));
  } catch (error) {
    return { errors: [`evidence of ${of.partId}: ${(error as Error).message}`] };
  }
}

/** A part's kept frame or map bytes: from the segments, else from the files of the layout before them. */
async function keptBytes(dir: string, partId: string, kind: 'image' | 'map'): Promise<Buffer | null> {
  const index = segmentIndex(dir);
  const location = index.find(partId);
  const range = location?.[kind];
  if (location && range) {
    const bytes = index.read(location, range);
    if (bytes) return bytes;
  }
  return readFile(kind === 'image' ? imageFile(dir, partId) : mapFile(dir, partId)).catch(() => null);
}

/** Whether a part's frame is kept (in a segment, or as a file of the layout before them). */
export function hasKeptImage(dir: string, partId: string): boolean {
  return segmentIndex(dir).find(partId)?.image !== undefined || existsSync(imageFile(dir, partId));
}

/** A part's frame as it arrived, or null when none is kept (never kept, or expired). */
export function keptImage(dir: string, partId: string): Promise<Buffer | null> {
  return keptBytes(dir, partId, 'image');
}

export type ImageKind = 'image/png' | 'image/jpeg';

/** The browser type of image bytes, from their first bytes; null when they are neither PNG nor JPEG. */
export function sniff(bytes: Buffer): ImageKind | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  return null;
}

export type Viewable =
  { ok: true; type: ImageKind; bytes: Buffer } | { ok: false; code: 'not_found' | 'unreadable_image'; message: string };

/**
 * A part's image as a browser can show it: PNG and JPEG as they are, any other format sharp reads
 * converted to PNG, and a clear refusal for bytes no one can decode (an unreadable frame is kept
 * as evidence, but there is no picture to show).
 */
export async function viewableImage(dir: string, partId: string): Promise<Viewable> {
  const bytes = await keptImage(dir, partId);
  if (!bytes) return { ok: false, code: 'not_found', message: `no image kept for part ${partId}` };
  const type = sniff(bytes);
  if (type) return { ok: true, type, bytes };
  try {
    return { ok: true, type: 'image/png', bytes: await sharp(bytes).png().toBuffer() };
  } catch (error) {
    return {
      ok: false,
      code: 'unreadable_image',
      message: `the image of part ${partId} cannot be decoded: ${(error as Error).message}`,
    };
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
  for (let i = 0; i < map.length; i++)
    bytes[HEADER + i] = Math.round(Math.min(1, Math.max(0, (map[i] - floor) / span)) * 255);
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

export type ViewableMap =
  { ok: true; png: Buffer } | { ok: false; code: 'not_found' | 'unreadable_map'; message: string };

/** A kept map as an RGBA PNG (transparent where normal, full colour at the kept scale). */
export async function viewableMap(dir: string, partId: string): Promise<ViewableMap> {
  const bytes = await keptBytes(dir, partId, 'map');
  if (!bytes)
    return {
      ok: false,
      code: 'not_found',
      message: `no anomaly map kept for part ${partId} (the model did not run on it, or it has expired)`,
    };
  const map = decodeMap(bytes);
  if (!map) return { ok: false, code: 'unreadable_map', message: `the anomaly map of part ${partId} is damaged` };
  return { ok: true, png: await renderMap(map, { floor: 0, fullScale: 1, opacity: 1 }) };
}
