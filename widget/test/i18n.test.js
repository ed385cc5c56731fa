import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localeFrom, pickLocale, STRINGS, translator } from '../src/i18n.js';

test('data-locale wins over the browser', () => {
  assert.equal(localeFrom('de', { languages: ['en-US'] }), 'de');
  assert.equal(localeFrom('en', { languages: ['de-DE'] }), 'en');
});

test('regional tags and case fold to the language', () => {
  assert.equal(pickLocale(['de-AT']), 'de');
  assert.equal(pickLocale(['DE_ch']), 'de');
  assert.equal(pickLocale(['en-GB']), 'en');
});

test('without data-locale the browser languages decide, in order of preference', () => {
  assert.equal(localeFrom(undefined, { languages: ['fr-FR', 'de-DE', 'en'] }), 'de');
  assert.equal(localeFrom('', { language: 'de-DE' }), 'de');
});

test('an unsupported data-locale falls back to the browser, then English', () => {
  assert.equal(localeFrom('fr', { languages: ['de'] }), 'de');
  assert.equal(localeFrom('fr', { languages: ['ja'] }), 'en');
  assert.equal(localeFrom(undefined, undefined), 'en');
});

test('both tables have the same keys, none empty but the idle status', () => {
  assert.deepEqual(Object.keys(STRINGS.de).sort(), Object.keys(STRINGS.en).sort());
  for (const [lang, table] of Object.entries(STRINGS)) {
    for (const [key, text] of Object.entries(table)) {
      if (key !== 'idle') assert.ok(text, `${lang}.${key} is empty`);
    }
  }
});

test('translator fills placeholders and falls back to English, then the key', () => {
  const t = translator('de');
  assert.equal(t('send'), 'Senden');
  assert.equal(t('typing', { name: 'Parley' }), 'Parley schreibt');
  assert.equal(t('no-such-key'), 'no-such-key');
  assert.equal(translator('xx')('send'), 'Send');
});

test('the status line and the handoff button have words in every language', () => {
  for (const lang of Object.keys(STRINGS)) {
    const t = translator(lang);
    for (const key of ['bot', 'pending', 'resolved', 'handoff']) assert.notEqual(t(key), key, `${lang}.${key}`);
    assert.match(t('withAgent', { name: 'Ana' }), /Ana/, `${lang}.withAgent names the agent`);
    assert.match(t('typing', { name: 'Ana' }), /Ana/);
  }
});
