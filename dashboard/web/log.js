// The quality manager's view of the defect log: filters (kept in the URL, so a view can be shared),
// trends drawn as plain SVG, the parts, a part's detail with its timeline, and CSV of the same view.
// @ts-check
import { $, el, fmt, when } from './dom.js';
import { reasonWords, VERDICT_WORDS, DECIDED_BY_WORDS } from './words.js';
import { regionWords, showRegion } from './mark.js'; // marking where: the region a person marked

/** @typedef {import('../../contract/payloads.ts').PartEvent} PartEvent */
/** @typedef {import('./state.js').Me} Me */
// The log API's answers, as this page reads them (edge/src/log/entry.ts EntrySchema, analytics.ts AnalyticsSchema).
/** @typedef {{ verdict: 'pass' | 'reject' | 'hold', decidedBy: 'model' | 'human' | 'timeout', user?: string, category?: string }} Final */
/** @typedef {{ line: string, station: string, partId: string, at: string, modelVerdict: 'pass' | 'reject' | 'review', score: number | null, thresholds: { passBelow: number, rejectAbove: number }, model: { id: string, version: string }, reasons: string[], detail?: string, image: { expired: boolean } | null, imageUrl: string | null, heatmapUrl: string | null, claimedBy: string | null, decision: { user: string, category?: string, region?: import('../../contract/payloads.ts').Region } | null, final: Final | null, timeline: PartEvent[] }} Entry */
/** @typedef {{ items: Entry[], total: number, nextOffset: number | null }} LogPage */
/** @typedef {{ inspected: number, yield: number | null, reviewRate: number | null, overrideRate: number | null, humanDecisions: number }} Stats */
/** @typedef {Stats & { start: string }} Hour */
/** @typedef {{ category: string, count: number, share: number, cumulativeShare: number }} ParetoRow */
/** @typedef {{ basis: 'counts' | 'entries', totals: Stats, hours: Hour[], shifts: (Stats & { shift: string, date: string })[], pareto: ParetoRow[] }} Analytics */
/** @typedef {{ stations: string[], categories: string[], reasons: string[], modelVersions: string[], users: string[] }} Values */

const FILTERS = ['station', 'from', 'to', 'verdict', 'decidedBy', 'category', 'reason', 'modelVersion', 'user'];
// `view` and `opening` count requests: a reply that a newer filter or click has overtaken is dropped,
// so the table always shows the filters in the form and the detail the part clicked last.
/** @type {{ me: Me | null, offset: number, view: number, opening: number }} */
const state = { me: null, offset: 0, view: 0, opening: 0 };
const form = () => $('filters', HTMLFormElement);
/** A filter's field by name. */
const field = (/** @type {string} */ name) =>
  /** @type {HTMLInputElement | HTMLSelectElement} */ (form().elements.namedItem(name));

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401)
    return location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  /** @type {Me} */
  const me = await response.json();
  state.me = me;
  $('who').textContent = `${me.name} · ${me.role}`;
  $('people-nav').hidden = me.role !== 'admin';
  // The filters with known values are lists: the stations, categories, reasons, models and people the log holds.
  /** @type {Values | null} */
  const values = await fetch('/api/log/values')
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  if (values) {
    /** @type {(name: string, list: string[], label?: (v: string) => string) => void} */
    const fill = (name, list, label = (v) => v) =>
      field(name).append(...list.map((v) => el('option', { value: v }, label(v))));
    fill('station', values.stations);
    fill('category', values.categories);
    fill('reason', values.reasons, reasonWords);
    fill('modelVersion', values.modelVersions, (v) => v.replace('@', ' v'));
    fill('user', values.users);
  }
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    if (!params.has(name)) continue;
    const input = field(name);
    const given = params.get(name) ?? '';
    const value = name === 'from' || name === 'to' ? toLocalInput(given) : given;
    // a shared link may name a value this log no longer holds: it is still offered, and applied
    if (input instanceof HTMLSelectElement && ![...input.options].some((o) => o.value === value))
      input.append(el('option', { value }, value));
    input.value = value;
  }
  await load();
  if (location.hash.startsWith('#part=')) openPart(decodeURIComponent(location.hash.slice(6)));
}

/**
 * The filters as query parameters. Times are typed as every page shows them, `2026-12-04 14:05` (a
 * date alone means its midnight), in this browser's time zone, and sent as ISO times.
 */
function query() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = field(name).value.trim();
    if (value) params.set(name, name === 'from' || name === 'to' ? fromLocal(value) : value);
  }
  return params;
}

/** Loads the log's first page (and the analytics) for the filters, or the next page when `append`. */
async function load(append = false) {
  const params = query();
  history.replaceState(null, '', `/log${params.size ? `?${params}` : ''}${location.hash}`);
  $('csv', HTMLAnchorElement).href = `/api/log.csv${params.size ? `?${params}` : ''}`;
  if (!append) {
    state.offset = 0;
    state.view++;
  }
  const view = state.view;
  const page = new URLSearchParams(params);
  page.set('offset', String(state.offset));
  page.set('limit', '200');
  $('log').setAttribute('aria-busy', 'true');
  const [log, analytics] = await Promise.all([
    /** @type {Promise<LogPage | null>} */ (get(`/api/log?${page}`)),
    append ? null : /** @type {Promise<Analytics | null>} */ (get(`/api/analytics?${params}`)),
  ]);
  if (view !== state.view) return;
  $('log').removeAttribute('aria-busy');
  if (!log) return;
  renderEntries(log, append);
  if (analytics) renderAnalytics(analytics);
}

/** A GET of the log API; null (and a message) when refused or unreachable. @param {string} url @returns {Promise<unknown>} */
async function get(url) {
  const response = await fetch(url).catch(() => null);
  if (!response) {
    notice('The dashboard cannot be reached.', 'error');
    return null;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    location.assign(`/login?next=${encodeURIComponent('/log')}&expired=1`);
    return null;
  }
  if (!response.ok) {
    notice(body.message ?? `Refused (${response.status})`, 'error');
    return null;
  }
  $('notice').hidden = true;
  return body;
}

/** @param {LogPage} log @param {boolean} append */
function renderEntries(log, append) {
  $('total').textContent = String(log.total);
  const rows = log.items.map((e) =>
    el(
      'tr',
      {
        className: 'entry',
        dataset: { key: `${e.line}/${e.station}/${e.partId}` },
        onclick: () => openPart(`${e.line}/${e.station}/${e.partId}`),
      },
      el('td', {}, time(e.at)),
      el('td', {}, el('a', { href: `#part=${encodeURIComponent(`${e.line}/${e.station}/${e.partId}`)}` }, e.partId)),
      el('td', {}, e.station),
      el('td', { className: `v-${e.modelVerdict}` }, VERDICT_WORDS[e.modelVerdict] ?? e.modelVerdict),
      el('td', {}, fmt(e.score)),
      el('td', {}, e.reasons.map(reasonWords).join('; ')),
      el('td', { className: `v-${e.final?.verdict ?? 'review'}` }, VERDICT_WORDS[e.final?.verdict ?? 'open']),
      el('td', {}, e.final ? (DECIDED_BY_WORDS[e.final.decidedBy] ?? e.final.decidedBy) : ''),
      el('td', {}, e.final?.user ?? e.decision?.user ?? e.claimedBy ?? ''),
      el('td', {}, e.final?.category ?? e.decision?.category ?? ''),
      el('td', {}, `${e.model.id} v${e.model.version}`),
    ),
  );
  const table = $('log', HTMLTableElement);
  if (append) table.tBodies[0].append(...rows);
  else table.tBodies[0].replaceChildren(...rows);
  state.offset = log.nextOffset ?? state.offset;
  $('more').hidden = log.nextOffset === null;
}

/** @param {Analytics} a */
function renderAnalytics(a) {
  $('basis').textContent =
    a.basis === 'counts'
      ? '(every inspection)'
      : '(stored parts only: filters beyond station and time leave out plain auto-passes)';
  const t = a.totals;
  /** @type {[string, string][]} */
  const totals = [
    ['inspected', String(t.inspected)],
    ['yield', pct(t.yield)],
    ['review rate', pct(t.reviewRate)],
    ['override rate', pct(t.overrideRate)],
    ['decided by people (scored parts)', String(t.humanDecisions)],
  ];
  $('totals').replaceChildren(
    ...totals.map(([label, value]) =>
      el(
        'div',
        { className: 'total', dataset: { total: label } },
        el('strong', {}, String(value)),
        el('span', { className: 'muted' }, label),
      ),
    ),
  );
  lineChart($('chart-yield'), a.hours, 'yield');
  lineChart($('chart-review'), a.hours, 'reviewRate');
  lineChart($('chart-override'), a.hours, 'overrideRate');
  pareto($('chart-pareto'), a.pareto);
  $('shifts', HTMLTableElement).tBodies[0].replaceChildren(
    ...a.shifts.map((s) =>
      el(
        'tr',
        {},
        el('td', {}, s.shift),
        el('td', {}, s.date),
        el('td', {}, String(s.inspected)),
        el('td', {}, pct(s.yield)),
        el('td', {}, pct(s.reviewRate)),
        el('td', {}, pct(s.overrideRate)),
      ),
    ),
  );
}

// ---- charts: plain SVG, no library --------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
/** @param {string} tag @param {Record<string, string | number>} attrs @param {...(Node | string)} children */
function svg(tag, attrs, ...children) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  n.append(...children);
  return n;
}

/** @param {HTMLElement} box @param {Hour[]} hours @param {'yield' | 'reviewRate' | 'overrideRate'} key */
function lineChart(box, hours, key) {
  const points = hours.filter((h) => h[key] !== null);
  const at = (/** @type {Hour} */ p) => p[key] ?? 0;
  if (points.length === 0) return box.replaceChildren(el('p', { className: 'muted' }, 'no data in this range'));
  const W = 420,
    H = 150,
    L = 36,
    B = 20;
  const x = (/** @type {number} */ i) =>
    L + (points.length === 1 ? (W - L) / 2 : (i / (points.length - 1)) * (W - L - 8));
  const y = (/** @type {number} */ v) => H - B - v * (H - B - 8);
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': key },
    ...[0, 0.5, 1].map((v) =>
      svg(
        'g',
        {},
        svg('line', { x1: L, x2: W, y1: y(v), y2: y(v), class: 'grid' }),
        svg('text', { x: 2, y: y(v) + 4, class: 'axis' }, `${v * 100}%`),
      ),
    ),
    svg('polyline', { points: points.map((p, i) => `${x(i)},${y(at(p))}`).join(' '), class: 'series' }),
    ...points.map((p, i) =>
      svg(
        'circle',
        { cx: x(i), cy: y(at(p)), r: 3, class: 'dot' },
        svg('title', {}, `${time(p.start)}: ${pct(p[key])}`),
      ),
    ),
    svg('text', { x: L, y: H - 4, class: 'axis' }, time(points[0].start)),
    svg('text', { x: W, y: H - 4, class: 'axis', 'text-anchor': 'end' }, time(points[points.length - 1].start)),
  );
  box.replaceChildren(chart);
}

/** @param {HTMLElement} box @param {ParetoRow[]} rows */
function pareto(box, rows) {
  if (rows.length === 0) return box.replaceChildren(el('p', { className: 'muted' }, 'no rejects in this range'));
  const W = 420,
    H = 150,
    B = 34,
    L = 28;
  const top = Math.max(...rows.map((r) => r.count));
  const step = (W - L) / rows.length;
  const y = (/** @type {number} */ share) => H - B - share * (H - B - 8);
  box.replaceChildren(
    svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'defect pareto' },
      ...rows.map((r, i) =>
        svg(
          'g',
          { class: 'bar' },
          svg(
            'rect',
            {
              x: L + i * step + 4,
              y: H - B - (r.count / top) * (H - B - 8),
              width: step - 8,
              height: (r.count / top) * (H - B - 8),
            },
            svg('title', {}, `${r.category}: ${r.count} (${pct(r.share)})`),
          ),
          svg(
            'text',
            { x: L + i * step + step / 2, y: H - B + 14, 'text-anchor': 'middle', class: 'axis' },
            r.category,
          ),
          svg(
            'text',
            { x: L + i * step + step / 2, y: H - B + 27, 'text-anchor': 'middle', class: 'axis' },
            String(r.count),
          ),
        ),
      ),
      svg('polyline', {
        points: rows.map((r, i) => `${L + i * step + step / 2},${y(r.cumulativeShare)}`).join(' '),
        class: 'series',
      }),
      svg('text', { x: 0, y: y(1) + 4, class: 'axis' }, '100%'),
    ),
  );
}

// ---- a part -------------------------------------------------------------------------------------

/** Opens a part's detail and timeline. @param {string} key */
async function openPart(key) {
  const [line, station, ...rest] = key.split('/');
  const partId = rest.join('/');
  const opening = ++state.opening;
  const entry = /** @type {Entry | null} */ (await get(`/api/log/${line}/${station}/${encodeURIComponent(partId)}`));
  if (!entry || opening !== state.opening) return;
  history.replaceState(null, '', `${location.pathname}${location.search}#part=${encodeURIComponent(key)}`);
  $('detail-title').textContent = `${entry.partId} · ${VERDICT_WORDS[entry.final ? entry.final.verdict : 'open']}`;
  $('detail-meta').textContent =
    `${entry.line}/${entry.station} · inspected ${time(entry.at)} · score ${fmt(entry.score)} (pass below ${fmt(entry.thresholds.passBelow)}, reject from ${fmt(entry.thresholds.rejectAbove)}) · model ${entry.model.id} v${entry.model.version} · ${entry.reasons.map(reasonWords).join('; ') || 'no reason'}${entry.detail ? ` · ${entry.detail}` : ''}`;
  $('detail-image').hidden = !entry.imageUrl;
  $('detail-map').hidden = !entry.heatmapUrl;
  $('detail-image').onerror = () => {
    $('detail-image').hidden = true;
    $('detail-meta').append(el('div', {}, 'the kept frame cannot be shown: it is not a readable image'));
  };
  if (entry.imageUrl) $('detail-image', HTMLImageElement).src = entry.imageUrl;
  if (entry.heatmapUrl) $('detail-map', HTMLImageElement).src = entry.heatmapUrl;
  showRegion($('detail-image', HTMLImageElement), entry.decision?.region); // marking where
  if (!entry.imageUrl)
    $('detail-meta').append(el('div', {}, entry.image?.expired ? 'image deleted by retention' : 'no image kept'));
  $('timeline').replaceChildren(
    ...entry.timeline.map((event) =>
      el('li', { dataset: { kind: event.kind } }, el('time', {}, when(event.at, true)), ' ', describe(event)),
    ),
  );
  $('detail').hidden = false;
}

/** A timeline event in plain words. @param {PartEvent} e */
function describe(e) {
  switch (e.kind) {
    case 'result':
      return `model: ${e.verdict} (score ${fmt(e.score)}; ${e.reasons.map(reasonWords).join('; ') || 'no reason'})`;
    case 'claim':
      return `${e.user} opened it`;
    case 'decision':
      return `${e.user} ${e.correction ? 'corrected the decision to' : 'decided'} ${e.decision}${e.category ? ` (${e.category})` : ''}${e.region ? `, marked where: ${regionWords(e.region)}` : ''}${e.note ? `: “${e.note}”` : ''}`;
    case 'verdict':
      return `${e.corrects ? `corrected final (was ${e.corrects.verdict} by ${e.corrects.user ?? e.corrects.decidedBy})` : 'final'}: ${e.verdict}, decided by ${e.decidedBy}${e.user ? ` (${e.user})` : ''}`;
    case 'expired':
      return 'image deleted by retention';
    case 'opinion':
      return `${e.user} gave a second opinion, blind: ${e.decision}${e.category ? ` (${e.category})` : ''} — ${e.agrees ? 'agrees' : 'disagrees; a manager settles it'}`;
    case 'settled':
      return `${e.user} settled the disagreement: ${e.decision}${e.category ? ` (${e.category})` : ''}; refits and calibration learn this answer`;
    default:
      return /** @type {{ kind: string }} */ (e).kind;
  }
}

const closeDetail = () => {
  $('detail').hidden = true;
  history.replaceState(null, '', `${location.pathname}${location.search}`);
};
$('detail-close').onclick = closeDetail;
addEventListener('keydown', (event) => {
  if (event.key === 'Escape') closeDetail();
});
form().onsubmit = (event) => {
  event.preventDefault();
  load();
};
$('clear').onclick = () => {
  form().reset();
  load();
};
// One page at a time: a second click while the next page loads would ask for the same offset again.
$('more').onclick = () => {
  if (!$('log').hasAttribute('aria-busy')) load(true);
};
$('logout').onclick = async () => {
  await fetch('/api/logout', { method: 'POST', headers: { 'x-csrf-token': state.me?.csrf ?? '' } });
  location.assign('/login?out=1');
};

// ---- small things -------------------------------------------------------------------------------

/** @param {string} iso */
function toLocalInput(iso) {
  const shown = when(iso);
  return shown === '—' ? '' : shown;
}
/** `2026-12-04 14:05` or `2026-12-04` in this browser's zone as an ISO time; a value that is not a time is sent as typed, and the server names it. */
/** @param {string} value */
function fromLocal(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/.exec(value);
  return m
    ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0)).toISOString()
    : value;
}
const time = (/** @type {string} */ iso) => when(iso);
const pct = (/** @type {number | null | undefined} */ v) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;
/** @param {string} text @param {string} kind */
function notice(text, kind) {
  const n = $('notice');
  n.textContent = text;
  n.className = kind;
  n.hidden = false;
}

start();
