// @ts-check
// The manager's models page, per station: the live model and its lineage, a candidate model in
// shadow with its tallies beside the live model's (on the parts people decided and the audit
// samples), attach / detach / promote, and the promotions with the evidence they were made on.
import { $, el, fmt, when } from './dom.js';
import { call as managerCall, notice } from './manager-api.js';

/** @typedef {import('./state.js').Me} Me */
/** @typedef {import('../../edge/src/review/shadow.ts').ShadowView} ShadowView */
/** @typedef {import('../../edge/src/review/shadow.ts').ModelInfo} ModelInfo */
/** @typedef {import('../../edge/src/review/shadow.ts').Tallies} Tallies */
/** @typedef {import('../../edge/src/review/shadow.ts').ModelTally} ModelTally */
/** @typedef {import('../../edge/src/review/shadow.ts').Promotion} Promotion */

/** @type {{ me: Me }} */
const state = { me: { name: '', role: 'manager', csrf: '' } };

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401) return location.assign(`/login?next=${encodeURIComponent('/models')}`);
  state.me = await response.json();
  $('who').textContent = `${state.me.name} · ${state.me.role}`;
  $('people-nav').hidden = state.me.role !== 'admin';
  await load();
}

/** @param {string} url @param {string} [method] @param {object} [body] */
const call = (url, method = 'GET', body) => managerCall(url, state.me.csrf, { method, body });

async function load() {
  /** @type {{ station: string }[]} */
  const statuses = (await call('/api/stations')) ?? [];
  const ids = [...new Set(statuses.map((s) => s.station))].sort();
  $('no-stations').hidden = ids.length > 0;
  const sections = [];
  for (const id of ids) {
    /** @type {ShadowView | null} */
    const shadow = await fetch(`/api/stations/${encodeURIComponent(id)}/shadow`)
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    sections.push(
      shadow
        ? stationSection(shadow)
        : el(
            'section',
            { dataset: { station: id } },
            el('h2', {}, id),
            el(
              'p',
              { className: 'muted' },
              'This station keeps no shadow model here (several camera views, or served by another box).',
            ),
          ),
    );
  }
  $('stations').replaceChildren($('no-stations'), ...sections);
}

const ref = (/** @type {{ id: string, version: string }} */ m) => `${m.id} v${m.version}`;
const percent = (/** @type {number | null | undefined} */ v) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;

/**
 * What a manifest's lineage says, in a line: the parent, the parts added, the promotions.
 * @param {ModelInfo} info
 */
function lineageText(info) {
  const parts = [];
  if (info.goodImages !== null) parts.push(`fitted on ${info.goodImages} good images`);
  /** @type {Record<string, any>} */
  const lineage = info.lineage ?? {};
  if (lineage.parent)
    parts.push(
      `refitted from ${lineage.parent}${lineage.acceptedParts !== undefined ? ` with ${lineage.acceptedParts} parts people accepted` : ''}`,
    );
  if (lineage.importedFrom) parts.push(`imported from ${lineage.importedFrom}`);
  if (Array.isArray(lineage.promotions)) parts.push(`promoted from shadow ${lineage.promotions.length}×`);
  return parts.join(' · ') || 'no lineage recorded';
}

/** @param {ShadowView} view */
function stationSection(view) {
  const station = view.station;
  const section = el('section', { dataset: { station } }, el('h2', {}, `Station ${station}`));
  section.append(
    el(
      'p',
      { className: 'live' },
      el('strong', {}, 'Live: '),
      ref(view.live.model),
      ' ',
      el('span', { className: 'muted' }, `— ${lineageText(view.live)} · ${view.live.dir}`),
    ),
  );
  if (!view.candidate) {
    const model = el('input', { name: 'model', required: true, placeholder: 'models/bracket-v2', size: 32 });
    const form = el(
      'form',
      { className: 'filters attach' },
      el('label', {}, 'model folder on the station', model),
      el('button', { type: 'submit', className: 'small accept' }, 'Attach in shadow'),
    );
    form.onsubmit = async (/** @type {SubmitEvent} */ event) => {
      event.preventDefault();
      if (await call(`/api/stations/${encodeURIComponent(station)}/shadow`, 'POST', { model: model.value })) {
        notice(
          `Candidate attached to ${station}: it scores every live frame from now on, without deciding anything.`,
          'ok',
        );
        load();
      }
    };
    section.append(
      el('h3', {}, 'Shadow'),
      el(
        'p',
        { className: 'muted' },
        'No candidate in shadow. A candidate scores every live frame the station has time for, decides nothing, and is judged on the parts people decide.',
      ),
      form,
    );
  } else {
    const c = view.candidate;
    section.append(
      el('h3', {}, 'Shadow: ', ref(c.model)),
      el(
        'p',
        { className: 'muted' },
        `attached by ${c.attachedBy} on ${when(c.attachedAt)} · ${lineageText(c)} · ${c.dir}`,
      ),
      el(
        'p',
        { className: 'frames' },
        `${view.frames.scored} frames scored, ${view.frames.skipped} skipped (busy), ${view.frames.failed} failed`,
        c.state === 'failed'
          ? el('strong', { className: 'v-reject' }, ' — could not be loaded after a restart: attach it again')
          : '',
      ),
    );
    if (view.tallies) section.append(talliesTable(view.tallies));
    const promote = el(
      'button',
      {
        className: 'small accept promote',
        disabled: c.state !== 'scoring',
        onclick: async () => {
          if (
            !confirm(
              `Make ${ref(c.model)} the live model of ${station}? Frames already being inspected finish on the current model.`,
            )
          )
            return;
          const promotion = await call(`/api/stations/${encodeURIComponent(station)}/shadow/promote`, 'POST');
          if (promotion) {
            notice(`${ref(promotion.model)} is now the live model of ${station}.`, 'ok');
            load();
          }
        },
      },
      'Promote to live',
    );
    const detach = el(
      'button',
      {
        className: 'small detach',
        onclick: async () => {
          if (!confirm(`Detach ${ref(c.model)}? Its tallies are dropped.`)) return;
          if (await call(`/api/stations/${encodeURIComponent(station)}/shadow`, 'DELETE')) {
            notice('Candidate detached.', 'ok');
            load();
          }
        },
      },
      'Detach',
    );
    section.append(el('p', {}, promote, ' ', detach));
  }
  section.append(el('h3', {}, 'Promotions'));
  if (view.promotions.length === 0) section.append(el('p', { className: 'muted' }, 'None on this station yet.'));
  else {
    const rows = view.promotions
      .slice()
      .reverse()
      .map((/** @type {Promotion} */ p) =>
        el(
          'tr',
          {},
          el('td', {}, when(p.at)),
          el('td', {}, p.by),
          el('td', {}, ref(p.model)),
          el('td', {}, ref(p.replaced)),
          el(
            'td',
            {},
            p.evidence
              ? `${p.evidence.decided} decided parts (${p.evidence.audits} audits): escapes ${p.evidence.live.escapes} → ${p.evidence.candidate.escapes}, false rejects ${p.evidence.live.falseRejects} → ${p.evidence.candidate.falseRejects}, review rate ${percent(p.evidence.live.reviewRate)} → ${percent(p.evidence.candidate.reviewRate)}`
              : '—',
          ),
        ),
      );
    section.append(
      el(
        'div',
        { className: 'scroll-x' },
        el(
          'table',
          { className: 'promotions' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['when', 'by', 'model', 'replaced', 'evidence (live → candidate)'].map((h) => el('th', {}, h)),
            ),
          ),
          el('tbody', {}, ...rows),
        ),
      ),
    );
  }
  return section;
}

/**
 * The two columns side by side; the candidate's cell says whether it does better or worse.
 * @param {Tallies} t
 */
function talliesTable(t) {
  const compare = (/** @type {number} */ live, /** @type {number} */ candidate) =>
    candidate < live ? 'better' : candidate > live ? 'worse' : 'same';
  /**
   * @param {string} label
   * @param {'escapes' | 'falseRejects' | 'reviewRate'} key
   * @param {(v: number | null) => string} show
   * @param {string} title
   */
  const row = (label, key, show, title) => {
    const live = t.live[key];
    const candidate = t.candidate[key];
    const verdict = live === null || candidate === null ? 'same' : compare(live, candidate);
    return el(
      'tr',
      { dataset: { row: key } },
      el('th', { title }, label),
      el('td', {}, show(live)),
      el(
        'td',
        { className: `shadow-${verdict}`, dataset: { verdict } },
        show(candidate),
        verdict === 'same' ? '' : ` (${verdict})`,
      ),
    );
  };
  const thresholds = (/** @type {{ passBelow: number, rejectAbove: number } | null} */ v) =>
    v ? `${fmt(v.passBelow)} / ${fmt(v.rejectAbove)}` : 'in force per part';
  return el(
    'div',
    { className: 'scroll-x' },
    el(
      'table',
      { className: 'tallies' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el(
            'th',
            {},
            `${t.scored} frames · ${t.decided} decided by people (${t.audits} audits, ${t.defects} defects)`,
          ),
          el('th', {}, `live ${ref(t.live.model)}`),
          el('th', {}, `candidate ${ref(t.candidate.model)}`),
        ),
      ),
      el(
        'tbody',
        {},
        el(
          'tr',
          {},
          el('th', {}, 'pass below / reject above'),
          el('td', {}, thresholds(t.live.thresholds)),
          el('td', {}, thresholds(t.candidate.thresholds)),
        ),
        row('escapes', 'escapes', String, 'parts a person rejected that the model would have passed'),
        row('false rejects', 'falseRejects', String, 'parts a person accepted that the model would have rejected'),
        row('review rate', 'reviewRate', percent, 'frames the model would send to a person, audit draws left out'),
        el(
          'tr',
          {},
          el('th', {}, 'disagreements'),
          el(
            'td',
            { colSpan: 2 },
            `candidate passes ${t.disagreements.candidatePassesLiveRejects} the live model rejects; rejects ${t.disagreements.candidateRejectsLivePasses} it passes`,
          ),
        ),
      ),
    ),
  );
}

$('logout').onclick = async () => {
  await call('/api/logout', 'POST');
  location.assign('/login?out=1');
};

start();
