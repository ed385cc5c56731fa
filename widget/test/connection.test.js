import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, InvalidTransition, STATES } from '../src/connection.js';

test('starts idle with no provider', () => {
  const c = createConnection();
  assert.equal(c.state, 'idle');
  assert.equal(c.provider, null);
  assert.equal(c.connected, false);
});

test('every change goes through setState and reaches every listener once', () => {
  const c = createConnection();
  const a = [];
  const b = [];
  c.on((change) => a.push(`${change.previous.state}>${change.state}:${change.provider}`));
  c.on((change) => b.push(change.state));
  c.setState('connecting', 'pusher');
  c.setState('connecting', 'websocket');
  c.setState('connected', 'websocket');
  c.setState('reconnecting', 'websocket');
  c.setState('polling', 'polling');
  c.setState('connected', 'pusher');
  assert.deepEqual(a, [
    'idle>connecting:pusher',
    'connecting>connecting:websocket',
    'connecting>connected:websocket',
    'connected>reconnecting:websocket',
    'reconnecting>polling:polling',
    'polling>connected:pusher',
  ]);
  assert.equal(b.length, 6);
});

test('setting the same state and provider again emits nothing', () => {
  const c = createConnection();
  let calls = 0;
  c.on(() => calls++);
  assert.equal(c.setState('connecting', 'pusher'), true);
  assert.equal(c.setState('connecting', 'pusher'), false);
  assert.equal(calls, 1);
});

test('connected means a realtime provider is up; polling is not connected', () => {
  const c = createConnection();
  c.setState('connecting', 'pusher');
  c.setState('connected', 'pusher');
  assert.equal(c.connected, true);
  c.setState('polling', 'polling');
  assert.equal(c.connected, false);
  assert.equal(c.provider, 'polling');
});

test('invalid transitions throw and change nothing', () => {
  const c = createConnection();
  let calls = 0;
  c.on(() => calls++);
  assert.throws(() => c.setState('connected', 'pusher'), InvalidTransition, 'idle cannot jump to connected');
  assert.throws(() => c.setState('reconnecting', 'pusher'), InvalidTransition);
  assert.throws(() => c.setState('bogus'), InvalidTransition);
  assert.equal(c.state, 'idle');
  assert.equal(calls, 0);
  c.setState('connecting', 'pusher');
  c.setState('polling', 'polling');
  assert.throws(() => c.setState('reconnecting', 'pusher'), InvalidTransition, 'polling upgrades straight to connected');
  assert.throws(() => c.setState('connecting', 'pusher'), InvalidTransition);
});

test('every state can be stopped (back to idle)', () => {
  for (const state of STATES.filter((s) => s !== 'idle')) {
    const c = createConnection();
    c.setState('connecting', 'pusher');
    if (state === 'connected' || state === 'reconnecting') c.setState('connected', 'pusher');
    if (state !== 'connecting' && state !== 'connected') c.setState(state, 'pusher');
    assert.equal(c.state, state);
    c.setState('idle', null);
    assert.equal(c.state, 'idle');
  }
});

test('a listener can unsubscribe', () => {
  const c = createConnection();
  let calls = 0;
  const off = c.on(() => calls++);
  c.setState('connecting', 'pusher');
  off();
  c.setState('connected', 'pusher');
  assert.equal(calls, 1);
});
