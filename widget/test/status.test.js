import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reduceStatus } from '../src/status.js';
import { createStore } from '../src/store.js';

const at = '2026-12-02T04:00:00.000Z';
const text = (seq, sender = 'visitor') => ({ id: `m${seq}`, seq, sender, text: `text ${seq}`, created_at: at });
const change = (seq, status, previous, assignee = null) => ({
  id: `m${seq}`, seq, sender: 'system', text: `now ${status}`, created_at: at,
  event: { type: 'status', status, previous, assignee },
});
const ana = { id: 'agent-1', name: 'Ana' };

/** The status the widget shows for these messages (added in this order) over init's seed. */
function shown(seed, ...batches) {
  const store = createStore();
  for (const batch of batches) store.add(batch);
  return reduceStatus(seed, store.list(), store.contiguousSeq);
}

test("init's status holds while no status message has arrived", () => {
  const seed = { status: 'open', assignee: ana };
  assert.equal(shown(seed, [text(1), text(2, 'agent')]), seed, 'the seed itself, unchanged');
  assert.equal(reduceStatus(seed, [], 0), seed);
});

test('the latest status message up to the contiguous seq wins', () => {
  const s = shown({ status: 'bot', assignee: null },
    [text(1), change(2, 'pending', 'bot'), text(3), change(4, 'open', 'pending', ana), text(5, 'agent')]);
  assert.equal(s.status, 'open');
  assert.deepEqual(s.assignee, ana);
});

test('changes apply in seq order, whatever order they arrived in', () => {
  // The resolve (seq 5) was fetched before the claim (seq 3) it follows.
  const s = shown({ status: 'bot', assignee: null },
    [text(1), change(2, 'pending', 'bot')], [change(5, 'resolved', 'open'), text(4, 'agent')], [change(3, 'open', 'pending', ana)]);
  assert.equal(s.status, 'resolved', 'seq 5 is the latest, though seq 3 arrived after it');
  assert.equal(s.assignee, null);
});

test('a status message above a gap does not count until the gap is filled', () => {
  const store = createStore();
  store.add([text(1), change(2, 'pending', 'bot')]);
  store.add(change(5, 'resolved', 'open')); // pushed; 3 and 4 are still missing
  const seed = { status: 'bot', assignee: null };
  assert.equal(store.contiguousSeq, 2);
  assert.equal(reduceStatus(seed, store.list(), store.contiguousSeq).status, 'pending',
    'the resolve at seq 5 waits for seq 3 and 4');
  store.add([change(3, 'open', 'pending', ana), text(4, 'agent')]);
  assert.equal(reduceStatus(seed, store.list(), store.contiguousSeq).status, 'resolved');
});

test('status messages in the history override the seed; later ones override them', () => {
  const store = createStore();
  store.seed([text(7), change(8, 'pending', 'bot')], 8);
  const seed = { status: 'pending', assignee: null };
  assert.equal(reduceStatus(seed, store.list(), store.contiguousSeq).status, 'pending');
  store.add(change(9, 'open', 'pending', ana));
  const s = reduceStatus(seed, store.list(), store.contiguousSeq);
  assert.equal(s.status, 'open');
  assert.equal(s.assignee.name, 'Ana');
});

test('only system messages with a status event count', () => {
  const seed = { status: 'bot', assignee: null };
  const forged = { ...text(2, 'visitor'), event: { type: 'status', status: 'open', assignee: ana } };
  const other = { ...text(3, 'system'), event: { type: 'note' } };
  assert.equal(shown(seed, [text(1), forged, other, text(4, 'system')]), seed);
});

test('the result is the same object until another change lands (compared by reference)', () => {
  const store = createStore();
  store.add([text(1), change(2, 'pending', 'bot')]);
  const seed = { status: 'bot', assignee: null };
  const first = reduceStatus(seed, store.list(), store.contiguousSeq);
  store.add(text(3));
  assert.equal(reduceStatus(seed, store.list(), store.contiguousSeq), first);
  store.add(change(4, 'open', 'pending', ana));
  assert.notEqual(reduceStatus(seed, store.list(), store.contiguousSeq), first);
});
