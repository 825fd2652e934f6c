// @ts-check
// The desk: opening a part (which claims it), keeping and letting go of the claim, and deciding.
//
// No accidental decisions: a part is claimed only when the person opens it (a tap, N, or the next
// part after their own decision); keys and buttons wait a short guard after a part is shown; a
// decision waits `undoSeconds` on screen (U undoes it) before it is sent; once sent, U offers a
// correction, which the station publishes as a corrected verdict.
import { $ } from './dom.js';
import { attachMarking } from './mark.js';
import { renderPart, renderSimilar, renderUndo } from './part.js';
import { firstOpen, markSelected, renderQueue } from './queue.js';
import { api, notice } from './session.js';
import { heldByOther, partUrl, reviewUrl, said, shown, state, unreachable } from './state.js';

/** @typedef {import('./state.js').Body} Body */
/** @typedef {import('./state.js').Pending} Pending */
/** @typedef {{ holder?: string, expiresAt?: string, message?: string }} Answer */

/** Marking where (mark.js): the defect's region on the picture, sent with Reject; D, B, X and its buttons. */
const marking = attachMarking($('part-image', HTMLImageElement), $('mark-controls'));

/** Draws the queue, the part shown and the undo bar. */
export function render() {
  renderQueue();
  renderPart();
  renderUndo();
}

/** @type {number | undefined} */
let renewTimer;
/** @type {number | undefined} */
let guardTimer;

/** Keys and buttons wait `guardMs` before they act on the part now shown. */
function armGuard() {
  state.guardUntil = Date.now() + state.screen.guardMs;
  document.body.classList.add('guarded');
  clearTimeout(guardTimer);
  guardTimer = setTimeout(() => {
    document.body.classList.remove('guarded');
    renderPart();
  }, state.screen.guardMs);
}

/** Opens a part for this person: shows it, claims it, and keeps the claim while it is on screen. */
export async function openPart(/** @type {string | null} */ key) {
  if (state.correcting) leaveCorrection();
  const previous = state.selected;
  if (key === previous) return;
  state.selected = key;
  state.lost = null;
  state.held = null;
  state.category = null;
  state.view = { scale: 1, x: 0, y: 0 };
  marking.reset(); // marking where: a new part starts unmarked
  armGuard();
  markSelected(key);
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

/** Claims (or renews the claim on) a part; says so when someone else holds it. */
async function claim(/** @type {string} */ key, /** @type {boolean} */ renewing) {
  const review = state.reviews.get(key);
  if (!review) return;
  const response = await api(`${reviewUrl(review)}/claim`, {});
  if (!response) return;
  /** @type {Answer} */
  const body = await response.json().catch(() => ({}));
  const holder = { holder: body.holder ?? '', expiresAt: body.expiresAt ?? '' };
  if (response.ok) {
    state.held = key;
    state.claims.set(key, holder);
    // Renewed well before it runs out, while the part is on screen (or its decision waits to go).
    clearTimeout(renewTimer);
    renewTimer = setTimeout(
      () => {
        if (state.selected === key || state.pending?.key === key) claim(key, true);
      },
      (state.screen.claimSeconds * 1000) / 3,
    );
  } else if (response.status === 409) {
    state.claims.set(key, holder);
    if (renewing && state.held === key) {
      state.lost = holder.holder;
      notice(`You lost ${review.partId}: ${holder.holder} is deciding it now. Pick another part (N).`, 'error');
    } else notice(body.message ?? `${holder.holder} is deciding ${review.partId}.`, 'warn');
  }
  render();
}

/** Lets a part go at once when this person leaves it (nobody waits for the claim to run out). */
export function release(/** @type {string} */ key, keepalive = false) {
  const review = state.reviews.get(key);
  if (!review || heldByOther(key)) return;
  state.claims.delete(key);
  fetch(`${reviewUrl(review)}/claim`, {
    method: 'DELETE',
    keepalive,
    headers: { 'x-csrf-token': state.me.csrf },
  }).catch(() => {});
}

/** Chooses the defect category at `index` for a reject (again: unchooses it). */
export function choose(/** @type {number} */ index) {
  const review = shown();
  const name = review?.categories[index];
  if (!name) return;
  state.category = state.category === name ? null : name;
  renderPart();
}

/** S: rejects the part with the category the station suggests (a person's decision, undoable as any). */
export function confirmSuggestion() {
  const review = shown();
  const suggestion = review?.suggestion;
  if (!review || !suggestion || !review.categories.includes(suggestion.category))
    return notice('No category is suggested for this part: choose one (1–9), then R.', 'warn');
  state.category = suggestion.category;
  decide('reject');
}

/** Accepts or rejects the part open (or the decision being corrected); it waits `undoSeconds` before it goes. */
export function decide(/** @type {'accept' | 'reject'} */ decision) {
  if (state.correcting) return correct(decision);
  const key = state.selected;
  const review = key && state.reviews.get(key);
  if (!key || !review) return notice('Open a part first: tap it in the queue, or press N.', 'warn');
  const holder = heldByOther(key);
  if (holder) return notice(`${holder.holder} is deciding ${review.partId}; pick another part (N).`, 'warn');
  const off = unreachable(review);
  if (off) return notice(off, 'error');
  if (Date.now() < state.guardUntil) return; // a press meant for the part before: ignored
  if (state.sent.has(key)) return;
  sendPending(); // only the last decision waits: the one before goes now
  /** @type {Body} */
  const body = { decision, ...(decision === 'reject' && state.category ? { category: state.category } : {}) };
  const region = decision === 'reject' ? marking.region() : null; // marking where
  if (region) body.region = region;
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

/** Sends the decision still waiting, now. */
export function sendPending() {
  if (state.pending) send(state.pending);
}

/** Sends a decision; on refusal the part is back and the person is told why. */
export async function send(/** @type {Pending} */ pending, keepalive = false) {
  clearTimeout(pending.timer);
  if (state.pending === pending) state.pending = null;
  const { review, body, key } = pending;
  const response = await api(`${reviewUrl(review)}/decision`, body, keepalive);
  if (response && response.status === 202) {
    state.last = { key, review, body, at: Date.now() };
    notice(`${review.partId}: ${said(body)}, sent. U corrects it.`, 'ok');
    render();
    return;
  }
  state.sent.delete(key);
  if (!response) return render();
  /** @type {Answer} */
  const answer = await response.json().catch(() => ({}));
  if (response.status === 404) {
    state.reviews.delete(key);
    notice(
      `${review.partId} is no longer open: already decided elsewhere or timed out. Your decision was not used.`,
      'warn',
    );
  } else if (response.status === 409) {
    state.claims.set(key, { holder: answer.holder ?? '', expiresAt: answer.expiresAt ?? '' });
    notice(answer.message ?? `${review.partId} is held by someone else.`, 'warn');
  } else notice(`${review.partId} not sent: ${answer.message ?? `refused (${response.status})`}`, 'error');
  render();
}

/** U / Ctrl+Z: takes back the decision still waiting, or offers to correct the one sent. */
export function undo() {
  const p = state.pending;
  if (p) {
    clearTimeout(p.timer);
    state.pending = null;
    state.sent.delete(p.key);
    notice(`Undone: ${p.review.partId} is back, and nothing was sent.`, 'ok');
    openPart(p.key);
    marking.reset(p.body.region); // marking where: the marks come back with the part
    render();
    return;
  }
  const last = state.last;
  if (!last) return notice('Nothing to undo.', 'warn');
  if (Date.now() - last.at > state.screen.correctionMinutes * 60_000)
    return notice(
      `${last.review.partId} was sent more than ${state.screen.correctionMinutes} minutes ago: ask a manager to correct it.`,
      'warn',
    );
  state.correcting = last;
  state.category = last.body.category ?? null;
  armGuard();
  renderPart(true);
}

/** Esc while correcting: the decision sent stays as it was. */
export function leaveCorrection() {
  state.correcting = null;
  state.category = null;
  renderPart(true);
}

async function correct(/** @type {'accept' | 'reject'} */ decision) {
  const c = state.correcting;
  if (!c || Date.now() < state.guardUntil) return;
  /** @type {Body} */
  const body = { decision, ...(decision === 'reject' && state.category ? { category: state.category } : {}) };
  if (body.decision === c.body.decision && body.category === c.body.category)
    return notice(`That is what was sent for ${c.review.partId}. Esc keeps it.`, 'warn');
  const response = await api(`${partUrl(c.review)}/correction`, body);
  if (response && response.status === 202) {
    notice(`${c.review.partId} corrected: ${said(body)}. The line and the defect log are told.`, 'ok');
    state.last = null;
    leaveCorrection();
    return;
  }
  if (!response) return;
  /** @type {Answer} */
  const answer = await response.json().catch(() => ({}));
  notice(`Not corrected: ${answer.message ?? `refused (${response.status})`}`, 'error');
}
