/** Opens a station's stored review state from the configuration, for the offline commands. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config, Thresholds } from '../config/schema.ts';
import type { Closing } from '../edge/src/review/book.ts';
import { SecondOpinions } from '../edge/src/review/second.ts';
import { FileReviewStore } from '../edge/src/review/store.ts';
import { ThresholdHistory } from '../edge/src/decide/thresholds.ts';
import { loadManifest } from '../edge/src/vision/manifest.ts';

export interface StoredStation {
  id: string;
  dir: string;
  imageDir: string;
  reviews: FileReviewStore;
  thresholds: Thresholds;
  history: ThresholdHistory;
  modelDir: string;
  /**
   * The closings of the last `days` as refits, calibration and export learn from them: where two
   * people disagreed, the answer a manager settled; a part still in dispute left out.
   */
  learnable(days: number): Closing[];
}

export async function openStation(config: Config, id: string | undefined): Promise<StoredStation> {
  const station = id
    ? config.stations.find((s) => s.id === id)
    : config.stations.length === 1
      ? config.stations[0]
      : undefined;
  if (!station)
    throw new Error(
      id
        ? `no station "${id}" in the configuration; stations: ${config.stations.map((s) => s.id).join(', ')}`
        : `--station is needed: ${config.stations.map((s) => s.id).join(', ')}`,
    );
  const dir = path.resolve(config.dataDir, 'reviews', config.line, station.id);
  if (!existsSync(dir))
    throw new Error(`no review state for station ${station.id} in ${dir} (has it run with dataDir ${config.dataDir}?)`);
  const history = new ThresholdHistory(dir);
  const modelDir = path.resolve(station.model);
  const thresholds = history.current ?? station.thresholds ?? (await loadManifest(modelDir)).thresholds;
  const reviews = new FileReviewStore(dir);
  const second = new SecondOpinions(dir, station.review.secondOpinionShare); // read only: no part is queued here
  const learnable = (days: number) => second.learnFrom(reviews.closings(days));
  return {
    id: station.id,
    dir,
    imageDir: path.resolve(config.dataDir, 'images', config.line, station.id),
    reviews,
    thresholds: { passBelow: thresholds.passBelow, rejectAbove: thresholds.rejectAbove },
    history,
    modelDir,
    learnable,
  };
}
