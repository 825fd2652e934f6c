/**
 * The frame's edge in a memory bank of pretrained features. The backbone sees the frame mirrored at
 * its edges, so a patch near the edge has a reflected, symmetric neighbourhood that no patch inside
 * has: its nearest good patch is farther than an inside patch's, and every good part's highest patch
 * was on the rim (docs/model.md, "A second look"). Leaving the rim out of the score would make a
 * blind border. Instead each patch's smoothed distance is mapped, by a scale and an offset for its
 * distance class from the edges, onto the distribution good patches inside the frame have. The
 * classes' statistics come from good training parts, each scored against the bank without the
 * entries drawn from itself (leave one part out), so they are what a new good part would see. In the
 * graph: a Mul and an Add by constants on the patch map (docs/model.md, "A fourth look").
 */

/** A position's class: its distances in cells from the nearer side and the nearer top or bottom, each capped at `rings`. */
export function edgeClass(x: number, y: number, gw: number, gh: number, rings: number): number {
  const dx = Math.min(x, gw - 1 - x, rings);
  const dy = Math.min(y, gh - 1 - y, rings);
  return Math.min(dx, dy) * (rings + 1) + Math.max(dx, dy);
}

/** 3×3 mean with the grid mirrored at its edges, as the graph smooths the patch distances. */
export function smooth(map: Float32Array, gw: number, gh: number): Float32Array {
  const out = new Float32Array(map.length);
  const at = (v: number, n: number) => (v < 0 ? -v : v >= n ? 2 * n - 2 - v : v);
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += map[at(y + dy, gh) * gw + at(x + dx, gw)];
      out[y * gw + x] = s / 9;
    }
  }
  return out;
}

export interface Normalisation {
  /** per position (gh × gw): normalised = scale · smoothed distance + offset */
  scale: Float32Array;
  offset: Float32Array;
  /** the inside class's location and spread (mean and standard deviation, or median and tail − median), onto which every class is mapped */
  location?: number;
  spread?: number;
}

/**
 * Scale and offset per position from the smoothed distance maps of good parts (leave-one-out), so
 * that every distance class from the edge gets the mean and spread of the classes farthest inside;
 * with `tail`, its median and its `tail` quantile instead (the score is a maximum: the upper tail
 * is what a good part's score is made of).
 */
export function normalisation(
  maps: Float32Array[],
  gw: number,
  gh: number,
  rings: number,
  tail?: number,
): Normalisation {
  const classes = (rings + 1) * (rings + 1);
  const sum = new Float64Array(classes);
  const sq = new Float64Array(classes);
  const count = new Float64Array(classes);
  const classOf = new Int32Array(gw * gh);
  for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) classOf[y * gw + x] = edgeClass(x, y, gw, gh, rings);
  for (const map of maps) {
    for (let p = 0; p < map.length; p++) {
      const c = classOf[p];
      sum[c] += map[p];
      sq[c] += map[p] * map[p];
      count[c]++;
    }
  }
  const mean = new Float64Array(classes);
  const std = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    mean[c] = sum[c] / Math.max(1, count[c]);
    std[c] = Math.sqrt(Math.max(0, sq[c] / Math.max(1, count[c]) - mean[c] * mean[c]));
  }
  if (tail !== undefined) {
    // location: the median; spread: from the median to the tail quantile
    const values: number[][] = Array.from({ length: classes }, () => []);
    for (const map of maps) for (let p = 0; p < map.length; p++) values[classOf[p]].push(map[p]);
    for (let c = 0; c < classes; c++) {
      const v = values[c].sort((a, b) => a - b);
      if (v.length === 0) continue;
      const q = (share: number) => v[Math.min(v.length - 1, Math.floor(share * v.length))];
      mean[c] = q(0.5);
      std[c] = q(tail) - q(0.5);
    }
  }
  const inside = classes - 1;
  const scale = new Float32Array(gw * gh);
  const offset = new Float32Array(gw * gh);
  for (let p = 0; p < gw * gh; p++) {
    const c = classOf[p];
    // a class no good part filled (a grid smaller than the rings) keeps its distances as they are;
    // no class is stretched or squeezed more than tenfold, whatever few parts measured it
    const a = count[c] > 1 && std[c] > 1e-6 ? Math.min(10, Math.max(0.1, std[inside] / std[c])) : 1;
    scale[p] = a;
    offset[p] = count[c] > 1 ? mean[inside] - a * mean[c] : 0;
  }
  return { scale, offset, location: mean[inside], spread: std[inside] };
}

/**
 * Nearest bank entry's distance for each patch of one part, leaving out the entries drawn from
 * that part. `features`: dims × positions (channel-major, position channels included); `memory`:
 * size × dims; `source`: the part each entry was drawn from.
 */
export function nearestLeavingOut(
  features: Float32Array,
  positions: number,
  memory: Float32Array,
  size: number,
  dims: number,
  source: Int32Array,
  part: number,
): Float32Array {
  const out = new Float32Array(positions);
  const v = new Float32Array(dims);
  for (let p = 0; p < positions; p++) {
    for (let d = 0; d < dims; d++) v[d] = features[d * positions + p];
    let best = Infinity;
    for (let m = 0; m < size; m++) {
      if (source[m] === part) continue;
      const base = m * dims;
      let s = 0;
      for (let d = 0; d < dims && s < best; d++) {
        const diff = v[d] - memory[base + d];
        s += diff * diff;
      }
      if (s < best) best = s;
    }
    out[p] = Math.sqrt(best);
  }
  return out;
}
