import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNotifier, handoffOf } from '../src/notify.js';
import { createPrefs } from '../src/prefs.js';

const storage = () => { const d = new Map(); return { getItem: (k) => d.get(k) ?? null, setItem: (k, v) => d.set(k, v) }; };
const system = (status, previous, seq = 5) => ({ conversation_id: 'c1', seq, sender: 'system', text: '…', event: { type: 'status', status, previous, assignee: null } });

test('a handoff is a system message to pending, or a conversation created pending', () => {
  assert.deepEqual(handoffOf('message', system('pending', 'bot')), { conversationId: 'c1', key: 'c1' });
  assert.equal(handoffOf('message', system('open', 'pending')), null);
  assert.equal(handoffOf('message', { conversation_id: 'c1', seq: 2, sender: 'visitor', text: 'pending' }), null);
  assert.deepEqual(handoffOf('created', { conversation: { conversation_id: 'c2', status: 'pending' } }), { conversationId: 'c2', key: 'c2' });
  assert.equal(handoffOf('created', { conversation: { conversation_id: 'c3', status: 'bot' } }), null);
});

function setup(values = {}) {
  const prefs = createPrefs(storage());
  for (const [k, v] of Object.entries(values)) prefs.set(k, v);
  const shown = [];
  let beeps = 0;
  const notifier = createNotifier({ prefs, notify: (title, body, tag) => shown.push({ title, body, tag }), beep: () => beeps++ });
  return { prefs, notifier, shown, beeps: () => beeps };
}

test('a handoff notifies and beeps once, however many channels carry it', () => {
  const { notifier, shown, beeps } = setup();
  const h = handoffOf('message', system('pending', 'bot'));
  assert.equal(notifier.handoff(h, { body: 'Visitor 1a2b3c asked for a person' }), true);
  assert.equal(notifier.handoff(handoffOf('message', system('pending', 'bot'))), false, 'the conversation channel repeats the feed');
  assert.equal(shown.length, 1);
  assert.equal(shown[0].tag, 'c1');
  assert.equal(beeps(), 1);
  notifier.forget('c1'); // claimed, then handed back to pending later
  assert.equal(notifier.handoff(handoffOf('message', system('pending', 'open', 9))), true);
  assert.equal(beeps(), 2);
});

test('turned off in settings: no notification, no sound', () => {
  const { notifier, shown, beeps, prefs } = setup({ notifications: false });
  notifier.handoff({ conversationId: 'c1', key: 'c1' });
  assert.equal(shown.length, 0);
  assert.equal(beeps(), 1, 'sound is its own choice');
  prefs.set('sound', false);
  notifier.handoff({ conversationId: 'c2', key: 'c2' });
  assert.equal(beeps(), 1);
});
