/**
 * Which method suits a category, decided from its good parts alone. On an aligned part (a bracket in
 * a fixture) the same feature sits at the same place in every image, so patch features vary far
 * more from one position to another than from one part to the next at a fixed position. On a
 * texture (stone, fabric, brushed metal) every position sees the same kind of variety, so the
 * per-position averages of n parts differ only by chance, about 1/n of the spread. The share of
 * variance explained by position separates the two by orders of magnitude, not by a tuned margin.
 */
export type Method = 'aligned' | 'texture' | 'pretrained' | 'pretrained-aligned' | 'fused';

/** Every method, cheapest inference first: on equal probe results the cheaper one is kept. */
export const METHODS_BY_COST: Method[] = ['aligned', 'texture', 'pretrained-aligned', 'pretrained', 'fused'];

/** The method the layout statistic alone would give: hand-made features, Gaussian or bank. */
export type LayoutMethod = 'aligned' | 'texture';

export interface PositionStats {
  /** per feature and position, feature-major: features × positions */
  mean: Float32Array;
  variance: Float32Array;
  features: number;
  gridWidth: number;
  gridHeight: number;
}

/** Above this share of variance explained by position, a category is aligned. */
export const ALIGNED_ABOVE = 0.5;

/**
 * The share of feature variance explained by the patch's position (between-position variance over
 * total), averaged over features. Positions near the border are left out: padding makes them
 * differ from the inside on any image.
 */
export function positionalShare(stats: PositionStats, border = 2): number {
  const { mean, variance, features, gridWidth, gridHeight } = stats;
  const positions = gridWidth * gridHeight;
  let shareSum = 0;
  let counted = 0;
  for (let c = 0; c < features; c++) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    let within = 0;
    for (let y = border; y < gridHeight - border; y++) {
      for (let x = border; x < gridWidth - border; x++) {
        const i = c * positions + y * gridWidth + x;
        sum += mean[i];
        sumSq += mean[i] * mean[i];
        within += variance[i];
        n++;
      }
    }
    if (n === 0) continue;
    const between = Math.max(0, sumSq / n - (sum / n) ** 2);
    const total = between + within / n;
    if (total <= 1e-12) continue; // a feature that never varies says nothing about layout
    shareSum += between / total;
    counted++;
  }
  return counted === 0 ? 0 : shareSum / counted;
}

export function chooseMethod(stats: PositionStats): { method: LayoutMethod; positionalShare: number } {
  const share = positionalShare(stats);
  return { method: share > ALIGNED_ABOVE ? 'aligned' : 'texture', positionalShare: share };
}
