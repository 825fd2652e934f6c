// A manager's page for one station: before approving thresholds, drag them on the decided history
// and read what each setting would have done (the edge's what-if answers every figure, nothing is
// computed here); the station's drift with its evidence; the disagreements between people to
// settle; agreement per pair of people and per category; how well the category suggestions do.
// @ts-check
import { $, el, fmt, when } from './dom.js';
import { call as managerCall, notice } from './manager-api.js';

// The edge's answers, as this page reads them (edge/src/review/what-if.ts, second.ts, suggest.ts;
// the station's status from contract/payloads.ts).
/** @typedef {{ name: string, role: string, csrf: string }} Me */
/** @typedef {{ passBelow: number, rejectAbove: number }} Thresholds */
/** @typedef {Thresholds & { reviewRate: number | null, escapes: number, falseRejects: number, reviewed: number }} Setting */
/** @typedef {{ edges: number[], accepted: number[], rejected: number[] }} Distribution */
/** @typedef {{ current: Thresholds, decisions: number, rejected: number, accepted: number, scored: number, settings: Setting[], distribution: Distribution }} WhatIf */
/** @typedef {{ detected: boolean, signals: string[], passedScores?: { reference: number, recent: number, statistic: number, pValue: number, referenceMedian: number, recentMedian: number }, reviewRate?: { reference: number, recent: number, referenceParts: number, recentParts: number, pValue: number } }} Drift */
/** @typedef {{ line: string, station: string, at?: string, drift?: Drift }} Status */
/** @typedef {{ user: string, verdict: 'pass' | 'reject', category?: string }} Opinion */
/** @typedef {{ partId: string, score: number | null, first: Opinion, second: Opinion }} Dispute */
/** @typedef {{ share: number, cases: number, waiting: number, disputes: number, pairs: { people: string[], n: number, agreement: number, kappa: number | null }[], categories: { category: string, n: number, kappa: number | null }[], people: { user: string, opinions: number, settledAgainst: number, overrideRate: number | null }[], stationOverrideRate: number | null }} Agreement */
/** @typedef {{ judged: number, correct: number, accuracy: number | null }} Rate */
/** @typedef {Rate & { examples: number, recent: Rate, perCategory: Record<string, { examples: number, judged: number, correct: number }> }} Suggestions */
/** @typedef {{ low: number, high: number, x: (v: number) => number, value: (x: number) => number }} Axis */

const SVG = 'http://www.w3.org/2000/svg';
const stationField = () => $('pick-station', HTMLSelectElement);
const passField = () => $('pass-below', HTMLInputElement);
const rejectField = () => $('reject-above', HTMLInputElement);
const W = 760,
  H = 280,
  L = 46,
  R = 14,
  T = 24,
  B = 34;
const PIXELS = W - L - R;

// `asking` counts what-if requests: an answer a newer setting has overtaken is dropped, so the
// figures shown are always those of the thresholds in the fields.
/** @type {{ me: Me | null, stations: Status[], station: Status, current: Thresholds, setting: Thresholds, proposal: Thresholds | null, axis: Axis | null, asking: number, inFlight: boolean, again: boolean }} */
const state = {
  me: null,
  stations: [],
  station: { line: '', station: '' },
  current: { passBelow: 0, rejectAbove: 0 },
  setting: { passBelow: 0, rejectAbove: 0 },
  proposal: null,
  axis: null,
  asking: 0,
  inFlight: false,
  again: false,
};

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401)
    return location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  /** @type {Me} */
  const me = await response.json();
  state.me = me;
  $('who').textContent = `${me.name} · ${me.role}`;
  $('people-nav').hidden = me.role !== 'admin';
  state.stations = (await call('/api/stations')) ?? [];
  const select = stationField();
  select.replaceChildren(...state.stations.map((s) => el('option', { value: s.station }, `${s.line}/${s.station}`)));
  const asked = new URLSearchParams(location.search).get('station');
  if (asked && state.stations.some((s) => s.station === asked)) select.value = asked;
  if (!select.value) return notice('No station has reported to this dashboard yet.', 'warn');
  await load();
}

async function load() {
  const id = stationField().value;
  state.station = state.stations.find((s) => s.station === id) ?? { station: id, line: '' };
  history.replaceState(null, '', `/station?station=${encodeURIComponent(id)}`);
  $('notice').hidden = true;
  await Promise.all([loadWhatIf(), loadDisputes(), loadAgreement(), loadSuggestions(), loadDrift()]);
}

// ---- threshold what-if ----------------------------------------------------------------------------

async function loadWhatIf() {
  const id = encodeURIComponent(state.station.station);
  /** @type {[WhatIf | null, { ok: boolean, thresholds?: Thresholds } | null]} */
  const [curve, calibration] = await Promise.all([
    call(`/api/stations/${id}/what-if?steps=2`),
    call(`/api/stations/${id}/calibration`, { quiet: true }),
  ]);
  if (!curve)
    return $('chart-what-if').replaceChildren(
      el('p', { className: 'muted' }, 'this station answers no what-if here (is its edge on this server?)'),
    );
  state.current = curve.current;
  state.proposal = calibration?.ok && calibration.thresholds ? calibration.thresholds : null;
  $('basis').textContent =
    `(${curve.decisions} decisions: ${curve.accepted} accepted, ${curve.rejected} rejected; ${curve.scored} parts scored)`;
  $('current-pair').textContent =
    `(pass below ${fmt(curve.current.passBelow)}, reject from ${fmt(curve.current.rejectAbove)})`;
  $('to-proposal').hidden = !state.proposal;
  if (state.proposal)
    $('to-proposal').textContent =
      `Set to the proposal from people's decisions (pass below ${fmt(state.proposal.passBelow)}, reject from ${fmt(state.proposal.rejectAbove)})`;
  drawChart(curve.distribution);
  /** @type {WhatIf | null} */
  const now = await call(
    `/api/stations/${id}/what-if?${new URLSearchParams({ passBelow: String(curve.current.passBelow), rejectAbove: String(curve.current.rejectAbove) })}`,
  );
  if (now) showFigures('now', now.settings[0]);
  setThresholds({ ...curve.current });
}

/**
 * A log-scaled axis over the decided scores and the proposal (scores span decades); thresholds far
 * outside them (a cautious start) sit at the edge, their value in the label and the fields.
 */
function axisOf(/** @type {Distribution} */ distribution) {
  const around = distribution.edges.length ? distribution.edges : [state.current.passBelow, state.current.rejectAbove];
  const values = [...around, ...(state.proposal ? [state.proposal.passBelow, state.proposal.rejectAbove] : [])].filter(
    (v) => v > 0,
  );
  const low = values.length ? Math.min(...values) / 1.5 : 0.01;
  const high = values.length ? Math.max(...values) * 1.5 : 1;
  const span = Math.log(high / low);
  return {
    low,
    high,
    x: (/** @type {number} */ v) => L + (v <= low ? 0 : v >= high ? PIXELS : (Math.log(v / low) / span) * PIXELS),
    value: (/** @type {number} */ x) => low * Math.exp((Math.min(Math.max(x - L, 0), PIXELS) / PIXELS) * span),
  };
}

/**
 * An SVG element with attributes and children.
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {...(Node | string)} children
 */
function svg(tag, attrs, ...children) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  n.append(...children);
  return n;
}

function drawChart(/** @type {Distribution} */ distribution) {
  const axis = (state.axis = axisOf(distribution));
  const mid = T + (H - T - B) / 2;
  const half = (H - T - B) / 2 - 4;
  const top = Math.max(1, ...distribution.accepted, ...distribution.rejected);
  const bars = [];
  for (let i = 0; i < distribution.accepted.length; i++) {
    const x0 = axis.x(distribution.edges[i]),
      x1 = axis.x(distribution.edges[i + 1]);
    const width = Math.max(1, x1 - x0 - 1);
    const range = `${fmt(distribution.edges[i])} to ${fmt(distribution.edges[i + 1])}`;
    if (distribution.accepted[i])
      bars.push(
        svg(
          'rect',
          {
            x: x0,
            y: mid - (distribution.accepted[i] / top) * half,
            width,
            height: (distribution.accepted[i] / top) * half,
            class: 'good',
          },
          svg('title', {}, `${distribution.accepted[i]} accepted, score ${range}`),
        ),
      );
    if (distribution.rejected[i])
      bars.push(
        svg(
          'rect',
          { x: x0, y: mid, width, height: (distribution.rejected[i] / top) * half, class: 'defective' },
          svg('title', {}, `${distribution.rejected[i]} rejected, score ${range}`),
        ),
      );
  }
  // Ticks at each power of ten (and its halves when there are few), on the log axis.
  const ticks = [];
  for (let e = Math.floor(Math.log10(axis.low)); e <= Math.ceil(Math.log10(axis.high)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= axis.low && v <= axis.high) ticks.push(v);
    }
  }
  const zone = (/** @type {string} */ name) =>
    svg('rect', { class: `zone ${name}`, y: T, height: H - T - B, x: L, width: 0 });
  const handle = (/** @type {string} */ name, /** @type {string} */ label) =>
    svg(
      'g',
      { class: `handle ${name}`, 'data-threshold': name, tabindex: 0, role: 'slider', 'aria-label': label },
      svg('line', { y1: T - 6, y2: H - B, class: 'handle-line' }),
      svg('rect', { y: T - 6, height: H - B - T + 6, width: 18, x: -9, class: 'handle-grip' }),
      svg('text', { y: T - 10, 'text-anchor': 'middle', class: 'handle-label' }, ''),
    );
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'decided history and thresholds', id: 'what-if-svg' },
    zone('pass'),
    zone('review'),
    zone('reject'),
    ...ticks.map((v) =>
      svg(
        'g',
        {},
        svg('line', { x1: axis.x(v), x2: axis.x(v), y1: T, y2: H - B, class: 'grid' }),
        svg('text', { x: axis.x(v), y: H - B + 14, class: 'axis', 'text-anchor': 'middle' }, fmtTick(v)),
      ),
    ),
    svg('line', { x1: L, x2: W - R, y1: mid, y2: mid, class: 'midline' }),
    svg('text', { x: 4, y: T + 12, class: 'axis' }, 'accepted'),
    svg('text', { x: 4, y: H - B - 4, class: 'axis' }, 'rejected'),
    svg('text', { x: W - R, y: H - 4, class: 'axis', 'text-anchor': 'end' }, 'score (log scale)'),
    ...bars,
    ...(state.proposal
      ? [
          svg(
            'line',
            {
              x1: axis.x(state.proposal.passBelow),
              x2: axis.x(state.proposal.passBelow),
              y1: T,
              y2: H - B,
              class: 'proposal',
            },
            svg('title', {}, 'proposed pass below'),
          ),
          svg(
            'line',
            {
              x1: axis.x(state.proposal.rejectAbove),
              x2: axis.x(state.proposal.rejectAbove),
              y1: T,
              y2: H - B,
              class: 'proposal',
            },
            svg('title', {}, 'proposed reject from'),
          ),
        ]
      : []),
    handle('passBelow', 'pass below'),
    handle('rejectAbove', 'reject from'),
  );
  if (distribution.edges.length === 0)
    chart.append(
      svg(
        'text',
        { x: W / 2, y: T + 30, 'text-anchor': 'middle', class: 'axis' },
        'no decisions yet: the figures rest on the scores seen only',
      ),
    );
  $('chart-what-if').replaceChildren(chart);
  for (const g of chart.querySelectorAll('.handle'))
    dragging(/** @type {SVGSVGElement} */ (chart), /** @type {SVGGElement} */ (g));
}

const fmtTick = (/** @type {number} */ v) =>
  v >= 1000 || v < 0.01 ? v.toExponential(0) : String(Number(v.toPrecision(2)));
/** Thresholds as the fields show them and the what-if is asked: three significant digits. */
const round = (/** @type {number} */ v) => Number(v.toPrecision(3));

function setThresholds(/** @type {Thresholds} */ setting, ask = true) {
  state.setting = setting;
  passField().value = String(setting.passBelow);
  rejectField().value = String(setting.rejectAbove);
  placeHandles();
  if (ask) project();
}

function placeHandles() {
  const chart = document.getElementById('what-if-svg');
  if (!chart || !state.axis) return;
  const { passBelow, rejectAbove } = state.setting;
  const xp = state.axis.x(passBelow),
    xr = state.axis.x(rejectAbove);
  /** @type {[string, number, number, string][]} */
  const handles = [
    ['passBelow', xp, passBelow, `pass below ${fmt(passBelow)}`],
    ['rejectAbove', xr, rejectAbove, `reject from ${fmt(rejectAbove)}`],
  ];
  for (const [name, x, value, text] of handles) {
    const g = chart.querySelector(`.handle.${name}`);
    const label = g?.querySelector('text');
    if (!g || !label) continue;
    g.setAttribute('transform', `translate(${x},0)`);
    g.setAttribute('aria-valuenow', String(value));
    label.textContent = text;
  }
  const zone = (/** @type {string} */ name, /** @type {number} */ x0, /** @type {number} */ x1) => {
    const r = chart.querySelector(`.zone.${name}`);
    r?.setAttribute('x', String(x0));
    r?.setAttribute('width', String(Math.max(0, x1 - x0)));
  };
  zone('pass', L, xp);
  zone('review', xp, xr);
  zone('reject', xr, W - R);
}

/** A threshold handle follows the mouse, a finger or a pen; arrow keys move it a step. */
function dragging(/** @type {SVGSVGElement} */ chart, /** @type {SVGGElement} */ g) {
  const name = g.dataset.threshold === 'rejectAbove' ? 'rejectAbove' : 'passBelow';
  const other = name === 'passBelow' ? 'rejectAbove' : 'passBelow';
  const move = (/** @type {number} */ value) => {
    const next = { ...state.setting, [name]: round(value) };
    // The two cannot cross: the one dragged pushes the other along.
    if (next.passBelow > next.rejectAbove) next[other] = next[name];
    setThresholds(next);
  };
  const toValue = (/** @type {PointerEvent} */ event) => {
    const box = chart.getBoundingClientRect();
    return state.axis ? state.axis.value((event.clientX - box.left) * (W / box.width)) : state.setting[name];
  };
  g.addEventListener('pointerdown', (event) => {
    event.preventDefault();
    g.setPointerCapture(event.pointerId);
    g.classList.add('dragging');
    g.focus();
  });
  g.addEventListener('pointermove', (event) => {
    if (g.hasPointerCapture(event.pointerId)) move(toValue(event));
  });
  const end = (/** @type {PointerEvent} */ event) => {
    if (g.hasPointerCapture(event.pointerId)) g.releasePointerCapture(event.pointerId);
    g.classList.remove('dragging');
  };
  g.addEventListener('pointerup', end);
  g.addEventListener('pointercancel', end);
  g.addEventListener('keydown', (event) => {
    const factor =
      event.key === 'ArrowRight' || event.key === 'ArrowUp'
        ? 1.05
        : event.key === 'ArrowLeft' || event.key === 'ArrowDown'
          ? 1 / 1.05
          : 0;
    if (!factor) return;
    event.preventDefault();
    move(Math.max(state.axis?.low ?? 0, state.setting[name] * factor));
  });
}

/**
 * Asks the edge what this setting would have done. One request at a time while a handle moves: the
 * setting reached when it answers is asked next, so the figures catch up without a flood.
 */
async function project() {
  if (state.inFlight) {
    state.again = true;
    return;
  }
  state.inFlight = true;
  const projection = $('projection');
  projection.setAttribute('aria-busy', 'true');
  const asking = ++state.asking;
  const setting = { ...state.setting };
  /** @type {WhatIf | null} */
  const answer = await call(
    `/api/stations/${encodeURIComponent(state.station.station)}/what-if?${new URLSearchParams({ passBelow: String(setting.passBelow), rejectAbove: String(setting.rejectAbove) })}`,
  );
  state.inFlight = false;
  if (state.again) {
    state.again = false;
    return project();
  }
  if (!answer || asking !== state.asking) return projection.removeAttribute('aria-busy');
  showFigures('setting', answer.settings[0]);
  projection.dataset.passBelow = String(setting.passBelow);
  projection.dataset.rejectAbove = String(setting.rejectAbove);
  projection.removeAttribute('aria-busy');
  const warning = $('escape-warning');
  warning.hidden = answer.settings[0].escapes === 0;
  warning.textContent = `${answer.settings[0].escapes} part(s) people rejected would have passed unseen at this setting.`;
}

function showFigures(/** @type {'now' | 'setting'} */ column, /** @type {Setting} */ s) {
  for (const [figure, text] of [
    ['reviewRate', pct(s.reviewRate)],
    ['escapes', String(s.escapes)],
    ['falseRejects', String(s.falseRejects)],
    ['reviewed', String(s.reviewed)],
  ]) {
    const cell = $('projection').querySelector(`[data-figure=${figure}] .${column}`);
    if (cell) cell.textContent = text;
  }
}

passField().onchange = () => {
  const v = Number(passField().value);
  if (Number.isFinite(v) && v >= 0)
    setThresholds({ passBelow: v, rejectAbove: Math.max(v, state.setting.rejectAbove) });
};
rejectField().onchange = () => {
  const v = Number(rejectField().value);
  if (Number.isFinite(v) && v >= 0) setThresholds({ passBelow: Math.min(v, state.setting.passBelow), rejectAbove: v });
};
$('to-proposal').onclick = () => state.proposal && setThresholds({ ...state.proposal });
$('to-current').onclick = () => state.current && setThresholds({ ...state.current });
$('approve').onclick = async () => {
  const { passBelow, rejectAbove } = state.setting;
  const figures = (/** @type {string} */ f) =>
    $('projection').querySelector(`[data-figure=${f}] .setting`)?.textContent ?? '';
  const basis =
    $('approve-basis', HTMLInputElement).value.trim() ||
    `what-if on the decided history: review rate ${figures('reviewRate')}, escapes ${figures('escapes')}, false rejects ${figures('falseRejects')}`;
  /** @type {{ version: number, approvedBy: string } | null} */
  const version = await call(`/api/stations/${encodeURIComponent(state.station.station)}/thresholds`, {
    method: 'POST',
    body: { passBelow, rejectAbove, basis },
  });
  if (!version) return;
  notice(
    `Version ${version.version} approved by ${version.approvedBy}: pass below ${fmt(passBelow)}, reject from ${fmt(rejectAbove)}.`,
    'ok',
  );
  $('approve-basis', HTMLInputElement).value = '';
  await loadWhatIf();
};

// ---- drift ------------------------------------------------------------------------------------------

async function loadDrift() {
  /** @type {Status[]} */
  const statuses = (await call('/api/stations')) ?? [];
  const status = statuses.find((s) => s.station === state.station.station);
  const drift = status?.drift;
  const body = $('drift-body');
  if (!drift)
    return body.replaceChildren(
      el('p', { className: 'muted' }, 'No reading yet: the windows of passed parts are still filling.'),
    );
  const rows = [];
  if (drift.passedScores) {
    const p = drift.passedScores;
    rows.push(
      el(
        'tr',
        { dataset: { signal: 'passed_scores' }, className: drift.signals.includes('passed_scores') ? 'shifted' : '' },
        el('th', {}, 'scores of passed parts'),
        el('td', {}, `median ${fmt(p.referenceMedian)} → ${fmt(p.recentMedian)}`),
        el('td', {}, `Kolmogorov-Smirnov D ${p.statistic.toFixed(2)}, p ${p.pValue.toExponential(1)}`),
        el('td', {}, `${p.reference} reference, ${p.recent} recent parts`),
      ),
    );
  }
  if (drift.reviewRate) {
    const r = drift.reviewRate;
    rows.push(
      el(
        'tr',
        { dataset: { signal: 'review_rate' }, className: drift.signals.includes('review_rate') ? 'shifted' : '' },
        el('th', {}, 'review rate'),
        el('td', {}, `${pct(r.reference)} → ${pct(r.recent)}`),
        el('td', {}, `p ${r.pValue.toExponential(1)}`),
        el('td', {}, `${r.referenceParts} reference, ${r.recentParts} recent parts`),
      ),
    );
  }
  body.replaceChildren(
    el(
      'p',
      { className: drift.detected ? 'warn-line' : 'ok-line', id: 'drift-verdict' },
      drift.detected
        ? `Drift: ${drift.signals.map((s) => (s === 'passed_scores' ? 'the passed parts score differently' : 'more parts go to people')).join(' and ')}. Nothing was changed; look at the camera, the light and the material.`
        : 'No drift: the passed parts score as in the reference window.',
    ),
    el('div', { className: 'scroll-x' }, el('table', {}, el('tbody', {}, ...rows))),
    el(
      'p',
      { className: 'muted' },
      `as of ${status?.at ? when(status.at, true) : '—'}; the reference starts again on a threshold approval or a model swap.`,
    ),
  );
}

// ---- disagreements ---------------------------------------------------------------------------------

async function loadDisputes() {
  /** @type {{ disputes: Dispute[] } | null} */
  const answer = await call(`/api/stations/${encodeURIComponent(state.station.station)}/disputes`, { quiet: true });
  const body = $('disputes-body');
  if (!answer) {
    $('dispute-count').textContent = '0';
    return body.replaceChildren(
      el('p', { className: 'muted' }, 'This station asks for no second opinions (review.secondOpinionShare is 0).'),
    );
  }
  $('dispute-count').textContent = String(answer.disputes.length);
  if (answer.disputes.length === 0)
    return body.replaceChildren(
      el('p', { className: 'muted' }, 'None: every second opinion so far agrees, or was settled.'),
    );
  const said = (/** @type {Opinion} */ o) =>
    `${o.user}: ${o.verdict === 'pass' ? 'accept' : `reject${o.category ? ` (${o.category})` : ''}`}`;
  const rows = answer.disputes.map((c) => {
    const categories = [c.first.category, c.second.category].filter((category) => category !== undefined);
    const category = el('input', {
      className: 'category',
      value: categories[0] ?? '',
      placeholder: 'category',
      maxLength: 64,
      size: 12,
    });
    const settle = (/** @type {'accept' | 'reject'} */ decision) => async () => {
      const body = {
        decision,
        ...(decision === 'reject' && category.value.trim() ? { category: category.value.trim() } : {}),
      };
      const settled = await call(
        `/api/stations/${encodeURIComponent(state.station.station)}/disputes/${encodeURIComponent(c.partId)}`,
        { method: 'POST', body },
      );
      if (!settled) return;
      notice(`Part ${c.partId} settled: ${decision}.`, 'ok');
      await Promise.all([loadDisputes(), loadAgreement(), loadWhatIf()]);
    };
    const key = `${state.station.line}/${state.station.station}/${c.partId}`;
    return el(
      'tr',
      { dataset: { part: c.partId } },
      el('td', {}, el('a', { href: `/log#part=${encodeURIComponent(key)}` }, c.partId)),
      el('td', {}, fmt(c.score)),
      el('td', {}, said(c.first)),
      el('td', {}, said(c.second)),
      el(
        'td',
        { className: 'settle' },
        el('button', { className: 'small accept', onclick: settle('accept') }, 'Accept'),
        ' ',
        category,
        ' ',
        el('button', { className: 'small reject', onclick: settle('reject') }, 'Reject'),
      ),
    );
  });
  body.replaceChildren(
    el(
      'div',
      { className: 'scroll-x' },
      el(
        'table',
        { id: 'dispute-table' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', {}, 'part'),
            el('th', {}, 'score'),
            el('th', {}, 'first'),
            el('th', {}, 'second (blind)'),
            el('th', {}, 'settle'),
          ),
        ),
        el('tbody', {}, ...rows),
      ),
    ),
  );
}

// ---- agreement -------------------------------------------------------------------------------------

async function loadAgreement() {
  /** @type {Agreement | null} */
  const a = await call(`/api/stations/${encodeURIComponent(state.station.station)}/agreement`, { quiet: true });
  const body = $('agreement-body');
  if (!a)
    return body.replaceChildren(
      el('p', { className: 'muted' }, 'This station asks for no second opinions (review.secondOpinionShare is 0).'),
    );
  const kappa = (/** @type {number | null} */ k) => (k === null ? '—' : k.toFixed(2));
  const table = (/** @type {string} */ id, /** @type {string[]} */ head, /** @type {HTMLElement[]} */ rows) =>
    el(
      'div',
      { className: 'scroll-x' },
      el('table', { id }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)),
    );
  body.replaceChildren(
    el(
      'p',
      { className: 'muted' },
      `${pct(a.share)} of the parts people decide are asked again, blind; ${a.cases} parts have two opinions, ${a.waiting} wait for a second, ${a.disputes} wait for a manager. Cohen's kappa: 1 is full agreement, 0 no better than chance; n is the number of parts it rests on.`,
    ),
    el('h3', {}, 'Per pair of people (accept or reject)'),
    table(
      'pairs',
      ['people', 'n', 'agree', 'kappa'],
      a.pairs.map((p) =>
        el(
          'tr',
          {},
          el('td', {}, p.people.join(' & ')),
          el('td', {}, String(p.n)),
          el('td', {}, pct(p.agreement)),
          el('td', {}, kappa(p.kappa)),
        ),
      ),
    ),
    el('h3', {}, 'Per category (good, or a defect category, against all others)'),
    table(
      'category-agreement',
      ['label', 'n', 'kappa'],
      a.categories.map((c) =>
        el('tr', {}, el('td', {}, c.category), el('td', {}, String(c.n)), el('td', {}, kappa(c.kappa))),
      ),
    ),
    el('h3', {}, `Override rate per person (the station's: ${pct(a.stationOverrideRate)})`),
    table(
      'override',
      ['person', 'opinions', 'final answer went against them', 'override rate', 'against the station'],
      a.people.map((p) =>
        el(
          'tr',
          {},
          el('td', {}, p.user),
          el('td', {}, String(p.opinions)),
          el('td', {}, String(p.settledAgainst)),
          el('td', {}, pct(p.overrideRate)),
          el(
            'td',
            {},
            p.overrideRate === null || a.stationOverrideRate === null
              ? '—'
              : p.overrideRate > a.stationOverrideRate
                ? 'above'
                : p.overrideRate < a.stationOverrideRate
                  ? 'below'
                  : 'same',
          ),
        ),
      ),
    ),
  );
}

// ---- suggestions -----------------------------------------------------------------------------------

async function loadSuggestions() {
  /** @type {Suggestions | null} */
  const s = await call(`/api/stations/${encodeURIComponent(state.station.station)}/suggestions`, { quiet: true });
  const body = $('suggestions-body');
  if (!s) return body.replaceChildren(el('p', { className: 'muted' }, 'This station does not suggest categories.'));
  body.replaceChildren(
    el(
      'div',
      { className: 'totals' },
      ...[
        ['accuracy', pct(s.accuracy)],
        ['recent accuracy', pct(s.recent.accuracy)],
        ['judged by people', String(s.judged)],
        ['labelled examples', String(s.examples)],
      ].map(([label, value]) =>
        el(
          'div',
          { className: 'total', dataset: { total: label } },
          el('strong', {}, String(value)),
          el('span', { className: 'muted' }, label),
        ),
      ),
    ),
    el(
      'div',
      { className: 'scroll-x' },
      el(
        'table',
        { id: 'suggestion-categories' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', {}, 'category'),
            el('th', {}, 'examples'),
            el('th', {}, 'suggested and judged'),
            el('th', {}, 'people agreed'),
          ),
        ),
        el(
          'tbody',
          {},
          ...Object.entries(s.perCategory).map(([category, c]) =>
            el(
              'tr',
              {},
              el('td', {}, category),
              el('td', {}, String(c.examples)),
              el('td', {}, String(c.judged)),
              el('td', {}, c.judged ? pct(c.correct / c.judged) : '—'),
            ),
          ),
        ),
      ),
    ),
  );
}

// ---- small things ----------------------------------------------------------------------------------

/** @param {string} url @param {{ method?: string, body?: object, quiet?: boolean }} [options] */
const call = (url, options) => managerCall(url, state.me?.csrf ?? '', options);

const pct = (/** @type {number | null | undefined} */ v) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;

stationField().onchange = () => load();
$('refresh').onclick = () => load();
$('logout').onclick = async () => {
  await fetch('/api/logout', { method: 'POST', headers: { 'x-csrf-token': state.me?.csrf ?? '' } });
  location.assign('/login?out=1');
};

start();
