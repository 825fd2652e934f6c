// @ts-check
// The queue of parts waiting for a person, soonest deadline first, with who holds each; the
// stations' health above it; the recent results below. Clicks on an item are handled by keys.js.
import { $, el, fmt } from './dom.js';
import { renderDrift } from './drift.js';
import { icon } from './icons.js';
import { countdown, heldByOther, keyOf, partUrl, state, stationOf } from './state.js';
import { reasonWords, VERDICT_WORDS } from './words.js';

/** @typedef {import('../../contract/payloads.ts').Review} Review */

// A technician's screen shows one line (`/?line=line-7`); without it, a shift lead's: every line of
// every edge box on the broker, each station with its health.
const onlyLine = new URLSearchParams(location.search).get('line');
const onLine = (/** @type {{ line: string }} */ item) => !onlyLine || item.line === onlyLine;

/** The open reviews this screen shows, soonest deadline first. */
export const ordered = () =>
  [...state.reviews.values()]
    .filter(onLine)
    .sort((a, b) => a.deadline.localeCompare(b.deadline) || a.openedAt.localeCompare(b.openedAt));

/** The next part free to open after `after` in the queue's order (wrapping round), or null. */
export function firstOpen(/** @type {string | null} */ after) {
  const all = ordered();
  const from = after ? all.findIndex((r) => keyOf(r) === after) : -1;
  const free = all.filter((r) => !state.sent.has(keyOf(r)) && !heldByOther(keyOf(r)) && keyOf(r) !== after);
  const next = free.find((r) => all.indexOf(r) > from) ?? free[0];
  return next ? keyOf(next) : null;
}

// The queue's items, by review: a draw adds the new ones, rebuilds only those whose content changed
// and drops the closed ones. Rebuilding every item on every change cost more than a core of the
// browser at a few hundred open reviews (in the review-to-screen bench, on the station's cores).
// A review without an item yet is new: it is marked fresh and reported drawn.
/** @type {Map<string, HTMLLIElement>} */
const items = new Map();

/** Draws the queue and the stations; tells `loupe:drawn` listeners (the benchmark) of new items once painted. */
export function renderQueue() {
  const reviews = ordered();
  /** @type {{ partId: string, openedAt: string }[]} */
  const added = [];
  const queue = $('queue');
  const open = new Set();
  let before = queue.firstChild;
  for (const r of reviews) {
    const key = keyOf(r);
    open.add(key);
    const holder = heldByOther(key);
    const sent = state.sent.has(key);
    const content = `${holder ? holder.holder : ''}|${sent}|${r.deadline}|${r.score}|${r.reasons.join(',')}`;
    let li = items.get(key);
    if (!li || li.dataset.content !== content) {
      const fresh = !li;
      if (fresh) added.push({ partId: r.partId, openedAt: r.openedAt });
      const item = el(
        'li',
        { className: fresh ? 'fresh' : '', dataset: { part: r.partId, key, content } },
        thumbnail(r),
        el(
          'div',
          { className: 'item-text' },
          el(
            'div',
            { className: 'item-head' },
            el('strong', {}, r.partId),
            el('span', { className: 'countdown', dataset: { deadline: r.deadline } }, countdown(r.deadline)),
          ),
          el(
            'div',
            { className: 'muted' },
            `${r.station} · ${r.score === null ? 'no score' : `score ${fmt(r.score)}`}`,
          ),
          el('div', { className: 'muted' }, r.reasons.map(reasonWords).join('; ')),
          holder ? el('div', { className: 'holder' }, icon('lock'), ` ${holder.holder} is deciding`) : '',
          sent ? el('div', { className: 'muted' }, 'decision on its way…') : '',
        ),
      );
      if (li) li.replaceWith(item);
      if (before === li) before = item;
      li = item;
      items.set(key, li);
    }
    li.classList.toggle('selected', key === state.selected);
    li.classList.toggle('sent', sent);
    if (li !== before) queue.insertBefore(li, before);
    before = li.nextSibling;
  }
  for (const [key, li] of items)
    if (!open.has(key)) {
      li.remove();
      items.delete(key);
    }
  $('queue-count').textContent = String(reviews.length);
  $('queue-empty').hidden = reviews.length > 0;
  document.title = reviews.length ? `(${reviews.length}) Loupe` : 'Loupe';
  renderStations(reviews);
  // Told once the browser has painted the new items (the review-to-screen benchmark listens).
  if (added.length)
    requestAnimationFrame(() =>
      dispatchEvent(new CustomEvent('loupe:drawn', { detail: { items: added, at: Date.now() } })),
    );
}

/** Marks the item of the part just opened, before the next full draw. */
export function markSelected(/** @type {string | null} */ key) {
  for (const li of $('queue').children)
    li.classList.toggle('selected', li instanceof HTMLElement && li.dataset.key === key);
}

/** A small picture of the part (loaded only when the item scrolls into view), or a plain "no picture" mark. */
function thumbnail(/** @type {Review} */ review) {
  const box = el('span', { className: 'thumb' });
  const img = el('img', { alt: '', loading: 'lazy', decoding: 'async', src: `${partUrl(review)}/image` });
  img.onerror = () => box.replaceChildren(icon('noimage', 'no picture'));
  box.append(img);
  return box;
}

function renderStations(/** @type {Review[]} */ reviews) {
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const r of reviews) counts.set(stationOf(r), (counts.get(stationOf(r)) ?? 0) + 1);
  const many = new Set([...state.statuses.values()].map((s) => s.line)).size > 1;
  renderDrift([...state.statuses.values()].filter(onLine));
  $('stations').replaceChildren(
    ...[...state.statuses.values()].filter(onLine).map((s) => {
      const n = counts.get(stationOf(s)) ?? 0;
      // Grey when the station is gone, or when this screen cannot know (feed or broker lost).
      const known = state.feedUp && state.broker;
      const online = known && s.state === 'online';
      const said = !known ? 'unknown' : s.state;
      const health = `${s.modelLoaded === false ? ' · no model' : ''}${s.outboxDepth ? ` · ${s.outboxDepth} unsent` : ''}`;
      const name = `${many && !onlyLine ? `${s.line}/` : ''}${s.station}`;
      return el(
        'li',
        {
          className: online ? 'online' : 'gone',
          dataset: { station: s.station, line: s.line, state: online ? 'online' : 'gone' },
        },
        icon('dot'),
        `${name}: ${said}${online && s.overloaded ? ' · overloaded' : ''} · ${n} to review${health}`,
      );
    }),
  );
}

/** The recent results table, newest first. */
export function renderResults() {
  $('results').replaceChildren(
    ...state.results.map((r) =>
      el(
        'tr',
        {},
        el('td', {}, r.partId),
        el('td', {}, r.station),
        el('td', { className: `v-${r.verdict}` }, VERDICT_WORDS[r.verdict] ?? r.verdict),
        el('td', {}, fmt(r.score)),
        el('td', {}, r.reasons.map(reasonWords).join('; ')),
        el('td', {}, String(r.timings.totalMs)),
      ),
    ),
  );
}

/** Every second: the countdowns. */
export function tickCountdowns() {
  for (const node of document.querySelectorAll('.countdown'))
    if (node instanceof HTMLElement) node.textContent = countdown(node.dataset.deadline ?? '');
}
