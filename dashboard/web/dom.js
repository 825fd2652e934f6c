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
