import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrefs, PREFS_KEY } from '../src/prefs.js';

function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k) };
}

test('notifications and sound are on by default', () => {
  const prefs = createPrefs(memoryStorage());
  assert.deepEqual(prefs.all(), { notifications: true, sound: true });
});

test('a choice is persisted and read back by the next page', () => {
  const storage = memoryStorage();
  const heard = [];
  const prefs = createPrefs(storage);
  prefs.onChange((v) => heard.push(v));
  prefs.set('sound', false);
  assert.equal(prefs.get('sound'), false);
  assert.deepEqual(JSON.parse(storage.getItem(PREFS_KEY)), { notifications: true, sound: false });
  assert.deepEqual(heard, [{ notifications: true, sound: false }]);
  assert.equal(createPrefs(storage).get('sound'), false, 'a reload keeps it');
  assert.equal(createPrefs(storage).get('notifications'), true);
});

test('broken or foreign stored values fall back to the defaults', () => {
  assert.deepEqual(createPrefs(memoryStorage({ [PREFS_KEY]: '{not json' })).all(), { notifications: true, sound: true });
  assert.deepEqual(createPrefs(memoryStorage({ [PREFS_KEY]: '{"sound":"no","notifications":false}' })).all(), { notifications: false, sound: true });
  assert.throws(() => createPrefs(memoryStorage()).set('volume', 3), /unknown preference/);
});

test('a storage that refuses writes still holds the choice for the page', () => {
  const prefs = createPrefs({ getItem: () => null, setItem: () => { throw new Error('QuotaExceeded'); } });
  prefs.set('notifications', false);
  assert.equal(prefs.get('notifications'), false);
});
