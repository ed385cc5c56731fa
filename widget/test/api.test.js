import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createApi } from '../src/api.js';

function fakeFetch(status, body) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    if (status === 0) throw new TypeError('Failed to fetch');
    return { ok: status < 400, status, json: async () => body };
  };
  fetch.calls = calls;
  return fetch;
}

test('every URL carries site_key (per-site CORS preflight)', async () => {
  const fetch = fakeFetch(200, {});
  const api = createApi('https://api.example/', 'acme', fetch);
  await api.config();
  await api.init({});
  await api.send('tok', { conversation_id: 'c', text: 'x', client_message_id: 'm' });
  await api.messages('tok', 'c', 7);
  for (const { url } of fetch.calls) assert.match(url, /^https:\/\/api\.example\/api\/chatbot\/[a-z]+\?site_key=acme/);
  assert.match(fetch.calls[3].url, /conversation_id=c&after=7$/);
});

test('the token goes in a Bearer header, bodies as JSON, no cookies', async () => {
  const fetch = fakeFetch(201, {});
  await createApi('https://api.example', 'acme', fetch).send('tok', { text: 'x' });
  const { init } = fetch.calls[0];
  assert.equal(init.headers.Authorization, 'Bearer tok');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.credentials, 'omit');
  assert.deepEqual(JSON.parse(init.body), { text: 'x' });
});

test('init sends the site key in the body too', async () => {
  const fetch = fakeFetch(201, {});
  await createApi('https://api.example', 'acme', fetch).init({ locale: 'de' });
  assert.deepEqual(JSON.parse(fetch.calls[0].init.body), { site_key: 'acme', locale: 'de' });
});

test("errors carry the backend's status and code", async () => {
  const api = createApi('https://api.example', 'acme', fakeFetch(401, { error: { code: 'token_expired', message: 'expired' } }));
  await assert.rejects(api.messages('t', 'c', 0), (e) => e instanceof ApiError && e.status === 401 && e.code === 'token_expired');
});

test('no answer at all is status 0', async () => {
  const api = createApi('https://api.example', 'acme', fakeFetch(0));
  await assert.rejects(api.config(), (e) => e instanceof ApiError && e.status === 0 && e.code === 'network_error');
});

test('handoff and typing post {conversation_id} with the Bearer token', async () => {
  const fetch = fakeFetch(200, { status: 'pending', assignee: null, message: null });
  const api = createApi('https://api.example', 'acme', fetch);
  const res = await api.handoff('tok', { conversation_id: 'c' });
  await api.typing('tok', { conversation_id: 'c' });
  assert.deepEqual(res, { status: 'pending', assignee: null, message: null });
  assert.match(fetch.calls[0].url, /^https:\/\/api\.example\/api\/chatbot\/handoff\?site_key=acme$/);
  assert.match(fetch.calls[1].url, /^https:\/\/api\.example\/api\/chatbot\/typing\?site_key=acme$/);
  for (const { init } of fetch.calls) {
    assert.equal(init.method, 'POST');
    assert.equal(init.headers.Authorization, 'Bearer tok');
    assert.deepEqual(JSON.parse(init.body), { conversation_id: 'c' });
  }
});

test('a refused handoff is an ApiError with the status and code', async () => {
  const api = createApi('https://api.example', 'acme', fakeFetch(401, { error: { code: 'invalid_token', message: 'no' } }));
  await assert.rejects(api.handoff('bad', { conversation_id: 'c' }),
    (e) => e instanceof ApiError && e.status === 401 && e.code === 'invalid_token');
  const offline = createApi('https://api.example', 'acme', fakeFetch(0));
  await assert.rejects(offline.handoff('tok', { conversation_id: 'c' }), (e) => e instanceof ApiError && e.status === 0);
});
