import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHandoff } from '../src/handoff.js';
import { ApiError } from '../src/api.js';

const system = { id: 'm3', seq: 3, sender: 'system', text: 'A person was asked for', created_at: '2026-12-02T04:00:00.000Z',
  event: { type: 'status', status: 'pending', previous: 'bot', assignee: null } };

function harness(answers) {
  const log = { requests: 0, added: [], failed: [] };
  const ask = createHandoff({
    request: async () => {
      log.requests++;
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
    add: (m) => log.added.push(m),
    onFailed: (failed) => log.failed.push(failed),
  });
  return { ask, log };
}

test("the answer's system message goes to the store", async () => {
  const { ask, log } = harness([{ status: 'pending', assignee: null, message: system }]);
  await ask();
  assert.deepEqual(log.added, [system]);
  assert.deepEqual(log.failed, [false], 'no failure shown');
});

test('already pending or open: nothing to add but null (the caller catches up)', () => {
  const { ask, log } = harness([{ status: 'open', assignee: { id: 'a', name: 'Ana' }, message: null }]);
  return ask().then(() => assert.deepEqual(log.added, [null]));
});

test('a failure adds nothing and says so; pressing again retries and clears it', async () => {
  const { ask, log } = harness([new ApiError(0, 'network_error'), { status: 'pending', assignee: null, message: system }]);
  await ask();
  assert.deepEqual(log.added, [], 'nothing half-done');
  assert.deepEqual(log.failed, [false, true]);
  await ask();
  assert.equal(log.requests, 2);
  assert.deepEqual(log.added, [system]);
  assert.deepEqual(log.failed, [false, true, false], 'the error is cleared by the retry');
});

test('an answer without a body counts as a failure', async () => {
  const { ask, log } = harness([null]);
  await ask();
  assert.deepEqual(log.added, []);
  assert.deepEqual(log.failed, [false, true]);
});

test('presses while a request is out are ignored: one request, one message', async () => {
  let release;
  const log = { requests: 0, added: [] };
  const ask = createHandoff({
    request: () => {
      log.requests++;
      return new Promise((r) => {
        release = r;
      });
    },
    add: (m) => log.added.push(m),
    onFailed: () => {},
  });
  const first = ask();
  await ask();
  await ask();
  release({ status: 'pending', assignee: null, message: system });
  await first;
  assert.equal(log.requests, 1);
  assert.deepEqual(log.added, [system]);
  ask(); // left pending: only its start matters
  assert.equal(log.requests, 2, 'free again once the answer came');
});
