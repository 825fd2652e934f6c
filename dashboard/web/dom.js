// @ts-check
// Small DOM helpers shared by the technician screen and the defect log page.

/**
 * The page's element with this id, checked to be of the expected kind: a page and its script that
 * disagree fail loudly here rather than later, on a property that is not there.
 * @template {typeof HTMLElement} [C=typeof HTMLElement]
 * @param {string} id
 * @param {C} [kind] the element's class (HTMLImageElement, HTMLInputElement, …); HTMLElement by default
 * @returns {InstanceType<C>}
 */
export function $(id, kind) {
  const node = document.getElementById(id);
  if (!(node instanceof (kind ?? HTMLElement))) throw new Error(`the page has no ${kind?.name ?? 'element'} #${id}`);
  return /** @type {InstanceType<C>} */ (node);
}

/** A score as people read it: three significant digits, a dash when there is none. */
export const fmt = (/** @type {number | null | undefined} */ v) =>
  v === null || v === undefined ? '—' : Number(v).toPrecision(3);

/**
 * What `el` takes: the element's own properties, with `dataset` and `style` merged in.
 * @template {keyof HTMLElementTagNameMap} K
 * @typedef {Partial<Omit<HTMLElementTagNameMap[K], 'dataset' | 'style'>> & { dataset?: Record<string, string>, style?: Partial<CSSStyleDeclaration> }} Props
 */

/**
 * An element with properties (`dataset` and `style` objects merged in) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props<K>} props
 * @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'style')
      Object.assign(node.style, value); // CSSOM, which the page's CSP allows
    else Reflect.set(node, name, value);
  }
  node.append(...children);
  return node;
}

/**
 * A time as every page shows it: `2026-12-04 14:05` in this browser's time zone (seconds when asked).
 * One format everywhere, sortable, and the same whatever language the browser is set to.
 * @param {string} iso
 */
export function when(iso, seconds = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}
