// Small DOM helpers shared by the technician screen and the defect log page.
export const $ = (id) => document.getElementById(id);

/** A score as people read it: three significant digits, a dash when there is none. */
export const fmt = (v) => (v === null || v === undefined ? '—' : Number(v).toPrecision(3));

/** An element with properties (`dataset` and `style` objects merged in) and children. */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'style') Object.assign(node.style, value); // CSSOM, which the page's CSP allows
    else node[name] = value;
  }
  node.append(...children);
  return node;
}

/**
 * A time as every page shows it: `2026-12-04 14:05` in this browser's time zone (seconds when asked).
 * One format everywhere, sortable, and the same whatever language the browser is set to.
 */
export function when(iso, seconds = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}
