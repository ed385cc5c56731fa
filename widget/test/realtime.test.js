// The scheduler runs on a fake clock: node:test's mock.timers replaces setTimeout
// and setInterval (and Date, so a try can note when it happened), and a test
// moves time with tick(). Nothing here waits for real time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECT_TIMEOUT_MS, createRealtime, STABLE_MS, UPGRADE } from '../src/realtime.js';
import { createConnection } from '../src/connection.js';
import { createStore } from '../src/store.js';
import { createBackoff } from '../src/backoff.js';

const POLL_MS = 2000;
// With random() = 0.5 the backoff hands out half of each ceiling: 500, 1000, 2000, 4000, 8000 ms.
const BACKOFF = [500, 1000, 2000, 4000, 8000];
// The upgrade backoff (random 0.5) gives 2000, 4000, 8000, 10000...; the scheduler's own
// random() = 0 then takes half of each: upgrades 1000, 2000, 4000, 5000 ms apart.
const UPGRADES = [1000, 2000, 4000, 5000];

/** Lets every promise that is ready settle (setImmediate is not mocked: it runs after them all). */
const flush = () => new Promise((r) => setImmediate(r));

/** Moves the fake clock `ms` forward in steps, letting promises settle after each (0: runs what is due now). */
async function advance(t, ms, step = 10) {
  await flush();
  let done = 0;
  do {
    const d = Math.min(step, ms - done);
    t.mock.timers.tick(d);
    done += d;
    await flush();
  } while (done < ms);
}

/** Advances until `predicate()` holds; fails if it does not within `ms` of fake time. */
async function until(t, predicate, ms = 60000, what = 'the condition') {
  for (let waited = 0; !predicate(); waited += 10) {
    if (waited >= ms) assert.fail(`${what} not reached within ${ms} ms of fake time`);
    await advance(t, 10);
  }
}

/** A transport factory whose connects succeed, fail or hang as `plan` says, recording each try. */
function fakeTransport(name, plan, log, times) {
  const made = [];
  const factory = (on) => {
    const t = {
      name,
      on,
      closed: false,
      connect() {
        log.push(name);
        times.push(Date.now());
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

/** The scheduler with the real delays (connect timeout, stable time, polling interval) on a fake clock. */
function setup(t, { pusher = [], websocket = [], providers = ['pusher', 'websocket', 'polling'], fetchAfter } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const log = [];
  const times = [];
  const states = [];
  const connection = createConnection();
  connection.on((c) => states.push(`${c.state}:${c.provider}`));
  connection.setState('connecting', null);
  const store = createStore();
  const fetches = [];
  const transports = {
    pusher: fakeTransport('pusher', pusher, log, times),
    websocket: fakeTransport('websocket', websocket, log, times),
  };
  const rt = createRealtime({
    config: { providers, polling: { interval_ms: POLL_MS } },
    transports,
    connection,
    store,
    fetchAfter: fetchAfter || (async (after) => {
      fetches.push(after);
      return { messages: [], last_seq: after, has_more: false };
    }),
    backoff: createBackoff({ random: () => 0.5 }),
    upgradeBackoff: createBackoff({ ...UPGRADE, attempts: Infinity, random: () => 0.5 }),
    random: () => 0,
  });
  t.after(() => rt.stop());
  return { rt, log, times, states, connection, store, fetches, transports };
}

/** Running sums: the times at which tries happen when they are `delays` apart from `start`. */
const at = (start, delays) => delays.reduce((acc, d) => [...acc, acc[acc.length - 1] + d], [start]).slice(1);

// -- choosing a provider --------------------------------------------------------

test('tries pusher first and stays on it when it connects; fetches after the last seen', async (t) => {
  const s = setup(t, { pusher: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['pusher']);
  assert.equal(s.connection.state, 'connected');
  assert.equal(s.connection.provider, 'pusher');
  await flush();
  assert.deepEqual(s.fetches, [0]);
  assert.equal(s.rt.socketId(), 'pusher-socket');
});

test('falls from pusher to websocket, then to polling, in config order', async (t) => {
  const s = setup(t, { pusher: ['fail'], websocket: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['pusher', 'websocket']);
  assert.equal(s.connection.provider, 'websocket');
  s.rt.stop();
  t.mock.timers.reset();

  const p = setup(t, { pusher: ['fail'], websocket: ['hang'] });
  const started = p.rt.start();
  await advance(t, CONNECT_TIMEOUT_MS - 10);
  assert.equal(p.connection.state, 'connecting', `a hanging connect is waited for ${CONNECT_TIMEOUT_MS} ms`);
  assert.equal(p.connection.provider, 'websocket');
  await advance(t, 10);
  await started;
  assert.equal(p.connection.state, 'polling', 'a connect that hangs times out');
  assert.equal(p.connection.provider, 'polling');
  assert.ok(p.transports.websocket.made[0].closed, 'the timed-out transport is closed');
});

test('providers missing from config are never tried', async (t) => {
  const s = setup(t, { providers: ['websocket', 'polling'], websocket: ['ok'] });
  await s.rt.start();
  assert.deepEqual(s.log, ['websocket']);
});

// -- reconnecting ---------------------------------------------------------------

test('a drop reconnects with backoff, polling meanwhile', async (t) => {
  const s = setup(t, { pusher: ['ok', 'fail', 'ok'], websocket: ['fail'] });
  await s.rt.start();
  await flush();
  assert.equal(s.fetches.length, 1);
  s.transports.pusher.made[0].on.drop();
  assert.equal(s.connection.state, 'reconnecting');
  assert.equal(s.connection.provider, 'polling', 'polling delivers until the reconnect succeeds');
  await until(t, () => s.connection.state === 'connected');
  assert.deepEqual(s.log, ['pusher', 'pusher', 'websocket', 'pusher']);
  assert.ok(s.fetches.length >= 2, 'caught up on reconnect (and polled while down)');
});

test('reconnect tries after a drop follow the backoff delays', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['ok'] });
  await s.rt.start();
  s.rt.transport.on.drop();
  await advance(t, BACKOFF[0] - 10);
  assert.equal(s.log.length, 1, `no try before the first delay (${BACKOFF[0]} ms)`);
  await advance(t, BACKOFF.reduce((a, b) => a + b));
  assert.deepEqual(s.times.slice(1), at(0, BACKOFF), 'each try one backoff delay after the last one failed');
  assert.equal(s.connection.state, 'polling', `${BACKOFF.length} tries, then polling`);
});

test('while reconnecting, polling fetches at once and then every interval', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['ok'] });
  await s.rt.start();
  await flush();
  s.rt.transport.on.drop();
  await advance(t, 0);
  assert.equal(s.fetches.length, 2, 'the connect catch-up, then a poll at once');
  await advance(t, POLL_MS - 10);
  assert.equal(s.fetches.length, 2);
  await advance(t, 10);
  assert.equal(s.fetches.length, 3, `the next poll ${POLL_MS} ms later`);
});

test('after 5 failed reconnects it falls to polling, then upgrades in the background', async (t) => {
  // One success, then 5 reconnect attempts x 2 providers fail, then the upgrade succeeds.
  const s = setup(t, { pusher: ['ok', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok'], websocket: ['fail', 'fail', 'fail', 'fail', 'fail'] });
  let triesBeforePolling = null;
  s.connection.on((c) => {
    if (c.state === 'polling' && triesBeforePolling === null) triesBeforePolling = s.log.length;
  });
  await s.rt.start();
  s.transports.pusher.made[0].on.drop();
  await until(t, () => triesBeforePolling !== null);
  assert.equal(triesBeforePolling, 1 + 5 * 2, 'the first connect, then 5 attempts of pusher + websocket');
  await until(t, () => s.connection.state === 'connected');
  assert.equal(s.connection.provider, 'pusher');
  assert.deepEqual(s.states.filter((x) => !x.startsWith('connecting')), [
    'connected:pusher', 'reconnecting:polling', 'polling:polling', 'connected:pusher',
  ]);
});

test('after the fifth failure it settles on polling and schedules upgrades', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['ok', ...BACKOFF.map(() => 'fail'), 'fail', 'fail', 'ok'] });
  await s.rt.start();
  s.rt.transport.on.drop();
  const settled = BACKOFF.reduce((a, b) => a + b);
  await advance(t, settled - 10);
  assert.equal(s.connection.state, 'reconnecting', 'still reconnecting before the fifth try');
  await advance(t, 10);
  assert.equal(s.connection.state, 'polling', 'the fifth failure settles on polling');
  assert.equal(s.connection.provider, 'polling');
  assert.equal(s.log.length, 1 + BACKOFF.length);

  const polled = s.fetches.length;
  await advance(t, POLL_MS * 2);
  assert.ok(s.fetches.length >= polled + 2, 'it keeps polling');

  await until(t, () => s.connection.state === 'connected', 60000, 'the upgrade');
  assert.deepEqual(s.times.slice(1 + BACKOFF.length), at(settled, UPGRADES.slice(0, 3)),
    'upgrade tries spaced by the upgrade backoff, until one connects');
  assert.equal(s.connection.provider, 'pusher');
  await flush();
  const afterUpgrade = s.fetches.length;
  await advance(t, POLL_MS * 2);
  assert.equal(s.fetches.length, afterUpgrade, 'connected again: polling stopped');
});

test('a connection that drops at once does not reset the attempt count', async (t) => {
  const s = setup(t, { pusher: Array(10).fill('ok'), providers: ['pusher', 'polling'] });
  await s.rt.start();
  for (let i = 0; i < 6 && s.connection.state !== 'polling'; i++) {
    await until(t, () => s.connection.state === 'connected');
    s.rt.transport.on.drop();
  }
  await until(t, () => s.states.includes('polling:polling'));
});

test('a connection that drops before STABLE_MS does not reset the backoff; one that lasts does', async (t) => {
  const s = setup(t, { pusher: Array(10).fill('ok'), providers: ['pusher', 'polling'] });
  await s.rt.start();
  s.rt.transport.on.drop(); // at 0: the first delay
  await advance(t, BACKOFF[0]);
  assert.deepEqual(s.times, [0, BACKOFF[0]]);
  assert.equal(s.connection.state, 'connected');

  await advance(t, STABLE_MS - 10);
  s.rt.transport.on.drop(); // up for less than STABLE_MS: the second delay, not the first again
  const early = Date.now();
  await advance(t, BACKOFF[1]);
  assert.deepEqual(s.times.slice(2), [early + BACKOFF[1]], 'the backoff went on where it was');

  await advance(t, STABLE_MS);
  s.rt.transport.on.drop(); // up for STABLE_MS: the backoff starts over
  const late = Date.now();
  await advance(t, BACKOFF[0]);
  assert.deepEqual(s.times.slice(3), [late + BACKOFF[0]], 'a stable connection resets the backoff');
});

// -- nudge ----------------------------------------------------------------------

test('nudge reconnects at once, skipping the rest of a backoff', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['ok', 'fail', 'fail', 'fail'] });
  await s.rt.start();
  s.rt.transport.on.drop();
  await advance(t, BACKOFF[0]); // the first try fails; the next is due BACKOFF[1] later
  assert.deepEqual(s.times, [0, BACKOFF[0]]);
  await advance(t, 200);
  const nudged = Date.now();
  s.rt.nudge();
  await flush();
  assert.deepEqual(s.times.slice(2), [nudged], 'tried at once');
  await advance(t, BACKOFF[0] + BACKOFF[1] - nudged + 10);
  assert.equal(s.times.length, 3, 'the skipped timer does not try as well');
  assert.equal(s.connection.state, 'reconnecting');
  await advance(t, BACKOFF[2]);
  // The skipped delay counts as used: the backoff goes on with the one after it.
  assert.deepEqual(s.times.slice(3), [nudged + BACKOFF[2]], 'a failed nudge goes on with the backoff');
});

test('nudge while polling tries to upgrade at once', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['fail', 'ok'] });
  await s.rt.start();
  assert.equal(s.connection.state, 'polling');
  await advance(t, 100);
  s.rt.nudge();
  await flush();
  assert.deepEqual(s.times, [0, 100]);
  assert.equal(s.connection.state, 'connected');
});

test('stop cancels every timer: no more tries and no more polls', async (t) => {
  const s = setup(t, { providers: ['pusher', 'polling'], pusher: ['ok'] });
  await s.rt.start();
  s.rt.transport.on.drop();
  await advance(t, 0);
  s.rt.stop();
  const tries = s.log.length;
  const fetches = s.fetches.length;
  await advance(t, 60000, 100);
  assert.equal(s.log.length, tries);
  assert.equal(s.fetches.length, fetches);
});

// -- messages -------------------------------------------------------------------

test('pushed messages go to the store; a thin {last_seq} notice triggers a fetch', async (t) => {
  const pages = [{ messages: [], has_more: false }, { messages: [{ seq: 1, sender: 'bot', text: 'a' }, { seq: 2, sender: 'bot', text: 'b' }], has_more: false }];
  const s = setup(t, { pusher: ['ok'], fetchAfter: async () => pages.shift() || { messages: [], has_more: false } });
  await s.rt.start();
  await flush();
  const { on } = s.transports.pusher.made[0];
  on.message({ last_seq: 2 });
  await flush();
  assert.equal(s.store.contiguousSeq, 2);
  on.message({ seq: 3, sender: 'bot', text: 'c' });
  assert.equal(s.store.contiguousSeq, 3);
});

test('polling that fails shows offline, and polling again once it answers', async (t) => {
  let fail = true;
  const s = setup(t, { providers: ['polling'], fetchAfter: async () => {
    if (fail) throw new Error('down');
    return { messages: [], has_more: false };
  } });
  await s.rt.start();
  await advance(t, 0);
  assert.equal(s.connection.state, 'offline');
  fail = false;
  await advance(t, POLL_MS - 10);
  assert.equal(s.connection.state, 'offline', 'no poll before the interval');
  await advance(t, 10);
  assert.equal(s.connection.state, 'polling');
});
