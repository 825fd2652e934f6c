// @ts-check
// Icons drawn as inline SVG: a line tablet may have no emoji font, and these need none.
const SVG = 'http://www.w3.org/2000/svg';

/** @type {Record<string, string>} one path per icon, on a 24×24 grid, stroked */
const PATHS = {
  lock: 'M6 11h12v10H6z M8.5 11V8a3.5 3.5 0 0 1 7 0v3',
  check: 'M4.5 12.5l5 5 10-11',
  cross: 'M6 6l12 12 M18 6L6 18',
  undo: 'M9 7L4.5 11.5 9 16 M5 11.5h9.5a5 5 0 0 1 0 10H11',
  next: 'M9 5l7 7-7 7',
  noimage: 'M3 6h18v13H3z M3 16l5-5 4 4 3-3 6 6 M3 3l18 18',
  warn: 'M12 3l10 18H2z M12 10v5 M12 17.5v.5',
  dot: 'M12 8a4 4 0 1 1 0 8a4 4 0 1 1 0-8',
};

/**
 * An icon as an inline SVG element, sized by the text around it.
 * @param {keyof typeof PATHS} name
 * @param {string} [label] read out by screen readers; without it the icon is decoration
 */
export function icon(name, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', PATHS[name]);
  svg.append(path);
  return svg;
}
