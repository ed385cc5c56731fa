import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEARTBEAT_MS, createPresence } from '../src/presence.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** A document and a window that hold listeners and can be hidden, shown, left. */
function fakePage() {
  const make = () => {
    const listeners = new Map();
    return {
      listeners,
      addEventListener(type, fn) {
        if (!listeners.has(type)) listeners.set(type, new Set());
        listeners.get(type).add(fn);
      },
      removeEventListener(type, fn) {
        if (listeners.has(type)) listeners.get(type).delete(fn);
      },
      fire(type, event = {}) {
        for (const fn of [...(listeners.get(type) || [])]) fn({ type, ...event });
      },
      count: (type) => (listeners.get(type) ? listeners.get(type).size : 0),
    };
  };
  const doc = { ...make(), visibilityState: 'visible' };
  const win = make();
  return {
    doc,
    win,
    hide() {
      doc.visibilityState = 'hidden';
      doc.fire('visibilitychange');
    },
    show() {
      doc.visibilityState = 'visible';
      doc.fire('visibilitychange');
    },
  };
}

function setup(t, { sites = ['demo', 'shop'], beat, visible = true } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const page = fakePage();
  if (!visible) page.doc.visibilityState = 'hidden';
  const beats = [];
  const leaves = [];
  const states = [];
  const presence = createPresence({
    sites: () => sites,
    beat: (s) => {
      beats.push(s);
      return beat ? beat(s) : Promise.resolve({ ttl_seconds: 90 });
    },
    leave: (s) => {
      leaves.push(s);
      return Promise.resolve(true);
    },
    onState: (s) => states.push(s),
    doc: page.doc,
    win: page.win,
  });
  return { presence, page, beats, leaves, states };
}

test('signing in beats once for every site at once, then every 30 s', async (t) => {
  const { presence, beats, states } = setup(t);
  presence.start();
  assert.deepEqual(beats, ['demo', 'shop'], 'one beat per site of /api/agent/me, at sign-in');
  await flush();
  assert.equal(presence.state, 'online');
  assert.deepEqual(states, ['pending', 'online']);
  t.mock.timers.tick(HEARTBEAT_MS - 1);
  assert.equal(beats.length, 2, 'nothing before 30 s');
  t.mock.timers.tick(1);
  assert.deepEqual(beats, ['demo', 'shop', 'demo', 'shop']);
  for (let i = 0; i < 3; i++) {
    await flush();
    t.mock.timers.tick(HEARTBEAT_MS);
  }
  assert.equal(beats.length, 10, 'one round per 30 s, no more');
  presence.stop();
});

test('a hidden tab stops beating and is "away"; visible again, it beats at once and the 30 s start over', async (t) => {
  const { presence, page, beats } = setup(t, { sites: ['demo'] });
  presence.start();
  await flush();
  t.mock.timers.tick(10000);
  page.hide();
  assert.equal(presence.state, 'away');
  t.mock.timers.tick(HEARTBEAT_MS * 4);
  assert.equal(beats.length, 1, 'no beat while hidden');
  page.show();
  assert.equal(beats.length, 2, 'visible again: a beat at once');
  await flush();
  assert.equal(presence.state, 'online');
  t.mock.timers.tick(HEARTBEAT_MS - 1);
  assert.equal(beats.length, 2, 'the interval starts over from the visible moment');
  t.mock.timers.tick(1);
  assert.equal(beats.length, 3);
  presence.stop();
});

test('flipping visibility many times keeps one timer', async (t) => {
  const { presence, page, beats } = setup(t, { sites: ['demo'] });
  presence.start();
  for (let i = 0; i < 10; i++) {
    page.hide();
    page.show();
  }
  await flush();
  const before = beats.length;
  t.mock.timers.tick(HEARTBEAT_MS);
  assert.equal(beats.length - before, 1, 'one timer: one beat per interval, not one per visibility change');
  presence.stop();
});

test('a tab hidden at sign-in beats only once it is shown', async (t) => {
  const { presence, page, beats } = setup(t, { sites: ['demo'], visible: false });
  presence.start();
  assert.equal(presence.state, 'away');
  t.mock.timers.tick(HEARTBEAT_MS * 2);
  assert.equal(beats.length, 0);
  page.show();
  assert.equal(beats.length, 1);
  presence.stop();
});

test('failed beats are ignored quietly and tried again on the next tick only (never a spin)', async (t) => {
  const { presence, beats, states } = setup(t, { beat: () => Promise.reject(Object.assign(new Error('gone'), { status: 404 })) });
  presence.start();
  await flush();
  assert.equal(presence.state, 'unavailable', 'nobody answered: not shown as online');
  t.mock.timers.tick(HEARTBEAT_MS - 1);
  await flush();
  assert.equal(beats.length, 2, 'no retry before the next tick');
  t.mock.timers.tick(1);
  await flush();
  assert.equal(beats.length, 4);
  assert.deepEqual(states, ['pending', 'unavailable']);
  presence.stop();
});

test('one site answering is enough to be online; a beat that throws synchronously is caught too', async (t) => {
  const { presence } = setup(t, {
    beat: (s) => {
      if (s === 'shop') throw new Error('boom');
      return Promise.resolve({});
    },
  });
  presence.start();
  await flush();
  assert.equal(presence.state, 'online');
  presence.stop();
});

test('a beat still in flight is not sent again: a slow server gets no pile of requests', async (t) => {
  const { presence, beats } = setup(t, { sites: ['demo'], beat: () => new Promise(() => {}) });
  presence.start();
  t.mock.timers.tick(HEARTBEAT_MS * 5);
  await flush();
  assert.equal(beats.length, 1);
  presence.stop();
});

test('an answer that comes back after the tab was hidden does not say "online"', async (t) => {
  let answer;
  const { presence, page } = setup(t, { sites: ['demo'], beat: () => new Promise((r) => { answer = r; }) });
  presence.start();
  page.hide();
  answer({});
  await flush();
  assert.equal(presence.state, 'away');
  presence.stop();
});

test('stop (sign-out) leaves every site, beats no more and takes its listeners off', async (t) => {
  const { presence, page, beats, leaves, states } = setup(t);
  presence.start();
  await flush();
  presence.stop();
  assert.deepEqual(leaves, ['demo', 'shop']);
  assert.equal(presence.state, 'off');
  assert.equal(states.at(-1), 'off');
  t.mock.timers.tick(HEARTBEAT_MS * 3);
  page.hide();
  page.show();
  assert.equal(beats.length, 2, 'nothing after the sign-out');
  assert.equal(page.doc.count('visibilitychange'), 0);
  assert.equal(page.win.count('pagehide'), 0);
  presence.stop();
  assert.equal(leaves.length, 2, 'a second stop is a no-op');
});

test('stop({leave: false}) (the session already ended) sends no DELETE', async (t) => {
  const { presence, leaves } = setup(t);
  presence.start();
  presence.stop({ leave: false });
  assert.deepEqual(leaves, []);
});

test('the page going away (pagehide) leaves every site and stops the timer; back from the bfcache it beats again', async (t) => {
  const { presence, page, beats, leaves } = setup(t, { sites: ['demo'] });
  presence.start();
  await flush();
  page.win.fire('pagehide', { persisted: false });
  assert.deepEqual(leaves, ['demo']);
  t.mock.timers.tick(HEARTBEAT_MS * 2);
  assert.equal(beats.length, 1);
  page.win.fire('pageshow', { persisted: true });
  assert.equal(beats.length, 2);
  presence.stop();
});
