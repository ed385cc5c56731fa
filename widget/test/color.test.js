import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contrast, DARK, DEFAULT_ACCENT, LIGHT, palette, parseHex } from '../src/ui/color.js';

test('parses #rgb and #rrggbb, rejects anything else', () => {
  assert.deepEqual(parseHex('#fff'), [255, 255, 255]);
  assert.deepEqual(parseHex('#4F46E5'), [79, 70, 229]);
  assert.equal(parseHex('red'), null);
  assert.equal(parseHex('#12345'), null);
  assert.equal(parseHex('url(x)'), null);
});

test('contrast ratio matches WCAG (black on white is 21:1)', () => {
  assert.equal(Math.round(contrast([0, 0, 0], [255, 255, 255])), 21);
  assert.equal(contrast([10, 20, 30], [10, 20, 30]), 1);
});

test('text on the accent is white or dark, whichever contrasts more', () => {
  assert.equal(palette('#4f46e5').onAccent, LIGHT);
  assert.equal(palette('#facc15').onAccent, DARK);
  assert.equal(palette('#ffffff').onAccent, DARK);
  assert.equal(palette('#000000').onAccent, LIGHT);
  for (const accent of ['#4f46e5', '#facc15', '#22c55e', '#0ea5e9', '#ef4444', '#ff00ff', '#777777']) {
    const p = palette(accent);
    const rgb = parseHex(p.accent);
    const other = p.onAccent === LIGHT ? DARK : LIGHT;
    assert.ok(contrast(rgb, parseHex(p.onAccent)) >= contrast(rgb, parseHex(other)), accent);
  }
});

test('the chosen text meets WCAG AA (4.5:1) on typical brand colours', () => {
  for (const accent of ['#4f46e5', '#facc15', '#22c55e', '#0ea5e9', '#ef4444', '#ff00ff', '#2563eb', '#111827']) {
    const p = palette(accent);
    const ratio = contrast(parseHex(p.accent), parseHex(p.onAccent));
    assert.ok(ratio >= 4.5, `${accent}: ${ratio.toFixed(2)}:1`);
  }
});

test('white or black clears 4.5:1 on any accent, mid tones included', () => {
  let worst = Infinity;
  for (let r = 0; r < 256; r += 17) {
    for (let g = 0; g < 256; g += 17) {
      for (let b = 0; b < 256; b += 17) {
        const hex = `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
        const p = palette(hex);
        worst = Math.min(worst, contrast([r, g, b], parseHex(p.onAccent)));
      }
    }
  }
  for (const accent of ['#777777', '#5d60ff', '#009000', '#e0457b']) {
    const p = palette(accent);
    worst = Math.min(worst, contrast(parseHex(p.accent), parseHex(p.onAccent)));
  }
  assert.ok(worst >= 4.5, `worst ${worst.toFixed(2)}:1`);
});

test('a bad accent falls back to the default; a light one gets a dark ink', () => {
  assert.equal(palette('javascript:alert(1)').accent, DEFAULT_ACCENT);
  assert.equal(palette('#facc15').ink, DARK);
  assert.equal(palette('#4f46e5').ink, '#4f46e5');
});
