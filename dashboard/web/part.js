// @ts-check
// The part shown: its id, why a person is asked, who holds it, the score against the thresholds,
// the categories, the state line above the picture, the undo bar, and the decisions taken before at
// similar scores. Buttons here are handled by keys.js (by their data attributes).
import { $, el, fmt, when } from './dom.js';
import { icon } from './icons.js';
import { countdown, heldByOther, keyOf, said, shown, state, unreachable } from './state.js';
import { applyView, showPicture } from './viewer.js';
import { reasonWords, VERDICT_WORDS } from './words.js';

/** @typedef {import('../../contract/payloads.ts').Review} Review */
/** @typedef {{ partId: string, score: number | null, verdict: 'pass' | 'reject' | 'hold', user?: string, category?: string }} Similar */

const button = (/** @type {string} */ id) => $(id, HTMLButtonElement);

/** Draws the part shown; `changed`: a different part than before, so its picture loads afresh. */
export function renderPart(changed = false) {
  const review = shown();
  $('part').hidden = !review;
  $('part-empty').hidden = Boolean(review);
  if (!review) return;
  if (changed) {
    showPicture(review);
    $('similar', HTMLTableElement).tBodies[0].replaceChildren();
  }
  $('part-id').textContent = review.partId;
  $('part-meta').textContent =
    `${review.station} · model ${review.model.id} v${review.model.version} · if nobody decides: ${VERDICT_WORDS[review.defaultAction] ?? review.defaultAction} in ${countdown(review.deadline)}`;
  $('part-reasons').replaceChildren(el('strong', {}, 'Why a person: '), review.reasons.map(reasonWords).join('; '));
  const key = keyOf(review);
  const holder = state.correcting ? null : heldByOther(key);
  $('part-claim').replaceChildren(
    ...(holder
      ? [icon('lock'), ` ${holder.holder} is deciding this part`]
      : [state.correcting ? 'correcting your decision' : 'reserved for you']),
  );
  $('part-claim').className = holder ? 'holder' : 'muted';
  const blocked =
    Boolean(holder) ||
    Boolean(state.lost) ||
    Boolean(unreachable(review)) ||
    (!state.correcting && state.sent.has(key)) ||
    Date.now() < state.guardUntil;
  button('accept').disabled = blocked;
  button('reject').disabled = blocked;
  const suggested =
    review.suggestion && review.categories.includes(review.suggestion.category) ? review.suggestion : null;
  renderSuggestion(suggested, blocked);
  $('categories').replaceChildren(
    ...review.categories.slice(0, 9).map((name, i) =>
      el(
        'button',
        {
          className: `small category${state.category === name ? ' chosen' : ''}${suggested?.category === name ? ' suggested' : ''}`,
          dataset: { index: String(i) },
        },
        el('kbd', {}, String(i + 1)),
        ` ${name}`,
      ),
    ),
  );
  drawScale(review);
  renderState();
  applyView();
}

/**
 * The category the station suggests from what people chose for similar parts, with its confidence,
 * and the button (S) that rejects the part with it.
 * @param {{ category: string, confidence: number } | null} suggestion
 * @param {boolean} blocked
 */
function renderSuggestion(suggestion, blocked) {
  const box = $('suggestion');
  box.hidden = !suggestion;
  if (!suggestion) return box.replaceChildren();
  box.dataset.category = suggestion.category;
  box.replaceChildren(
    el(
      'span',
      {},
      'Suggested: ',
      el('strong', {}, suggestion.category),
      ' ',
      el(
        'span',
        { className: 'confidence', title: "the share of the nearest labelled parts' vote" },
        `${Math.round(suggestion.confidence * 100)}% sure`,
      ),
    ),
    el('span', { className: 'muted' }, 'from the categories people gave similar parts'),
    el(
      'button',
      { className: 'small reject', disabled: blocked, dataset: { confirm: '' } },
      `Reject as ${suggestion.category} `,
      el('kbd', {}, 'S'),
    ),
  );
}

/** The line above the picture: a correction, why decisions are off, or a lost claim. */
function renderState() {
  const review = shown();
  const line = $('part-state');
  let kind = '';
  /** @type {(Node | string)[]} */
  let parts = [];
  const off = review && unreachable(review);
  if (state.correcting) {
    const c = state.correcting;
    kind = 'warn';
    parts = [
      icon('undo'),
      ` ${c.review.partId} was sent as ${said(c.body)} at ${when(new Date(c.at).toISOString(), true)}. Choose the right decision (A or R); Esc keeps it.`,
    ];
  } else if (off) {
    kind = 'gone';
    parts = [icon('warn'), ` ${off}`];
  } else if (state.lost) {
    kind = 'error';
    parts = [icon('lock'), ` You lost this part: ${state.lost} is deciding it now.`];
  }
  line.hidden = parts.length === 0;
  line.className = kind;
  line.replaceChildren(...parts);
}

/** The decision waiting to be sent, with its countdown and an Undo button, shown whatever part is open. */
export function renderUndo() {
  const p = state.pending;
  const bar = $('undo-bar');
  $('undo').hidden = !p && !(state.last && !state.correcting);
  bar.hidden = !p;
  if (!p) return;
  const left = Math.max(0, Math.ceil((p.sendAt - Date.now()) / 1000));
  bar.replaceChildren(
    icon('check'),
    ` ${p.review.partId} ${said(p.body)}: sent in ${left} s `,
    el('button', { className: 'small', dataset: { undo: '' } }, icon('undo'), ' Undo ', el('kbd', {}, 'U')),
  );
}

/** The score on a bar of the pass, review and reject bands. */
function drawScale(/** @type {Review} */ review) {
  const { passBelow, rejectAbove } = review.thresholds;
  const top = Math.max(rejectAbove * 1.4, (review.score ?? 0) * 1.1, 1e-9);
  const at = (/** @type {number} */ v) => `${Math.min(100, Math.max(0, (v / top) * 100)).toFixed(1)}%`;
  $('scale').replaceChildren(
    el('div', { className: 'band pass', style: { left: '0', width: at(passBelow) } }),
    el('div', {
      className: 'band review',
      style: { left: at(passBelow), width: `calc(${at(rejectAbove)} - ${at(passBelow)})` },
    }),
    el('div', { className: 'band reject', style: { left: at(rejectAbove), right: '0' } }),
    el('span', { className: 'tick', style: { left: at(passBelow) } }),
    el('span', { className: 'tick', style: { left: at(rejectAbove) } }),
    el(
      'span',
      { className: 'legend' },
      el('span', { className: 'v-pass' }, `pass below ${fmt(passBelow)}`),
      el('span', { className: 'v-reject' }, `reject from ${fmt(rejectAbove)}`),
    ),
    review.score === null
      ? el('span', { className: 'score none' }, 'no score')
      : el(
          'span',
          {
            className: 'score',
            style: {
              left: at(review.score),
              transform: `translateX(-${Math.min(100, Math.max(0, (review.score / top) * 100))}%)`,
            },
          },
          `score ${fmt(review.score)}`,
        ),
    review.score === null ? '' : el('span', { className: 'score-mark', style: { left: at(review.score) } }),
  );
}

/** The decisions people took before on parts of this station at similar scores. */
export function renderSimilar(/** @type {Similar[]} */ rows) {
  $('similar', HTMLTableElement).tBodies[0].replaceChildren(
    ...(rows.length
      ? rows.map((v) =>
          el(
            'tr',
            {},
            el('td', {}, v.partId),
            el('td', {}, fmt(v.score)),
            el('td', { className: `v-${v.verdict}` }, VERDICT_WORDS[v.verdict] ?? v.verdict),
            el('td', {}, v.user ?? ''),
            el('td', {}, v.category ?? ''),
          ),
        )
      : [el('tr', {}, el('td', { colSpan: 5, className: 'muted' }, 'no decisions yet at this station'))]),
  );
}
