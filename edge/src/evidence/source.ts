/**
 * The edge's evidence as a source for the evidence routes (shared/http/evidence.ts): a part's
 * frame and anomaly map from this box's images folder (`<imagesDir>/<line>/<station>/`).
 */
import path from 'node:path';
import type { EvidenceSource } from '../../../shared/http/evidence.ts';
import { viewableImage, viewableMap } from './files.ts';

export function fileEvidence(imagesDir: string): EvidenceSource {
  return {
    image: async (line, station, partId) => {
      const image = await viewableImage(path.join(imagesDir, line, station), partId);
      return image.ok
        ? image
        : { ok: false, status: image.code === 'not_found' ? 404 : 422, error: image.code, message: image.message };
    },
    heatmap: async (line, station, partId) => {
      const map = await viewableMap(path.join(imagesDir, line, station), partId);
      return map.ok
        ? { ok: true, type: 'image/png', bytes: map.png }
        : { ok: false, status: map.code === 'not_found' ? 404 : 422, error: map.code, message: map.message };
    },
  };
}
