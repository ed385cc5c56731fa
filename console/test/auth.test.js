import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuth, AuthError, STORAGE_KEY, REFRESH_MARGIN_MS } from '../src/auth.js';

const cognito = { endpoint: 'http://cognito.test/', region: 'us-east-1', client_id: 'client-1' };

/** A JWT whose payload the console reads (no signature check: Parley does that). */
function jwt(payload) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256' })}.${b64(payload)}.sig`;
}

function memoryStorage() {
  const data = new Map();
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k), data };
}

/** A fake Cognito: answers from `handler(target, body)`, records every call. */
function fakeCognito(handler) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    const target = init.headers['X-Amz-Target'];
    const body = JSON.parse(init.body);
    calls.push({ url, init, target, body });
    const [status, data] = await handler(target, body);
    return { ok: status < 300, status, headers: { get: () => null }, json: async () => data };
  };
  return { calls, fetchImpl };
}

const NOW = 1_800_000_000_000;

test('sign-in posts InitiateAuth USER_PASSWORD_AUTH as AWS JSON 1.1 and keeps the ID token', async () => {
  const idToken = jwt({ exp: NOW / 1000 + 3600, email: 'ana@example.com' });
  const { calls, fetchImpl } = fakeCognito(() => [200, { AuthenticationResult: { IdToken: idToken, RefreshToken: 'r1', ExpiresIn: 3600 } }]);
  const storage = memoryStorage();
  const auth = createAuth({ cognito, fetchImpl, storage, now: () => NOW });
  await auth.signIn('ana@example.com', 'pw');
  auth.stop();
  assert.equal(calls.length, 1);
  const { url, init, body } = calls[0];
  assert.equal(url, cognito.endpoint);
  assert.equal(init.method, 'POST');
  assert.equal(init.headers['Content-Type'], 'application/x-amz-json-1.1');
  assert.equal(init.headers['X-Amz-Target'], 'AWSCognitoIdentityProviderService.InitiateAuth');
  assert.deepEqual(body, { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: 'client-1', AuthParameters: { USERNAME: 'ana@example.com', PASSWORD: 'pw' } });
  assert.equal(await auth.token(), idToken);
  assert.equal(auth.expiresAt, NOW + 3600 * 1000, 'expiry comes from the token exp claim');
  const stored = JSON.parse(storage.getItem(STORAGE_KEY));
  assert.equal(stored.idToken, idToken, 'the session is kept in (session) storage');
  assert.equal(stored.refreshToken, 'r1');
});

test('a stored session is picked up again (a reload stays signed in)', async () => {
  const storage = memoryStorage();
  storage.setItem(STORAGE_KEY, JSON.stringify({ idToken: 'tok', refreshToken: 'r', expiresAt: NOW + 3600e3 }));
  const auth = createAuth({ cognito, fetchImpl: () => assert.fail('no call needed'), storage, now: () => NOW });
  auth.stop();
  assert.equal(auth.signedIn, true);
  assert.equal(await auth.token(), 'tok');
});

test('wrong credentials read "Wrong email or password"', async () => {
  const { fetchImpl } = fakeCognito(() => [400, { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' }]);
  const auth = createAuth({ cognito, fetchImpl, storage: memoryStorage(), now: () => NOW });
  await assert.rejects(auth.signIn('ana@example.com', 'bad'), (err) => {
    assert.ok(err instanceof AuthError);
    assert.equal(err.code, 'NotAuthorizedException');
    assert.equal(err.message, 'Wrong email or password');
    return true;
  });
  assert.equal(auth.signedIn, false);
});

test('an error type with a namespace prefix and an unreachable endpoint are readable too', async () => {
  const prefixed = fakeCognito(() => [400, { __type: 'com.amazonaws.cognito#UserNotFoundException' }]);
  await assert.rejects(createAuth({ cognito, fetchImpl: prefixed.fetchImpl, storage: memoryStorage() }).signIn('a@b.c', 'x'), { message: 'Wrong email or password' });
  const down = createAuth({ cognito, fetchImpl: async () => { throw new TypeError('Failed to fetch'); }, storage: memoryStorage() });
  await assert.rejects(down.signIn('a@b.c', 'x'), { code: 'network_error', message: /Cannot reach the sign-in service/ });
  const challenge = fakeCognito(() => [200, { ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 's' }]);
  await assert.rejects(createAuth({ cognito, fetchImpl: challenge.fetchImpl, storage: memoryStorage() }).signIn('a@b.c', 'x'), { code: 'challenge', message: /NEW_PASSWORD_REQUIRED/ });
});

test('a token about to expire is renewed with REFRESH_TOKEN_AUTH before it is handed out', async () => {
  let now = NOW;
  const first = jwt({ exp: NOW / 1000 + 600 });
  const second = jwt({ exp: NOW / 1000 + 4200 });
  const { calls, fetchImpl } = fakeCognito((target, body) =>
    body.AuthFlow === 'USER_PASSWORD_AUTH'
      ? [200, { AuthenticationResult: { IdToken: first, RefreshToken: 'r1' } }]
      : [200, { AuthenticationResult: { IdToken: second } }], // Cognito sends no new refresh token
  );
  const auth = createAuth({ cognito, fetchImpl, storage: memoryStorage(), now: () => now });
  await auth.signIn('ana@example.com', 'pw');
  auth.stop();
  assert.equal(await auth.token(), first, 'far from expiry: no refresh');
  now = NOW + 600e3 - REFRESH_MARGIN_MS + 1;
  assert.equal(await auth.token(), second);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].body, { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: 'client-1', AuthParameters: { REFRESH_TOKEN: 'r1' } });
  await auth.refresh();
  assert.deepEqual(calls[2].body.AuthParameters, { REFRESH_TOKEN: 'r1' }, 'the old refresh token is kept when none comes back');
  auth.stop();
});

test('refreshes asked for at once share one call', async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const { calls, fetchImpl } = fakeCognito(async (t, body) => {
    if (body.AuthFlow === 'REFRESH_TOKEN_AUTH') await gate;
    return [200, { AuthenticationResult: { IdToken: jwt({ exp: NOW / 1000 + 3600 }), RefreshToken: 'r' } }];
  });
  const auth = createAuth({ cognito, fetchImpl, storage: memoryStorage(), now: () => NOW });
  await auth.signIn('a@b.c', 'pw');
  const a = auth.refresh();
  const b = auth.refresh();
  release();
  await Promise.all([a, b]);
  auth.stop();
  assert.equal(calls.filter((c) => c.body.AuthFlow === 'REFRESH_TOKEN_AUTH').length, 1);
});

test('a refused refresh token ends the session; a network failure does not', async () => {
  let mode = 'ok';
  const { fetchImpl } = fakeCognito((t, body) => {
    if (body.AuthFlow === 'USER_PASSWORD_AUTH') return [200, { AuthenticationResult: { IdToken: jwt({ exp: NOW / 1000 + 3600 }), RefreshToken: 'r' } }];
    if (mode === 'down') throw new TypeError('offline');
    return [400, { __type: 'NotAuthorizedException', message: 'Refresh Token has expired' }];
  });
  const storage = memoryStorage();
  const auth = createAuth({ cognito, fetchImpl, storage, now: () => NOW });
  const changes = [];
  auth.onChange((s) => changes.push(s));
  await auth.signIn('a@b.c', 'pw');
  mode = 'down';
  await assert.rejects(auth.refresh(), { code: 'network_error' });
  assert.equal(auth.signedIn, true, 'a blip keeps the session');
  mode = 'refused';
  await assert.rejects(auth.refresh(), { code: 'session_expired' });
  assert.equal(auth.signedIn, false);
  assert.equal(storage.getItem(STORAGE_KEY), null, 'the stored session is gone');
  assert.equal(changes.at(-1), null, 'listeners hear the sign-out');
});

test('the renewal is scheduled ahead of expiry', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = NOW;
  let refreshes = 0;
  const { fetchImpl } = fakeCognito((tgt, body) => {
    if (body.AuthFlow === 'REFRESH_TOKEN_AUTH') refreshes++;
    return [200, { AuthenticationResult: { IdToken: jwt({ exp: (now + 3600e3) / 1000 }), RefreshToken: 'r' } }];
  });
  const auth = createAuth({ cognito, fetchImpl, storage: memoryStorage(), now: () => now });
  await auth.signIn('a@b.c', 'pw');
  t.mock.timers.tick(3600e3 - REFRESH_MARGIN_MS - 1000);
  assert.equal(refreshes, 0);
  t.mock.timers.tick(1000);
  await new Promise((r) => setImmediate(r));
  assert.equal(refreshes, 1, 'renewed the margin before exp');
  auth.stop();
});

test('sign-out forgets the session', async () => {
  const { fetchImpl } = fakeCognito(() => [200, { AuthenticationResult: { IdToken: jwt({ exp: NOW / 1000 + 3600 }), RefreshToken: 'r' } }]);
  const storage = memoryStorage();
  const auth = createAuth({ cognito, fetchImpl, storage, now: () => NOW });
  await auth.signIn('a@b.c', 'pw');
  auth.signOut();
  assert.equal(auth.signedIn, false);
  assert.equal(storage.getItem(STORAGE_KEY), null);
  await assert.rejects(auth.token(), { code: 'session_expired' });
});
