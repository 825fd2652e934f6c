/**
 * A marked region as an MVTec `ground_truth` mask: white where the person marked the defect, black
 * elsewhere, at the image's own size. The region is kept in normalised coordinates (so a decision
 * stays small and means the same at any size); it becomes pixels only here, at export time. Drawn as
 * SVG by sharp (librsvg): boxes as rectangles, brush strokes as round-capped lines of twice their
 * radius, then thresholded so the edges are 0 or 255 like the masks of the field.
 */
import sharp from 'sharp';
import type { Region } from '../contract/payloads.ts';

/** The mask of `region` at width × height, as a one-channel PNG. */
export async function regionMask(region: Region, width: number, height: number): Promise<Buffer> {
  const shorter = Math.min(width, height);
  const px = (v: number, size: number) => (Math.min(1, Math.max(0, v)) * size).toFixed(2);
  const shapes: string[] = [];
  for (const box of region.boxes ?? []) {
    const w = Math.min(box.w, 1 - box.x) * width;
    const h = Math.min(box.h, 1 - box.y) * height;
    if (w > 0 && h > 0)
      shapes.push(
        `<rect x="${px(box.x, width)}" y="${px(box.y, height)}" width="${w.toFixed(2)}" height="${h.toFixed(2)}"/>`,
      );
  }
  for (const stroke of region.strokes ?? []) {
    const r = stroke.r * shorter;
    // A dot per point as well as the path: a stroke of one point (a tap) is a dot, whatever the renderer does with a zero-length line.
    for (const [x, y] of stroke.points)
      shapes.push(`<circle cx="${px(x, width)}" cy="${px(y, height)}" r="${r.toFixed(2)}"/>`);
    if (stroke.points.length > 1) {
      const path = stroke.points.map(([x, y]) => `${px(x, width)},${px(y, height)}`).join(' ');
      shapes.push(
        `<polyline points="${path}" fill="none" stroke="#fff" stroke-width="${(2 * r).toFixed(2)}" stroke-linecap="round" stroke-linejoin="round"/>`,
      );
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#000"/><g fill="#fff">${shapes.join('')}</g></svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().greyscale().threshold(128).toColourspace('b-w').png().toBuffer();
}
