// The new pieces of the views, on a fake DOM (test/helpers/dom.js): the
// visitor's contact in the header and the inbox row, the webhooks panel, the
// agent's presence in the shell. Data from the API must land as text: the
// fake DOM has no HTML parser, so markup in a name stays characters in one
// text node and no element is ever made from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { elements, installDom } from './helpers/dom.js';

const HOSTILE = '<img src=x onerror="alert(1)">';

async function withDom(t) {
  const uninstall = installDom();
  t.after(uninstall);
  const views = {
    ...(await import('../src/view-conversation.js')),
    ...(await import('../src/view-inbox.js')),
    ...(await import('../src/view-webhooks.js')),
    ...(await import('../src/view-shell.js')),
  };
  return views;
}

const summary = (extra = {}) => ({
  conversation_id: 'c1a2b3c4', status: 'pending', assignee: null, last_seq: 3, agent_read_seq: 1, unread: 2,
  last_message: { seq: 3, sender: 'visitor', text: 'hello', created_at: '2026-12-03T09:00:00Z' },
  status_since: '2026-12-03T09:00:00Z', created_at: '2026-12-03T08:59:00Z', visitor: null, ...extra,
});

const noImg = (root) => assert.equal(elements(root).filter((e) => e.tagName === 'IMG').length, 0, 'no element is made from the data');

test('the conversation header shows the visitor’s name and email as text', async (t) => {
  const { createConversationView } = await withDom(t);
  const root = document.createElement('main');
  const view = createConversationView({ root, onSend() {}, onRetry() {}, onTyping() {}, onAction() {}, onLoadEarlier() {}, onClose() {} });
  const c = summary({ contact: { email: 'jo@example.com', name: HOSTILE, transcript: true } });
  view.show(c);
  view.renderSummary(c, { meId: 'me', role: 'agent', members: () => [] });
  const name = root.querySelector('[data-testid=conversation-name]');
  const contact = root.querySelector('[data-testid=conversation-contact]');
  assert.equal(name.textContent, HOSTILE, 'the name, character for character');
  assert.equal(contact.hidden, false);
  assert.equal(contact.textContent, 'jo@example.com · wants a transcript');
  assert.equal(contact.dataset.email, 'jo@example.com');
  assert.equal(contact.dataset.transcript, 'true');
  assert.equal(root.querySelector('[data-testid=visitor-email]').textContent, 'jo@example.com');
  noImg(root);
});

test('a hostile email stays text, and no contact hides the line', async (t) => {
  const { createConversationView } = await withDom(t);
  const root = document.createElement('main');
  const view = createConversationView({ root, onSend() {}, onRetry() {}, onTyping() {}, onAction() {}, onLoadEarlier() {}, onClose() {} });
  const c = summary({ visitor: { name: 'Jo' }, contact: { email: `${HOSTILE}@x.test`, name: null, transcript: false } });
  view.show(c);
  view.renderSummary(c, { meId: 'me', role: 'agent', members: () => [] });
  const contact = root.querySelector('[data-testid=conversation-contact]');
  assert.equal(contact.textContent, `${HOSTILE}@x.test`);
  noImg(root);
  const none = summary({ contact: null });
  view.renderSummary(none, { meId: 'me', role: 'agent', members: () => [] });
  assert.equal(contact.hidden, true);
  assert.equal(contact.textContent, '');
  assert.equal(root.querySelector('[data-testid=conversation-name]').textContent, 'Visitor c1a2b3');
  const older = summary(); // an older backend: no contact field at all
  delete older.contact;
  view.renderSummary(older, { meId: 'me', role: 'agent', members: () => [] });
  assert.equal(contact.hidden, true);
});

test('an inbox row marks a known email, as text', async (t) => {
  const { createInboxView } = await withDom(t);
  const tablist = document.createElement('nav');
  const list = document.createElement('section');
  const view = createInboxView({ tablist, list, onTab() {}, onOpen() {}, onLoadMore() {} });
  view.renderRows([
    summary({ conversation_id: 'with', contact: { email: HOSTILE, name: null, transcript: false } }),
    summary({ conversation_id: 'without', contact: null }),
  ], { tab: 'pending', activeId: null, hasMore: false, now: Date.parse('2026-12-03T09:05:00Z') });
  const rows = list.querySelectorAll('[data-testid=inbox-row]');
  assert.equal(rows.length, 2);
  assert.equal(rows[0].dataset.hasEmail, 'true');
  const mark = rows[0].querySelector('[data-testid=row-contact]');
  assert.ok(mark, 'a small mark when the email is known');
  assert.equal(mark.getAttribute('aria-label'), `Email known: ${HOSTILE}`);
  assert.equal(rows[0].querySelector('.row__name').textContent, HOSTILE, 'no name: the email names the row');
  assert.equal(rows[1].dataset.hasEmail, 'false');
  assert.equal(rows[1].querySelector('[data-testid=row-contact]'), null);
  noImg(list);
});

const now = Date.parse('2026-12-03T10:00:00Z');
const deliveries = [
  { id: 'd3', webhook_id: 'w1', url: 'https://hooks.test/in', event: 'message.created', event_id: 'e2', attempt: 2, status: 500, ok: false, error: 'HTTP 500', latency_ms: 80, at: '2026-12-03T09:59:30Z', next_retry_at: '2026-12-03T10:01:00Z' },
  { id: 'd2', webhook_id: 'w1', url: 'https://hooks.test/in', event: HOSTILE, event_id: 'e2', attempt: 1, status: null, ok: false, error: 'connection refused', latency_ms: 3, at: '2026-12-03T09:59:20Z', next_retry_at: null },
  { id: 'd1', webhook_id: 'w1', url: 'https://hooks.test/in', event: 'conversation.created', event_id: 'e1', attempt: 1, status: 204, ok: true, error: null, latency_ms: 35, at: '2026-12-03T09:59:00Z', next_retry_at: null },
];

test('the webhooks panel lists endpoints and the delivery log, failed rows marked', async (t) => {
  const { renderWebhooks } = await withDom(t);
  const root = document.createElement('div');
  renderWebhooks(root, {
    site: 'demo',
    now,
    webhooks: [{ id: 'w1', url: 'https://hooks.test/in', events: ['message.created', 'conversation.created'], created_at: '2026-12-01T00:00:00Z', secret_hint: '…9f3a' }],
    deliveries,
  });
  assert.equal(root.dataset.state, 'ready');
  const hook = root.querySelector('[data-testid=webhook-row]');
  assert.equal(hook.dataset.webhookId, 'w1');
  assert.equal(hook.querySelector('[data-testid=webhook-url]').textContent, 'https://hooks.test/in');
  assert.equal(hook.querySelector('[data-testid=webhook-events]').textContent, 'message.created, conversation.created');
  assert.match(hook.querySelector('[data-testid=webhook-secret]').textContent, /…9f3a/);
  const rows = root.querySelectorAll('[data-testid=delivery-row]');
  assert.deepEqual(rows.map((r) => r.dataset.deliveryId), ['d3', 'd2', 'd1'], 'newest first, as the server sends them');
  assert.deepEqual(rows.map((r) => r.dataset.ok), ['false', 'false', 'true']);
  assert.deepEqual(rows.map((r) => r.dataset.status), ['500', '', '204']);
  const cell = (r, id) => r.querySelector(`[data-testid=${id}]`).textContent;
  assert.equal(cell(rows[0], 'delivery-result'), '500 · HTTP 500');
  assert.equal(cell(rows[0], 'delivery-attempt'), '#2');
  assert.equal(cell(rows[0], 'delivery-latency'), '80 ms');
  assert.equal(cell(rows[0], 'delivery-outcome'), 'failed');
  assert.equal(cell(rows[0], 'delivery-retry'), 'retry in 1m');
  assert.ok(rows[0].classList.contains('wh__row--failed'));
  assert.equal(cell(rows[1], 'delivery-result'), 'connection refused', 'no status: the error says what happened');
  assert.equal(cell(rows[1], 'delivery-event'), HOSTILE, 'text, never markup');
  assert.equal(cell(rows[1], 'delivery-retry'), 'no more retries');
  assert.equal(cell(rows[2], 'delivery-outcome'), 'ok');
  assert.equal(cell(rows[2], 'delivery-retry'), '');
  noImg(root);
});

test('empty states tell how to add a webhook', async (t) => {
  const { renderWebhooks } = await withDom(t);
  const root = document.createElement('div');
  renderWebhooks(root, { site: 'demo', webhooks: [], deliveries: [] });
  const empty = root.querySelector('[data-testid=webhooks-empty]');
  assert.match(empty.textContent, /^No webhooks\. Add one with python -m infra\.sites webhook-add demo URL/);
  assert.ok(root.querySelector('[data-testid=deliveries-empty]'));
  assert.equal(root.querySelector('[data-testid=delivery-row]'), null);
});

test('an older backend (the routes answer 404): the panel says webhooks are unavailable', async (t) => {
  const { createWebhooksView } = await withDom(t);
  const refreshed = [];
  const view = createWebhooksView({ onRefresh: () => refreshed.push(1), onClose() {} });
  view.show('demo');
  view.render({ loading: true, webhooks: null, deliveries: null });
  assert.ok(view.el.querySelector('[data-testid=webhooks-loading]'));
  assert.equal(view.el.querySelector('[data-testid=webhooks-refresh]').disabled, true, 'no second load while one runs');
  view.render({ unavailable: true, webhooks: null, deliveries: null });
  assert.equal(view.el.querySelector('[data-testid=webhooks-content]').dataset.state, 'unavailable');
  assert.match(view.el.querySelector('[data-testid=webhooks-unavailable]').textContent, /not available/);
  view.el.querySelector('[data-testid=webhooks-refresh]').click();
  assert.deepEqual(refreshed, [1], 'refresh asks again');
  view.render({ error: 'No connection to Parley.', webhooks: [], deliveries: [] });
  assert.equal(view.el.querySelector('[data-testid=webhooks-error]').textContent, 'No connection to Parley.');
  assert.equal(view.open, true);
  view.hide();
  assert.equal(view.open, false);
});

test('the shell shows the agent’s own presence, small, and a webhooks button for the site', async (t) => {
  const { createShell } = await withDom(t);
  const { createPrefs } = await import('../src/prefs.js');
  const { createStorage } = await import('../../widget/test/helpers/dom.js');
  const root = document.createElement('div');
  let opened = 0;
  const shell = createShell(root, {
    agent: { id: 'a1', name: 'Ana' }, site: 'demo', sites: [{ site_key: 'demo', name: 'Demo' }],
    prefs: createPrefs(createStorage()), onSwitchSite() {}, onSignOut() {}, onEnableNotifications() {},
    onWebhooks: () => opened++, presence: 'pending',
  });
  const presence = root.querySelector('[data-testid=presence-status]');
  assert.equal(presence.dataset.state, 'pending');
  shell.setPresence('online');
  assert.equal(presence.textContent, 'You’re online');
  shell.setPresence('away');
  assert.equal(presence.dataset.state, 'away');
  assert.equal(presence.textContent, 'Away');
  shell.setPresence('off');
  assert.equal(presence.hidden, true);
  const button = root.querySelector('[data-testid=webhooks-button]');
  assert.equal(button.dataset.siteKey, 'demo');
  button.click();
  assert.equal(opened, 1);
  let closed = 0;
  const panel = document.createElement('div');
  shell.addOverlay(panel, { isOpen: () => closed === 0, close: () => closed++ });
  assert.equal(shell.closeOverlays(), true, 'Esc closes the panel');
  assert.equal(closed, 1);
  assert.equal(shell.closeOverlays(), false);
});

test('a bot reply that did not know shows, as text, the questions it offered the visitor', async (t) => {
  const { createConversationView } = await withDom(t);
  const root = document.createElement('main');
  const view = createConversationView({ root, onSend() {}, onRetry() {}, onTyping() {}, onAction() {}, onLoadEarlier() {}, onClose() {} });
  view.show(summary());
  const at = '2026-12-03T09:00:00Z';
  view.renderMessages([
    { key: 's1', seq: 1, sender: 'visitor', text: 'what does it cost to install', created_at: at, state: 'sent' },
    { key: 's2', seq: 2, sender: 'bot', text: 'Not sure.', created_at: at, state: 'sent',
      suggestions: ['How do I install the widget?', HOSTILE, 7, ''] },
    { key: 's3', seq: 3, sender: 'bot', text: 'It is free.', created_at: at, state: 'sent' },
  ]);
  const [visitor, unsure, answer] = root.querySelectorAll('[data-testid=message-suggestions]');
  assert.equal(visitor.hidden, true, 'a visitor message offers nothing');
  assert.equal(unsure.hidden, false);
  assert.equal(unsure.textContent, `Offered: How do I install the widget? · ${HOSTILE}`, 'strings only, as text');
  assert.equal(answer.hidden, true, 'an answer offers nothing');
  noImg(root);
});
