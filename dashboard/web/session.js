// @ts-check
// The person's session with the dashboard: calls carrying their CSRF token, messages to them, and
// the way back to the login page when the session ends (nothing they decided is lost by it).
import { $ } from './dom.js';
import { state } from './state.js';

/** @type {number | undefined} */
let noticeTimer;

/**
 * A message above the screen; errors stay longer.
 * @param {string} text
 * @param {'ok' | 'warn' | 'error'} [kind]
 */
export function notice(text, kind = 'ok') {
  const node = $('notice');
  node.textContent = text;
  node.className = kind;
  node.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(
    () => {
      node.hidden = true;
    },
    kind === 'error' ? 10000 : 6000,
  );
}

/** Back to the login page, once, saying whether the session expired. @param {{ error?: string }} body */
export function toLogin(body) {
  // The feed closing and a refused request can both notice the end of a session: leave once.
  if (state.leaving) return;
  state.leaving = true;
  const expired = body && body.error === 'session_expired';
  notice(expired ? 'Your session has expired: log in again. Nothing you decided was lost.' : 'Please log in.', 'error');
  setTimeout(
    () => location.assign(`/login?next=${encodeURIComponent(location.pathname)}${expired ? '&expired=1' : ''}`),
    1500,
  );
}

/**
 * A JSON call with our CSRF token (a POST when there is a body); null (and a message on screen) when
 * the network failed.
 * @param {string} url
 * @param {unknown} [body]
 * @returns {Promise<Response | null>}
 */
export async function api(url, body, keepalive = false) {
  try {
    const response = await fetch(
      url,
      body === undefined
        ? {}
        : {
            method: 'POST',
            keepalive,
            headers: { 'content-type': 'application/json', 'x-csrf-token': state.me.csrf },
            body: JSON.stringify(body),
          },
    );
    if (response.status === 401)
      toLogin(
        await response
          .clone()
          .json()
          .catch(() => ({})),
      );
    return response;
  } catch {
    notice('Not sent: the dashboard cannot be reached. Check the network and try again.', 'error');
    return null;
  }
}
