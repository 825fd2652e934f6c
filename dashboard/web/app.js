// @ts-check
// Loupe technician screen: who is logged in, the screen's pace, then the live feed. No framework,
// no build: it runs on line tablets and old PCs. The screen's modules are listed in state.js.
import { $ } from './dom.js';
import { release, send } from './desk.js';
import { connect, showMute } from './feed.js';
import { wireKeys } from './keys.js';
import { tickCountdowns } from './queue.js';
import { renderUndo } from './part.js';
import { toLogin } from './session.js';
import { state } from './state.js';

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401) return toLogin(await response.json().catch(() => ({})));
  state.me = await response.json();
  $('who').textContent = `${state.me.name} · ${state.me.role}`;
  $('manager-nav').hidden = state.me.role === 'technician';
  $('people-nav').hidden = state.me.role !== 'admin';
  const screen = await fetch('/api/screen')
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  if (screen) Object.assign(state.screen, screen);
  connect();
  setInterval(() => {
    tickCountdowns();
    if (state.pending) renderUndo();
  }, 1000);
}

// A page closed while a decision waits sends it (the person meant it), and lets go of the open part.
addEventListener('pagehide', () => {
  if (state.pending) send(state.pending, true);
  if (state.selected && state.selected !== state.pending?.key) release(state.selected, true);
});

wireKeys();
showMute();
start();
