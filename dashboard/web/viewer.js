// @ts-check
// The part's picture: the frame with its anomaly map over it (H toggles it, a slider sets how much
// shows), zoom and pan, and a plain "no picture" panel when there is no frame to show. G puts the
// nearest good part beside it (below it on a narrow screen): a part people accepted at the same
// station, aligned to this one by the edge (edge/src/review/golden.ts), zoomed and panned with it.
import { $, el, when } from './dom.js';
import { icon } from './icons.js';
import { keyOf, partUrl, shown, state } from './state.js';

/** @typedef {import('../../contract/payloads.ts').Review} Review */
/** @typedef {import('../../contract/golden.ts').Golden} Golden */

const image = () => $('part-image', HTMLImageElement);
const heatmap = () => $('part-map', HTMLImageElement);
const mapOn = () => $('map-on', HTMLInputElement);

/** @type {string | null} the part whose golden reference is shown (or being fetched): a newer part overtakes an older answer */
let goldenFor = null;

/** Shows a newly opened part's frame and map, from the start (no zoom). */
export function showPicture(/** @type {Review} */ review) {
  const base = partUrl(review);
  $('no-picture').hidden = true;
  $('stage').hidden = false;
  $('viewer').classList.remove('no-picture');
  image().onerror = () => noPicture(review);
  image().src = `${base}/image`;
  heatmap().hidden = false;
  heatmap().onerror = () => {
    heatmap().hidden = true;
  };
  heatmap().src = `${base}/heatmap`;
  goldenFor = null;
  showGolden();
}

/** Shows or hides the nearest good part beside the part shown, as `state.golden` says; fetches it once a part. */
export async function showGolden() {
  const review = shown();
  const on = state.golden && Boolean(review);
  $('golden-on', HTMLInputElement).checked = state.golden;
  $('viewer').classList.toggle('compare', on);
  $('golden').hidden = !on;
  if (!on || !review) return;
  const key = keyOf(review);
  if (goldenFor === key) return;
  goldenFor = key;
  const picture = $('golden-image', HTMLImageElement);
  const label = $('golden-label');
  picture.hidden = true;
  picture.removeAttribute('src');
  label.textContent = 'looking for the nearest good part…';
  const response = await fetch(`${partUrl(review)}/golden`).catch(() => null);
  if (goldenFor !== key) return;
  /** @type {Partial<Golden> & { message?: string }} */
  const answer = response ? await response.json().catch(() => ({})) : {};
  if (!response || !response.ok || !answer.golden || !answer.imageUrl) {
    label.textContent = answer.message ?? 'No good part to compare with: the dashboard cannot reach the station.';
    return;
  }
  const g = answer.golden;
  picture.onerror = () => {
    picture.hidden = true;
    label.textContent = `The good part ${g.partId} cannot be shown: its image is gone.`;
  };
  picture.src = answer.imageUrl;
  picture.hidden = false;
  label.dataset.golden = g.partId;
  label.textContent = `good part ${g.partId}: accepted${g.acceptedBy ? ` by ${g.acceptedBy}` : ''} ${when(g.acceptedAt)}`;
}

/** G: the nearest good part beside the part, or not. */
export function toggleGolden() {
  state.golden = !state.golden;
  localStorage.setItem('loupe.golden', state.golden ? '1' : '0');
  showGolden();
}

/** The panel shown instead of a frame, saying why there is none. */
function noPicture(/** @type {Review} */ review) {
  $('stage').hidden = true;
  $('viewer').classList.add('no-picture');
  const why = review.reasons.includes('unreadable_image')
    ? 'the image could not be read'
    : review.reasons.some((r) => ['overload', 'missing_frame', 'interrupted'].includes(r))
      ? 'no image was kept for this part'
      : 'the image is not available';
  $('no-picture').replaceChildren(
    icon('noimage'),
    el('strong', {}, 'No picture'),
    el('span', {}, `${why[0].toUpperCase()}${why.slice(1)}. Look at the part itself before you decide.`),
  );
  $('no-picture').hidden = false;
}

/** Draws the zoom, the pan and the heatmap's strength as the state says. */
export function applyView() {
  const { scale, x, y } = state.view;
  $('stage').style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  $('golden-stage').style.transform = $('stage').style.transform; // the good part moves with the part
  heatmap().style.opacity = mapOn().checked ? String(Number($('map-opacity', HTMLInputElement).value) / 100) : '0';
}

/** Zooms by `factor`, between 1 and 8; back at 1 the picture is also centred again. */
export function zoom(/** @type {number} */ factor) {
  state.view.scale = Math.min(8, Math.max(1, state.view.scale * factor));
  if (state.view.scale === 1) state.view.x = state.view.y = 0;
  applyView();
}

/** Back to the whole picture. */
export function fit() {
  state.view = { scale: 1, x: 0, y: 0 };
  applyView();
}

export function toggleHeatmap() {
  mapOn().checked = !mapOn().checked;
  applyView();
}

/** The wheel zooms, a drag pans, and the heatmap's controls redraw. */
export function wireViewer() {
  $('viewer').addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      zoom(event.deltaY < 0 ? 1.25 : 0.8);
    },
    { passive: false },
  );
  $('stage').addEventListener('pointerdown', (event) => {
    const start = { x: event.clientX - state.view.x, y: event.clientY - state.view.y };
    const move = (/** @type {PointerEvent} */ e) => {
      state.view.x = e.clientX - start.x;
      state.view.y = e.clientY - start.y;
      applyView();
    };
    const up = () => {
      removeEventListener('pointermove', move);
      removeEventListener('pointerup', up);
    };
    addEventListener('pointermove', move);
    addEventListener('pointerup', up);
  });
  mapOn().onchange = applyView;
  $('golden-on', HTMLInputElement).onchange = toggleGolden;
  $('map-opacity').oninput = applyView;
  $('zoom-in').onclick = () => zoom(1.25);
  $('zoom-out').onclick = () => zoom(0.8);
  $('zoom-reset').onclick = fit;
}
