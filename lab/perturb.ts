/**
 * Generic, self-made local changes of a good frame, for fitting a projection that keeps the
 * directions in which local changes move a patch's features (lab/learned-projection.ts): the
 * closed-form cousin of CutPaste, DRAEM and SimpleNet, which train a network on such changes.
 *
 * These are deliberately NOT the test painters (lab/simulate.ts, lab/other-defects.ts): they are
 * written here from generic image operations, with their own shapes and ranges, and nothing in them
 * is tuned on a test set. Each kind changes one region of the frame, with a soft edge:
 * - `blob`: a smooth elliptical region made darker or lighter by a random amount (every channel alike);
 * - `blur`: a disc of the frame replaced by its own box-blurred copy;
 * - `cutpaste`: a rectangle of the same frame, possibly mirrored, pasted elsewhere (CutPaste);
 * - `line`: a thin, slightly curved line a little darker or lighter than what it crosses;
 * - `noise`: zero-mean grey noise added inside a disc.
 * Some resemble kinds of the test sets (docs/model.md says which); none copies a painter.
 */

export type PerturbationKind = 'blob' | 'blur' | 'cutpaste' | 'line' | 'noise';
export const PERTURBATIONS: PerturbationKind[] = ['blob', 'blur', 'cutpaste', 'line', 'noise'];

export interface Perturbed {
  pixels: Uint8Array;
  kind: PerturbationKind;
  /** per pixel, how much of the change it received (0–1) */
  mask: Float32Array;
}

/**
 * A copy of `pixels` (uint8 HWC, 3 channels, `width` × `height`) with one local change of `kind`,
 * placed at random at least `inset` pixels from the frame's edge; `random` in [0, 1).
 */
export function perturb(
  pixels: Uint8Array,
  width: number,
  height: number,
  kind: PerturbationKind,
  random: () => number,
  inset = 16,
): Perturbed {
  const out = Uint8Array.from(pixels);
  const mask = new Float32Array(width * height);
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  const sign = () => (random() < 0.5 ? -1 : 1);
  const centre = (reach: number) => ({
    cx: between(Math.min(inset + reach, width / 2), Math.max(width - inset - reach, width / 2)),
    cy: between(Math.min(inset + reach, height / 2), Math.max(height - inset - reach, height / 2)),
  });
  // the new value of pixel i, channel c, blended into the frame by weight a
  const blend = (i: number, a: number, value: (c: number) => number) => {
    if (a <= 0) return;
    mask[i] = Math.max(mask[i], a);
    for (let c = 0; c < 3; c++) {
      const v = pixels[i * 3 + c] * (1 - a) + value(c) * a;
      out[i * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  };
  // a soft disc's weight at distance r from its centre, radius R, edge a quarter of R wide
  const soft = (r: number, R: number) => Math.max(0, Math.min(1, (R - r) / Math.max(1, R / 4)));
  const grey = (i: number) => (pixels[i * 3] + pixels[i * 3 + 1] + pixels[i * 3 + 2]) / 3;

  if (kind === 'blob') {
    const rx = between(4, 20);
    const ry = rx * between(0.4, 1);
    const turn = between(0, Math.PI);
    const shift = sign() * between(12, 60);
    const { cx, cy } = centre(rx);
    const [cos, sin] = [Math.cos(turn), Math.sin(turn)];
    for (let y = Math.max(0, Math.floor(cy - rx - 2)); y < Math.min(height, cy + rx + 2); y++) {
      for (let x = Math.max(0, Math.floor(cx - rx - 2)); x < Math.min(width, cx + rx + 2); x++) {
        const u = ((x - cx) * cos + (y - cy) * sin) / rx;
        const v = (-(x - cx) * sin + (y - cy) * cos) / ry;
        // a smooth bump: full inside, falling off as a raised cosine to the ellipse's outline
        const r = Math.sqrt(u * u + v * v);
        const a = r >= 1 ? 0 : 0.5 + 0.5 * Math.cos(Math.PI * r);
        const i = y * width + x;
        blend(i, a, (c) => pixels[i * 3 + c] + shift);
      }
    }
  } else if (kind === 'blur') {
    const R = between(8, 28);
    const k = Math.round(between(1, 4)); // box half-width
    const { cx, cy } = centre(R);
    for (let y = Math.max(0, Math.floor(cy - R)); y < Math.min(height, cy + R); y++) {
      for (let x = Math.max(0, Math.floor(cx - R)); x < Math.min(width, cx + R); x++) {
        const i = y * width + x;
        const a = soft(Math.hypot(x - cx, y - cy), R);
        if (a <= 0) continue;
        const mean = [0, 0, 0];
        let n = 0;
        for (let v = Math.max(0, y - k); v <= Math.min(height - 1, y + k); v++) {
          for (let u = Math.max(0, x - k); u <= Math.min(width - 1, x + k); u++) {
            for (let c = 0; c < 3; c++) mean[c] += pixels[(v * width + u) * 3 + c];
            n++;
          }
        }
        blend(i, a, (c) => mean[c] / n);
      }
    }
  } else if (kind === 'cutpaste') {
    const w = Math.round(between(8, 40));
    const h = Math.round(w * between(0.3, 1));
    const [bw, bh] = random() < 0.5 ? [w, h] : [h, w];
    const sx = Math.floor(between(0, width - bw));
    const sy = Math.floor(between(0, height - bh));
    const { cx, cy } = centre(Math.max(bw, bh) / 2);
    const [tx, ty] = [Math.round(cx - bw / 2), Math.round(cy - bh / 2)];
    const flipX = random() < 0.5;
    const flipY = random() < 0.5;
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const [X, Y] = [tx + x, ty + y];
        if (X < 0 || Y < 0 || X >= width || Y >= height) continue;
        const from = (sy + (flipY ? bh - 1 - y : y)) * width + sx + (flipX ? bw - 1 - x : x);
        // a one-pixel soft seam
        const edge = Math.min(x, y, bw - 1 - x, bh - 1 - y);
        blend(Y * width + X, edge === 0 ? 0.5 : 1, (c) => pixels[from * 3 + c]);
      }
    }
  } else if (kind === 'line') {
    const length = between(16, 80);
    const halfWidth = between(0.5, 2);
    const shift = sign() * between(10, 45);
    const turn = between(0, Math.PI);
    const bend = between(-0.3, 0.3); // radians over the line's length
    const { cx, cy } = centre(length / 2);
    const steps = Math.ceil(length * 2);
    const seen = new Float32Array(width * height);
    for (let s = 0; s <= steps; s++) {
      const t = s / steps - 0.5;
      const angle = turn + bend * t;
      const px = cx + Math.cos(angle) * t * length;
      const py = cy + Math.sin(angle) * t * length;
      const reach = Math.ceil(halfWidth + 1);
      for (let y = Math.max(0, Math.floor(py - reach)); y <= Math.min(height - 1, py + reach); y++) {
        for (let x = Math.max(0, Math.floor(px - reach)); x <= Math.min(width - 1, px + reach); x++) {
          const a = Math.max(0, Math.min(1, halfWidth + 0.5 - Math.hypot(x - px, y - py)));
          const i = y * width + x;
          if (a > seen[i]) seen[i] = a;
        }
      }
    }
    for (let i = 0; i < seen.length; i++) blend(i, seen[i], () => grey(i) + shift);
  } else {
    const R = between(6, 24);
    const spread = between(8, 30);
    const { cx, cy } = centre(R);
    for (let y = Math.max(0, Math.floor(cy - R)); y < Math.min(height, cy + R); y++) {
      for (let x = Math.max(0, Math.floor(cx - R)); x < Math.min(width, cx + R); x++) {
        const i = y * width + x;
        const a = soft(Math.hypot(x - cx, y - cy), R);
        const n = spread * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
        blend(i, a, (c) => pixels[i * 3 + c] + n);
      }
    }
  }
  return { pixels: out, kind, mask };
}
