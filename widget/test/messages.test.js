// ui/messages.js on a fake DOM (helpers/dom.js): a reply being written is one bubble
// that its stored message replaces in place; the "from: …" sources line; text as text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installDom } from './helpers/dom.js';
import { translator } from '../src/i18n.js';
import { createMessages } from '../src/ui/messages.js';

function setup(t, locale = 'en') {
  t.after(installDom());
  const list = createMessages({ t: translator(locale), locale, title: 'Chat', onRetry() {} });
  const bubbles = () => list.log.querySelectorAll('[data-part="message"]');
  return { list, bubbles };
}

const at = '2026-01-01T10:00:00Z';
const visitor = { key: 's1', seq: 1, sender: 'visitor', text: 'When are you open?', created_at: at, state: 'sent' };
const draft = (text) => ({ key: 'rr_1', sender: 'bot', reply_id: 'r_1', reply_to_seq: 1, created_at: at, state: 'streaming', text });
const final = { key: 's2', seq: 2, sender: 'bot', reply_id: 'r_1', text: 'We open at 9 am.', created_at: at, state: 'sent' };

test('a reply being written is one bot bubble, marked busy and hidden from the live region', (t) => {
  const { list, bubbles } = setup(t);
  list.render([visitor]);
  list.render([visitor, draft('We open')]);
  const [, el] = bubbles();
  assert.equal(el.dataset.replyId, 'r_1');
  assert.equal(el.dataset.sender, 'bot');
  assert.equal(el.dataset.state, 'streaming');
  assert.ok(el.classList.contains('streaming'), 'class streaming');
  assert.equal(el.getAttribute('aria-busy'), 'true');
  assert.equal(el.getAttribute('aria-hidden'), 'true', 'screen readers do not hear every delta');
  assert.equal(el.dataset.seq, undefined);
  list.render([visitor, draft('We open at 9')]);
  assert.equal(bubbles().length, 2);
  assert.equal(bubbles()[1], el, 'the same element grows');
  assert.equal(el.querySelector('.text').textContent, 'We open at 9');
});

test('its stored message takes its place: one bubble, a new element the log announces, no entrance again', (t) => {
  const { list, bubbles } = setup(t);
  const pending = { key: 'cx', sender: 'visitor', client_message_id: 'x', text: 'And Sundays?', created_at: at, state: 'pending' };
  list.render([visitor, draft('We open'), pending]);
  const old = bubbles()[1];
  list.render([visitor, final, pending]);
  const els = bubbles();
  assert.equal(els.length, 3, 'one bubble for the reply, not two');
  const el = els[1];
  assert.equal(el.dataset.replyId, 'r_1');
  assert.equal(el.dataset.seq, '2');
  assert.equal(el.querySelector('.text').textContent, 'We open at 9 am.');
  assert.notEqual(el, old, 'a new element: an addition to the polite log, announced once');
  assert.equal(old.parentNode, null, 'the draft is gone');
  assert.equal(el.dataset.state, undefined);
  assert.ok(!el.classList.contains('streaming'));
  assert.equal(el.getAttribute('aria-busy'), null);
  assert.equal(el.getAttribute('aria-hidden'), null);
  assert.ok(!el.classList.contains('in'), 'it does not animate in a second time');
  assert.equal(els[2].dataset.clientMessageId, 'x', 'the order around it is kept');
});

test('a bot message with sources shows "from: <title>, <title>" under its text', (t) => {
  const { list, bubbles } = setup(t);
  list.render([visitor, { ...final, sources: ['Opening hours', 'Holidays'] }]);
  const el = bubbles()[1];
  const line = el.querySelector('[data-part="sources"]');
  assert.ok(line, 'a sources line');
  assert.equal(line.textContent, 'from: Opening hours, Holidays');
  assert.equal(el.children[0], el.querySelector('.text'));
  assert.equal(el.children[1], line, 'under the text');
});

test('the sources line is German in German, absent without sources, and text only', (t) => {
  const { list, bubbles } = setup(t, 'de');
  list.render([
    { ...final, sources: ['Öffnungszeiten'] },
    { ...final, key: 's3', seq: 3, reply_id: undefined, sources: [] },
    { ...final, key: 's4', seq: 4, reply_id: undefined },
    { ...final, key: 's5', seq: 5, reply_id: undefined, sources: ['<b>Opening</b>', 7, ''] },
    { ...visitor, key: 's6', seq: 6, sources: ['Opening hours'] },
  ]);
  const lines = bubbles().map((el) => el.querySelector('[data-part="sources"]'));
  assert.equal(lines[0].textContent, 'aus: Öffnungszeiten');
  assert.equal(lines[1], null, 'an empty list: no line');
  assert.equal(lines[2], null, 'no sources: no line');
  assert.equal(lines[3].textContent, 'aus: <b>Opening</b>', 'a title is text, never HTML; non-strings are dropped');
  assert.equal(lines[3].children.length, 0);
  assert.equal(lines[4], null, 'only bot messages name sources');
});

test('a draft text is text, never HTML', (t) => {
  const { list, bubbles } = setup(t);
  list.render([draft('<img src=x onerror=alert(1)>')]);
  const text = bubbles()[0].querySelector('.text');
  assert.equal(text.textContent, '<img src=x onerror=alert(1)>');
  assert.equal(text.children.length, 0);
});

test('a draft that goes without its message (timed out) leaves no bubble', (t) => {
  const { list, bubbles } = setup(t);
  list.render([visitor, draft('We open')]);
  list.render([visitor]);
  assert.equal(bubbles().length, 1);
  list.render([visitor, { ...final, key: 's2' }]);
  assert.ok(bubbles()[1].classList.contains('in'), 'its message fetched later comes in as any new one');
});
