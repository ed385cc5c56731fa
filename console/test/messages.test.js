import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessageStore } from '../src/messages.js';
import { createCatchUp } from '../../widget/src/catchup.js';

const msg = (seq, extra = {}) => ({ id: `m${seq}`, conversation_id: 'c1', seq, sender: 'visitor', text: `text ${seq}`, created_at: '2026-01-01T00:00:00Z', ...extra });
const seqs = (store) => store.list().filter((e) => e.state === 'sent').map((e) => e.seq);

test('messages are kept once each, in seq order, whatever order and how often they arrive', () => {
  const store = createMessageStore();
  store.add([msg(2), msg(1)]);
  store.add(msg(4));
  store.add([msg(3), msg(3), msg(1)]);
  assert.deepEqual(seqs(store), [1, 2, 3, 4]);
  assert.equal(store.contiguousSeq, 4);
});

test('every field is kept: sender_name, event', () => {
  const store = createMessageStore();
  store.add([msg(1, { sender: 'agent', sender_name: 'Ana' }), msg(2, { sender: 'system', event: { type: 'status', status: 'open' } })]);
  assert.equal(store.get(1).sender_name, 'Ana');
  assert.equal(store.get(2).event.status, 'open');
});

test('a seq jump reports the gap after the last contiguous seq', () => {
  const gaps = [];
  const store = createMessageStore({ onGap: (after) => gaps.push(after) });
  store.add([msg(1), msg(2)]);
  store.add(msg(5));
  assert.deepEqual(gaps, [2]);
  assert.equal(store.contiguousSeq, 2);
  assert.equal(store.highestSeq, 5);
  store.add([msg(3), msg(4)]);
  assert.equal(store.contiguousSeq, 5);
});

test('seeding with the newest page: older history is not a gap, a missing tail is', () => {
  const gaps = [];
  const store = createMessageStore({ onGap: (after) => gaps.push(after) });
  store.seed([msg(51), msg(52), msg(53)], 53);
  assert.deepEqual(gaps, [], 'seq 1-50 are history');
  assert.equal(store.contiguousSeq, 53);
  const tail = createMessageStore({ onGap: (after) => gaps.push(after) });
  tail.seed([msg(1), msg(2)], 4);
  assert.deepEqual(gaps, [2], 'last_seq 4 but only up to 2 in hand');
  const history = createMessageStore();
  history.seed([msg(51)], 51);
  history.addHistory([msg(49), msg(50)]);
  assert.deepEqual(seqs(history), [49, 50, 51]);
  assert.equal(history.firstSeq, 49);
});

test('a pending reply is confirmed in place by its client_message_id', () => {
  const store = createMessageStore();
  store.add(msg(1));
  store.addPending('u1', 'hello', { sender_name: 'Ana' });
  const before = store.list().at(-1);
  assert.equal(before.state, 'pending');
  store.confirm('u1', msg(2, { sender: 'agent', sender_name: 'Ana', text: 'hello', client_message_id: 'u1' }));
  const list = store.list();
  assert.equal(list.length, 2, 'one bubble, not two');
  assert.equal(list[1].state, 'sent');
  assert.equal(list[1].key, before.key, 'the same key: the view updates the bubble');
});

test('a reply confirmed after the push already delivered it leaves one message', () => {
  const store = createMessageStore();
  store.addPending('u1', 'hello');
  store.add(msg(1, { sender: 'agent', text: 'hello', client_message_id: 'u1' })); // the push came first
  store.confirm('u1', msg(1, { sender: 'agent', text: 'hello', client_message_id: 'u1' }));
  assert.equal(store.list().length, 1);
  const other = createMessageStore();
  other.addPending('u2', 'hi');
  other.confirm('u2', msg(1, { sender: 'agent', text: 'hi' })); // an answer without the id still confirms
  assert.deepEqual(other.list().map((e) => e.state), ['sent']);
});

test('a failed reply is retried with the same id', () => {
  const store = createMessageStore();
  store.addPending('u1', 'hello');
  assert.equal(store.retry('u1'), null, 'only a failed one is retried');
  store.fail('u1', 'No connection');
  assert.equal(store.list()[0].state, 'failed');
  assert.equal(store.retry('u1'), 'hello');
  assert.equal(store.list()[0].state, 'pending');
  assert.equal(store.list()[0].client_message_id, 'u1');
});

test('catching up (widget/src/catchup.js) fills a gap from after=<contiguous> until has_more is false', async () => {
  const server = Array.from({ length: 7 }, (_, i) => msg(i + 1));
  const afters = [];
  const store = createMessageStore();
  const catchUp = createCatchUp({
    store,
    fetchAfter: async (after) => {
      afters.push(after);
      const page = server.filter((m) => m.seq > after).slice(0, 2);
      return { messages: page, last_seq: 7, has_more: page.length ? page.at(-1).seq < 7 : false };
    },
  });
  store.add([msg(1), msg(2), msg(6)]); // the push skipped 3-5 (the network was gone)
  await catchUp();
  assert.deepEqual(afters, [2, 4, 6], 'from the contiguous seq, page after page');
  assert.deepEqual(seqs(store), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(store.contiguousSeq, 7);
});
