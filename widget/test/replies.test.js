// replies.js: a slow bot's reply as it is written (ChatReplyDelta), until its stored
// message is there. On a fake clock (node:test's mock.timers) for the 60 s timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReplies, TIMEOUT_MS } from '../src/replies.js';

function setup() {
  const stored = new Set();
  const log = { changes: 0, expired: [] };
  const replies = createReplies({
    stored: (id) => stored.has(id),
    onChange: () => log.changes++,
    onExpire: (id) => log.expired.push(id),
    now: () => '2026-01-01T00:00:00Z',
  });
  return { replies, stored, log };
}

const delta = (n, text, replyId = 'r_1') => ({ conversation_id: 'c1', reply_id: replyId, reply_to_seq: 7, n, text });
const texts = (replies) => replies.list().map((e) => e.text);

test('deltas grow one provisional bot entry per reply_id, keyed by it', () => {
  const { replies, log } = setup();
  assert.equal(replies.delta(delta(1, 'We open')), true);
  assert.equal(replies.delta(delta(2, 'We open at 9')), true);
  const [entry, ...more] = replies.list();
  assert.deepEqual(more, [], 'one entry for the reply, not one per delta');
  assert.equal(entry.key, 'rr_1');
  assert.equal(entry.sender, 'bot');
  assert.equal(entry.reply_id, 'r_1');
  assert.equal(entry.reply_to_seq, 7);
  assert.equal(entry.state, 'streaming');
  assert.equal(entry.text, 'We open at 9', 'the text is the whole text so far, not appended');
  assert.equal(entry.seq, undefined, 'a draft has no seq');
  assert.equal(log.changes, 2);
  replies.delta(delta(1, 'Other', 'r_2'));
  assert.deepEqual(texts(replies), ['We open at 9', 'Other'], 'two replies: two entries, oldest first');
  replies.clear();
});

test('an event whose n is not above the last one seen is ignored (late, reordered, repeated)', () => {
  const { replies, log } = setup();
  replies.delta(delta(3, 'We open at 9'));
  assert.equal(replies.delta(delta(2, 'We open')), false, 'an older event that arrives late');
  assert.equal(replies.delta(delta(3, 'We open at 9 (again)')), false, 'the same n twice');
  assert.deepEqual(texts(replies), ['We open at 9']);
  assert.equal(log.changes, 1);
  replies.delta(delta(5, 'We open at 9 am'));
  assert.deepEqual(texts(replies), ['We open at 9 am'], 'a gap in n is fine: the text is whole');
  replies.clear();
});

test('malformed events are ignored', () => {
  const { replies, log } = setup();
  for (const bad of [null, {}, { reply_id: 'r_1', n: 1 }, { reply_id: 'r_1', text: 'x' }, { reply_id: 5, n: 1, text: 'x' },
    { reply_id: '', n: 1, text: 'x' }, { reply_id: 'r_1', n: '1', text: 'x' }, { reply_id: 'r_1', n: 1.5, text: 'x' }]) {
    assert.equal(replies.delta(bad), false, JSON.stringify(bad));
  }
  assert.deepEqual(replies.list(), []);
  assert.equal(log.changes, 0);
});

test('deltas of a reply already stored are ignored, and settle() drops the draft of one stored now', () => {
  const { replies, stored } = setup();
  replies.delta(delta(1, 'We open'));
  stored.add('r_1');
  assert.equal(replies.delta(delta(2, 'We open at 9')), false, 'a late delta after the final message');
  replies.settle();
  assert.deepEqual(replies.list(), [], 'the stored message replaces the draft');
  assert.equal(replies.delta(delta(3, 'We open at 9 am')), false, 'still stored: still ignored');
  assert.deepEqual(replies.list(), []);
});

test('a draft with no final message for 60 s goes, and the caller is told to catch up', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { replies, log } = setup();
  replies.delta(delta(1, 'We open'));
  t.mock.timers.tick(TIMEOUT_MS - 1000);
  replies.delta(delta(2, 'We open at 9'));
  t.mock.timers.tick(TIMEOUT_MS - 1);
  assert.deepEqual(texts(replies), ['We open at 9'], 'each delta restarts the 60 s: the reply is alive');
  assert.deepEqual(log.expired, []);
  const changes = log.changes;
  t.mock.timers.tick(1);
  assert.deepEqual(replies.list(), [], '60 s after the last delta the draft goes');
  assert.deepEqual(log.expired, ['r_1'], 'onExpire: catch up (the message may exist, its push lost)');
  assert.equal(log.changes, changes + 1, 'and the UI is told');
  replies.delta(delta(1, 'Again'));
  assert.deepEqual(texts(replies), ['Again'], 'an expired reply is forgotten: a redelivered job (n from 1) shows again');
  replies.clear();
});

test('a stored reply stops its timer', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { replies, stored, log } = setup();
  replies.delta(delta(1, 'We open'));
  stored.add('r_1');
  replies.settle();
  t.mock.timers.tick(TIMEOUT_MS * 2);
  assert.deepEqual(log.expired, [], 'no catch-up for a reply that is here');
});

test('reply_pending: awaited (the typing dots) until the first delta', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { replies, log } = setup();
  assert.equal(replies.awaited, false);
  replies.expect(null);
  replies.expect(undefined);
  assert.equal(replies.awaited, false, 'an inline reply (no reply_pending) awaits nothing');
  replies.expect({ reply_id: 'r_1', reply_to_seq: 7 });
  assert.equal(replies.awaited, true);
  assert.deepEqual(replies.list(), [], 'no bubble before any text');
  assert.equal(log.changes, 1);
  replies.delta(delta(1, 'We'));
  assert.equal(replies.awaited, false, 'the first delta: the bubble shows instead');
  replies.expect({ reply_id: 'r_1', reply_to_seq: 7 });
  assert.deepEqual(texts(replies), ['We'], 'a send answer after the deltas changes nothing');
  replies.clear();
});

test('reply_pending: until the message is stored, or for 60 s', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { replies, stored, log } = setup();
  replies.expect({ reply_id: 'r_1', reply_to_seq: 7 });
  stored.add('r_1');
  replies.settle();
  assert.equal(replies.awaited, false, 'the message is here (a polling client gets no deltas)');
  replies.expect({ reply_id: 'r_1', reply_to_seq: 7 });
  assert.equal(replies.awaited, false, 'a send answer after its message (pushed first) awaits nothing');

  replies.expect({ reply_id: 'r_2', reply_to_seq: 9 });
  t.mock.timers.tick(TIMEOUT_MS);
  assert.equal(replies.awaited, false, 'nothing for 60 s: no more typing');
  assert.deepEqual(log.expired, ['r_2'], 'and a catch-up');
});
