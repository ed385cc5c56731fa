import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSession } from '../src/session.js';
import { ApiError } from '../src/api.js';

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), m };
}

function fakeApi(answers) {
  const calls = [];
  return {
    calls,
    async init(body) {
      calls.push(body);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

test('a new visitor starts a conversation and keeps it under the site key', async () => {
  const storage = memoryStorage();
  const api = fakeApi([{ conversation_id: 'c1', token: 't1', messages: [], last_seq: 0 }]);
  const s = createSession({ siteKey: 'acme', api, locale: 'en', storage });
  await s.start();
  assert.deepEqual(api.calls, [{ locale: 'en' }]);
  assert.equal(s.conversationId, 'c1');
  assert.equal(JSON.parse(storage.getItem('parley:acme')).token, 't1');
});

test('a returning visitor resumes, and the fresh token is kept', async () => {
  const storage = memoryStorage();
  storage.setItem('parley:acme', JSON.stringify({ conversation_id: 'c1', token: 'old', read: 4 }));
  const api = fakeApi([{ conversation_id: 'c1', token: 'new', messages: [], last_seq: 5 }]);
  const s = createSession({ siteKey: 'acme', api, locale: 'de', storage });
  await s.start();
  assert.deepEqual(api.calls, [{ conversation_id: 'c1', token: 'old', locale: 'de' }]);
  assert.equal(s.token, 'new');
  assert.equal(s.read, 4);
});

test('a token the server refuses (401) starts a fresh conversation', async () => {
  const storage = memoryStorage();
  storage.setItem('parley:acme', JSON.stringify({ conversation_id: 'c1', token: 'expired' }));
  const api = fakeApi([new ApiError(401, 'token_expired'), { conversation_id: 'c2', token: 't2', messages: [], last_seq: 0 }]);
  const s = createSession({ siteKey: 'acme', api, storage });
  await s.start();
  assert.equal(api.calls.length, 2);
  assert.equal(s.conversationId, 'c2');
  assert.equal(s.read, 0);
});

test('a network error on resume keeps the saved conversation (to retry)', async () => {
  const storage = memoryStorage();
  storage.setItem('parley:acme', JSON.stringify({ conversation_id: 'c1', token: 't' }));
  const api = fakeApi([new ApiError(0, 'network_error')]);
  const s = createSession({ siteKey: 'acme', api, storage });
  await assert.rejects(s.start(), (e) => e.status === 0);
  assert.ok(storage.getItem('parley:acme'));
});

test('sites do not share a conversation', async () => {
  const storage = memoryStorage();
  storage.setItem('parley:other', JSON.stringify({ conversation_id: 'x', token: 'y' }));
  const api = fakeApi([{ conversation_id: 'c1', token: 't1' }]);
  await createSession({ siteKey: 'acme', api, storage }).start();
  assert.deepEqual(api.calls, [{ locale: undefined }]);
});

test('works without storage (it throws: private mode, blocked cookies)', async () => {
  const throwing = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); }, removeItem() { throw new Error('denied'); } };
  const api = fakeApi([{ conversation_id: 'c1', token: 't1' }]);
  const s = createSession({ siteKey: 'acme', api, storage: throwing });
  await s.start();
  assert.equal(s.token, 't1');
  s.read = 3;
  assert.equal(s.read, 3);
});

test('read only moves forward', async () => {
  const api = fakeApi([{ conversation_id: 'c1', token: 't1' }]);
  const s = createSession({ siteKey: 'acme', api, storage: memoryStorage() });
  await s.start();
  s.read = 5;
  s.read = 2;
  assert.equal(s.read, 5);
});
