// The console wired together (app.js) on a fake DOM against a fake backend:
// the deep link through the sign-in, the presence heartbeat and its keepalive
// DELETE on sign-out, the webhooks panel, and an older backend that answers
// 404 to all of the new routes (nothing throws; the panel says so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installDom } from './helpers/dom.js';
import { createStorage } from '../../widget/test/helpers/dom.js';

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => `${b64({ alg: 'none' })}.${b64(claims)}.sig`;
const TOKEN = jwt({ email: 'ana@example.com', exp: Math.floor(Date.now() / 1000) + 3600 });

const SUMMARY = {
  conversation_id: 'c42', site_key: 'shop', status: 'open', assignee: { id: 'a1', name: 'Ana' }, last_seq: 2, agent_read_seq: 2, unread: 0,
  last_message: { seq: 2, sender: 'visitor', text: 'anyone?', created_at: '2026-12-03T09:00:00Z' },
  status_since: '2026-12-03T09:00:00Z', created_at: '2026-12-03T08:59:00Z', visitor: null,
  contact: { email: 'jo@example.com', name: '<b>Jo</b>', transcript: true },
};

/** A backend by route; `modern: false` is one that knows none of the new routes (404). */
function fakeBackend({ modern = true } = {}) {
  const calls = [];
  const json = (status, body) => ({ ok: status >= 200 && status < 300, status, headers: { get: () => null }, json: async () => (body === undefined ? Promise.reject(new SyntaxError('empty')) : body) });
  const fetchImpl = async (url, init = {}) => {
    const u = new URL(url);
    const method = init.method || 'GET';
    calls.push({ method, path: u.pathname, search: u.search, init });
    if (u.host === 'cognito.test') return json(200, { AuthenticationResult: { IdToken: TOKEN, ExpiresIn: 3600 } });
    const p = u.pathname;
    if (p === '/api/agent/me') return json(200, { agent: { id: 'a1', email: 'ana@example.com', name: 'Ana' }, sites: [{ site_key: 'demo', name: 'Demo', role: 'admin' }, { site_key: 'shop', name: 'Shop', role: 'agent' }] });
    if (p === '/api/chatbot/config') return json(200, { realtime: { providers: ['polling'], polling: { interval_ms: 600000 } } });
    if (/\/inbox$/.test(p)) return json(200, { conversations: [], next_cursor: null });
    if (p === '/api/agent/sites/shop/conversations/c42') return json(200, { conversation: SUMMARY, messages: [{ id: 'm1', conversation_id: 'c42', seq: 1, sender: 'visitor', text: 'hi', created_at: '2026-12-03T08:59:00Z' }, { id: 'm2', conversation_id: 'c42', seq: 2, sender: 'visitor', text: 'anyone?', created_at: '2026-12-03T09:00:00Z' }], last_seq: 2, has_more: false });
    if (/\/conversations\/[^/]+$/.test(p)) return json(404, { error: { code: 'conversation_not_found', message: 'no' } });
    if (/\/messages$/.test(p)) return json(200, { messages: [], last_seq: 2 });
    if (!modern) return json(404, undefined);
    if (/\/presence$/.test(p)) return json(200, method === 'DELETE' ? {} : { online_until: '2026-12-03T10:01:30Z', ttl_seconds: 90 });
    if (/\/webhooks$/.test(p)) return json(200, { webhooks: [{ id: 'w1', url: 'https://hooks.test/in', events: ['message.created'], created_at: '2026-12-01T00:00:00Z', secret_hint: '…9f3a' }] });
    if (/\/webhooks\/deliveries$/.test(p)) return json(200, { deliveries: [{ id: 'd1', webhook_id: 'w1', url: 'https://hooks.test/in', event: 'message.created', event_id: 'e1', attempt: 1, status: 500, ok: false, error: 'HTTP 500', latency_ms: 12, at: '2026-12-03T09:00:00Z', next_retry_at: '2026-12-03T09:00:10Z' }] });
    return json(404, { error: { code: 'not_found', message: p } });
  };
  return { calls, fetchImpl };
}

async function setup(t, { search = '', signedIn = true, modern = true } = {}) {
  const uninstall = installDom();
  const backend = fakeBackend({ modern });
  const replaced = [];
  const saved = {};
  const globals = {
    sessionStorage: createStorage(),
    fetch: backend.fetchImpl,
    location: { href: `http://console.test/${search}`, search },
    history: { state: null, replaceState: (state, _, url) => replaced.push(url) },
  };
  for (const [k, v] of Object.entries(globals)) {
    saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  const rejections = [];
  const onRejection = (err) => rejections.push(err);
  process.on('unhandledRejection', onRejection);
  if (signedIn) sessionStorage.setItem('parley.console.session', JSON.stringify({ idToken: TOKEN, expiresAt: Date.now() + 3600000, email: 'ana@example.com' }));
  const { createConsole } = await import('../src/app.js');
  const root = document.createElement('div');
  document.body.append(root);
  const app = createConsole({ config: { api: 'http://api.test', cognito: { endpoint: 'http://cognito.test/', client_id: 'c' } }, root, search });
  t.after(async () => {
    if (app.state().signedIn) app.signOut();
    await flush();
    process.off('unhandledRejection', onRejection);
    for (const [k, d] of Object.entries(saved)) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
    uninstall();
  });
  const q = (id) => root.querySelector(`[data-testid=${id}]`);
  return { app, root, q, backend, replaced, rejections };
}

test('a notification link opens its conversation after the sign-in form, and then leaves the address bar', async (t) => {
  const { app, q, backend, replaced, rejections } = await setup(t, { search: '?site=shop&conversation=c42', signedIn: false });
  app.start();
  await flush();
  assert.ok(q('signin-email'), 'signed out: the sign-in form first');
  assert.equal(replaced.length, 0, 'the link is kept through the sign-in');
  q('signin-email').value = 'ana@example.com';
  q('signin-password').value = 'pw';
  q('signin-email').parentNode.dispatchEvent({ type: 'submit', preventDefault() {} });
  await flush();
  const s = app.state();
  assert.equal(s.site, 'shop', 'the link’s site, not the picker (the agent has two sites)');
  assert.equal(s.openConversation, 'c42');
  assert.equal(q('conversation-name').textContent, '<b>Jo</b>');
  assert.equal(q('conversation-contact').textContent, 'jo@example.com · wants a transcript');
  assert.equal(q('tab-mine').getAttribute('aria-selected'), 'true', 'the tab the conversation is in');
  assert.deepEqual(replaced, ['http://console.test/']);
  assert.ok(backend.calls.some((c) => c.path === '/api/agent/sites/shop/conversations/c42'));
  assert.deepEqual(rejections, []);
});

test('a link with a malformed conversation id opens the site and asks the server for nothing else', async (t) => {
  const { app, backend } = await setup(t, { search: '?site=shop&conversation=..%2Fc42' });
  app.start();
  await flush();
  assert.equal(app.state().site, 'shop');
  assert.equal(app.state().openConversation, null);
  assert.ok(!backend.calls.some((c) => /conversations\//.test(c.path)), 'the bad id went nowhere');
});

test('a link to a site the agent is not a member of is ignored (with a word why)', async (t) => {
  const { app, root, q } = await setup(t, { search: '?site=other&conversation=c42' });
  app.start();
  await flush();
  assert.equal(app.state().site, null, 'two sites and no saved one: the picker');
  assert.ok(root.querySelector('[data-testid=site-picker]'));
  assert.match(q('site-picker-notice').textContent, /“other”, which you are not a member of/);
});

test('signed in, the console beats for every site; sign-out sends a keepalive DELETE with the token', async (t) => {
  const { app, q, backend } = await setup(t, { search: '?site=demo' });
  app.start();
  await flush();
  const beats = backend.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/presence'));
  assert.deepEqual(beats.map((c) => c.path).sort(), ['/api/agent/sites/demo/presence', '/api/agent/sites/shop/presence']);
  assert.equal(app.state().presence, 'online');
  assert.equal(q('presence-status').textContent, 'You’re online');
  q('signout').click();
  await flush();
  const leaves = backend.calls.filter((c) => c.method === 'DELETE');
  assert.deepEqual(leaves.map((c) => c.path).sort(), ['/api/agent/sites/demo/presence', '/api/agent/sites/shop/presence']);
  for (const c of leaves) {
    assert.equal(c.init.keepalive, true);
    assert.equal(c.init.headers.Authorization, `Bearer ${TOKEN}`, 'sent with the token the sign-out then dropped');
  }
  assert.equal(app.state().signedIn, false);
  assert.equal(app.state().presence, 'off');
});

test('the webhooks panel opens from the shell, lists the log, refreshes and closes with Esc', async (t) => {
  const { app, q, backend } = await setup(t, { search: '?site=demo' });
  app.start();
  await flush();
  q('webhooks-button').click();
  await flush();
  assert.equal(q('webhooks-panel').hidden, false);
  assert.equal(q('webhooks-content').dataset.state, 'ready');
  assert.equal(q('webhook-row').dataset.webhookId, 'w1');
  assert.equal(q('delivery-row').dataset.ok, 'false');
  const asked = () => backend.calls.filter((c) => c.path.endsWith('/webhooks/deliveries'));
  assert.equal(asked()[0].search, '?limit=50');
  q('webhooks-refresh').click();
  await flush();
  assert.equal(asked().length, 2, 'refresh asks again');
  document.listeners.get('keydown').forEach((fn) => fn({ type: 'keydown', key: 'Escape', target: document.body, preventDefault() {}, defaultPrevented: false }));
  assert.equal(q('webhooks-panel').hidden, true);
});

test('an agent who is no admin of the site gets no webhooks button (the API would answer 403 admin_only)', async (t) => {
  const { app, q } = await setup(t, { search: '?site=shop' });
  app.start();
  await flush();
  assert.equal(app.state().site, 'shop');
  assert.equal(q('webhooks-button'), null);
});

test('an older backend (404 for presence and webhooks): no error escapes, the panel says unavailable', async (t) => {
  const { app, q, backend, rejections } = await setup(t, { search: '?site=demo', modern: false });
  app.start();
  await flush();
  assert.equal(app.state().site, 'demo');
  assert.equal(app.state().presence, 'unavailable');
  assert.equal(q('presence-status').textContent, 'Not shown as online');
  q('webhooks-button').click();
  await flush();
  assert.equal(q('webhooks-content').dataset.state, 'unavailable');
  assert.ok(q('webhooks-unavailable'));
  assert.equal(q('toast').hidden, true, 'no error toast for a missing feature');
  q('signout').click();
  await flush();
  assert.equal(backend.calls.filter((c) => c.method === 'DELETE').length, 2, 'the DELETE is still tried, its 404 swallowed');
  assert.deepEqual(rejections, []);
});
