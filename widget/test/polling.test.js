// The poller on a fake clock (node:test's mock.timers): time moves only with tick().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPoller } from '../src/transports/polling.js';

const flush = () => new Promise((r) => setImmediate(r));

async function tick(t, ms) {
  t.mock.timers.tick(ms);
  await flush();
}

function counting(t, { fail = () => false } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const calls = [];
  const results = [];
  const poller = createPoller({
    intervalMs: 1000,
    tick: async () => {
      calls.push(calls.length);
      if (fail()) throw new Error('down');
    },
    onResult: (ok) => results.push(ok),
  });
  t.after(() => poller.stop());
  return { calls, results, poller };
}

test('polls at once, then once every interval', async (t) => {
  const { calls, poller } = counting(t);
  poller.start();
  await tick(t, 0);
  assert.equal(calls.length, 1, 'the first poll does not wait');
  await tick(t, 999);
  assert.equal(calls.length, 1);
  await tick(t, 1);
  assert.equal(calls.length, 2, 'the next one an interval later');
  await tick(t, 1000);
  assert.equal(calls.length, 3);
});

test('start({now: false}) waits an interval first', async (t) => {
  const { calls, poller } = counting(t);
  poller.start({ now: false });
  await tick(t, 999);
  assert.equal(calls.length, 0);
  await tick(t, 1);
  assert.equal(calls.length, 1);
});

test('a slow poll is never overlapped: the interval counts from its end', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  let release;
  let calls = 0;
  const poller = createPoller({ intervalMs: 1000, tick: () => (calls++, new Promise((r) => (release = r))) });
  t.after(() => poller.stop());
  poller.start();
  await tick(t, 0);
  await tick(t, 5000);
  assert.equal(calls, 1, 'no second poll while the first is running');
  release();
  await flush(); // the poll ends now, at 5000 ms
  await tick(t, 999);
  assert.equal(calls, 1);
  await tick(t, 1);
  assert.equal(calls, 2);
});

test('every outcome is reported', async (t) => {
  let down = true;
  const { results, poller } = counting(t, { fail: () => down });
  poller.start();
  await tick(t, 0);
  down = false;
  await tick(t, 1000);
  assert.deepEqual(results, [false, true]);
});

test('stop cancels the next poll; starting twice polls once', async (t) => {
  const { calls, poller } = counting(t);
  poller.start();
  poller.start();
  await tick(t, 0);
  assert.equal(calls.length, 1);
  assert.equal(poller.running, true);
  poller.stop();
  assert.equal(poller.running, false);
  await tick(t, 10000);
  assert.equal(calls.length, 1);
});
