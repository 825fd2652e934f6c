/**
 * A golden reference beside the part: the good part that looks most like the one under review, so a
 * person compares the two rather than remembers what good looks like.
 *
 * The references are the parts people accepted at the same station whose frame is still kept: each
 * was confirmed good by a person, was taken by the same camera under today's light and framing, and
 * is on the station's disk (the fitted good set is not: a model folder keeps its statistics, not its
 * images). Nearest means the least difference in appearance after alignment: both frames as small
 * grey thumbnails, each less its own mean (a lamp a little brighter does not count), compared at
 * every small shift; the best shift is how far the reference must move to lie over the part. The
 * reference's image is served moved by that shift and at the part's size, so the screen shows the
 * two at one scale with the same zoom and pan.
 *
 * The core (`compare`, `shiftImage`, `acceptedIn`) is pure; the thumbnails of references are kept in
 * a bounded cache, so a second look at a station decodes only the new part's frame.
 */
import path from 'node:path';
import type { FastifyContextConfig, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import sharp from 'sharp';
import type { Static } from '@sinclair/typebox';
import { GoldenSchema, type Golden } from '../../../contract/golden.ts';
import { PartParams, fileAnswer, inline, refusals } from '../../../shared/http/schemas.ts';
import { keptImage } from '../evidence/files.ts';
import type { Entry } from '../log/entry.ts';

/** Thumbnail side, and the largest shift tried each way, in thumbnail pixels. */
export const THUMB = 48;
export const MAX_SHIFT = 4;
/** The most recent accepted parts looked at for one answer. */
export const CANDIDATES = 64;

export interface Thumbnail {
  /** grey levels less their mean, THUMB × THUMB, row by row */
  cells: Float32Array;
}

export interface Accepted {
  partId: string;
  user?: string;
  at: string;
  score: number | null;
}

/** A frame as a grey thumbnail less its mean; null when it cannot be decoded. */
export async function thumbnailOf(bytes: Buffer): Promise<Thumbnail | null> {
  try {
    const raw = await sharp(bytes).greyscale().resize(THUMB, THUMB, { fit: 'fill' }).raw().toBuffer();
    const cells = new Float32Array(THUMB * THUMB);
    let sum = 0;
    for (let i = 0; i < cells.length; i++) sum += raw[i];
    const mean = sum / cells.length;
    for (let i = 0; i < cells.length; i++) cells[i] = raw[i] - mean;
    return { cells };
  } catch {
    return null; // an unreadable frame is simply not a reference (or, for the part, there is none)
  }
}

/**
 * The least root-mean-square difference between `part` and `reference` moved by (dx, dy), over the
 * cells they share, for every shift up to MAX_SHIFT each way; with the shift that gave it.
 */
export function compare(part: Thumbnail, reference: Thumbnail): { difference: number; dx: number; dy: number } {
  let best = { difference: Infinity, dx: 0, dy: 0 };
  for (let dy = -MAX_SHIFT; dy <= MAX_SHIFT; dy++) {
    for (let dx = -MAX_SHIFT; dx <= MAX_SHIFT; dx++) {
      let total = 0;
      let n = 0;
      for (let y = Math.max(0, dy); y < Math.min(THUMB, THUMB + dy); y++) {
        for (let x = Math.max(0, dx); x < Math.min(THUMB, THUMB + dx); x++) {
          const d = part.cells[y * THUMB + x] - reference.cells[(y - dy) * THUMB + (x - dx)];
          total += d * d;
          n++;
        }
      }
      const difference = Math.sqrt(total / n);
      // Ties go to the smaller shift: an unmoved reference is the plainer picture.
      if (
        difference < best.difference - 1e-9 ||
        (Math.abs(difference - best.difference) <= 1e-9 &&
          Math.abs(dx) + Math.abs(dy) < Math.abs(best.dx) + Math.abs(best.dy))
      )
        best = { difference, dx, dy };
    }
  }
  return best;
}

/** Raw pixels (`channels` a pixel) moved by (dx, dy) whole pixels; the edges uncovered repeat the nearest row or column. */
export function shiftImage(
  pixels: Buffer,
  width: number,
  height: number,
  channels: number,
  dx: number,
  dy: number,
): Buffer {
  const out = Buffer.alloc(pixels.length);
  const clamp = (v: number, top: number) => Math.min(top - 1, Math.max(0, v));
  for (let y = 0; y < height; y++) {
    const from = clamp(y - dy, height);
    for (let x = 0; x < width; x++) {
      const source = (from * width + clamp(x - dx, width)) * channels;
      pixels.copy(out, (y * width + x) * channels, source, source + channels);
    }
  }
  return out;
}

/** The parts people accepted at a station whose frame is kept, newest first, from the defect log. */
export function acceptedIn(
  entries: readonly Entry[],
  line: string,
  station: string,
  except: string,
  limit = CANDIDATES,
): Accepted[] {
  const found: Accepted[] = [];
  for (let i = entries.length - 1; i >= 0 && found.length < limit * 4; i--) {
    const e = entries[i];
    if (e.line !== line || e.station !== station || e.partId === except) continue;
    if (!e.final || e.final.verdict !== 'pass' || e.final.decidedBy !== 'human' || !e.image || e.image.expired)
      continue;
    found.push({ partId: e.partId, ...(e.final.user ? { user: e.final.user } : {}), at: e.final.at, score: e.score });
  }
  return found.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
}

/** Thumbnails of kept frames by `line/station/partId`, the oldest dropped past `size`. */
export class ThumbnailCache {
  private readonly kept = new Map<string, Thumbnail | null>();
  constructor(private readonly size = 1000) {}

  async get(imagesDir: string, line: string, station: string, partId: string): Promise<Thumbnail | null> {
    const key = `${line}/${station}/${partId}`;
    if (this.kept.has(key)) return this.kept.get(key) ?? null;
    const bytes = await keptImage(path.join(imagesDir, line, station), partId);
    const thumbnail = bytes ? await thumbnailOf(bytes) : null;
    this.kept.set(key, thumbnail);
    if (this.kept.size > this.size) this.kept.delete(this.kept.keys().next().value as string);
    return thumbnail;
  }
}

export type Outcome =
  | { ok: true; golden: Golden; dx: number; dy: number }
  | { ok: false; code: 'not_found' | 'no_golden'; message: string };

/** The nearest accepted part to `partId`, aligned; or why there is none. */
export async function nearestGolden(
  imagesDir: string,
  accepted: Accepted[],
  where: { line: string; station: string; partId: string },
  cache = new ThumbnailCache(),
): Promise<Outcome> {
  const { line, station, partId } = where;
  const part = await cache.get(imagesDir, line, station, partId);
  if (!part) return { ok: false, code: 'not_found', message: `no readable image kept for part ${partId}` };
  let best: { candidate: Accepted; difference: number; dx: number; dy: number } | null = null;
  let considered = 0;
  for (const candidate of accepted) {
    const reference = await cache.get(imagesDir, line, station, candidate.partId);
    if (!reference) continue;
    considered++;
    const match = compare(part, reference);
    if (!best || match.difference < best.difference) best = { candidate, ...match };
  }
  if (!best)
    return {
      ok: false,
      code: 'no_golden',
      message: `no part accepted by a person at ${line}/${station} has a kept image yet: accept a good part and it becomes the reference`,
    };
  const { candidate, difference, dx, dy } = best;
  const base = `/api/parts/${line}/${station}/${encodeURIComponent(partId)}`;
  return {
    ok: true,
    dx,
    dy,
    golden: {
      line,
      station,
      partId,
      golden: {
        partId: candidate.partId,
        ...(candidate.user ? { acceptedBy: candidate.user } : {}),
        acceptedAt: candidate.at,
        score: candidate.score,
      },
      difference: Math.round(difference * 100) / 100,
      shift: { x: dx / THUMB, y: dy / THUMB },
      considered,
      imageUrl: `${base}/golden/image`,
    },
  };
}

/** The reference's frame at the part's size, moved by the shift found on the thumbnails, as a PNG. */
export async function alignedImage(reference: Buffer, part: Buffer, dx: number, dy: number): Promise<Buffer> {
  const { width = THUMB, height = THUMB } = await sharp(part).metadata();
  const { data, info } = await sharp(reference)
    .removeAlpha()
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const moved = shiftImage(
    data,
    info.width,
    info.height,
    info.channels,
    Math.round((dx * info.width) / THUMB),
    Math.round((dy * info.height) / THUMB),
  );
  return sharp(moved, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .png()
    .toBuffer();
}

type PartParams = Static<typeof PartParams>;

export interface GoldenOptions {
  /** `<dataDir>/images` */
  imagesDir: string;
  /** the defect log's entries, in the order it holds them */
  entries: () => readonly Entry[];
  routeConfig?: FastifyContextConfig;
}

/**
 * `GET /api/parts/:line/:station/:partId/golden`: which accepted part is the reference, how far apart
 * and how it was moved; `…/golden/image`: its frame, aligned. Access: any logged-in person (default).
 */
export const goldenRoutes: FastifyPluginAsync<GoldenOptions> = async (
  plain,
  { imagesDir, entries, routeConfig = {} },
) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const cache = new ThumbnailCache();
  const find = (params: PartParams) =>
    nearestGolden(imagesDir, acceptedIn(entries(), params.line, params.station, params.partId), params, cache);

  app.get(
    '/api/parts/:line/:station/:partId/golden',
    {
      config: routeConfig,
      schema: {
        summary: 'the nearest part people accepted, aligned to this one',
        params: PartParams,
        response: { 200: inline(GoldenSchema), ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const found = await find(request.params);
      if (!found.ok) return reply.code(404).send({ error: found.code, message: found.message });
      return found.golden;
    },
  );

  const image = {
    summary: "the reference's frame, moved to lie over the part",
    params: PartParams,
    response: { 200: fileAnswer('the aligned reference frame', 'image/png'), ...refusals(401, 403, 404) },
  };
  app.get(
    '/api/parts/:line/:station/:partId/golden/image',
    { config: routeConfig, schema: image },
    async (request, reply) => {
      const found = await find(request.params);
      if (!found.ok) return reply.code(404).send({ error: found.code, message: found.message });
      const { line, station, partId } = request.params;
      const dir = path.join(imagesDir, line, station);
      const [reference, part] = await Promise.all([keptImage(dir, found.golden.golden.partId), keptImage(dir, partId)]);
      if (!reference || !part)
        return reply
          .code(404)
          .send({ error: 'not_found', message: 'the reference or the part lost its image meanwhile (retention)' });
      return reply
        .type('image/png')
        .header('cache-control', 'private, no-cache')
        .send(await alignedImage(reference, part, found.dx, found.dy));
    },
  );
};
