// A slow bot's reply, end to end in the widget (app.js, realtime, the WebSocket
// transport, replies.js, the store, ui/messages.js) on the fake DOM and clock:
// ChatReplyDelta grows one provisional bubble; the stored message with the same
// reply_id replaces it, whichever way it comes (push, send's answer, catch-up);
// nothing of it is stored for 60 s: it goes and the widget catches up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advance, flush, startApp } from './helpers/app.js';
import { TIMEOUT_MS } from '../src/replies.js';

const delta = (n, text, replyId = 'r_1', extra = {}) => ({
  conversation_id: 'c1', reply_id: replyId, reply_to_seq: 1, n, text, ...extra,
});

/** The visitor asks; once send has answered (reply null, reply_pending r_1), the socket is up. */
async function ask(w, text = 'When are you open?') {
  w.app.send(text);
  await flush(30);
  assert.equal(w.app.state().provider, w.socket() ? 'websocket' : 'polling');
  assert.equal(w.bubbles()[0].dataset.seq, '1', 'the visitor message is stored (reply: null is no error)');
  assert.equal(w.bubbles()[0].dataset.state, undefined, 'not failed');
}

test('deltas grow one provisional bot bubble; out-of-order and repeated n change nothing', async (t) => {
  const w = startApp(t);
  await ask(w);
  assert.equal(w.typing(), true, 'reply_pending: the bot is typing until its first delta');
  assert.deepEqual(w.drafts(), []);

  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  const [draft] = w.drafts();
  assert.ok(draft, 'a provisional bubble');
  assert.equal(w.bubbles().length, 2);
  assert.equal(draft.dataset.replyId, 'r_1');
  assert.equal(draft.dataset.sender, 'bot');
  assert.equal(draft.getAttribute('aria-busy'), 'true');
  assert.equal(w.text(draft), 'We open');
  assert.equal(w.typing(), false, 'the growing bubble replaces the typing dots');

  w.socket().push('ChatReplyDelta', delta(3, 'We open at 9 am'));
  w.socket().push('ChatReplyDelta', delta(2, 'We open at'));
  w.socket().push('ChatReplyDelta', delta(3, 'We open at 9 am (repeated)'));
  assert.equal(w.bubbles().length, 2, 'still one bubble for the reply');
  assert.equal(w.drafts()[0], draft, 'the same element');
  assert.equal(w.text(draft), 'We open at 9 am', 'n 2 after n 3, and n 3 twice: ignored');
  assert.deepEqual(w.events.map((m) => m.seq), [1], 'a draft is no message event');
  assert.equal(w.app.state().contiguousSeq, 1);
});

test('the final message pushed replaces the bubble in place; later deltas are ignored', async (t) => {
  const w = startApp(t);
  await ask(w);
  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  w.socket().push('ChatReplyDelta', delta(2, 'We open at 9'));
  const [draft] = w.drafts();
  const final = w.backend.store({ sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1', sources: ['Opening hours'] });
  w.socket().push('ChatMessageReceived', final);

  assert.deepEqual(w.drafts(), [], 'no draft left');
  const mine = w.byReply('r_1');
  assert.equal(mine.length, 1, 'one bubble, not two');
  assert.equal(w.bubbles().length, 2);
  assert.equal(mine[0].dataset.seq, '2');
  assert.equal(w.text(mine[0]), 'We open at 9 am.');
  assert.equal(mine[0].getAttribute('aria-busy'), null);
  assert.equal(draft.parentNode, null);
  assert.equal(mine[0].querySelector('[data-part="sources"]').textContent, 'from: Opening hours');
  assert.deepEqual(w.events.map((m) => [m.seq, m.reply_id]), [[1, undefined], [2, 'r_1']], 'the stored reply is a message event, once');

  w.socket().push('ChatReplyDelta', delta(3, 'We open at 9 am. And'));
  w.socket().push('ChatReplyDelta', delta(1, 'We'));
  assert.deepEqual(w.drafts(), [], 'a delta after the final message brings no draft back');
  assert.equal(w.text(w.byReply('r_1')[0]), 'We open at 9 am.');
  assert.equal(w.typing(), false);
});

test("the final message in send's answer replaces the bubble (deltas came first)", async (t) => {
  const w = startApp(t);
  let answer;
  w.backend.answer = (message) => new Promise((resolve) => {
    answer = () => resolve({
      message,
      reply: w.backend.store({ sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1' }),
      last_seq: 2,
      duplicate: false,
    });
  });
  w.app.send('When are you open?');
  await flush(30);
  assert.equal(w.typing(), true, 'a send under way: typing');
  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  assert.equal(w.drafts().length, 1);
  assert.equal(w.typing(), false, 'the bubble shows instead of the dots');
  answer();
  await flush(10);
  assert.deepEqual(w.drafts(), []);
  assert.equal(w.byReply('r_1').length, 1);
  assert.equal(w.byReply('r_1')[0].dataset.seq, '2');
  assert.equal(w.bubbles().length, 2);
  assert.equal(w.typing(), false);
});

test('the final message fetched by a catch-up replaces the bubble (its push was too big)', async (t) => {
  const w = startApp(t);
  await ask(w);
  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  w.backend.store({ sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1' });
  const before = w.backend.fetched().length;
  w.socket().push('ChatMessageReceived', { last_seq: 2 }); // the thin notice of an oversized payload
  await flush(10);
  assert.deepEqual(w.backend.fetched().slice(before), [1], 'messages?after=1');
  assert.deepEqual(w.drafts(), []);
  assert.equal(w.byReply('r_1').length, 1);
  assert.equal(w.bubbles().length, 2);
});

test('no final message 60 s after the last delta: the bubble goes and the widget catches up', async (t) => {
  const w = startApp(t);
  await ask(w);
  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  const before = w.backend.fetched().length;
  await advance(t, TIMEOUT_MS - 1000, 1000);
  assert.equal(w.drafts().length, 1, 'within 60 s it stays');
  w.backend.store({ sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1' }); // stored, but its push was lost
  await advance(t, 1000, 1000);
  assert.deepEqual(w.backend.fetched().slice(before), [1], 'a catch-up after the timeout');
  assert.deepEqual(w.drafts(), [], 'the draft is gone');
  assert.equal(w.byReply('r_1').length, 1, 'and the message the catch-up found is shown, once');
  assert.equal(w.byReply('r_1')[0].dataset.seq, '2');
});

test('a reply that never comes: the draft goes after 60 s and nothing is left behind', async (t) => {
  const w = startApp(t);
  await ask(w);
  w.socket().push('ChatReplyDelta', delta(1, 'We open'));
  await advance(t, TIMEOUT_MS, 1000);
  assert.deepEqual(w.drafts(), []);
  assert.equal(w.bubbles().length, 1, 'only the visitor message');
  assert.equal(w.typing(), false);
});

test('reply_pending without any delta: typing until 60 s, then a catch-up', async (t) => {
  const w = startApp(t);
  await ask(w);
  const before = w.backend.fetched().length;
  await advance(t, TIMEOUT_MS - 1000, 1000);
  assert.equal(w.typing(), true, 'still answering');
  await advance(t, 1000, 1000);
  assert.equal(w.typing(), false, 'no delta, no message in 60 s: no more dots');
  assert.deepEqual(w.backend.fetched().slice(before), [1]);
});

test("deltas of another conversation's reply are ignored", async (t) => {
  const w = startApp(t);
  await ask(w);
  w.socket().push('ChatReplyDelta', delta(1, 'Not yours', 'r_9', { conversation_id: 'c2' }));
  w.socket().push('ChatReplyDelta', null);
  assert.deepEqual(w.drafts(), []);
});

test('polling only: no deltas, typing while the reply is pending, then the final message once', async (t) => {
  const w = startApp(t, { providers: ['polling'] });
  await ask(w);
  assert.equal(w.socket(), undefined, 'no socket');
  assert.equal(w.app.state().provider, 'polling');
  assert.equal(w.typing(), true);
  w.backend.store({ sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1', sources: ['Opening hours'] });
  await advance(t, 2000);
  assert.equal(w.typing(), false, 'the stored reply ends the wait');
  assert.equal(w.byReply('r_1').length, 1);
  assert.equal(w.bubbles().length, 2);
  assert.equal(w.byReply('r_1')[0].querySelector('[data-part="sources"]').textContent, 'from: Opening hours');
  assert.deepEqual(w.drafts(), []);
});

test('an inline reply (reply set, no reply_pending) works as before', async (t) => {
  const w = startApp(t);
  w.backend.answer = (message) => ({
    message,
    reply: w.backend.store({ sender: 'bot', text: 'Hello!', reply_id: 'r_x', sources: [] }),
    last_seq: 2,
    duplicate: false,
  });
  w.app.send('hi');
  await flush(30);
  assert.equal(w.bubbles().length, 2);
  assert.equal(w.text(w.bubbles()[1]), 'Hello!');
  assert.equal(w.typing(), false);
  assert.equal(w.bubbles()[1].querySelector('[data-part="sources"]'), null);
});
