import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRealtime } from '../src/realtime.js';
import { createConnection } from '../src/connection.js';
import { createStore } from '../src/store.js';
import { createBackoff } from '../src/backoff.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(predicate, ms = 2000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(2);
  }
}

/** A transport factory whose connects succeed or fail as `plan` says, recording each try. */
function fakeTransport(name, plan, log) {
  const made = [];
  const factory = (on) => {
    const t = {
      name,
      on,
      closed: false,
      connect() {
        log.push(name);
        const outcome = plan.shift() ?? 'fail';
        if (outcome === 'ok') return Promise.resolve();
        if (outcome === 'hang') return new Promise(() => {});
        return Promise.reject(new Error(`${name} refused`));
      },
      close() {
        t.closed = true;
      },
      socketId: () => `${name}-socket`,
      typing() {},
    };
    made.push(t);
    return t;
  };
  factory.made = made;
  return factory;
}

function setup({ pusher = [], websocket = [], providers = ['pusher', 'websocket', 'polling'], fetchAfter } = {}) {
  const log = [];
  const states = [];
  const connection = createConnection();
  connection.on((c) => states.push(`${c.state}:${c.provider}`));
  connection.setState('connecting', null);
  const store = createStore();
  const fetches = [];
  const transports = { pusher: fakeTransport('pusher', pusher, log), websocket: fakeTransport('websocket', websocket, log) };
  const rt = createRealtime({
    config: { providers, polling: { interval_ms: 5 } },
    transports,
    connection,
    store,
    fetchAfter: fetchAfter || (async (after) => {
      fetches.push(after);
      return { messages: [], last_seq: after, has_more: false };
    }),
    connectTimeoutMs: 30,
    stableMs: 50,
    backoff: createBackoff({ base: 1, max: 4 }),
    upgradeBackoff: createBackoff({ base: 10, max: 20, attempts: Infinity }),
  });
  return { rt, log, states, connection, store, fetches, transports };
}

test('tries pusher first and stays on it when it connects; fetches after the last seen', async () => {
  const s = setup({ pusher: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['pusher']);
  assert.equal(s.connection.state, 'connected');
  assert.equal(s.connection.provider, 'pusher');
  await until(() => s.fetches.length === 1);
  assert.deepEqual(s.fetches, [0]);
  assert.equal(s.rt.socketId(), 'pusher-socket');
  s.rt.stop();
});

test('falls from pusher to websocket, then to polling, in config order', async () => {
  const s = setup({ pusher: ['fail'], websocket: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['pusher', 'websocket']);
  assert.equal(s.connection.provider, 'websocket');
  s.rt.stop();

  const p = setup({ pusher: ['fail'], websocket: ['hang'] });
  await p.rt.start();
  assert.equal(p.connection.state, 'polling', 'a connect that hangs times out');
  assert.equal(p.connection.provider, 'polling');
  assert.ok(p.transports.websocket.made[0].closed, 'the timed-out transport is closed');
  p.rt.stop();
});

test('providers missing from config are never tried', async () => {
  const s = setup({ providers: ['websocket', 'polling'], websocket: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['websocket']);
  s.rt.stop();
});

test('a drop reconnects with backoff, polling meanwhile', async () => {
  const s = setup({ pusher: ['ok', 'fail', 'ok'], websocket: ['fail'] });
  await s.rt.start();
  await until(() => s.fetches.length >= 1);
  s.transports.pusher.made[0].on.drop();
  assert.equal(s.connection.state, 'reconnecting');
  assert.equal(s.connection.provider, 'polling', 'polling delivers until the reconnect succeeds');
  await until(() => s.connection.state === 'connected');
  assert.deepEqual(s.log, ['pusher', 'pusher', 'websocket', 'pusher']);
  assert.ok(s.fetches.length >= 2, 'caught up on reconnect (and polled while down)');
  s.rt.stop();
});

test('after 5 failed reconnects it falls to polling, then upgrades in the background', async () => {
  // One success, then 5 reconnect attempts x 2 providers fail, then the upgrade succeeds.
  const s = setup({ pusher: ['ok', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok'], websocket: ['fail', 'fail', 'fail', 'fail', 'fail'] });
  let triesBeforePolling = null;
  s.connection.on((c) => {
    if (c.state === 'polling' && triesBeforePolling === null) triesBeforePolling = s.log.length;
  });
  await s.rt.start();
  s.transports.pusher.made[0].on.drop();
  await until(() => triesBeforePolling !== null);
  assert.equal(triesBeforePolling, 1 + 5 * 2, 'the first connect, then 5 attempts of pusher + websocket');
  await until(() => s.connection.state === 'connected');
  assert.equal(s.connection.provider, 'pusher');
  assert.deepEqual(s.states.filter((x) => !x.startsWith('connecting')), [
    'connected:pusher', 'reconnecting:polling', 'polling:polling', 'connected:pusher',
  ]);
  s.rt.stop();
});

test('a connection that drops at once does not reset the attempt count', async () => {
  const s = setup({ pusher: Array(10).fill('ok'), providers: ['pusher', 'polling'] });
  await s.rt.start();
  for (let i = 0; i < 6 && s.connection.state !== 'polling'; i++) {
    await until(() => s.connection.state === 'connected');
    s.rt.transport.on.drop();
  }
  await until(() => s.states.includes('polling:polling'));
  s.rt.stop();
});

test('pushed messages go to the store; a thin {last_seq} notice triggers a fetch', async () => {
  const pages = [{ messages: [], has_more: false }, { messages: [{ seq: 1, sender: 'bot', text: 'a' }, { seq: 2, sender: 'bot', text: 'b' }], has_more: false }];
  const s = setup({ pusher: ['ok'], fetchAfter: async () => pages.shift() || { messages: [], has_more: false } });
  await s.rt.start();
  await sleep(5);
  const { on } = s.transports.pusher.made[0];
  on.message({ last_seq: 2 });
  await until(() => s.store.lastSeq === 2);
  on.message({ seq: 3, sender: 'bot', text: 'c' });
  assert.equal(s.store.lastSeq, 3);
  s.rt.stop();
});

test('catch-up follows has_more until the end', async () => {
  const pages = [
    { messages: [{ seq: 1, text: 'a' }, { seq: 2, text: 'b' }], has_more: true },
    { messages: [{ seq: 3, text: 'c' }], has_more: false },
  ];
  const afters = [];
  const s = setup({ providers: ['polling'], fetchAfter: async (after) => (afters.push(after), pages.shift() || { messages: [], has_more: false }) });
  await s.rt.start();
  await until(() => s.store.lastSeq === 3);
  assert.deepEqual(afters.slice(0, 2), [0, 2]);
  s.rt.stop();
});

test('polling that fails shows offline, and polling again once it answers', async () => {
  let fail = true;
  const s = setup({ providers: ['polling'], fetchAfter: async () => {
    if (fail) throw new Error('down');
    return { messages: [], has_more: false };
  } });
  await s.rt.start();
  await until(() => s.connection.state === 'offline');
  fail = false;
  await until(() => s.connection.state === 'polling');
  s.rt.stop();
});
