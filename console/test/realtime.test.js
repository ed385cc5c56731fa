import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRealtime } from '../src/realtime.js';
import { createConnection } from '../../widget/src/connection.js';
import { createBackoff } from '../../widget/src/backoff.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** Fake transports: `plan[name]()` says whether a connect succeeds ('ok') or not. */
function fakeTransports(plan) {
  const made = [];
  const transports = {};
  for (const name of Object.keys(plan)) {
    transports[name] = (on) => {
      const t = {
        name, on, watched: [], closed: false, restarts: 0,
        connect: () => (plan[name]() === 'ok' ? Promise.resolve() : Promise.reject(new Error('refused'))),
        close() { this.closed = true; },
        watch(id) { this.watched.push(id); },
        typing: () => name === 'websocket',
        socketId: () => `${name}-socket`,
        restart() { this.restarts++; },
      };
      made.push(t);
      return t;
    };
  }
  return { transports, made };
}

function setup(t, { providers, plan, resync }) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const connection = createConnection();
  const states = [];
  connection.on(({ state, provider }) => states.push(`${state}:${provider}`));
  const { transports, made } = fakeTransports(plan);
  const events = { messages: [], created: [], typing: [], resyncs: 0 };
  const realtime = createRealtime({
    config: { providers, polling: { interval_ms: 2000 } },
    transports,
    connection,
    onMessage: (m, id) => events.messages.push([m, id]),
    onCreated: (d) => events.created.push(d),
    onTyping: (d) => events.typing.push(d),
    onResync: async () => {
      events.resyncs++;
      if (resync) await resync();
    },
    backoff: createBackoff({ attempts: 3, random: () => 0.5 }),
    upgradeBackoff: createBackoff({ base: 5000, max: 5000, attempts: Infinity, random: () => 1 }),
  });
  return { realtime, connection, states, made, events };
}

test('the first provider in config order that connects wins, and catches up at once', async (t) => {
  const { realtime, connection, states, made, events } = setup(t, {
    providers: ['pusher', 'websocket', 'polling'],
    plan: { pusher: () => 'fail', websocket: () => 'ok' },
  });
  await realtime.start();
  assert.deepEqual(states, ['connecting:pusher', 'connecting:websocket', 'connected:websocket']);
  assert.equal(made[0].closed, true, 'the failed pusher try is closed');
  assert.equal(connection.provider, 'websocket');
  assert.equal(events.resyncs, 1, 'connected: one catch-up from storage');
  assert.equal(realtime.typing(), true, 'the WebSocket relays typing itself');
  realtime.stop();
});

test('nothing connects: polling asks storage every interval', async (t) => {
  const { realtime, connection, events } = setup(t, { providers: ['pusher', 'polling'], plan: { pusher: () => 'fail' } });
  await realtime.start();
  assert.equal(connection.state, 'polling');
  assert.equal(connection.provider, 'polling');
  t.mock.timers.tick(0);
  await flush();
  t.mock.timers.tick(2000);
  await flush();
  t.mock.timers.tick(2000);
  await flush();
  assert.equal(events.resyncs, 3);
  assert.equal(realtime.typing(), false, 'no socket: the app POSTs typing');
  realtime.stop();
});

test('polling keeps trying to upgrade and stops polling once a provider connects', async (t) => {
  let pusher = 'fail';
  const { realtime, connection } = setup(t, { providers: ['pusher', 'polling'], plan: { pusher: () => pusher } });
  await realtime.start();
  assert.equal(connection.state, 'polling');
  pusher = 'ok';
  t.mock.timers.tick(5000);
  await flush();
  assert.equal(connection.state, 'connected');
  assert.equal(connection.provider, 'pusher');
  realtime.stop();
});

test('the open conversation is watched, also on a transport made later', async (t) => {
  const { realtime, made } = setup(t, { providers: ['websocket'], plan: { websocket: () => 'ok' } });
  realtime.watch('c1');
  await realtime.start();
  assert.deepEqual(made[0].watched, ['c1'], 'watched once connected');
  realtime.watch('c2');
  realtime.watch(null);
  assert.deepEqual(made[0].watched, ['c1', 'c2', null]);
  realtime.watch('c3');
  made[0].on.drop();
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(made.length, 2);
  assert.deepEqual(made[1].watched, ['c3'], 'a new connection watches the open conversation again');
  realtime.stop();
});

test('pusher going down polls meanwhile; coming back catches up', async (t) => {
  const { realtime, connection, made, events } = setup(t, { providers: ['pusher', 'polling'], plan: { pusher: () => 'ok' } });
  await realtime.start();
  const before = events.resyncs;
  made[0].on.down();
  assert.equal(connection.state, 'reconnecting');
  t.mock.timers.tick(0);
  await flush();
  assert.equal(events.resyncs, before + 1, 'polled while down');
  made[0].on.up();
  await flush();
  assert.equal(connection.state, 'connected');
  assert.equal(events.resyncs, before + 2, 'caught up after the reconnect');
  t.mock.timers.tick(10000);
  await flush();
  assert.equal(events.resyncs, before + 2, 'no more polling once connected');
  realtime.stop();
});

test('a dropped WebSocket reconnects with backoff and catches up; after the last attempt it polls', async (t) => {
  let ws = 'ok';
  const { realtime, connection, made, events } = setup(t, { providers: ['websocket', 'polling'], plan: { websocket: () => ws } });
  await realtime.start();
  ws = 'fail';
  made[0].on.drop();
  assert.equal(connection.state, 'reconnecting');
  ws = 'ok';
  t.mock.timers.tick(500); // attempt 0: half of 1 s
  await flush();
  assert.equal(connection.state, 'connected');
  assert.equal(made.length, 2);
  const resyncs = events.resyncs;
  ws = 'fail';
  made[1].on.drop();
  for (const ms of [500, 1000, 2000]) {
    t.mock.timers.tick(ms);
    await flush();
  }
  assert.equal(connection.state, 'polling', 'three failed attempts: polling');
  assert.ok(events.resyncs > resyncs, 'storage was asked meanwhile');
  realtime.stop();
});

test('events from a replaced transport are ignored', async (t) => {
  const { realtime, made, events } = setup(t, { providers: ['websocket'], plan: { websocket: () => 'ok' } });
  await realtime.start();
  made[0].on.message({ seq: 1 }, 'c1');
  made[0].on.drop();
  made[0].on.message({ seq: 2 }, 'c1');
  made[0].on.typing({ sender: 'visitor' });
  assert.deepEqual(events.messages, [[{ seq: 1 }, 'c1']]);
  assert.deepEqual(events.typing, []);
  realtime.stop();
});

test('offline then online: the status says so, the socket starts over and storage is asked', async (t) => {
  const { realtime, connection, made, events } = setup(t, { providers: ['pusher'], plan: { pusher: () => 'ok' } });
  await realtime.start();
  realtime.offline();
  assert.equal(connection.state, 'offline');
  const before = events.resyncs;
  realtime.online();
  await flush();
  assert.equal(made[0].restarts, 1, 'a socket that looks open may be dead: restarted');
  assert.ok(events.resyncs > before, 'missed messages are fetched');
  made[0].on.down();
  made[0].on.up();
  assert.equal(connection.state, 'connected');
  realtime.stop();
});
