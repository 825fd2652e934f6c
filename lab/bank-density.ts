/**
 * A memory bank whose entries are balls of their own size. A texture's good patches are dense in
 * some regions of feature space (plain stone) and sparse in others (rare edges, shadows): one
 * distance threshold for all is too tight for the rare patterns and too loose for the common ones,
 * where a faint mark moves a patch less than the rare patterns' normal spread. Each entry gets the
 * mean squared distance of the good candidates it covers (its nearest in the coreset), shrunk
 * towards the median entry's; a patch's anomaly is then its distance to the nearest entry measured
 * in that entry's own scale: min over entries of d² / r². In the graph one Mul by a constant row
 * before the minimum.
 */

/**
 * Each entry's factor on squared distances: median radius² / its radius², the radius² shrunk
 * towards the median by `shrink` (0: each its own, 1: all equal, the plain bank).
 */
export function densityWeights(
  owner: Int32Array,
  nearest: Float32Array,
  candidates: number,
  size: number,
  shrink: number,
): Float32Array {
  const sum = new Float64Array(size);
  const count = new Float64Array(size);
  for (let i = 0; i < candidates; i++) {
    sum[owner[i]] += nearest[i];
    count[owner[i]]++;
  }
  // an entry's own candidate is at distance 0; one that covers nothing else gets the median
  const radius2 = Float64Array.from(sum, (s, m) => (count[m] > 1 ? s / (count[m] - 1) : NaN));
  const known = radius2.filter((r) => !Number.isNaN(r)).sort();
  const median = known.length > 0 ? known[known.length >> 1] : 1;
  const weights = new Float32Array(size);
  for (let m = 0; m < size; m++) {
    const r2 = Number.isNaN(radius2[m]) ? median : radius2[m];
    weights[m] = median / Math.max(1e-12, (1 - shrink) * r2 + shrink * median);
  }
  return weights;
}
