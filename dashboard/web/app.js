// Loupe technician screen. One WebSocket: a snapshot first, then every change; on reconnect the
// snapshot replaces what we had, so nothing is lost or shown twice. No framework, no build: it
// runs on line tablets and old PCs.
//
// No accidental decisions: a part is claimed only when the person opens it (a tap, N, or the next
// part after their own decision); keys and buttons wait a short guard after a part is shown; a
// decision waits `undoSeconds` on screen (U undoes it) before it is sent; once sent, U offers a
// correction, which the station publishes as a corrected verdict.
import { $, el, fmt, when } from '/dom.js';
import { icon } from '/icons.js';
import { reasonWords, VERDICT_WORDS } from '/words.js';

/** @typedef {{ line: string, station: string, partId: string, score: number|null, reasons: string[], deadline: string, openedAt: string, defaultAction: string, categories: string[], thresholds: { passBelow: number, rejectAbove: number }, model: { id: string, version: string } }} Review */
/** @typedef {{ decision: 'accept'|'reject', category?: string }} Body */
/** @typedef {{ key: string, review: Review, body: Body, timer: number, sendAt: number }} Pending */
/** @typedef {{ key: string, review: Review, body: Body, at: number }} Sent */

const keyOf = (r) => `${r.line}/${r.station}/${r.partId}`;
const stationOf = (r) => `${r.line}/${r.station}`;
const reviewUrl = (r) => `/api/reviews/${r.line}/${r.station}/${encodeURIComponent(r.partId)}`;
const partUrl = (r) => `/api/parts/${r.line}/${r.station}/${encodeURIComponent(r.partId)}`;

const state = {
  me: null, screen: { undoSeconds: 4, guardMs: 700, claimSeconds: 120, correctionMinutes: 10 },
  statuses: new Map(), reviews: new Map(), claims: new Map(), results: [],
  /** the part this person opened (claimed), or null: loading the page opens nothing */
  selected: null,
  /** the part this screen holds a claim on (set when a claim succeeds) */
  held: null,
  /** the holder's name when the claim on the open part was lost to someone else */
  lost: null,
  category: null, sent: new Set(), muted: localStorage.getItem('loupe.muted') === '1',
  view: { scale: 1, x: 0, y: 0 }, retry: 0, leaving: false,
  /** the WebSocket is open; the dashboard's own broker link is up */
  feedUp: false, broker: true,
  /** keys and buttons act on the part shown only after this time */
  guardUntil: 0,
  /** @type {Pending|null} the last decision, still on screen and undoable */
  pending: null,
  /** @type {Sent|null} the last decision sent, which U can correct */
  last: null,
  /** @type {Sent|null} the decision being corrected */
  correcting: null,
};

// ---- session and feed -------------------------------------------------------------------------

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401) return toLogin(await response.json().catch(() => ({})));
  state.me = await response.json();
  $('who').textContent = `${state.me.name} · ${state.me.role}`;
  $('manager-nav').hidden = state.me.role === 'technician';
  $('people-nav').hidden = state.me.role !== 'admin';
  const screen = await fetch('/api/screen').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (screen) Object.assign(state.screen, screen);
  connect();
  setInterval(tick, 1000);
}

function toLogin(body) {
  // The feed closing and a refused request can both notice the end of a session: leave once.
  if (state.leaving) return;
  state.leaving = true;
  const expired = body && body.error === 'session_expired';
  notice(expired ? 'Your session has expired: log in again. Nothing you decided was lost.' : 'Please log in.', 'error');
  setTimeout(() => location.assign(`/login?next=${encodeURIComponent(location.pathname)}${expired ? '&expired=1' : ''}`), 1500);
}

function connect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  window.loupeSocket = socket; // for tests and the curious: closing it shows the reconnect
  socket.onopen = () => { state.retry = 0; state.feedUp = true; link('live', 'online'); later('queue'); };
  socket.onmessage = (message) => apply(JSON.parse(message.data));
  socket.onclose = async () => {
    state.feedUp = false;
    link('feed lost: reconnecting…', 'off');
    later('queue');
    // A refused or closed feed may mean the session ended: ask before trying again.
    const session = await fetch('/api/session').catch(() => null);
    if (session && session.status === 401) return toLogin(await session.json().catch(() => ({})));
    state.retry = Math.min(state.retry + 1, 5);
    setTimeout(connect, 500 * state.retry);
  };
}

function link(text, className) { $('link').textContent = text; $('link').className = className; }

function apply(event) {
  switch (event.type) {
    case 'snapshot':
      state.statuses = new Map(event.statuses.map((s) => [stationOf(s), s]));
      state.reviews = new Map(event.reviews.map((r) => [keyOf(r), r]));
      state.claims = new Map(event.claims.map((c) => [c.key, c]));
      state.results = event.results;
      state.broker = event.broker !== false;
      for (const key of state.sent) if (!state.reviews.has(key)) state.sent.delete(key);
      if (state.selected && !state.reviews.has(state.selected)) closedUnderMe(state.selected);
      later('results');
      break;
    case 'status': state.statuses.set(stationOf(event.status), event.status); break;
    case 'broker': state.broker = event.connected; break;
    case 'review': state.reviews.set(keyOf(event.review), event.review); cue(); break;
    case 'review-closed': {
      const key = keyOf(event);
      state.reviews.delete(key); state.claims.delete(key); state.sent.delete(key);
      if (state.selected === key) closedUnderMe(key);
      break;
    }
    case 'claim': {
      const key = keyOf(event);
      state.claims.set(key, event);
      // Someone else took the part open here (our claim ran out): say so at once.
      if (key === state.selected && key === state.held && event.holder !== state.me.name && state.lost !== event.holder) {
        state.lost = event.holder;
        notice(`You lost ${event.partId}: ${event.holder} is deciding it now. Pick another part (N).`, 'error');
      }
      break;
    }
    case 'claim-released': state.claims.delete(keyOf(event)); break;
    case 'decision-refused':
      // The station refused what this person sent (someone decided it first, or it had closed).
      state.sent.delete(keyOf(event));
      notice(`${event.partId}: the station refused your decision. ${event.message}`, 'error');
      break;
    case 'result':
      state.results.unshift(event.result);
      if (state.results.length > 50) state.results.length = 50;
      later('results');
      return;
    default: return;
  }
  later('queue');
}

/** The part open here was closed by someone else or by its deadline. */
function closedUnderMe(key) {
  if (state.pending?.key === key) return;
  const partId = key.split('/').slice(2).join('/');
  state.selected = null;
  state.lost = null;
  notice(`${partId} is no longer open: it was decided elsewhere or its deadline passed.`, 'warn');
}

// The feed's changes are drawn once per frame, not once per message: each draw walks the whole
// queue and rebuilds the results table, so a busy line (tens of reviews and results a second,
// hundreds open) would otherwise make the page fall behind. A timer backs the frame up, so a tab in
// the background (no frames) still keeps its title's count.
const due = { queue: false, results: false, armed: false };
function later(what) {
  due[what] = true;
  if (due.armed) return;
  due.armed = true;
  requestAnimationFrame(drawDue);
  setTimeout(drawDue, 250);
}
function drawDue() {
  if (!due.armed) return;
  const { queue, results } = due;
  due.queue = due.results = due.armed = false;
  if (results) renderResults();
  if (queue) render();
}

// ---- queue ------------------------------------------------------------------------------------

// A technician's screen shows one line (`/?line=line-7`); without it, a shift lead's: every line of
// every edge box on the broker, each station with its health.
const onlyLine = new URLSearchParams(location.search).get('line');
const onLine = (item) => !onlyLine || item.line === onlyLine;
const ordered = () => [...state.reviews.values()].filter(onLine).sort((a, b) => a.deadline.localeCompare(b.deadline) || a.openedAt.localeCompare(b.openedAt));
const heldByOther = (key) => { const c = state.claims.get(key); return c && c.holder !== state.me.name && Date.parse(c.expiresAt) > Date.now() ? c : null; };
/** The next part free to open after `after` in the queue's order (wrapping round), or null. */
const firstOpen = (after) => {
  const all = ordered();
  const from = after ? all.findIndex((r) => keyOf(r) === after) : -1;
  const free = all.filter((r) => !state.sent.has(keyOf(r)) && !heldByOther(keyOf(r)) && keyOf(r) !== after);
  const next = free.find((r) => all.indexOf(r) > from) ?? free[0];
  return next ? keyOf(next) : null;
};

// The queue's items, by review: a draw adds the new ones, rebuilds only those whose content changed
// and drops the closed ones. Rebuilding every item on every change cost more than a core of the
// browser at a few hundred open reviews (in the review-to-screen bench, on the station's cores).
// A review without an item yet is new: it is marked fresh and reported drawn.
const items = new Map();

function render() {
  const reviews = ordered();
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
      const item = el('li', { className: fresh ? 'fresh' : '', dataset: { part: r.partId, key, content }, onclick: () => openPart(key) },
        thumbnail(r),
        el('div', { className: 'item-text' },
          el('div', { className: 'item-head' }, el('strong', {}, r.partId), el('span', { className: 'countdown', dataset: { deadline: r.deadline } }, countdown(r.deadline))),
          el('div', { className: 'muted' }, `${r.station} · ${r.score === null ? 'no score' : `score ${fmt(r.score)}`}`),
          el('div', { className: 'muted' }, r.reasons.map(reasonWords).join('; ')),
          holder ? el('div', { className: 'holder' }, icon('lock'), ` ${holder.holder} is deciding`) : '',
          sent ? el('div', { className: 'muted' }, 'decision on its way…') : ''));
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
  for (const [key, li] of items) if (!open.has(key)) { li.remove(); items.delete(key); }
  $('queue-count').textContent = String(reviews.length);
  $('queue-empty').hidden = reviews.length > 0;
  document.title = reviews.length ? `(${reviews.length}) Loupe` : 'Loupe';
  renderStations(reviews);
  renderPart();
  renderUndo();
  // Told once the browser has painted the new items (the review-to-screen benchmark listens).
  if (added.length) requestAnimationFrame(() => dispatchEvent(new CustomEvent('loupe:drawn', { detail: { items: added, at: Date.now() } })));
}

/** A small picture of the part (loaded only when the item scrolls into view), or a plain "no picture" mark. */
function thumbnail(review) {
  const box = el('span', { className: 'thumb' });
  const img = el('img', { alt: '', loading: 'lazy', decoding: 'async', src: `${partUrl(review)}/image` });
  img.onerror = () => box.replaceChildren(icon('noimage', 'no picture'));
  box.append(img);
  return box;
}

/** Whether decisions can reach the station now; the reason in plain words when they cannot. */
function unreachable(review) {
  if (!state.feedUp) return 'The live feed is down: decisions are off until it is back.';
  if (!state.broker) return 'The dashboard has lost the stations (MQTT broker): decisions are off until it is back.';
  const status = state.statuses.get(stationOf(review));
  if (!status || status.state !== 'online') return `${review.station} is offline: decisions are off until it is back.`;
  return null;
}

function renderStations(reviews) {
  const counts = new Map();
  for (const r of reviews) counts.set(stationOf(r), (counts.get(stationOf(r)) ?? 0) + 1);
  const many = new Set([...state.statuses.values()].map((s) => s.line)).size > 1;
  $('stations').replaceChildren(...[...state.statuses.values()].filter(onLine).map((s) => {
    const n = counts.get(stationOf(s)) ?? 0;
    // Grey when the station is gone, or when this screen cannot know (feed or broker lost).
    const known = state.feedUp && state.broker;
    const online = known && s.state === 'online';
    const said = !known ? 'unknown' : s.state;
    const health = `${s.modelLoaded === false ? ' · no model' : ''}${s.outboxDepth ? ` · ${s.outboxDepth} unsent` : ''}`;
    const name = `${many && !onlyLine ? `${s.line}/` : ''}${s.station}`;
    return el('li', { className: online ? 'online' : 'gone', dataset: { station: s.station, line: s.line, state: online ? 'online' : 'gone' } },
      icon('dot'), `${name}: ${said}${online && s.overloaded ? ' · overloaded' : ''} · ${n} to review${health}`);
  }));
}

function renderResults() {
  $('results').replaceChildren(...state.results.map((r) => el('tr', {},
    el('td', {}, r.partId), el('td', {}, r.station), el('td', { className: `v-${r.verdict}` }, VERDICT_WORDS[r.verdict] ?? r.verdict),
    el('td', {}, fmt(r.score)), el('td', {}, r.reasons.map(reasonWords).join('; ')), el('td', {}, String(r.timings.totalMs)))));
}

function tick() {
  for (const node of document.querySelectorAll('.countdown')) node.textContent = countdown(node.dataset.deadline);
  if (state.pending) renderUndo();
}

function countdown(deadline) {
  const s = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- opening a part: claim, renewal, release --------------------------------------------------

let renewTimer = 0;
let guardTimer = 0;

/** Keys and buttons wait `guardMs` before they act on the part now shown. */
function armGuard() {
  state.guardUntil = Date.now() + state.screen.guardMs;
  document.body.classList.add('guarded');
  clearTimeout(guardTimer);
  guardTimer = setTimeout(() => { document.body.classList.remove('guarded'); renderPart(); }, state.screen.guardMs);
}

/** Opens a part for this person: shows it, claims it, and keeps the claim while it is on screen. */
async function openPart(key) {
  if (state.correcting) leaveCorrection();
  const previous = state.selected;
  if (key === previous) return;
  state.selected = key;
  state.lost = null;
  state.held = null;
  state.category = null;
  state.view = { scale: 1, x: 0, y: 0 };
  armGuard();
  for (const li of $('queue').children) li.classList.toggle('selected', li.dataset.key === key);
  renderPart(true);
  if (previous && previous !== state.pending?.key) release(previous);
  clearTimeout(renewTimer);
  if (!key) return;
  await claim(key, false);
  const review = state.reviews.get(key);
  if (!review) return;
  const similar = await api(`${reviewUrl(review)}/similar`);
  if (similar && similar.ok && state.selected === key) renderSimilar(await similar.json());
}

async function claim(key, renewing) {
  const review = state.reviews.get(key);
  if (!review) return;
  const response = await api(`${reviewUrl(review)}/claim`, {});
  if (!response) return;
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    state.held = key;
    state.claims.set(key, { key, holder: body.holder, expiresAt: body.expiresAt });
    // Renewed well before it runs out, while the part is on screen (or its decision waits to go).
    clearTimeout(renewTimer);
    renewTimer = setTimeout(() => { if (state.selected === key || state.pending?.key === key) claim(key, true); }, (state.screen.claimSeconds * 1000) / 3);
  } else if (response.status === 409) {
    state.claims.set(key, { key, holder: body.holder, expiresAt: body.expiresAt });
    if (renewing && state.held === key) { state.lost = body.holder; notice(`You lost ${review.partId}: ${body.holder} is deciding it now. Pick another part (N).`, 'error'); }
    else notice(body.message, 'warn');
  }
  render();
}

/** Lets a part go at once when this person leaves it (nobody waits for the claim to run out). */
function release(key, keepalive = false) {
  const review = state.reviews.get(key);
  if (!review || heldByOther(key)) return;
  state.claims.delete(key);
  fetch(`${reviewUrl(review)}/claim`, { method: 'DELETE', keepalive, headers: { 'x-csrf-token': state.me.csrf } }).catch(() => {});
}

// ---- the part ---------------------------------------------------------------------------------

/** The review shown: the one being corrected, else the one opened. */
const shown = () => (state.correcting ? state.correcting.review : state.selected && state.reviews.get(state.selected));

function renderPart(changed = false) {
  const review = shown();
  $('part').hidden = !review;
  $('part-empty').hidden = Boolean(review);
  if (!review) return;
  const base = partUrl(review);
  if (changed) {
    $('no-picture').hidden = true;
    $('stage').hidden = false;
    $('viewer').classList.remove('no-picture');
    $('part-image').onerror = () => noPicture(review);
    $('part-image').src = `${base}/image`;
    $('part-map').hidden = false;
    $('part-map').onerror = () => { $('part-map').hidden = true; };
    $('part-map').src = `${base}/heatmap`;
    $('similar').tBodies[0].replaceChildren();
  }
  $('part-id').textContent = review.partId;
  $('part-meta').textContent = `${review.station} · model ${review.model.id} v${review.model.version} · if nobody decides: ${VERDICT_WORDS[review.defaultAction] ?? review.defaultAction} in ${countdown(review.deadline)}`;
  $('part-reasons').replaceChildren(el('strong', {}, 'Why a person: '), review.reasons.map(reasonWords).join('; '));
  const key = keyOf(review);
  const holder = state.correcting ? null : heldByOther(key);
  $('part-claim').replaceChildren(...(holder ? [icon('lock'), ` ${holder.holder} is deciding this part`] : [state.correcting ? 'correcting your decision' : 'reserved for you']));
  $('part-claim').className = holder ? 'holder' : 'muted';
  const blocked = Boolean(holder) || Boolean(unreachable(review)) || (!state.correcting && state.sent.has(key)) || Date.now() < state.guardUntil;
  $('accept').disabled = blocked; $('reject').disabled = blocked;
  $('categories').replaceChildren(...review.categories.slice(0, 9).map((name, i) =>
    el('button', { className: `small category${state.category === name ? ' chosen' : ''}`, onclick: () => choose(i) }, el('kbd', {}, String(i + 1)), ` ${name}`)));
  drawScale(review);
  renderState();
  applyView();
}

/** The line above the picture: a decision waiting to go, a correction, a lost claim, or why decisions are off. */
function renderState() {
  const review = shown();
  const line = $('part-state');
  const said = (body) => (body.decision === 'accept' ? 'accepted' : `rejected${body.category ? ` (${body.category})` : ''}`);
  let kind = '';
  let parts = [];
  if (state.correcting) {
    const c = state.correcting;
    kind = 'warn';
    parts = [icon('undo'), ` ${c.review.partId} was sent as ${said(c.body)} at ${when(new Date(c.at).toISOString(), true)}. Choose the right decision (A or R); Esc keeps it.`];
  } else if (review && unreachable(review)) {
    kind = 'gone';
    parts = [icon('warn'), ` ${unreachable(review)}`];
  } else if (state.lost) {
    kind = 'error';
    parts = [icon('lock'), ` You lost this part: ${state.lost} is deciding it now.`];
  }
  line.hidden = parts.length === 0;
  line.className = kind;
  line.replaceChildren(...parts);
}

/** The decision waiting to be sent, with its countdown and an Undo button, shown whatever part is open. */
function renderUndo() {
  const p = state.pending;
  const bar = $('undo-bar');
  $('undo').hidden = !p && !(state.last && !state.correcting);
  bar.hidden = !p;
  if (!p) return;
  const left = Math.max(0, Math.ceil((p.sendAt - Date.now()) / 1000));
  const said = p.body.decision === 'accept' ? 'accepted' : `rejected${p.body.category ? ` (${p.body.category})` : ''}`;
  bar.replaceChildren(icon('check'), ` ${p.review.partId} ${said}: sent in ${left} s `, el('button', { className: 'small', onclick: () => undo() }, icon('undo'), ' Undo ', el('kbd', {}, 'U')));
}

function noPicture(review) {
  $('stage').hidden = true;
  $('viewer').classList.add('no-picture');
  const why = review.reasons.includes('unreadable_image') ? 'the image could not be read'
    : review.reasons.some((r) => ['overload', 'missing_frame', 'interrupted'].includes(r)) ? 'no image was kept for this part' : 'the image is not available';
  $('no-picture').replaceChildren(icon('noimage'), el('strong', {}, 'No picture'), el('span', {}, `${why[0].toUpperCase()}${why.slice(1)}. Look at the part itself before you decide.`));
  $('no-picture').hidden = false;
}

function drawScale(review) {
  const { passBelow, rejectAbove } = review.thresholds;
  const top = Math.max(rejectAbove * 1.4, (review.score ?? 0) * 1.1, 1e-9);
  const at = (v) => `${Math.min(100, Math.max(0, (v / top) * 100)).toFixed(1)}%`;
  $('scale').replaceChildren(
    el('div', { className: 'band pass', style: { left: '0', width: at(passBelow) } }),
    el('div', { className: 'band review', style: { left: at(passBelow), width: `calc(${at(rejectAbove)} - ${at(passBelow)})` } }),
    el('div', { className: 'band reject', style: { left: at(rejectAbove), right: '0' } }),
    el('span', { className: 'tick', style: { left: at(passBelow) } }),
    el('span', { className: 'tick', style: { left: at(rejectAbove) } }),
    el('span', { className: 'legend' }, el('span', { className: 'v-pass' }, `pass below ${fmt(passBelow)}`), el('span', { className: 'v-reject' }, `reject from ${fmt(rejectAbove)}`)),
    review.score === null ? el('span', { className: 'score none' }, 'no score')
      : el('span', { className: 'score', style: { left: at(review.score), transform: `translateX(-${Math.min(100, Math.max(0, (review.score / top) * 100))}%)` } }, `score ${fmt(review.score)}`),
    review.score === null ? '' : el('span', { className: 'score-mark', style: { left: at(review.score) } }));
}

function renderSimilar(rows) {
  $('similar').tBodies[0].replaceChildren(...(rows.length ? rows.map((v) => el('tr', {},
    el('td', {}, v.partId), el('td', {}, fmt(v.score)), el('td', { className: `v-${v.verdict}` }, VERDICT_WORDS[v.verdict] ?? v.verdict), el('td', {}, v.user ?? ''), el('td', {}, v.category ?? '')))
    : [el('tr', {}, el('td', { colSpan: 5, className: 'muted' }, 'no decisions yet at this station'))]));
}

// ---- deciding ---------------------------------------------------------------------------------

function choose(index) {
  const review = shown();
  const name = review?.categories[index];
  if (!name) return;
  state.category = state.category === name ? null : name;
  renderPart();
}

function decide(decision) {
  if (state.correcting) return correct(decision);
  const key = state.selected;
  const review = key && state.reviews.get(key);
  if (!review) return notice('Open a part first: tap it in the queue, or press N.', 'warn');
  const holder = heldByOther(key);
  if (holder) return notice(`${holder.holder} is deciding ${review.partId}; pick another part (N).`, 'warn');
  const off = unreachable(review);
  if (off) return notice(off, 'error');
  if (Date.now() < state.guardUntil) return; // a press meant for the part before: ignored
  if (state.sent.has(key)) return;
  sendPending(); // only the last decision waits: the one before goes now
  /** @type {Body} */
  const body = { decision, ...(decision === 'reject' && state.category ? { category: state.category } : {}) };
  state.sent.add(key);
  const wait = state.screen.undoSeconds * 1000;
  /** @type {Pending} */
  const pending = { key, review, body, sendAt: Date.now() + wait, timer: 0 };
  state.pending = pending;
  if (wait > 0) pending.timer = setTimeout(() => send(pending), wait);
  else send(pending);
  openPart(firstOpen(key));
  render();
}

function sendPending() {
  if (state.pending) send(state.pending);
}

async function send(pending, keepalive = false) {
  clearTimeout(pending.timer);
  if (state.pending === pending) state.pending = null;
  const { review, body, key } = pending;
  const response = await api(`${reviewUrl(review)}/decision`, body, keepalive);
  if (response && response.status === 202) {
    state.last = { key, review, body, at: Date.now() };
    notice(`${review.partId}: ${body.decision === 'accept' ? 'accepted' : `rejected${body.category ? ` (${body.category})` : ''}`}, sent. U corrects it.`, 'ok');
    render();
    return;
  }
  state.sent.delete(key);
  if (!response) return render();
  const answer = await response.json().catch(() => ({}));
  if (response.status === 404) { state.reviews.delete(key); notice(`${review.partId} is no longer open: already decided elsewhere or timed out. Your decision was not used.`, 'warn'); }
  else if (response.status === 409) { state.claims.set(key, { holder: answer.holder, expiresAt: answer.expiresAt }); notice(answer.message, 'warn'); }
  else notice(`${review.partId} not sent: ${answer.message ?? `refused (${response.status})`}`, 'error');
  render();
}

/** U / Ctrl+Z: takes back the decision still waiting, or offers to correct the one sent. */
function undo() {
  const p = state.pending;
  if (p) {
    clearTimeout(p.timer);
    state.pending = null;
    state.sent.delete(p.key);
    notice(`Undone: ${p.review.partId} is back, and nothing was sent.`, 'ok');
    openPart(p.key);
    render();
    return;
  }
  const last = state.last;
  if (!last) return notice('Nothing to undo.', 'warn');
  if (Date.now() - last.at > state.screen.correctionMinutes * 60_000) return notice(`${last.review.partId} was sent more than ${state.screen.correctionMinutes} minutes ago: ask a manager to correct it.`, 'warn');
  state.correcting = last;
  state.category = last.body.category ?? null;
  armGuard();
  renderPart(true);
}

function leaveCorrection() {
  state.correcting = null;
  state.category = null;
  renderPart(true);
}

async function correct(decision) {
  const c = state.correcting;
  if (!c || Date.now() < state.guardUntil) return;
  const body = { decision, ...(decision === 'reject' && state.category ? { category: state.category } : {}) };
  if (body.decision === c.body.decision && body.category === c.body.category) return notice(`That is what was sent for ${c.review.partId}. Esc keeps it.`, 'warn');
  const response = await api(`${partUrl(c.review)}/correction`, body);
  if (response && response.status === 202) {
    notice(`${c.review.partId} corrected: ${body.decision === 'accept' ? 'accepted' : `rejected${body.category ? ` (${body.category})` : ''}`}. The line and the defect log are told.`, 'ok');
    state.last = null;
    leaveCorrection();
    return;
  }
  if (!response) return;
  const answer = await response.json().catch(() => ({}));
  notice(`Not corrected: ${answer.message ?? `refused (${response.status})`}`, 'error');
}

/** A JSON call with our CSRF token; null (and a message on screen) when the network failed. */
async function api(url, body, keepalive = false) {
  try {
    const response = await fetch(url, body === undefined ? {} : { method: 'POST', keepalive, headers: { 'content-type': 'application/json', 'x-csrf-token': state.me.csrf }, body: JSON.stringify(body) });
    if (response.status === 401) { toLogin(await response.clone().json().catch(() => ({}))); }
    return response;
  } catch {
    notice('Not sent: the dashboard cannot be reached. Check the network and try again.', 'error');
    return null;
  }
}

// A page closed while a decision waits sends it (the person meant it), and lets go of the open part.
addEventListener('pagehide', () => {
  if (state.pending) send(state.pending, true);
  if (state.selected && state.selected !== state.pending?.key) release(state.selected, true);
});

// ---- viewer: heatmap, zoom, pan --------------------------------------------------------------

function applyView() {
  const { scale, x, y } = state.view;
  $('stage').style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  $('part-map').style.opacity = $('map-on').checked ? String($('map-opacity').value / 100) : '0';
}
function zoom(factor) { state.view.scale = Math.min(8, Math.max(1, state.view.scale * factor)); if (state.view.scale === 1) state.view.x = state.view.y = 0; applyView(); }

$('viewer').addEventListener('wheel', (event) => { event.preventDefault(); zoom(event.deltaY < 0 ? 1.25 : 0.8); }, { passive: false });
$('stage').addEventListener('pointerdown', (event) => {
  const start = { x: event.clientX - state.view.x, y: event.clientY - state.view.y };
  const move = (e) => { state.view.x = e.clientX - start.x; state.view.y = e.clientY - start.y; applyView(); };
  const up = () => { removeEventListener('pointermove', move); removeEventListener('pointerup', up); };
  addEventListener('pointermove', move); addEventListener('pointerup', up);
});
$('map-on').onchange = applyView;
$('map-opacity').oninput = applyView;
$('zoom-in').onclick = () => zoom(1.25);
$('zoom-out').onclick = () => zoom(0.8);
$('zoom-reset').onclick = () => { state.view = { scale: 1, x: 0, y: 0 }; applyView(); };
$('accept').onclick = () => decide('accept');
$('reject').onclick = () => decide('reject');
$('next').onclick = () => openPart(firstOpen(state.selected));
$('undo').onclick = () => undo();
$('mute').onclick = () => toggleMute();
$('help-button').onclick = () => { $('help').hidden = !$('help').hidden; };
$('help').onclick = () => { $('help').hidden = true; };
$('logout').onclick = async () => { sendPending(); await api('/api/logout', {}); location.assign('/login?out=1'); };

addEventListener('keydown', (event) => {
  if (event.target instanceof HTMLInputElement && event.target.type !== 'checkbox' && event.target.type !== 'range') return;
  const k = event.key;
  if ((event.ctrlKey || event.metaKey) && (k === 'z' || k === 'Z')) { undo(); event.preventDefault(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (k === '?') $('help').hidden = !$('help').hidden;
  else if (k === 'Escape') { $('help').hidden = true; if (state.correcting) leaveCorrection(); }
  else if (k === 'a' || k === 'A') decide('accept');
  else if (k === 'r' || k === 'R') decide('reject');
  else if (k === 'u' || k === 'U') undo();
  else if (k === 'n' || k === 'N') openPart(firstOpen(state.selected));
  else if (k >= '1' && k <= '9') choose(Number(k) - 1);
  else if (k === 'h' || k === 'H') { $('map-on').checked = !$('map-on').checked; applyView(); }
  else if (k === '+' || k === '=') zoom(1.25);
  else if (k === '-') zoom(0.8);
  else if (k === '0') { state.view = { scale: 1, x: 0, y: 0 }; applyView(); }
  else if (k === 'm' || k === 'M') toggleMute();
  else return;
  event.preventDefault();
});

// ---- cues and messages ------------------------------------------------------------------------

let audio = null;
function cue() {
  document.body.classList.remove('flash'); void document.body.offsetWidth; document.body.classList.add('flash');
  if (state.muted) return;
  try {
    audio ??= new AudioContext();
    const tone = audio.createOscillator(); const gain = audio.createGain();
    tone.frequency.value = 880; gain.gain.value = 0.08;
    tone.connect(gain).connect(audio.destination);
    tone.start(); tone.stop(audio.currentTime + 0.12);
  } catch { /* no sound device: the visual cue remains */ }
}

function toggleMute() {
  state.muted = !state.muted;
  localStorage.setItem('loupe.muted', state.muted ? '1' : '0');
  $('mute').textContent = state.muted ? 'sound off' : 'sound on';
}

let noticeTimer = null;
function notice(text, kind = 'ok') {
  const node = $('notice');
  node.textContent = text; node.className = kind; node.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { node.hidden = true; }, kind === 'error' ? 10000 : 6000);
}

$('mute').textContent = state.muted ? 'sound off' : 'sound on';
start();
