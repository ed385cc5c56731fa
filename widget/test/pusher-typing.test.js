// The pusher transport's typing(): Pusher has no way from the visitor to the agents, so
// it posts /api/chatbot/typing, at most once per 2 s. On a fake clock (Date is mocked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPusherTransport, TYPING_EVERY_MS } from '../src/transports/pusher.js';

function transport(calls, fail = false) {
  const api = {
    typing: (token, body) => {
      calls.push({ token, body });
      return fail ? Promise.reject(new Error('offline')) : Promise.resolve({});
    },
  };
  const session = { token: 'tok', conversationId: 'c1' };
  return createPusherTransport({ config: { pusher: {} }, session, apiBase: 'https://api.example', siteKey: 'demo', on: {}, api });
}

test('typing posts the conversation id with the token', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const calls = [];
  transport(calls).typing();
  assert.deepEqual(calls, [{ token: 'tok', body: { conversation_id: 'c1' } }]);
});

test('at most one typing call per 2 s', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const calls = [];
  const p = transport(calls);
  p.typing();
  p.typing();
  t.mock.timers.tick(TYPING_EVERY_MS - 1);
  p.typing();
  assert.equal(calls.length, 1, 'within 2 s of the first: dropped');
  t.mock.timers.tick(1);
  p.typing();
  assert.equal(calls.length, 2, '2 s after the first: sent');
  t.mock.timers.tick(500);
  p.typing();
  t.mock.timers.tick(TYPING_EVERY_MS);
  p.typing();
  assert.equal(calls.length, 3);
});

test('a failed typing call is a lost hint, not an error', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const calls = [];
  const unhandled = [];
  const onUnhandled = (err) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  transport(calls, true).typing();
  await new Promise((r) => setImmediate(r));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(calls.length, 1);
  assert.deepEqual(unhandled, []);
});
