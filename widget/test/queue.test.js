import { test } from 'node:test';
import assert from 'node:assert/strict';
import { install, MARK } from '../src/queue.js';

function fakeApp(calls) {
  const app = {};
  for (const name of ['open', 'close', 'toggle', 'send', 'on', 'off']) app[name] = (...args) => calls.push([name, ...args]);
  app.state = () => ({ provider: 'pusher', connected: true, contiguousSeq: 3, lastSeq: 3 });
  return app;
}

test('commands pushed before the script loaded run on load, in order', () => {
  const win = {};
  win.Parley = win.Parley || [];
  win.Parley.push(['open']);
  win.Parley.push(['send', 'hello']);
  const calls = [];
  const api = install(win, () => fakeApp(calls));
  assert.equal(win.Parley, api);
  assert.deepEqual(calls, [['open'], ['send', 'hello']]);
});

test('after load, push runs commands at once, and methods work too', () => {
  const win = {};
  const calls = [];
  install(win, () => fakeApp(calls));
  win.Parley.push(['toggle'], ['close']);
  win.Parley.send('hi');
  assert.deepEqual(calls, [['toggle'], ['close'], ['send', 'hi']]);
  assert.deepEqual(win.Parley.state(), { provider: 'pusher', connected: true, contiguousSeq: 3, lastSeq: 3 });
});

test('loading twice is a no-op: one app, the first global kept', () => {
  const win = {};
  let created = 0;
  const first = install(win, () => {
    created++;
    return fakeApp([]);
  });
  const second = install(win, () => {
    created++;
    return fakeApp([]);
  });
  assert.equal(second, null);
  assert.equal(created, 1);
  assert.equal(win.Parley, first);
  assert.equal(win.Parley[MARK], true);
  assert.ok(!Object.keys(win.Parley).includes(MARK), 'the marker is not enumerable');
});

test('an unknown command warns and does not throw', () => {
  const warnings = [];
  const win = { console: { warn: (m) => warnings.push(m) }, Parley: [['explode']] };
  install(win, () => fakeApp([]));
  win.Parley.push(['nope']);
  assert.equal(warnings.length, 2);
});

test('install touches no global but Parley', () => {
  const win = {};
  install(win, () => fakeApp([]));
  assert.deepEqual(Object.keys(win), ['Parley']);
});
