import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createApi, describe, retryable } from '../src/api.js';

/** A fake auth: a token that changes on refresh. */
function fakeAuth({ refreshFails = false } = {}) {
  let n = 1;
  let signedIn = true;
  return {
    refreshes: 0,
    token: async () => `tok${n}`,
    async refresh() {
      this.refreshes++;
      if (refreshFails) {
        signedIn = false;
        throw new Error('session_expired');
      }
      n++;
    },
    get signedIn() {
      return signedIn;
    },
  };
}

function fakeFetch(answers) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    const a = answers.shift();
    if (a instanceof Error) throw a;
    const [status, body] = a;
    return { ok: status >= 200 && status < 300, status, json: async () => (body === undefined ? Promise.reject(new SyntaxError('empty')) : body) };
  };
  return { calls, fetchImpl };
}

const err = (status, code) => [status, { error: { code, message: `${code} message` } }];

test('requests carry the Bearer ID token and JSON bodies to the contract routes', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, { conversations: [], next_cursor: null }], [201, { message: {} }]]);
  const api = createApi({ base: 'http://api.test/', auth: fakeAuth(), fetchImpl });
  await api.inbox('demo site', 'mine', { cursor: 'abc', limit: 25 });
  assert.equal(calls[0].url, 'http://api.test/api/agent/sites/demo%20site/inbox?status=mine&cursor=abc&limit=25');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok1');
  await api.reply('demo', 'c1', { text: 'hi', client_message_id: 'u1' });
  assert.equal(calls[1].url, 'http://api.test/api/agent/sites/demo/conversations/c1/messages');
  assert.equal(calls[1].init.method, 'POST');
  assert.equal(calls[1].init.headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(calls[1].init.body), { text: 'hi', client_message_id: 'u1' });
});

test('the realtime config is asked for without the agent token', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, { realtime: { providers: ['polling'] } }]]);
  const api = createApi({ base: 'http://api.test', auth: fakeAuth(), fetchImpl });
  await api.realtimeConfig('demo');
  assert.equal(calls[0].url, 'http://api.test/api/chatbot/config?site_key=demo');
  assert.equal(calls[0].init.headers.Authorization, undefined);
});

test('errors become ApiError with the status and the backend code', async () => {
  const { fetchImpl } = fakeFetch([err(409, 'already_claimed'), [502, undefined], new TypeError('Failed to fetch')]);
  const api = createApi({ base: 'http://api.test', auth: fakeAuth(), fetchImpl });
  await assert.rejects(api.act('demo', 'c1', 'claim'), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 409);
    assert.equal(e.code, 'already_claimed');
    assert.equal(retryable(e), false, 'a conflict is not retried');
    assert.equal(describe(e), 'Another agent holds this conversation.');
    return true;
  });
  await assert.rejects(api.me(), (e) => e.status === 502 && retryable(e), 'a non-JSON 502 still tells its status');
  await assert.rejects(api.me(), (e) => e.status === 0 && e.code === 'network_error' && retryable(e));
});

test('a 401 token_expired renews the token once and repeats the request', async () => {
  const { calls, fetchImpl } = fakeFetch([err(401, 'token_expired'), [200, { agent: { id: 'a1' }, sites: [] }]]);
  const auth = fakeAuth();
  const signedOut = [];
  const api = createApi({ base: 'http://api.test', auth, fetchImpl, onSignedOut: (e) => signedOut.push(e) });
  const me = await api.me();
  assert.equal(me.agent.id, 'a1');
  assert.equal(auth.refreshes, 1);
  assert.deepEqual(calls.map((c) => c.init.headers.Authorization), ['Bearer tok1', 'Bearer tok2'], 'the retry carries the renewed token');
  assert.deepEqual(signedOut, []);
});

test('a second 401, or a refused renewal, signs out', async () => {
  const twice = fakeFetch([err(401, 'token_expired'), err(401, 'token_expired')]);
  const out1 = [];
  await assert.rejects(createApi({ base: 'x', auth: fakeAuth(), fetchImpl: twice.fetchImpl, onSignedOut: (e) => out1.push(e) }).me(), { status: 401 });
  assert.equal(twice.calls.length, 2, 'renewed once, not in a loop');
  assert.equal(out1.length, 1);

  const refused = fakeFetch([err(401, 'token_expired')]);
  const out2 = [];
  await assert.rejects(createApi({ base: 'x', auth: fakeAuth({ refreshFails: true }), fetchImpl: refused.fetchImpl, onSignedOut: (e) => out2.push(e) }).me(), { code: 'token_expired' });
  assert.equal(out2.length, 1);

  const invalid = fakeFetch([err(401, 'invalid_token')]);
  const auth = fakeAuth();
  const out3 = [];
  await assert.rejects(createApi({ base: 'x', auth, fetchImpl: invalid.fetchImpl, onSignedOut: (e) => out3.push(e) }).me(), { code: 'invalid_token' });
  assert.equal(auth.refreshes, 0, 'an invalid token is not renewed');
  assert.equal(out3.length, 1);
});

test('a 403 not_a_member is an error, not a sign-out', async () => {
  const { fetchImpl } = fakeFetch([err(403, 'not_a_member')]);
  const out = [];
  await assert.rejects(createApi({ base: 'x', auth: fakeAuth(), fetchImpl, onSignedOut: (e) => out.push(e) }).members('b'), { status: 403, code: 'not_a_member' });
  assert.deepEqual(out, []);
});

test('the presence heartbeat POSTs {} to the site; webhooks and their log are GETs', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, { online_until: 'x', ttl_seconds: 90 }], [200, { webhooks: [] }], [200, { deliveries: [] }]]);
  const api = createApi({ base: 'http://api.test', auth: fakeAuth(), fetchImpl });
  await api.presence('demo');
  assert.equal(calls[0].url, 'http://api.test/api/agent/sites/demo/presence');
  assert.equal(calls[0].init.method, 'POST');
  assert.deepEqual(JSON.parse(calls[0].init.body), {});
  await api.webhooks('demo');
  assert.equal(calls[1].url, 'http://api.test/api/agent/sites/demo/webhooks');
  await api.deliveries('demo', 50);
  assert.equal(calls[2].url, 'http://api.test/api/agent/sites/demo/webhooks/deliveries?limit=50');
  assert.equal(calls[2].init.method, 'GET');
});

test('leaving the desk is a keepalive DELETE with the token given, and never rejects', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, {}], new TypeError('Failed to fetch'), [404, { error: { code: 'x' } }]]);
  const api = createApi({ base: 'http://api.test', auth: fakeAuth(), fetchImpl });
  assert.equal(await api.leave('demo', 'tok-now'), true);
  assert.equal(calls[0].url, 'http://api.test/api/agent/sites/demo/presence');
  assert.equal(calls[0].init.method, 'DELETE');
  assert.equal(calls[0].init.keepalive, true, 'keepalive: the request outlives the page');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok-now', 'the token read before the sign-out dropped it');
  assert.equal(await api.leave('demo', 'tok-now'), false, 'a network error is swallowed');
  assert.equal(await api.leave('demo', 'tok-now'), false, 'an old backend (404) is swallowed');
  assert.equal(await api.leave('demo', null), false);
  assert.equal(calls.length, 3, 'no token: nothing is sent');
  const throwing = createApi({ base: 'x', auth: fakeAuth(), fetchImpl: () => { throw new TypeError('keepalive quota'); } });
  assert.equal(await throwing.leave('demo', 't'), false, 'a fetch that throws synchronously (keepalive quota) is swallowed too');
});

test('an unknown route (an older backend) is told apart from a real refusal', async () => {
  const { unsupported } = await import('../src/api.js');
  assert.equal(unsupported(new ApiError(404, undefined, 'Not Found')), true);
  assert.equal(unsupported(new ApiError(403, undefined, 'Missing Authentication Token')), true, 'API Gateway / chalice local on a route it does not know');
  assert.equal(unsupported(new ApiError(405, undefined)), true);
  assert.equal(unsupported(new ApiError(403, 'not_a_member', 'no')), false);
  assert.equal(unsupported(new ApiError(0, 'network_error')), false);
  assert.equal(unsupported(new Error('x')), false);
});
