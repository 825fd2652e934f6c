// @ts-check
/**
 * Where the login page may send a person afterwards: only a path of this site. Anything else (an
 * absolute URL, `//host`, a backslash browsers read as a slash, an encoded slash or backslash, a
 * tab or newline browsers strip, a scheme) gives `/`. Shared by login.js and its test.
 * @param {string | null} next the `next` query parameter
 * @param {string} origin this page's origin
 * @returns {string}
 */
export function safeNext(next, origin) {
  if (!next || !next.startsWith('/') || next.startsWith('//')) return '/';
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(next) || /%(2f|5c|09|0a|0d|00)/i.test(next)) return '/';
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return '/';
  }
  if (url.origin !== origin) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}
