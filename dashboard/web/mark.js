// @ts-check
// Marking where: on a reject, the technician can mark the defect on the part's picture with a box or
// a brush, with a mouse, a pen or a finger (pointer events). The marks are a region in normalised
// image coordinates (0..1 from the picture's left and top edge, not the screen's), so they mean the
// same at any zoom, on any screen and at the image's full size, and stay a small message; the
// station keeps the region with the decision, the defect log shows it, and `loupe export` draws it as
// the part's ground_truth mask. Self-contained: it lays a canvas over the viewer's image (inside the
// same zoomed and panned stage, so marks follow the view), adds its own buttons and keys
// (D marks on / off, B box or brush, X clears), and hands back the region. Marking captures the
// pointer; with marking off, drags pan the picture as before. `showRegion` draws a stored region
// read-only (the defect log's part view).

/** @typedef {import('../../contract/payloads.ts').Region} Region */
/** @typedef {'box' | 'brush'} Tool */

/** The brush radius, as a share of the picture's shorter side (the contract's `r`). */
const BRUSH = 0.03;
/** The contract's bounds (contract/payloads.ts RegionSchema): boxes and strokes each, points a stroke. */
const MAX_SHAPES = 16;
const MAX_POINTS = 256;
const COLOUR = '#00d0ff';

/** Four decimals: a ten-thousandth of the picture is finer than any defect a person marks. */
const round = (/** @type {number} */ v) => Math.round(Math.min(1, Math.max(0, v)) * 10_000) / 10_000;

/**
 * The picture inside an `object-fit: contain` image element: its offset and size in the element's
 * own (untransformed) pixels, or null before the picture has loaded.
 * @param {HTMLImageElement} image
 */
function pictureBox(image) {
  const width = image.clientWidth;
  const height = image.clientHeight;
  if (!image.naturalWidth || !image.naturalHeight || !width || !height) return null;
  const scale = Math.min(width / image.naturalWidth, height / image.naturalHeight);
  const w = image.naturalWidth * scale;
  const h = image.naturalHeight * scale;
  return { x: (width - w) / 2, y: (height - h) / 2, w, h };
}

/**
 * A canvas over `image` (and its siblings, the heatmap), the same size, in the same parent, which must
 * be positioned and hold nothing but the image and its layers.
 * @param {HTMLImageElement} image
 */
function overlayOf(image) {
  const canvas = document.createElement('canvas');
  canvas.className = 'mark-layer';
  Object.assign(canvas.style, {
    position: 'absolute',
    inset: '0',
    width: '100%',
    height: '100%',
    pointerEvents: 'none',
    opacity: '0.5',
    touchAction: 'none',
  });
  image.parentElement?.append(canvas); // above the heatmap too
  return canvas;
}

/**
 * Draws a region (and a shape being drawn) on the overlay.
 * @param {HTMLCanvasElement} canvas
 * @param {HTMLImageElement} image
 * @param {Region | null} region
 */
function paint(canvas, image, region) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  const g = canvas.getContext('2d');
  const box = pictureBox(image);
  if (!g || !box || !region) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.fillStyle = COLOUR;
  g.strokeStyle = COLOUR;
  const at = (/** @type {number} */ x, /** @type {number} */ y) =>
    /** @type {[number, number]} */ ([box.x + x * box.w, box.y + y * box.h]);
  for (const b of region.boxes ?? []) g.fillRect(box.x + b.x * box.w, box.y + b.y * box.h, b.w * box.w, b.h * box.h);
  g.lineCap = 'round';
  g.lineJoin = 'round';
  for (const s of region.strokes ?? []) {
    const r = s.r * Math.min(box.w, box.h);
    g.lineWidth = 2 * r;
    g.beginPath();
    const [first, ...rest] = s.points;
    g.moveTo(...at(first[0], first[1]));
    // a single point (a tap) is a dot: a line to itself with round caps
    for (const [x, y] of rest.length > 0 ? rest : [first]) g.lineTo(...at(x, y));
    g.stroke();
  }
}

/**
 * Marking on the viewer's image. `controls`, when given, receives the buttons (marks, box/brush, clear).
 * @param {HTMLImageElement} image
 * @param {HTMLElement | null} [controls]
 */
export function attachMarking(image, controls = null) {
  const canvas = overlayOf(image);
  /** @type {{ boxes: NonNullable<Region['boxes']>, strokes: NonNullable<Region['strokes']> }} */
  let marks = { boxes: [], strokes: [] };
  let on = false;
  /** @type {Tool} */
  let tool = 'box';

  /** @param {string} text @param {string} title @param {() => void} onclick */
  const button = (text, title, onclick) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small';
    b.title = title;
    b.textContent = text;
    b.onclick = onclick;
    controls?.append(b);
    return b;
  };
  const toggleButton = button('mark', 'mark where the defect is (D)', () => toggle());
  toggleButton.id = 'mark-toggle';
  const toolButton = button('box', 'box or brush (B)', () => setTool(tool === 'box' ? 'brush' : 'box'));
  toolButton.id = 'mark-tool';
  const clearButton = button('clear', 'clear the marks (X)', () => clear());
  clearButton.id = 'mark-clear';

  /** The marks as the contract's region, or null when nothing is marked. */
  function region() {
    /** @type {Region} */
    const r = {};
    if (marks.boxes.length > 0) r.boxes = marks.boxes.map((b) => ({ ...b }));
    if (marks.strokes.length > 0)
      r.strokes = marks.strokes.map((s) => ({ r: s.r, points: s.points.map((p) => [p[0], p[1]]) }));
    return r.boxes || r.strokes ? r : null;
  }

  function render() {
    paint(canvas, image, region());
    const count = marks.boxes.length + marks.strokes.length;
    canvas.style.pointerEvents = on ? 'auto' : 'none';
    canvas.style.cursor = on ? 'crosshair' : '';
    toggleButton.classList.toggle('chosen', on);
    toggleButton.textContent = on ? `marking${count ? ` (${count})` : ''}` : `mark${count ? ` (${count})` : ''}`;
    toolButton.textContent = tool;
    clearButton.disabled = count === 0;
  }

  /** Marking on or off (a picture must be shown); returns whether it is on. */
  function toggle(want = !on) {
    on = want && image.naturalWidth > 0 && !image.closest('[hidden]');
    render();
    return on;
  }

  /** @param {Tool} name */
  function setTool(name) {
    tool = name;
    render();
  }

  function clear() {
    marks = { boxes: [], strokes: [] };
    render();
  }

  /** A new part: no marks, marking off; `region` brings back marks (a decision taken back with U). */
  function reset(/** @type {Region | null | undefined} */ restored = null) {
    marks = {
      boxes: (restored?.boxes ?? []).map((b) => ({ ...b })),
      strokes: (restored?.strokes ?? []).map((s) => ({ r: s.r, points: s.points.map((p) => [p[0], p[1]]) })),
    };
    on = false;
    render();
  }

  /** A pointer position as normalised picture coordinates (the stage may be zoomed and panned). */
  const where = (/** @type {PointerEvent} */ event) => {
    const box = pictureBox(image);
    const rect = image.getBoundingClientRect();
    if (!box || !rect.width) return null;
    const scale = rect.width / image.clientWidth; // the stage's zoom
    return [
      round((event.clientX - rect.left - box.x * scale) / (box.w * scale)),
      round((event.clientY - rect.top - box.y * scale) / (box.h * scale)),
    ];
  };

  canvas.addEventListener('pointerdown', (event) => {
    if (!on) return;
    const start = where(event);
    if (!start) return;
    // marking, not panning; no preventDefault: on a touch pointer it cost Chromium the click of the next tap (Reject)
    event.stopPropagation();
    canvas.setPointerCapture(event.pointerId);
    /** @type {(e: PointerEvent) => void} */
    let move;
    if (tool === 'box') {
      if (marks.boxes.length >= MAX_SHAPES) marks.boxes.shift();
      const shape = { x: start[0], y: start[1], w: 0, h: 0 };
      marks.boxes.push(shape);
      move = (e) => {
        const p = where(e);
        if (!p) return;
        Object.assign(shape, {
          x: Math.min(start[0], p[0]),
          y: Math.min(start[1], p[1]),
          w: round(Math.abs(p[0] - start[0])),
          h: round(Math.abs(p[1] - start[1])),
        });
        render();
      };
    } else {
      if (marks.strokes.length >= MAX_SHAPES) marks.strokes.shift();
      let stroke = { r: BRUSH, points: [start] };
      marks.strokes.push(stroke);
      move = (e) => {
        const p = where(e);
        const box = pictureBox(image);
        if (!p || !box) return;
        const last = stroke.points[stroke.points.length - 1];
        // a point when the brush moved half its radius: a smooth stroke in few points
        const step = Math.hypot((p[0] - last[0]) * box.w, (p[1] - last[1]) * box.h) / Math.min(box.w, box.h);
        if (step < BRUSH / 2) return;
        if (stroke.points.length >= MAX_POINTS) {
          if (marks.strokes.length >= MAX_SHAPES) return;
          stroke = { r: BRUSH, points: [last] };
          marks.strokes.push(stroke);
        }
        stroke.points.push(p);
        render();
      };
    }
    const up = (/** @type {PointerEvent} */ e) => {
      move(e);
      canvas.removeEventListener('pointermove', move);
      canvas.removeEventListener('pointerup', up);
      canvas.removeEventListener('pointercancel', up);
      // a tap with the box tool marks nothing
      marks.boxes = marks.boxes.filter((b) => b.w > 0 && b.h > 0);
      render();
    };
    canvas.addEventListener('pointermove', move);
    canvas.addEventListener('pointerup', up);
    canvas.addEventListener('pointercancel', up);
    render();
  });

  // A drawing surface: the browser's own touch gestures (scroll, zoom, long press) stay off it while marking.
  canvas.addEventListener(
    'touchstart',
    (event) => {
      if (on) event.preventDefault();
    },
    { passive: false },
  );

  addEventListener('keydown', (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement && target.type !== 'checkbox' && target.type !== 'range') return;
    if (event.ctrlKey || event.metaKey || event.altKey || image.closest('[hidden]')) return;
    const k = event.key.toLowerCase();
    if (k === 'd') toggle();
    else if (k === 'b') setTool(tool === 'box' ? 'brush' : 'box');
    else if (k === 'x') clear();
    else return;
    event.preventDefault();
  });
  image.addEventListener('load', render);
  new window.ResizeObserver(render).observe(canvas);
  render();

  return {
    region,
    toggle,
    setTool,
    clear,
    reset,
    get active() {
      return on;
    },
    get tool() {
      return tool;
    },
  };
}

/**
 * Draws a stored region over `image` (read-only), or removes it when there is none.
 * @param {HTMLImageElement} image
 * @param {Region | null | undefined} region
 */
export function showRegion(image, region) {
  let canvas = /** @type {HTMLCanvasElement | null} */ (
    image.parentElement?.querySelector('canvas.mark-layer') ?? null
  );
  if (!region) return canvas?.remove();
  canvas ??= overlayOf(image);
  const layer = canvas;
  const draw = () => paint(layer, image, region);
  if (image.complete && image.naturalWidth) draw();
  image.addEventListener('load', draw, { once: true });
}

/** A region in words, for a timeline: "2 boxes, 1 brush stroke". */
export function regionWords(/** @type {Region} */ region) {
  const parts = [];
  const boxes = region.boxes?.length ?? 0;
  const strokes = region.strokes?.length ?? 0;
  if (boxes) parts.push(`${boxes} ${boxes === 1 ? 'box' : 'boxes'}`);
  if (strokes) parts.push(`${strokes} brush ${strokes === 1 ? 'stroke' : 'strokes'}`);
  return parts.join(', ');
}
