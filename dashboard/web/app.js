// Loupe technician screen. One WebSocket: a snapshot first, then every change; on reconnect the
// snapshot replaces what we had, so nothing is lost or shown twice. No framework, no build: it
// runs on line tablets and old PCs.
import { $, el, fmt } from '/dom.js';

const keyOf = (r) => `${r.line}/${r.station}/${r.partId}`;
const state = {
  me: null, statuses: new Map(), reviews: new Map(), claims: new Map(), results: [],
  selected: null, category: null, sent: new Set(), muted: localStorage.getItem('loupe.muted') === '1',
  view: { scale: 1, x: 0, y: 0 }, retry: 0, leaving: false,
};

// ---- session and feed -------------------------------------------------------------------------

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401) return toLogin(await response.json().catch(() => ({})));
  state.me = await response.json();
  $('who').textContent = `${state.me.name} · ${state.me.role}`;
  $('manager-nav').hidden = state.me.role === 'technician';
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
  socket.onopen = () => { state.retry = 0; link('live', 'online'); };
  socket.onmessage = (message) => apply(JSON.parse(message.data));
  socket.onclose = async () => {
    link('reconnecting…', 'off');
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
      state.statuses = new Map(event.statuses.map((s) => [`${s.line}/${s.station}`, s]));
      state.reviews = new Map(event.reviews.map((r) => [keyOf(r), r]));
      state.claims = new Map(event.claims.map((c) => [c.key, c]));
      state.results = event.results;
      for (const key of state.sent) if (!state.reviews.has(key)) state.sent.delete(key);
      break;
    case 'status': state.statuses.set(`${event.status.line}/${event.status.station}`, event.status); break;
    case 'review': state.reviews.set(keyOf(event.review), event.review); cue(); break;
    case 'review-closed': {
      const key = keyOf(event);
      state.reviews.delete(key); state.claims.delete(key); state.sent.delete(key);
      if (state.selected === key) select(firstOpen());
      break;
    }
    case 'claim': state.claims.set(keyOf(event), event); break;
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

const ordered = () => [...state.reviews.values()].sort((a, b) => a.deadline.localeCompare(b.deadline) || a.openedAt.localeCompare(b.openedAt));
const heldByOther = (key) => { const c = state.claims.get(key); return c && c.holder !== state.me.name && Date.parse(c.expiresAt) > Date.now() ? c : null; };
const firstOpen = (after) => {
  const open = ordered().filter((r) => !state.sent.has(keyOf(r)));
  const free = open.filter((r) => !heldByOther(keyOf(r)));
  const from = after ? open.findIndex((r) => keyOf(r) === after) : -1;
  const next = free.find((r) => open.indexOf(r) > from) ?? free[0] ?? open[0];
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
      const item = el('li', { className: fresh ? 'fresh' : '', dataset: { part: r.partId, key, content }, onclick: () => select(key) },
        el('strong', {}, r.partId), ' ', el('span', { className: 'muted' }, r.station), ' ',
        el('span', { className: 'countdown', dataset: { deadline: r.deadline } }, countdown(r.deadline)),
        el('div', { className: 'muted' }, `score ${fmt(r.score)} · ${r.reasons.join(', ')}`),
        holder ? el('div', { className: 'holder' }, `🔒 ${holder.holder} is deciding`) : '',
        sent ? el('div', { className: 'muted' }, 'decision sent…') : '');
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
  if (!state.selected || !state.reviews.has(state.selected)) select(firstOpen(), { quiet: true });
  else renderPart();
  // Told once the browser has painted the new items (the review-to-screen benchmark listens).
  if (added.length) requestAnimationFrame(() => dispatchEvent(new CustomEvent('loupe:drawn', { detail: { items: added, at: Date.now() } })));
}

function renderStations(reviews) {
  const counts = new Map();
  for (const r of reviews) counts.set(`${r.line}/${r.station}`, (counts.get(`${r.line}/${r.station}`) ?? 0) + 1);
  $('stations').replaceChildren(...[...state.statuses.values()].map((s) => {
    const n = counts.get(`${s.line}/${s.station}`) ?? 0;
    return el('li', { className: s.state, dataset: { station: s.station } }, `${s.station}: ${s.state}${s.overloaded ? ' · overloaded' : ''} · ${n} to review`);
  }));
}

function renderResults() {
  $('results').replaceChildren(...state.results.map((r) => el('tr', {},
    el('td', {}, r.partId), el('td', {}, r.station), el('td', { className: `v-${r.verdict}` }, r.verdict),
    el('td', {}, fmt(r.score)), el('td', {}, r.reasons.join(', ')), el('td', {}, String(r.timings.totalMs)))));
}

function tick() {
  for (const node of document.querySelectorAll('.countdown')) node.textContent = countdown(node.dataset.deadline);
}

function countdown(deadline) {
  const s = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- the part ---------------------------------------------------------------------------------

async function select(key, { quiet = false } = {}) {
  const changed = key !== state.selected;
  state.selected = key;
  if (changed) { state.category = null; state.view = { scale: 1, x: 0, y: 0 }; }
  renderPart(changed);
  for (const li of $('queue').children) li.classList.toggle('selected', li.dataset.key === key);
  if (!key || !changed) return;
  const review = state.reviews.get(key);
  // Opening a part claims it, so nobody else decides it meanwhile.
  const response = await api(`/api/reviews/${review.line}/${review.station}/${review.partId}/claim`, {});
  if (response && response.status === 409) {
    const body = await response.json();
    state.claims.set(key, { holder: body.holder, expiresAt: body.expiresAt });
    if (!quiet) notice(body.message, 'warn');
    renderPart();
  }
  const similar = await api(`/api/reviews/${review.line}/${review.station}/${review.partId}/similar`);
  if (similar && similar.ok && state.selected === key) renderSimilar(await similar.json());
}

function renderPart(changed = false) {
  const review = state.selected && state.reviews.get(state.selected);
  $('part').hidden = !review;
  if (!review) return;
  const base = `/api/parts/${review.line}/${review.station}/${review.partId}`;
  if (changed) {
    $('part-image').src = `${base}/image`;
    $('part-map').src = `${base}/heatmap`;
    $('part-map').hidden = false;
    $('part-map').onerror = () => { $('part-map').hidden = true; };
    $('part-image').onerror = () => notice(`No picture for ${review.partId}: ${review.reasons.join(', ')}. Decide from the part itself.`, 'warn');
    $('similar').tBodies[0].replaceChildren();
  }
  $('part-id').textContent = review.partId;
  $('part-meta').textContent = `${review.station} · model ${review.model.id} v${review.model.version} · default ${review.defaultAction} in ${countdown(review.deadline)}`;
  $('part-reasons').textContent = `Flagged: ${review.reasons.map(explain).join('; ')}`;
  const holder = heldByOther(state.selected);
  $('part-claim').textContent = holder ? `🔒 ${holder.holder} is deciding this part` : 'you are deciding this part';
  $('part-claim').className = holder ? 'holder' : 'muted';
  const blocked = Boolean(holder) || state.sent.has(state.selected);
  $('accept').disabled = blocked; $('reject').disabled = blocked;
  $('categories').replaceChildren(...review.categories.slice(0, 9).map((name, i) =>
    el('button', { className: `small category${state.category === name ? ' chosen' : ''}`, onclick: () => choose(i) }, el('kbd', {}, String(i + 1)), ` ${name}`)));
  drawScale(review);
  applyView();
}

function explain(reason) {
  return ({ borderline: 'score between pass and reject', above_reject: 'score above reject (sent to a person)', audit: 'random audit of a passed part',
    unreadable_image: 'the image could not be read', model_error: 'the model failed on this image', overload: 'the station was overloaded', missing_frame: 'no image arrived for the trigger',
    interrupted: 'the station stopped before inspecting it: look at the part itself',
    camera_lost: 'the camera was lost when the part came: look at the part itself', image_quality: 'the image was not fit to be scored (focus, light or framing)',
    unpaired_frame: 'an image came with no trigger: which part it shows is not known' })[reason] ?? reason;
}

function drawScale(review) {
  const { passBelow, rejectAbove } = review.thresholds;
  const top = Math.max(rejectAbove * 1.4, (review.score ?? 0) * 1.1, 1e-9);
  const at = (v) => `${Math.min(100, Math.max(0, (v / top) * 100)).toFixed(1)}%`;
  $('scale').replaceChildren(
    el('div', { className: 'band pass', style: { left: '0', width: at(passBelow) } }),
    el('div', { className: 'band review', style: { left: at(passBelow), width: `calc(${at(rejectAbove)} - ${at(passBelow)})` } }),
    el('div', { className: 'band reject', style: { left: at(rejectAbove), right: '0' } }),
    el('span', { className: 'mark', style: { left: at(passBelow) } }, `pass below ${fmt(passBelow)}`),
    el('span', { className: 'mark upper', style: { left: at(rejectAbove) } }, `reject above ${fmt(rejectAbove)}`),
    review.score === null ? el('span', { className: 'score none' }, 'no score') : el('span', { className: 'score', style: { left: at(review.score) } }, `▼ ${fmt(review.score)}`));
}

function renderSimilar(rows) {
  $('similar').tBodies[0].replaceChildren(...(rows.length ? rows.map((v) => el('tr', {},
    el('td', {}, v.partId), el('td', {}, fmt(v.score)), el('td', { className: `v-${v.verdict}` }, v.verdict), el('td', {}, v.user ?? ''), el('td', {}, v.category ?? '')))
    : [el('tr', {}, el('td', { colSpan: 5, className: 'muted' }, 'no decisions yet at this station'))]));
}

// ---- deciding ---------------------------------------------------------------------------------

function choose(index) {
  const review = state.selected && state.reviews.get(state.selected);
  const name = review?.categories[index];
  if (!name) return;
  state.category = state.category === name ? null : name;
  renderPart();
}

async function decide(decision) {
  const key = state.selected;
  const review = key && state.reviews.get(key);
  if (!review) return notice('No part selected.', 'warn');
  const holder = heldByOther(key);
  if (holder) return notice(`${holder.holder} is deciding ${review.partId}; pick another part (N).`, 'warn');
  if (state.sent.has(key)) return;
  const body = { decision, ...(decision === 'reject' && state.category ? { category: state.category } : {}) };
  state.sent.add(key);
  const response = await api(`/api/reviews/${review.line}/${review.station}/${review.partId}/decision`, body);
  if (response && response.status === 202) {
    notice(`${review.partId}: ${decision === 'accept' ? 'accepted' : `rejected${body.category ? ` (${body.category})` : ''}`}`, 'ok');
    select(firstOpen(key));
    render();
    return;
  }
  state.sent.delete(key);
  if (!response) return render();
  const answer = await response.json().catch(() => ({}));
  if (response.status === 404) { state.reviews.delete(key); notice(`${review.partId} is no longer open: already decided elsewhere or timed out.`, 'warn'); }
  else if (response.status === 409) { state.claims.set(key, { holder: answer.holder, expiresAt: answer.expiresAt }); notice(answer.message, 'warn'); }
  else notice(answer.message ?? `Not sent (${response.status}).`, 'error');
  render();
}

/** A JSON call with our CSRF token; null (and a message on screen) when the network failed. */
async function api(url, body) {
  try {
    const response = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': state.me.csrf }, body: JSON.stringify(body) });
    if (response.status === 401) { toLogin(await response.clone().json().catch(() => ({}))); }
    return response;
  } catch {
    notice('Not sent: the dashboard cannot be reached. Check the network and try again.', 'error');
    return null;
  }
}

// ---- viewer: heatmap, zoom, pan --------------------------------------------------------------

function applyView() {
  const { scale, x, y } = state.view;
  $('stage').style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  $('part-map').style.opacity = $('map-on').checked ? String($('map-opacity').value / 100) : '0';
}
function zoom(factor) { state.view.scale = Math.min(8, Math.max(1, state.view.scale * factor)); if (state.view.scale === 1) state.view.x = state.view.y = 0; applyView(); }

$('viewer').addEventListener('wheel', (event) => { event.preventDefault(); zoom(event.deltaY < 0 ? 1.25 : 0.8); }, { passive: false });
$('viewer').addEventListener('pointerdown', (event) => {
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
$('next').onclick = () => select(firstOpen(state.selected));
$('mute').onclick = () => toggleMute();
$('help-button').onclick = () => { $('help').hidden = !$('help').hidden; };
$('help').onclick = () => { $('help').hidden = true; };
$('logout').onclick = async () => { await api('/api/logout', {}); location.assign('/login?out=1'); };

addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || (event.target instanceof HTMLInputElement && event.target.type !== 'checkbox' && event.target.type !== 'range')) return;
  const k = event.key;
  if (k === '?') $('help').hidden = !$('help').hidden;
  else if (k === 'Escape') $('help').hidden = true;
  else if (k === 'a' || k === 'A') decide('accept');
  else if (k === 'r' || k === 'R') decide('reject');
  else if (k === 'n' || k === 'N') select(firstOpen(state.selected));
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
  noticeTimer = setTimeout(() => { node.hidden = true; }, kind === 'error' ? 10000 : 5000);
}

$('mute').textContent = state.muted ? 'sound off' : 'sound on';
start();
