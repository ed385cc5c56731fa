import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCatchUp, MAX_PAGES } from '../src/catchup.js';
import { createStore } from '../src/store.js';

const msg = (seq) => ({ id: `m${seq}`, seq, sender: 'bot', text: `text ${seq}` });
const empty = { messages: [], has_more: false };

/** A fetchAfter that records each `after` and answers from `pages` (then empty pages). */
function server(pages) {
  const afters = [];
  const fetchAfter = async (after) => {
    afters.push(after);
    return pages.shift() || empty;
  };
  return { afters, fetchAfter };
}

/** A fetchAfter whose answers the test releases one at a time, to hold a fetch in flight. */
function heldServer() {
  const afters = [];
  const waiting = [];
  const fetchAfter = (after) => {
    afters.push(after);
    return new Promise((resolve) => waiting.push(resolve));
  };
  return { afters, fetchAfter, answer: (page = empty) => waiting.shift()(page), get waiting() { return waiting.length; } };
}

const flush = () => new Promise((r) => setImmediate(r));

test('catch-up follows has_more until the end', async () => {
  const store = createStore();
  const { afters, fetchAfter } = server([
    { messages: [msg(1), msg(2)], has_more: true },
    { messages: [msg(3)], has_more: false },
  ]);
  await createCatchUp({ store, fetchAfter })();
  assert.deepEqual(afters, [0, 2], 'the second page is asked for after the contiguous seq the first one reached');
  assert.equal(store.contiguousSeq, 3);
});

test('catch-up asks for messages after the contiguous seq, not the highest seen', async () => {
  const store = createStore();
  store.add([msg(1), msg(2), msg(5)]);
  const { afters, fetchAfter } = server([{ messages: [msg(3), msg(4)], has_more: false }]);
  await createCatchUp({ store, fetchAfter })();
  assert.deepEqual(afters, [2], 'seq 3 and 4 are missing: after=2, not after=5');
  assert.equal(store.contiguousSeq, 5);
});

test('an empty page ends a round even if it says has_more', async () => {
  const store = createStore();
  const { afters, fetchAfter } = server([{ messages: [], has_more: true }]);
  await createCatchUp({ store, fetchAfter })();
  assert.deepEqual(afters, [0], 'one fetch, no second ask for the same empty page');
});

test(`a round stops after ${MAX_PAGES} pages even if the server keeps saying has_more`, async () => {
  const store = createStore();
  // Always seq 7 above a hole at 1..6: the contiguous seq never moves, so every ask is after=0.
  const afters = [];
  const fetchAfter = async (after) => {
    afters.push(after);
    return { messages: [msg(7)], has_more: true };
  };
  await createCatchUp({ store, fetchAfter })();
  assert.equal(afters.length, MAX_PAGES, `gave up after ${MAX_PAGES} pages`);
  assert.equal(MAX_PAGES, 50);
  assert.ok(afters.every((a) => a === 0));
});

test('calls made while a catch-up runs coalesce into one more round', async () => {
  const store = createStore();
  const s = heldServer();
  const catchUp = createCatchUp({ store, fetchAfter: s.fetchAfter });
  const first = catchUp();
  const second = catchUp();
  const third = catchUp();
  assert.equal(second, first, 'a call made meanwhile gets the running catch-up');
  assert.equal(third, first);
  assert.equal(s.afters.length, 1, 'no second fetch in parallel');
  s.answer({ messages: [msg(1)], has_more: false });
  await flush();
  assert.deepEqual(s.afters, [0, 1], 'one more round, after what the first one brought');
  s.answer();
  await first;
  await flush();
  assert.equal(s.afters.length, 2, 'three calls, two rounds');
  assert.equal(s.waiting, 0);
});

test('a catch-up after the last one ended fetches again', async () => {
  const store = createStore();
  const { afters, fetchAfter } = server([{ messages: [msg(1)], has_more: false }]);
  const catchUp = createCatchUp({ store, fetchAfter });
  await catchUp();
  await catchUp();
  assert.deepEqual(afters, [0, 1]);
});

test('a failed fetch rejects the catch-up, and the next one starts afresh', async () => {
  const store = createStore();
  let fail = true;
  const afters = [];
  const catchUp = createCatchUp({
    store,
    fetchAfter: async (after) => {
      afters.push(after);
      if (fail) throw new Error('down');
      return { messages: [msg(1)], has_more: false };
    },
  });
  await assert.rejects(catchUp(), /down/);
  fail = false;
  await catchUp();
  assert.deepEqual(afters, [0, 0]);
  assert.equal(store.contiguousSeq, 1);
});
