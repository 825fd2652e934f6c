// @ts-check
// The live feed: one WebSocket, a snapshot first, then every change; on reconnect the snapshot
// replaces what we had, so nothing is lost or shown twice. Changes are drawn once per frame. A new
// part is announced by a flash and (unless muted) a short tone.
import { $ } from './dom.js';
import { render } from './desk.js';
import { renderResults } from './queue.js';
import { notice, toLogin } from './session.js';
import { keyOf, state, stationOf } from './state.js';

/** @typedef {import('../../contract/feed.ts').FeedEvent} FeedEvent */
/** @typedef {import('../../contract/feed.ts').FeedSnapshot} FeedSnapshot */

/** Opens the feed, and opens it again (after asking whether the session still holds) when it closes. */
export function connect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  Reflect.set(window, 'loupeSocket', socket); // for tests and the curious: closing it shows the reconnect
  socket.onopen = () => {
    state.retry = 0;
    state.feedUp = true;
    link('live', 'online');
    later('queue');
  };
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

function link(/** @type {string} */ text, /** @type {string} */ className) {
  $('link').textContent = text;
  $('link').className = className;
}

/** One message of the feed into the state. */
function apply(/** @type {FeedEvent | FeedSnapshot} */ event) {
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
    case 'status':
      state.statuses.set(stationOf(event.status), event.status);
      break;
    case 'broker':
      state.broker = event.connected;
      break;
    case 'review':
      state.reviews.set(keyOf(event.review), event.review);
      cue();
      break;
    case 'review-closed': {
      const key = keyOf(event);
      state.reviews.delete(key);
      state.claims.delete(key);
      state.sent.delete(key);
      if (state.selected === key) closedUnderMe(key);
      break;
    }
    case 'claim': {
      const key = keyOf(event);
      state.claims.set(key, event);
      // Someone else took the part open here (our claim ran out): say so at once.
      if (
        key === state.selected &&
        key === state.held &&
        event.holder !== state.me.name &&
        state.lost !== event.holder
      ) {
        state.lost = event.holder;
        notice(`You lost ${event.partId}: ${event.holder} is deciding it now. Pick another part (N).`, 'error');
      }
      break;
    }
    case 'claim-released':
      state.claims.delete(keyOf(event));
      break;
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
    default:
      return;
  }
  later('queue');
}

/** The part open here was closed by someone else or by its deadline. */
function closedUnderMe(/** @type {string} */ key) {
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
function later(/** @type {'queue' | 'results'} */ what) {
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

/** @type {AudioContext | null} */
let audio = null;
/** A new part: the page flashes, and a short tone sounds unless muted. */
function cue() {
  document.body.classList.remove('flash');
  void document.body.offsetWidth;
  document.body.classList.add('flash');
  if (state.muted) return;
  try {
    audio ??= new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.08;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.12);
  } catch {
    /* no sound device: the visual cue remains */
  }
}

export function toggleMute() {
  state.muted = !state.muted;
  localStorage.setItem('loupe.muted', state.muted ? '1' : '0');
  showMute();
}

export const showMute = () => {
  $('mute').textContent = state.muted ? 'sound off' : 'sound on';
};
