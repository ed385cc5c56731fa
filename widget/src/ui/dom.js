/**
 * A tiny element builder. Text goes in through textContent only: nothing the
 * server or the visitor wrote ever reaches innerHTML.
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === 'text') el.textContent = value;
    else if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of [].concat(children)) if (child) el.append(child);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An inline icon from path data (our own constants), hidden from screen readers. */
export function icon(paths, cls = '') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  if (cls) svg.setAttribute('class', cls);
  for (const d of [].concat(paths)) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

// Stroke icons on a 24-unit grid (styles.css strokes them; the chat bubble is filled too).
export const ICONS = {
  chat: 'M20 11.5a8 8 0 0 1-11.9 7L3.5 20l1.3-4.2A8 8 0 1 1 20 11.5Z',
  down: 'm6 9 6 6 6-6',
  close: 'M18 6 6 18M6 6l12 12',
  send: 'M12 19V5m-6 6 6-6 6 6',
  alert: 'M12 7.5v5.5m0 3.5v.01M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0Z',
  more: 'M5 12h.01M12 12h.01M19 12h.01',
};
