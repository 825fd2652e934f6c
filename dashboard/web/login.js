// @ts-check
// Log in, then go back to the page that sent us here (only ever a page of this site). Public, like
// next.js: it imports nothing that needs a session.
import { safeNext } from './next.js';
const form = document.getElementById('login');
const notice = document.getElementById('notice');
if (!(form instanceof HTMLFormElement) || !notice) throw new Error('the login page has no #login form or #notice');
const params = new URLSearchParams(location.search);
if (params.has('expired')) notice.textContent = 'Your session has expired. Log in again; nothing you decided was lost.';
if (params.has('out')) notice.textContent = 'You are logged out.';

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  notice.textContent = '';
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: data.get('name'), password: data.get('password') }),
  }).catch(() => null);
  if (!response) {
    notice.textContent = 'The dashboard cannot be reached. Check the network and try again.';
    return;
  }
  if (!response.ok) {
    notice.textContent = (await response.json().catch(() => ({}))).message ?? `Login failed (${response.status})`;
    return;
  }
  // The part a link pointed at (`/log#part=…`) survives the detour through this page: the server never sees the hash.
  const next = safeNext(params.get('next'), location.origin);
  location.assign(location.hash && !next.includes('#') ? `${next}${location.hash}` : next);
});
