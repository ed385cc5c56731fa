import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createThrottle, createTypingIndicator } from '../src/typing.js';

test('typing is relayed at most once per 2 s while the agent types', () => {
  let now = 0;
  const sent = [];
  const typing = createThrottle(() => sent.push(now), { now: () => now });
  for (now = 0; now <= 5000; now += 250) typing(); // a keystroke every 250 ms for 5 s
  assert.deepEqual(sent, [0, 2000, 4000]);
});

test('after a pause the next keystroke relays at once; reset starts over', () => {
  let now = 0;
  let sent = 0;
  const typing = createThrottle(() => sent++, { now: () => now });
  assert.equal(typing(), true);
  now = 1999;
  assert.equal(typing(), false);
  now = 10000;
  assert.equal(typing(), true);
  now = 10001;
  typing.reset(); // another conversation opened
  assert.equal(typing(), true);
  assert.equal(sent, 3);
});

test('the visitor typing indicator shows, stays while they type, and hides after a quiet spell', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const changes = [];
  const indicator = createTypingIndicator({ onChange: (who) => changes.push(who), shownMs: 4000 });
  indicator.show('Visitor');
  t.mock.timers.tick(3000);
  indicator.show('Visitor');
  t.mock.timers.tick(3000);
  assert.deepEqual(changes, ['Visitor'], 'still typing: shown once, not hidden in between');
  t.mock.timers.tick(1000);
  assert.deepEqual(changes, ['Visitor', null]);
  indicator.show('Ana');
  indicator.hide(); // their message arrived
  assert.deepEqual(changes, ['Visitor', null, 'Ana', null]);
});
