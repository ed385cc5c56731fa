// Nobody at the desk (issue 13), in the widget: the header's availability line,
// the email form after a handoff while nobody is online (validation, what it
// posts, the server's invalid_email, the confirmation and its edit), and the
// pre-chat fields that hold the first message back until they are filled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flush, startApp } from './helpers/app.js';
import { availabilityText, within } from '../src/availability.js';
import { createContact, validEmail } from '../src/contact.js';
import { translator } from '../src/i18n.js';

const en = translator('en');
const de = translator('de');
const OFFLINE = { online: false, open: true, reply_within_hours: 4, next_open_at: null, timezone: 'Europe/Berlin' };
const ONLINE = { ...OFFLINE, online: true };

// -- the words ------------------------------------------------------------------

test('availability: online, a reply promise (an hour for 1, 24 by default), or when they are back', () => {
  assert.equal(availabilityText(en, ONLINE, 'en'), 'We’re online');
  assert.equal(availabilityText(en, OFFLINE, 'en'), 'We reply within 4 hours');
  assert.equal(availabilityText(en, { ...OFFLINE, reply_within_hours: 1 }, 'en'), 'We reply within an hour');
  assert.equal(availabilityText(en, { online: false, open: true }, 'en'), 'We reply within 24 hours');
  const closed = { ...OFFLINE, open: false, next_open_at: '2026-12-07T09:00:00Z' }; // a Monday
  assert.equal(availabilityText(en, closed, 'en', 'UTC'), 'We’re back Monday 09:00');
  assert.equal(availabilityText(de, closed, 'de', 'UTC'), 'Wir sind ab Montag, 09:00 wieder da');
  assert.equal(availabilityText(en, closed, 'en', 'Asia/Tokyo'), 'We’re back Monday 18:00', "in the visitor's zone");
  assert.equal(availabilityText(de, OFFLINE, 'de'), 'Wir antworten innerhalb von 4 Stunden');
  assert.equal(within(de, 1), 'innerhalb einer Stunde');
});

test('availability: closed without a next opening, or a bad date, promises the reply time; none says nothing', () => {
  assert.equal(availabilityText(en, { ...OFFLINE, open: false }, 'en'), 'We reply within 4 hours');
  assert.equal(availabilityText(en, { ...OFFLINE, open: false, next_open_at: 'soon' }, 'en'), 'We reply within 4 hours');
  assert.equal(availabilityText(en, undefined, 'en'), '', 'an older backend: nothing new');
});

test("email addresses: the backend's rule", () => {
  // The same cases as chalicelib/models.py's checked_email: what passes here, the server stores.
  for (const ok of ['ana@example.com', 'a.b+c@mail.example.co.uk', 'x@y.zz', 'ana@exämple.de']) {
    assert.equal(validEmail(ok), true, ok);
  }
  for (const bad of ['', 'ana', 'ana@', '@example.com', 'ana@example', 'a@b@c.de', 'ana @example.com',
    'ana@exa mple.com', 'ana@example.com\n', 'a\u0000b@example.com', `${'a'.repeat(250)}@b.de`, 'x@y.z',
    'ü@x.de', 'a..b@x.com', '.a@b.de', 'a@-b.de', 'a@b.de.', '<a>@b.de', `${'a'.repeat(65)}@b.de`]) {
    assert.equal(validEmail(bad), false, JSON.stringify(bad));
  }
});

test('pre-chat values are stored once however many sends wait; a refused one is dropped, a failed one kept', async () => {
  const posts = [];
  let fail = null;
  const contact = createContact({
    post: async (body) => {
      posts.push(body);
      if (fail) throw fail;
      return { contact: { email: body.email ?? null, name: body.name ?? null, transcript: false } };
    },
  });
  await contact.flush();
  assert.deepEqual(posts, [], 'nothing staged: nothing posted');
  contact.stage({ name: 'Ana' });
  await Promise.all([contact.flush(), contact.flush()]);
  await contact.flush();
  assert.deepEqual(posts, [{ name: 'Ana' }]);
  assert.equal(contact.current.name, 'Ana');

  fail = Object.assign(new Error('down'), { status: 0 });
  contact.stage({ email: 'ana@example.com' });
  await assert.rejects(contact.flush());
  fail = null;
  await contact.flush();
  assert.equal(posts.length, 3, 'a network failure is tried again');
  fail = Object.assign(new Error('bad'), { status: 400, code: 'invalid_email' });
  contact.stage({ email: 'ana@example.com' });
  await assert.rejects(contact.flush());
  await contact.flush();
  assert.equal(posts.length, 4, 'a 400 is not sent again');
});

// -- the chat on the fake DOM ---------------------------------------------------

/** The form's submit (what Enter in a field or the button does). */
function submit(form) {
  form.dispatchEvent({ type: 'submit', target: form, preventDefault() {} });
}

/** The visitor types `text` in the composer and presses Enter. */
function type(w, text) {
  const input = w.part('input');
  input.value = text;
  input.dispatchEvent({ type: 'input' });
  input.dispatchEvent({ type: 'keydown', key: 'Enter', shiftKey: false, isComposing: false, keyCode: 13, preventDefault() {} });
}

const shown = (el) => {
  for (let n = el; n && n.hidden !== undefined; n = n.parentNode) if (n.hidden) return false;
  return !!el;
};

async function handedOff(t, setup) {
  const w = startApp(t, { setup });
  await flush(30);
  w.app.open();
  w.part('handoff').click();
  await flush(30);
  assert.equal(w.app.state().status, 'pending');
  return w;
}

const contactCalls = (w) => w.backend.calls.filter((c) => c.path === '/api/chatbot/contact').map((c) => c.body);

test("the header shows config's availability", async (t) => {
  const w = startApp(t, { setup: (b) => { b.config = { availability: OFFLINE }; } });
  await flush(30);
  assert.equal(w.part('availability').textContent, 'We reply within 4 hours');
  assert.equal(w.part('availability').hidden, false);
});

test('an older backend (no availability) shows no availability line', async (t) => {
  const w = startApp(t);
  await flush(30);
  assert.equal(w.part('availability').hidden, true);
});

test('a handoff while nobody is online shows the email form, focused; a bad email is refused before it goes', async (t) => {
  const w = await handedOff(t, (b) => {
    b.config = { availability: ONLINE, transcripts: true, prechat: { name: 'optional', email: 'off' } };
    b.availability = OFFLINE; // handoff's answer is the freshest
  });
  const card = w.part('contact');
  assert.ok(shown(card), 'the form is there');
  assert.equal(card.dataset.state, 'form');
  assert.equal(w.part('availability').textContent, 'We reply within 4 hours', "handoff's availability wins");
  assert.match(card.querySelector('.lead').textContent, /^We reply within 4 hours\. Leave your email/);
  const email = w.part('contact-email');
  assert.equal(email.getAttribute('type'), 'email');
  assert.equal(w.root.activeElement, email, 'the email field has the focus');
  assert.ok(shown(w.part('contact-name')), 'the name: the site asks for names');
  assert.ok(shown(w.part('contact-transcript')), 'the transcript opt-in: the site offers transcripts');
  assert.equal(w.root.querySelector('label[for="pw-c-email"]').textContent, 'Email');

  email.value = 'ana@example';
  submit(w.part('contact-form'));
  await flush();
  assert.equal(w.part('contact-email-error').textContent, 'Please enter a valid email address.');
  assert.equal(w.part('contact-email-error').getAttribute('role'), 'alert');
  assert.equal(email.getAttribute('aria-invalid'), 'true');
  assert.deepEqual(contactCalls(w), [], 'nothing posted');
});

test('submit posts email, name and the transcript opt-in; the confirmation has an edit that brings them back', async (t) => {
  const w = await handedOff(t, (b) => {
    b.config = { availability: OFFLINE, transcripts: true, prechat: { name: 'optional', email: 'off' } };
    b.availability = OFFLINE;
  });
  w.part('contact-email').value = ' ana@example.com ';
  w.part('contact-name').value = 'Ana';
  w.part('contact-transcript').checked = true;
  submit(w.part('contact-form'));
  await flush(30);
  const [call] = w.backend.calls.filter((c) => c.path === '/api/chatbot/contact');
  assert.deepEqual(call.body, { conversation_id: 'c1', email: 'ana@example.com', name: 'Ana', transcript: true });
  assert.equal(w.part('contact').dataset.state, 'done');
  assert.ok(!shown(w.part('contact-form')));
  assert.equal(w.part('contact-done').textContent, 'Thanks — we’ll reply to ana@example.com within 4 hours');
  assert.equal(w.root.activeElement, w.part('contact-done').parentNode, 'focus on the confirmation');

  w.part('contact-edit').click();
  assert.equal(w.part('contact').dataset.state, 'form');
  assert.equal(w.part('contact-email').value, 'ana@example.com', 'prefilled');
  assert.equal(w.part('contact-name').value, 'Ana');
  assert.equal(w.part('contact-transcript').checked, true);
  assert.equal(w.root.activeElement, w.part('contact-email'));
  w.part('contact-email').value = 'ana@example.org';
  submit(w.part('contact-form'));
  await flush(30);
  assert.equal(contactCalls(w).length, 2);
  assert.equal(contactCalls(w)[1].email, 'ana@example.org', 'edited');
  assert.equal(w.part('contact-done').textContent, 'Thanks — we’ll reply to ana@example.org within 4 hours');
});

test("the server's invalid_email is a field error; other failures say so and change nothing", async (t) => {
  const w = await handedOff(t, (b) => {
    b.config = { availability: OFFLINE };
    b.availability = OFFLINE;
    b.contactError = { status: 400, code: 'invalid_email' };
  });
  assert.ok(!shown(w.part('contact-name')), 'no name: the site does not ask for names');
  assert.ok(!shown(w.part('contact-transcript')), 'no opt-in: transcripts are not offered');
  w.part('contact-email').value = 'ana@example.com';
  submit(w.part('contact-form'));
  await flush(30);
  assert.deepEqual(contactCalls(w), [{ conversation_id: 'c1', email: 'ana@example.com' }]);
  assert.equal(w.part('contact-email-error').textContent, 'Please enter a valid email address.');
  assert.equal(w.part('contact').dataset.state, 'form');
  assert.equal(w.root.activeElement, w.part('contact-email'));

  w.backend.contactError = { status: 503, code: 'unavailable' };
  submit(w.part('contact-form'));
  await flush(30);
  assert.equal(w.part('contact-error').textContent, 'That did not work. Please try again.');
  assert.equal(w.part('contact-email-error').textContent, '');
  assert.equal(w.part('contact').dataset.state, 'form');
});

test('no form when someone is online', async (t) => {
  const w = await handedOff(t, (b) => {
    b.config = { availability: OFFLINE };
    b.availability = ONLINE; // an agent came online meanwhile
  });
  assert.ok(!shown(w.part('contact')));
  assert.equal(w.part('availability').textContent, 'We’re online');
});

test('no form on an older backend (no availability)', async (t) => {
  const w = await handedOff(t, () => {});
  assert.ok(!shown(w.part('contact')));
  assert.ok(!shown(w.part('availability')));
});

test("a contact init already knows: the confirmation with edit, not the form", async (t) => {
  const w = startApp(t, {
    saved: true,
    setup: (b) => {
      b.initExtra = { status: 'pending', availability: OFFLINE, contact: { email: 'bo@example.com', name: null, transcript: false } };
    },
  });
  await flush(30);
  assert.equal(w.app.state().status, 'pending');
  assert.equal(w.part('contact').dataset.state, 'done');
  assert.equal(w.part('contact-done').textContent, 'Thanks — we’ll reply to bo@example.com within 4 hours');
  w.part('contact-edit').click();
  assert.equal(w.part('contact-email').value, 'bo@example.com');
});

test('a pending status pushed by the backend (another tab asked) shows the form too, without taking focus', async (t) => {
  const w = startApp(t, { saved: true, setup: (b) => { b.initExtra = { availability: OFFLINE }; } });
  await flush(30);
  w.app.open();
  assert.ok(!shown(w.part('contact')), 'status bot: no form');
  const m = w.backend.store({ sender: 'system', text: 'A person was asked for.', event: { type: 'status', status: 'pending' } });
  w.socket().push('ChatMessageReceived', m);
  await flush(30);
  assert.ok(shown(w.part('contact')));
  assert.notEqual(w.root.activeElement, w.part('contact-email'));
});

test('required pre-chat fields hold the first message back until filled; then init, contact, send', async (t) => {
  const w = startApp(t, { setup: (b) => { b.config = { prechat: { name: 'required', email: 'required' } }; } });
  await flush(30);
  w.app.open();
  assert.ok(shown(w.part('prechat')));
  assert.equal(w.root.activeElement, w.part('prechat-name'), 'opening focuses the first field');
  assert.equal(w.root.querySelector('label[for="pw-p-name"]').textContent, 'Name');
  assert.deepEqual(w.routes(), [], 'nothing before the first message');

  type(w, 'Hello');
  await flush(30);
  assert.deepEqual(w.routes(), [], 'held back');
  assert.equal(w.part('input').value, 'Hello', 'the text stays');
  assert.equal(w.part('prechat-name-error').textContent, 'Please fill this in.');
  assert.equal(w.part('prechat-email-error').textContent, 'Please fill this in.');
  assert.equal(w.root.activeElement, w.part('prechat-name'));

  w.part('prechat-name').value = 'Ana';
  w.part('prechat-email').value = 'not an email';
  type(w, 'Hello');
  await flush(30);
  assert.deepEqual(w.routes(), []);
  assert.equal(w.part('prechat-name-error').textContent, '');
  assert.equal(w.part('prechat-email-error').textContent, 'Please enter a valid email address.');
  assert.equal(w.root.activeElement, w.part('prechat-email'));

  w.part('prechat-email').value = 'ana@example.com';
  type(w, 'Hello');
  await flush(30);
  assert.deepEqual(w.routes().filter((r) => r !== 'messages'), ['init', 'contact', 'send'], 'contact right after init');
  assert.deepEqual(contactCalls(w), [{ conversation_id: 'c1', name: 'Ana', email: 'ana@example.com' }]);
  assert.ok(!shown(w.part('prechat')), 'asked once');
  assert.equal(w.part('input').value, '');
});

test('optional pre-chat fields can be skipped: the message goes, no contact is posted', async (t) => {
  const w = startApp(t, { setup: (b) => { b.config = { prechat: { name: 'off', email: 'optional' } }; } });
  await flush(30);
  w.app.open();
  assert.ok(!shown(w.part('prechat-name')));
  assert.equal(w.root.querySelector('label[for="pw-p-email"]').textContent, 'Email (optional)');
  type(w, 'Hello');
  await flush(30);
  assert.deepEqual(w.routes().filter((r) => r !== 'messages'), ['init', 'send']);
  assert.deepEqual(contactCalls(w), []);
});

test('a resumed conversation asks no pre-chat fields', async (t) => {
  const w = startApp(t, { saved: true, setup: (b) => { b.config = { prechat: { name: 'required', email: 'required' } }; } });
  await flush(30);
  assert.ok(!shown(w.part('prechat')));
});

test('while an agent holds the conversation the availability line and the form go', async (t) => {
  const w = await handedOff(t, (b) => {
    b.config = { availability: OFFLINE };
    b.availability = OFFLINE;
  });
  assert.ok(shown(w.part('contact')));
  const ana = { id: 'a1', name: 'Ana' };
  w.socket().push('ChatMessageReceived', w.backend.store({
    sender: 'system', text: 'Ana joined.', event: { type: 'status', status: 'open', previous: 'pending', assignee: ana },
  }));
  await flush(30);
  assert.equal(w.app.state().status, 'open');
  assert.ok(!shown(w.part('availability')));
  assert.ok(!shown(w.part('contact')));
});
