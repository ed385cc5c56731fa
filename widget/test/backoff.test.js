import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTEMPTS, BASE_MS, ceiling, createBackoff, jittered } from '../src/backoff.js';

test('the seed defaults: 5 attempts from a 1 s base', () => {
  assert.equal(ATTEMPTS, 5);
  assert.equal(BASE_MS, 1000);
});

test('ceilings double from the base and stop at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => ceiling(n)), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(ceiling(10), 30000);
  assert.equal(ceiling(3, 500, 2500), 2500);
});

test('full jitter: a delay is anywhere from 0 up to (not including) the ceiling', () => {
  assert.equal(jittered(2, { random: () => 0 }), 0);
  assert.equal(jittered(2, { random: () => 0.5 }), 2000);
  assert.equal(jittered(2, { random: () => 0.999999 }), 3999);
  for (let n = 0; n < 8; n++) {
    for (let i = 0; i < 200; i++) {
      const d = jittered(n);
      assert.ok(d >= 0 && d < ceiling(n), `attempt ${n}: ${d} outside [0, ${ceiling(n)})`);
      assert.ok(Number.isInteger(d));
    }
  }
});

test('jitter spreads delays over the range', () => {
  const delays = Array.from({ length: 500 }, () => jittered(3));
  assert.ok(Math.min(...delays) < 2000, 'some early');
  assert.ok(Math.max(...delays) > 6000, 'some late');
});

test('hands out exactly `attempts` delays, then null until reset', () => {
  const b = createBackoff({ random: () => 1 - Number.EPSILON });
  const got = [];
  for (let d = b.next(); d !== null; d = b.next()) got.push(d);
  assert.deepEqual(got, [999, 1999, 3999, 7999, 15999]);
  assert.equal(b.next(), null);
  assert.equal(b.attempt, 5);
  b.reset();
  assert.equal(b.attempt, 0);
  assert.equal(b.next(), 999);
});

test('an unlimited backoff keeps going at the cap', () => {
  const b = createBackoff({ attempts: Infinity, base: 100, max: 400, random: () => 0.5 });
  assert.deepEqual(Array.from({ length: 6 }, () => b.next()), [50, 100, 200, 200, 200, 200]);
});
