// A bot message's `suggestions` (entry questions, when the offline bot is not sure):
// ui/messages.js on the fake DOM (helpers/dom.js) draws them as a "Did you mean:" row
// of buttons, text only, bad values dropped, offered by the last message only; and
// the whole chat (helpers/app.js): a click sends the text as the composer's Enter does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installDom } from './helpers/dom.js';
import { flush, startApp } from './helpers/app.js';
import { translator } from '../src/i18n.js';
import { createMessages } from '../src/ui/messages.js';
import { createComposer } from '../src/ui/composer.js';

function setup(t, { locale = 'en', onSuggest = () => true } = {}) {
  t.after(installDom());
  const list = createMessages({ t: translator(locale), locale, title: 'Chat', onRetry() {}, onSuggest });
  const bubbles = () => list.log.querySelectorAll('[data-part="message"]');
  const row = (el) => el.querySelector('[data-part="suggestions"]');
  const buttons = (el) => el.querySelectorAll('[data-part="suggestion"]');
  return { list, bubbles, row, buttons };
}

const at = '2026-01-01T10:00:00Z';
const visitor = { key: 's1', seq: 1, sender: 'visitor', text: 'Where is my stuff?', created_at: at, state: 'sent' };
const unsure = {
  key: 's2',
  seq: 2,
  sender: 'bot',
  text: 'I’m not sure about that one…',
  suggestions: ['How can I track my order?', 'Where is my parcel?'],
  created_at: at,
  state: 'sent',
};
const bot = (seq, fields) => ({ ...unsure, key: `s${seq}`, seq, ...fields });

test('a bot message with suggestions shows "Did you mean:" and one button per suggestion, under its text', (t) => {
  const { list, bubbles, row, buttons } = setup(t);
  list.render([visitor, { ...unsure, sources: ['Shipping'] }]);
  const el = bubbles()[1];
  const box = row(el);
  assert.ok(box, 'a suggestions row');
  assert.equal(box.className, 'suggestions');
  assert.equal(box.hidden, false);
  assert.equal(box.children[0].textContent, 'Did you mean:');
  const bs = buttons(el);
  assert.deepEqual(bs.map((b) => b.textContent), ['How can I track my order?', 'Where is my parcel?']);
  for (const b of bs) {
    assert.equal(b.tagName, 'BUTTON');
    assert.equal(b.getAttribute('type'), 'button', 'not a submit button');
    assert.equal(b.className, 'suggestion');
  }
  assert.deepEqual(el.children.map((c) => c.className), ['text', 'sources', 'suggestions'], 'text, sources, then suggestions');
});

test('the label is German in German; a suggestion is text, never HTML', (t) => {
  const { list, bubbles, row, buttons } = setup(t, { locale: 'de' });
  list.render([bot(2, { suggestions: ['<b>x</b>', '<img src=x onerror=alert(1)>'] })]);
  const [el] = bubbles();
  assert.equal(row(el).children[0].textContent, 'Meinten Sie:');
  const bs = buttons(el);
  assert.equal(bs[0].textContent, '<b>x</b>', 'shown literally');
  assert.equal(bs[1].textContent, '<img src=x onerror=alert(1)>');
  for (const b of bs) assert.equal(b.children.length, 0, 'no elements inside');
});

test('bad values are ignored: not an array, not strings, empty, beyond 3; each is cut to 200 characters', (t) => {
  const { list, bubbles, row, buttons } = setup(t);
  const long = 'é'.repeat(150) + '🙂'.repeat(100);
  list.render([
    bot(1, { suggestions: 'How can I track my order?' }),
    bot(2, { suggestions: { 0: 'How?' } }),
    bot(3, { suggestions: null }),
    bot(4, { suggestions: undefined }),
    bot(5, { suggestions: [] }),
    bot(6, { suggestions: [7, null, '', '   ', { text: 'x' }, ['y']] }),
    bot(7, { suggestions: ['One', 2, '', 'Two', 'Three', 'Four', 'Five'] }),
    bot(8, { suggestions: [long, '  Padded  '] }),
    { ...visitor, key: 's9', seq: 9, suggestions: ['Visitors offer none'] },
    bot(10, { sender: 'agent', suggestions: ['Agents offer none'] }),
    bot(11, { sender: 'system', suggestions: ['Nor does the system'] }),
    { key: 's12', seq: 12, sender: 'bot', text: 'We open at 9 am.', created_at: at, state: 'sent' },
  ]);
  const els = bubbles();
  for (const i of [0, 1, 2, 3, 4, 5, 8, 9, 10]) assert.equal(row(els[i]), null, `message ${i + 1}: no row`);
  assert.deepEqual(buttons(els[6]).map((b) => b.textContent), ['One', 'Two', 'Three'], 'strings only, at most 3');
  const [cut, padded] = buttons(els[7]).map((b) => b.textContent);
  assert.equal([...cut].length, 200, '200 characters');
  assert.equal(cut, 'é'.repeat(150) + '🙂'.repeat(50), 'cut by character, no half emoji');
  assert.equal(padded, 'Padded');
  assert.equal(row(els[11]), null, 'a message without the field has no row');
});

test('a click calls onSuggest with the text and the suggestions go; held back (false), they stay', (t) => {
  const picked = [];
  let accept = false;
  const { list, bubbles, row, buttons } = setup(t, {
    onSuggest(text) {
      picked.push(text);
      return accept;
    },
  });
  list.render([visitor, unsure]);
  const el = bubbles()[1];
  buttons(el)[1].click();
  assert.deepEqual(picked, ['Where is my parcel?']);
  assert.equal(row(el).hidden, false, 'not sent (the pre-chat gate): still offered');
  accept = true;
  buttons(el)[0].click();
  assert.deepEqual(picked, ['Where is my parcel?', 'How can I track my order?']);
  assert.equal(row(el).hidden, true, 'sent: no longer offered');
  buttons(el)[1].click();
  assert.equal(picked.length, 2, 'one pick per message');
  list.render([visitor, unsure]);
  assert.equal(row(el).hidden, true, 'a render does not bring them back');
});

test('only the last message offers its suggestions: a later message (even a pending one) hides them', (t) => {
  const { list, bubbles, row } = setup(t);
  list.render([visitor, unsure]);
  const el = bubbles()[1];
  list.setTyping('Chat', false);
  assert.equal(row(el).hidden, false, 'the typing indicator is no message');
  const pending = { key: 'cx', sender: 'visitor', client_message_id: 'x', text: 'Where is my parcel?', created_at: at, state: 'pending' };
  list.render([visitor, unsure, pending]);
  assert.equal(row(el).hidden, true, 'hidden once a later message exists');
  const next = bot(4, { suggestions: ['Can I return an item?'] });
  list.render([visitor, unsure, { ...pending, key: 'cx', seq: 3, state: 'sent' }, next]);
  const els = bubbles();
  assert.equal(row(els[1]).hidden, true, 'the earlier one stays hidden');
  assert.equal(row(els[3]).hidden, false, 'the latest offers its own');
  list.render([visitor, unsure]);
  assert.equal(row(bubbles()[1]).hidden, false, 'the last again (the later ones gone): offered again');
});

test("the composer's send(text) goes through its gate, as Enter does, and leaves the draft alone", (t) => {
  t.after(installDom());
  const sent = [];
  let open = false;
  const composer = createComposer({ t: translator('en'), onSend: (text) => sent.push(text), gate: () => open });
  composer.input.value = 'my draft';
  assert.equal(composer.send('Where is my parcel?'), false, 'held back by the gate (pre-chat fields)');
  assert.deepEqual(sent, []);
  open = true;
  assert.equal(composer.send('Where is my parcel?'), true);
  assert.deepEqual(sent, ['Where is my parcel?']);
  assert.equal(composer.input.value, 'my draft');
});

// -- the whole chat ----------------------------------------------------------

function type(w, text) {
  const input = w.part('input');
  input.value = text;
  input.dispatchEvent({ type: 'input' });
  input.dispatchEvent({ type: 'keydown', key: 'Enter', shiftKey: false, isComposing: false, keyCode: 13, preventDefault() {} });
}

test('clicking a suggestion sends it as the visitor’s message, the way Enter does; the draft stays', async (t) => {
  const w = startApp(t);
  const replies = [['How can I track my order?', 'Where is my parcel?'], null];
  w.backend.answer = (message) => ({
    message,
    reply: w.backend.store({ sender: 'bot', text: 'I’m not sure about that one…', suggestions: replies.shift() }),
    last_seq: w.backend.messages.length,
    duplicate: false,
  });
  await flush(30);
  w.app.open();
  type(w, 'Where is my stuff?');
  await flush(30);
  const sends = () => w.backend.calls.filter((c) => c.path === '/api/chatbot/send').map((c) => c.body);
  assert.equal(sends().length, 1);
  const botEl = w.bubbles()[1];
  assert.equal(botEl.dataset.sender, 'bot');
  const row = botEl.querySelector('[data-part="suggestions"]');
  assert.equal(row.hidden, false);

  w.part('input').value = 'half a thought';
  const [button] = botEl.querySelectorAll('[data-part="suggestion"]');
  button.focus();
  button.click();
  assert.equal(w.bubbles()[2].dataset.sender, 'visitor', 'at once, a pending visitor message');
  assert.equal(w.text(w.bubbles()[2]), 'How can I track my order?');
  assert.equal(row.hidden, true, 'no longer offered');
  assert.equal(w.root.activeElement, w.part('input'), 'focus goes to the input, not lost with the button');
  await flush(30);

  const [typed, picked] = sends();
  assert.deepEqual(Object.keys(picked).sort(), Object.keys(typed).sort(), 'the same request as a typed message');
  assert.equal(picked.text, 'How can I track my order?');
  assert.notEqual(picked.client_message_id, typed.client_message_id);
  assert.equal(w.bubbles()[2].dataset.seq, '3', 'stored');
  assert.equal(w.part('input').value, 'half a thought', 'what the visitor was writing stays');
  assert.deepEqual(w.events.filter((m) => m.sender === 'visitor').map((m) => m.text), ['Where is my stuff?', 'How can I track my order?']);
  assert.equal(w.bubbles().length, 4);
  assert.equal(w.bubbles()[3].querySelector('[data-part="suggestions"]'), null, 'a reply without suggestions has none');
});
