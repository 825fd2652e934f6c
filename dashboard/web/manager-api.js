// @ts-check
// The manager pages' (Models, People, Station) calls to the dashboard's API, and the notice line
// that says when one is refused: one copy, so every page treats a refusal and an ended session alike.
import { $ } from './dom.js';

/** Shows a message in the page's `#notice` line. */
export function notice(/** @type {string} */ text, /** @type {string} */ kind) {
  const n = $('notice');
  n.textContent = text;
  n.className = kind;
  n.hidden = false;
}

/**
 * A call to the API with the session's CSRF token. Null when refused or unreachable (said in the
 * notice; `quiet` keeps a 404 unsaid); an ended session goes back to the login page and returns here.
 * @param {string} url
 * @param {string} csrf
 * @param {{ method?: string, body?: unknown, quiet?: boolean }} [options]
 * @returns {Promise<any>}
 */
export async function call(url, csrf, { method = 'GET', body, quiet = false } = {}) {
  const response = await fetch(url, {
    method,
    headers: { 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  }).catch(() => null);
  if (!response) {
    notice('The dashboard cannot be reached.', 'error');
    return null;
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}&expired=1`);
    return null;
  }
  if (!response.ok) {
    if (!quiet || response.status !== 404) notice(answer.message ?? `Refused (${response.status})`, 'error');
    return null;
  }
  return answer;
}
