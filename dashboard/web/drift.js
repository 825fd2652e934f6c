// @ts-check
// Drift in plain words: when a station's status says its passed parts now score differently, or
// that more parts go to a person than before (edge/src/review/drift.ts), the screen says so above
// the queue, with the evidence. It only tells: nothing was changed, and a person decides what to do.
import { $, el, fmt } from './dom.js';

/** @typedef {import('../../contract/payloads.ts').Status} Status */

const pct = (/** @type {number} */ v) => `${(v * 100).toFixed(1)}%`;
const chance = (/** @type {number} */ p) => (p < 0.001 ? 'less than 1 in 1000' : `${p.toPrecision(2)}`);

/** What drifted at a station, one sentence a signal; empty when nothing did. */
export function driftWords(/** @type {Status} */ status) {
  const drift = status.drift;
  if (!drift || !drift.detected) return [];
  /** @type {string[]} */
  const said = [];
  const scores = drift.passedScores;
  if (drift.signals.includes('passed_scores') && scores) {
    said.push(
      `${status.station}: passed parts now score differently from before (median ${fmt(scores.referenceMedian)} then, ${fmt(scores.recentMedian)} now, over the last ${scores.recent} passed parts against ${scores.reference}; the chance of a gap this large by luck is ${chance(scores.pValue)}).`,
    );
  }
  const rate = drift.reviewRate;
  if (drift.signals.includes('review_rate') && rate) {
    said.push(
      `${status.station}: more parts go to a person than before (${pct(rate.reference)} then, ${pct(rate.recent)} now, over the last ${rate.recentParts} parts against ${rate.referenceParts}; by luck: ${chance(rate.pValue)}).`,
    );
  }
  return said;
}

/** The banner above the queue: every drifting station of this screen, or nothing. */
export function renderDrift(/** @type {Status[]} */ statuses) {
  const drifting = statuses.filter((s) => s.state === 'online').flatMap(driftWords);
  const banner = $('drift');
  banner.hidden = drifting.length === 0;
  if (!drifting.length) return banner.replaceChildren();
  banner.replaceChildren(
    ...drifting.map((text) => el('p', {}, el('strong', {}, 'Drift: '), text)),
    el(
      'p',
      { className: 'muted' },
      'A knocked camera, a dimming lamp or a new batch of material does this. Nothing was changed: check the camera, the light and the parts, and tell a manager.',
    ),
  );
}
