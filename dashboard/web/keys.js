// @ts-check
// Keys and buttons of the technician screen: one place that says what each key and button does
// (the help box in index.html lists the same keys).
import { $ } from './dom.js';
import { choose, confirmSuggestion, decide, leaveCorrection, openPart, sendPending, undo } from './desk.js';
import { toggleMute } from './feed.js';
import { api } from './session.js';
import { state } from './state.js';
import { firstOpen } from './queue.js';
import { fit, toggleGolden, toggleHeatmap, wireViewer, zoom } from './viewer.js';

const toggleHelp = () => {
  $('help').hidden = !$('help').hidden;
};

/** The element with `data-<name>` that an event happened in, or null. */
const within = (/** @type {Event} */ event, /** @type {string} */ selector) =>
  event.target instanceof Element ? event.target.closest(selector) : null;

export function wireKeys() {
  wireViewer();
  // Items and buttons drawn by the queue and the part say what they are in data attributes.
  $('queue').addEventListener('click', (event) => {
    const li = within(event, 'li[data-key]');
    if (li instanceof HTMLElement && li.dataset.key) openPart(li.dataset.key);
  });
  $('categories').addEventListener('click', (event) => {
    const b = within(event, 'button[data-index]');
    if (b instanceof HTMLElement) choose(Number(b.dataset.index));
  });
  $('undo-bar').addEventListener('click', (event) => {
    if (within(event, 'button[data-undo]')) undo();
  });
  $('suggestion').addEventListener('click', (event) => {
    if (within(event, 'button[data-confirm]')) confirmSuggestion();
  });
  $('accept').onclick = () => decide('accept');
  $('reject').onclick = () => decide('reject');
  $('next').onclick = () => openPart(firstOpen(state.selected));
  $('undo').onclick = () => undo();
  $('mute').onclick = () => toggleMute();
  $('help-button').onclick = toggleHelp;
  $('help').onclick = () => {
    $('help').hidden = true;
  };
  $('logout').onclick = async () => {
    sendPending();
    await api('/api/logout', {});
    location.assign('/login?out=1');
  };

  addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== 'checkbox' && event.target.type !== 'range')
      return;
    const k = event.key;
    if ((event.ctrlKey || event.metaKey) && (k === 'z' || k === 'Z')) {
      undo();
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (k === '?') toggleHelp();
    else if (k === 'Escape') {
      $('help').hidden = true;
      if (state.correcting) leaveCorrection();
    } else if (k === 'a' || k === 'A') decide('accept');
    else if (k === 'r' || k === 'R') decide('reject');
    else if (k === 'u' || k === 'U') undo();
    else if (k === 'n' || k === 'N') openPart(firstOpen(state.selected));
    else if (k >= '1' && k <= '9') choose(Number(k) - 1);
    else if (k === 's' || k === 'S') confirmSuggestion();
    else if (k === 'h' || k === 'H') toggleHeatmap();
    else if (k === 'g' || k === 'G') toggleGolden();
    else if (k === '+' || k === '=') zoom(1.25);
    else if (k === '-') zoom(0.8);
    else if (k === '0') fit();
    else if (k === 'm' || k === 'M') toggleMute();
    else return;
    event.preventDefault();
  });
}
