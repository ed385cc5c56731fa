/**
 * Colour arithmetic for the accent: WCAG 2.x relative luminance and contrast
 * ratio, to put white or dark text on whatever accent a site picks.
 */
export const DEFAULT_ACCENT = '#4f46e5';
export const LIGHT = '#ffffff';
// Black, not a softer near-black: the better of white and black is at least
// 4.58:1 on any colour (the worst is a mid tone such as #5d60ff), while with
// #111827 instead of black it drops to about 4.1:1.
export const DARK = '#000000';

/** "#abc" or "#aabbcc" (any case) as [r, g, b], or null. */
export function parseHex(value) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(value || '').trim());
  if (!m) return null;
  let hex = m[1];
  if (hex.length === 3) hex = hex.replace(/./g, '$&$&');
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

export function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * The accent to use (a valid hex, else the default), the text colour on it
 * (white or black, whichever contrasts more: at least 4.5:1 for any accent),
 * and an "ink": the accent where it reads on white (≥ 4.5:1), else black, for
 * focus rings and links.
 */
export function palette(accent) {
  const rgb = parseHex(accent) || parseHex(DEFAULT_ACCENT);
  const hex = `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
  const white = parseHex(LIGHT);
  const dark = parseHex(DARK);
  const onAccent = contrast(rgb, white) >= contrast(rgb, dark) ? LIGHT : DARK;
  const ink = contrast(rgb, white) >= 4.5 ? hex : DARK;
  return { accent: hex, onAccent, ink };
}
