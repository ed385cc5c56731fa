// 429 rate_limited with Retry-After, on every visitor route: the error carries the
// delay, and sends, polls, catch-ups, the start, handoff and typing wait it out.
// A fake fetch answers as the backend does; the clock is node:test's mock.timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createApi, limitedMs } from '../src/api.js';
import { createBackoff, retrying } from '../src/backoff.js';
import { createConnection } from '../src/connection.js';
import { createHandoff } from '../src/handoff.js';
import { createOutbox } from '../src/outbox.js';
import { createRealtime } from '../src/realtime.js';
import { createSession } from '../src/session.js';
import { createStore } from '../src/store.js';
import { createPusherTransport } from '../src/transports/pusher.js';

const flush = () => new Promise((r) => setImmediate(r));

async function advance(t, ms, step = 100) {
  await flush();
  let done = 0;
  do {
    const d = Math.min(step, ms - done);
    t.mock.timers.tick(d);
    done += d;
    await flush();
  } while (done < ms);
}

const LIMITED = { error: { code: 'rate_limited', message: 'Too many requests; try again in 3 s.' } };

/** An answer as fetch gives it; `retryAfter` goes in the Retry-After header. */
function answer(status, body, retryAfter) {
  const headers = new Headers(retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) });
  return { ok: status < 400, status, headers, json: async () => body };
}

/** A fetch that records each call and answers from `plan` (a function of the call, or an answer). */
function fakeFetch(plan) {
  const calls = [];
  const fetch = async (url, init) => {
    const call = { url, init, body: init.body && JSON.parse(init.body) };
    calls.push(call);
    const next = plan.shift();
    if (!next) throw new TypeError('Failed to fetch');
    return typeof next === 'function' ? next(call) : next;
  };
  fetch.calls = calls;
  return fetch;
}

const apiWith = (plan) => {
  const fetch = fakeFetch(plan);
  return { fetch, api: createApi('https://api.example', 'acme', fetch) };
};

// -- ApiError.retryAfter ---------------------------------------------------------

test('a 429 carries Retry-After in seconds', async () => {
  const { api } = apiWith([answer(429, LIMITED, 7)]);
  await assert.rejects(api.config(), (e) => e instanceof ApiError && e.status === 429
    && e.code === 'rate_limited' && e.retryAfter === 7);
});

test('no Retry-After, garbage or a date is null (and waits the default 5 s)', async () => {
  for (const header of [undefined, 'soon', '1.5', '-3', '', 'Wed, 21 Oct 2026 07:28:00 GMT']) {
    const { api } = apiWith([answer(429, LIMITED, header)]);
    const err = await api.config().catch((e) => e);
    assert.equal(err.retryAfter, null, `Retry-After: ${header}`);
    assert.equal(limitedMs(err), 5000);
  }
});

test('an answer without headers (a bare fake) or a network error has no retryAfter', async () => {
  const bare = createApi('https://api.example', 'acme', async () => ({ ok: false, status: 503, json: async () => ({}) }));
  assert.equal((await bare.config().catch((e) => e)).retryAfter, null);
  const { api } = apiWith([]);
  const err = await api.config().catch((e) => e);
  assert.equal(err.status, 0);
  assert.equal(err.retryAfter, null);
  assert.equal(limitedMs(err), 0, 'only a 429 is a wait');
  assert.equal(limitedMs(new ApiError(503, 'x', 'y', 9)), 0);
  assert.equal(new ApiError(500, 'x').retryAfter, null, 'the three-argument form still works');
});

// -- sending ---------------------------------------------------------------------

const stored = (call, seq) => answer(201, {
  message: { id: `m${seq}`, seq, sender: 'visitor', text: call.body.text, client_message_id: call.body.client_message_id },
  reply: null,
});

function sender(plan) {
  const { fetch, api } = apiWith(plan);
  const store = createStore();
  const send = createOutbox({
    store,
    post: (id, text) => api.send('tok', { conversation_id: 'c1', text, client_message_id: id }),
  });
  const go = (id, text) => {
    store.addPending(id, text);
    return send(id, text).then((res) => store.add([res.message]), () => store.fail(id));
  };
  return { fetch, store, go };
}

test('a send answered 429 stays pending with the notice and goes again after Retry-After, same id', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { fetch, store, go } = sender([answer(429, LIMITED, 3), (call) => stored(call, 1)]);
  const done = go('cm-1', 'Hello');
  await advance(t, 0);
  assert.equal(fetch.calls.length, 1);
  assert.equal(store.local('cm-1').state, 'pending', 'not failed');
  assert.equal(store.local('cm-1').wait, 3, 'the notice, with the seconds');
  await advance(t, 2900);
  assert.equal(fetch.calls.length, 1, 'nothing before the delay');
  await advance(t, 100);
  await done;
  assert.equal(fetch.calls.length, 2);
  assert.equal(fetch.calls[1].body.client_message_id, 'cm-1', 'the same client_message_id');
  assert.equal(store.local('cm-1'), null, 'confirmed');
  const sent = store.findSent('cm-1');
  assert.equal(sent.state, 'sent');
  assert.equal(sent.wait, 0, 'the notice is gone');
});

test('without Retry-After a limited send waits 5 s', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { fetch, go } = sender([answer(429, LIMITED), (call) => stored(call, 1)]);
  const done = go('cm-1', 'Hello');
  await advance(t, 4900);
  assert.equal(fetch.calls.length, 1);
  await advance(t, 100);
  await done;
  assert.equal(fetch.calls.length, 2);
});

test('queued sends wait for the same delay and go in order, one at a time', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let seq = 0;
  const { fetch, store, go } = sender([
    answer(429, LIMITED, 4),
    (call) => stored(call, ++seq),
    (call) => stored(call, ++seq),
    (call) => stored(call, ++seq),
  ]);
  const sends = [go('a', 'one')];
  await advance(t, 0);
  await advance(t, 1000);
  sends.push(go('b', 'two'), go('c', 'three')); // written while the first is held back
  await advance(t, 0);
  assert.equal(fetch.calls.length, 1, 'the later ones do not jump the line');
  assert.deepEqual(['a', 'b', 'c'].map((id) => [store.local(id).state, store.local(id).wait]),
    [['pending', 4], ['pending', 4], ['pending', 4]]);
  await advance(t, 2900);
  assert.equal(fetch.calls.length, 1);
  await advance(t, 100); // 4 s after the 429: all three go
  await Promise.all(sends);
  assert.deepEqual(fetch.calls.map((c) => c.body.client_message_id), ['a', 'a', 'b', 'c']);
  assert.deepEqual(store.list().map((e) => [e.client_message_id, e.seq]), [['a', 1], ['b', 2], ['c', 3]]);
  // The line is empty again: the next send goes at once.
  go('d', 'four');
  await advance(t, 0);
  assert.equal(fetch.calls.length, 5);
});

test('a second 429 in line pushes the delay; any other error fails only that send', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { fetch, store, go } = sender([
    answer(429, LIMITED, 2),
    answer(429, LIMITED, 3),
    answer(500, { error: { code: 'internal' } }),
    (call) => stored(call, 1),
  ]);
  const a = go('a', 'one');
  await advance(t, 2000);
  assert.equal(fetch.calls.length, 2, 'again after 2 s, limited again');
  assert.equal(store.local('a').wait, 3);
  await advance(t, 3000);
  await a;
  assert.equal(fetch.calls.length, 3);
  assert.equal(store.local('a').state, 'failed', 'a 500 is a failure as before (Retry reuses the id)');
  assert.equal(store.retry('a'), 'one');
  assert.equal(store.local('a').wait, 0, 'no stale notice on retry');
});

// -- polling and catch-up --------------------------------------------------------

test('polling: a 429 makes the next poll wait Retry-After, shows no error', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const empty = () => answer(200, { messages: [], last_seq: 0, has_more: false });
  const { fetch, api } = apiWith([empty(), answer(429, LIMITED, 10), empty(), empty()]);
  const connection = createConnection();
  const states = [];
  connection.on((c) => states.push(c.state));
  const realtime = createRealtime({
    config: { providers: ['polling'], polling: { interval_ms: 1000 } },
    transports: {},
    connection,
    store: createStore(),
    fetchAfter: (after) => api.messages('tok', 'c1', after),
  });
  t.after(() => realtime.stop());
  await realtime.start();
  await advance(t, 0);
  assert.equal(fetch.calls.length, 1);
  await advance(t, 1000);
  assert.equal(fetch.calls.length, 2, 'the poll that is limited');
  await advance(t, 9900);
  assert.equal(fetch.calls.length, 2, 'no poll within Retry-After');
  await advance(t, 100);
  assert.equal(fetch.calls.length, 3, 'asked again once it is over');
  assert.match(fetch.calls[2].url, /after=0$/);
  await advance(t, 1000);
  assert.equal(fetch.calls.length, 4, 'then the normal interval');
  assert.ok(!states.includes('offline'), `no error shown: ${states}`);
  assert.equal(connection.state, 'polling');
});

test('catch-ups asked for during the wait coalesce into the one after it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const msg = { id: 'm1', seq: 1, sender: 'bot', text: 'hi' };
  const { fetch, api } = apiWith([answer(429, LIMITED, 2), answer(200, { messages: [msg], has_more: false })]);
  const store = createStore();
  const realtime = createRealtime({
    config: { providers: [] },
    transports: {},
    connection: createConnection(),
    store,
    fetchAfter: (after) => api.messages('tok', 'c1', after),
  });
  const first = realtime.catchUp();
  await advance(t, 0);
  realtime.catchUp();
  realtime.catchUp();
  await advance(t, 1900);
  assert.equal(fetch.calls.length, 1);
  await advance(t, 100);
  await first;
  assert.equal(store.contiguousSeq, 1);
  await advance(t, 0);
  assert.equal(fetch.calls.length, 2, 'the calls made meanwhile are answered by the fetch after the wait');
});

// -- start -----------------------------------------------------------------------

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

test('start: a 429 on init waits Retry-After, not a backoff step', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const started = answer(201, { conversation_id: 'c1', token: 't1', messages: [], last_seq: 0 });
  const { fetch, api } = apiWith([answer(429, LIMITED, 7), started]);
  const session = createSession({ siteKey: 'acme', api, locale: 'en', storage: memoryStorage() });
  const delays = createBackoff({ attempts: Infinity, random: () => 0 }); // a backoff step would be 1 s
  const failures = [];
  const done = retrying(() => session.start(), (err) => failures.push(err.status) && false, delays);
  await advance(t, 6900);
  assert.equal(fetch.calls.length, 1, 'not after the 1 s a backoff step would give');
  assert.deepEqual(failures, [429]);
  await advance(t, 100);
  const res = await done;
  assert.equal(fetch.calls.length, 2);
  assert.equal(res.conversation_id, 'c1');
  assert.equal(delays.attempt, 0, 'the backoff was not used up');
});

test('start: other failures still back off; a fatal one gives up', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const calls = [];
  const errors = [new ApiError(0, 'network_error'), new ApiError(404, 'unknown_site')];
  const done = retrying(async () => {
    calls.push(Date.now());
    throw errors.shift();
  }, (err) => err.status === 404, createBackoff({ attempts: Infinity, random: () => 0.99 }));
  await advance(t, 900);
  assert.equal(calls.length, 1, 'at least 1 s between tries');
  await advance(t, 100);
  assert.equal(await done, undefined);
  assert.equal(calls.length, 2);
});

// -- handoff and typing ----------------------------------------------------------

test('handoff: a 429 shows the notice and ignores presses until the delay is over', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const system = { id: 'm3', seq: 3, sender: 'system', text: 'A person was asked for' };
  const { fetch, api } = apiWith([answer(429, LIMITED, 6), answer(200, { status: 'pending', message: system })]);
  const notes = [];
  const added = [];
  const ask = createHandoff({
    request: () => api.handoff('tok', { conversation_id: 'c1' }),
    add: (m) => added.push(m),
    onFailed: (f) => notes.push(f),
  });
  ask();
  await advance(t, 0);
  assert.deepEqual(notes, [false, 6], 'the quickly notice, with the seconds');
  ask();
  await advance(t, 5900);
  ask();
  assert.equal(fetch.calls.length, 1, 'presses during the delay do nothing');
  await advance(t, 100);
  assert.deepEqual(notes, [false, 6, false], 'the notice goes with the delay');
  await ask();
  assert.equal(fetch.calls.length, 2, 'pressed again after it: asked');
  assert.deepEqual(added, [system]);
});

test('typing: a 429 is dropped silently and holds the next hint back', async (t) => {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
  const { fetch, api } = apiWith([answer(429, LIMITED, 10), answer(204, null), answer(204, null)]);
  const transport = createPusherTransport({
    config: { pusher: {} }, session: { token: 'tok', conversationId: 'c1' }, apiBase: 'https://api.example', siteKey: 'acme', on: {}, api,
  });
  transport.typing();
  await advance(t, 0);
  assert.equal(fetch.calls.length, 1);
  await advance(t, 11000);
  transport.typing();
  assert.equal(fetch.calls.length, 1, 'not within Retry-After (plus the 2 s throttle)');
  await advance(t, 1000);
  transport.typing();
  assert.equal(fetch.calls.length, 2);
});
