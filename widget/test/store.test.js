import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStore } from '../src/store.js';

const msg = (seq, extra = {}) => ({ id: `m${seq}`, seq, sender: seq % 2 ? 'visitor' : 'bot', text: `text ${seq}`, created_at: '2026-01-01T00:00:00Z', ...extra });
const seqs = (store) => store.list().map((e) => e.seq);

test('messages are kept in seq order whatever order they arrive in', () => {
  const store = createStore();
  store.add([msg(1), msg(2)]);
  store.add(msg(4));
  store.add(msg(3));
  assert.deepEqual(seqs(store), [1, 2, 3, 4]);
});

test('a message seen twice (push and fetch) is kept once', () => {
  let changes = 0;
  const store = createStore({ onChange: () => changes++ });
  assert.equal(store.add(msg(1)), true);
  assert.equal(store.add(msg(1)), false, 'a duplicate is not new');
  store.add([msg(1), msg(2), msg(2)]);
  assert.deepEqual(seqs(store), [1, 2]);
  assert.equal(changes, 2, 'duplicates alone cause no change');
});

test('a jump in seq asks for after=<last contiguous>', () => {
  const gaps = [];
  const store = createStore({ onGap: (after) => gaps.push(after) });
  store.add([msg(1), msg(2)]);
  assert.deepEqual(gaps, []);
  store.add(msg(5));
  assert.deepEqual(gaps, [2], 'seq 3 and 4 are missing: fetch after 2');
  assert.equal(store.contiguousSeq, 2, 'contiguousSeq is the last contiguous seq');
  assert.equal(store.highestSeq, 5);
  store.add([msg(3), msg(4)]);
  assert.equal(store.contiguousSeq, 5, 'filling the hole moves contiguousSeq past what was waiting');
  assert.deepEqual(gaps, [2]);
});

test('a gap still open after a fill is reported again', () => {
  const gaps = [];
  const store = createStore({ onGap: (after) => gaps.push(after) });
  store.add([msg(1), msg(4)]);
  store.add(msg(2));
  assert.deepEqual(gaps, [1, 2]);
});

test('seed: history from init is a window, not a gap', () => {
  const gaps = [];
  const store = createStore({ onGap: (after) => gaps.push(after) });
  store.seed([msg(41), msg(42), msg(43)], 43);
  assert.deepEqual(gaps, []);
  assert.equal(store.contiguousSeq, 43);
  store.add(msg(44));
  assert.equal(store.contiguousSeq, 44);
});

test('seed: a server last_seq beyond the messages returned is a gap', () => {
  const gaps = [];
  const store = createStore({ onGap: (after) => gaps.push(after) });
  store.seed([msg(1), msg(2)], 3);
  assert.deepEqual(gaps, [2]);
});

test('seed of an empty conversation starts from zero', () => {
  const store = createStore();
  store.seed([], 0);
  assert.equal(store.contiguousSeq, 0);
  store.add(msg(1));
  assert.equal(store.contiguousSeq, 1);
});

test('messages without a usable seq are ignored', () => {
  const store = createStore();
  assert.equal(store.add([{ text: 'x' }, msg(0), { ...msg(1), seq: '1' }, null]), false);
  assert.deepEqual(store.list(), []);
});

test('a pending send is confirmed in place by its client_message_id', () => {
  const store = createStore();
  store.add(msg(1));
  store.addPending('c-1', 'hello');
  let list = store.list();
  assert.equal(list.length, 2);
  assert.equal(list[1].state, 'pending');
  const key = list[1].key;
  store.add(msg(2, { sender: 'visitor', text: 'hello', client_message_id: 'c-1' }));
  list = store.list();
  assert.equal(list.length, 2, 'the pending entry became the message, not a second one');
  assert.equal(list[1].state, 'sent');
  assert.equal(list[1].seq, 2);
  assert.equal(list[1].key, key, 'same key: the UI updates the same bubble');
  assert.equal(store.local('c-1'), null);
});

test('pending sends come after every confirmed message, in the order written', () => {
  const store = createStore();
  store.addPending('a', 'first');
  store.addPending('b', 'second');
  store.add([msg(1), msg(2)]);
  assert.deepEqual(store.list().map((e) => e.seq ?? e.client_message_id), [1, 2, 'a', 'b']);
});

test('a failed send can be retried with the same client_message_id', () => {
  const store = createStore();
  store.addPending('c-9', 'hi');
  assert.equal(store.fail('c-9'), true);
  assert.equal(store.local('c-9').state, 'failed');
  assert.equal(store.retry('c-9'), 'hi', 'retry hands back the text to send again');
  assert.equal(store.local('c-9').state, 'pending');
  assert.equal(store.retry('c-9'), null, 'only a failed send can be retried');
});

test('a failed send that the server did store is confirmed when it arrives', () => {
  const store = createStore();
  store.addPending('c-2', 'hi');
  store.fail('c-2');
  store.add(msg(1, { client_message_id: 'c-2', sender: 'visitor', text: 'hi' }));
  const [entry] = store.list();
  assert.equal(entry.state, 'sent');
  assert.equal(store.list().length, 1);
});

test('the same client_message_id cannot be pending twice or after confirmation', () => {
  const store = createStore();
  assert.equal(store.addPending('x', 'a'), true);
  assert.equal(store.addPending('x', 'a'), false);
  store.add(msg(1, { client_message_id: 'x' }));
  assert.equal(store.addPending('x', 'a'), false);
});

test("an agent's name and a system message's event are kept with the message", () => {
  const store = createStore();
  const event = { type: 'status', status: 'open', previous: 'pending', assignee: { id: 'a1', name: 'Ana' } };
  store.add([msg(1), { ...msg(2), sender: 'system', event }, { ...msg(3), sender: 'agent', sender_name: 'Ana' }]);
  const [, system, agent] = store.list();
  assert.deepEqual(system.event, event);
  assert.equal(agent.sender_name, 'Ana');
  assert.equal(agent.sender, 'agent');
});

test('a reply that is null (the bot is silent) adds nothing', () => {
  let changes = 0;
  const store = createStore({ onChange: () => changes++ });
  store.add([msg(1), null].filter(Boolean));
  assert.equal(store.add([null]), false);
  assert.deepEqual(seqs(store), [1]);
  assert.equal(changes, 1);
});

test('hasReply: whether the message of a reply_id is stored', () => {
  const store = createStore();
  assert.equal(store.hasReply('r_1'), false);
  store.add(msg(2, { reply_id: 'r_1' }));
  assert.equal(store.hasReply('r_1'), true, 'also above a gap');
  store.clear();
  assert.equal(store.hasReply('r_1'), false, 'forgotten with the conversation');
});

test('list(between): replies being written go after the stored messages, before unconfirmed sends', () => {
  const store = createStore();
  store.add([msg(1), msg(2)]);
  store.addPending('x', 'later');
  const draft = { key: 'rr_1', sender: 'bot', text: 'We open', state: 'streaming' };
  assert.deepEqual(store.list([draft]).map((e) => e.key), ['s1', 's2', 'rr_1', 'cx']);
  assert.deepEqual(store.list().map((e) => e.key), ['s1', 's2', 'cx']);
});
