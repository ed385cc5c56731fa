import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ago, browserOf, senderLabel, visitorName } from '../src/format.js';
import { actionsFor } from '../src/view-conversation.js';

test('a visitor without a name is "Visitor <short id>"', () => {
  assert.equal(visitorName({ conversation_id: '1a2b3c4d5e6f', visitor: { name: '' } }), 'Visitor 1a2b3c');
  assert.equal(visitorName({ conversation_id: '1a2b3c4d5e6f', visitor: null }), 'Visitor 1a2b3c');
  assert.equal(visitorName({ conversation_id: 'x', visitor: { name: ' Jo ' } }), 'Jo');
});

test('time waiting reads in minutes, hours, days', () => {
  const now = Date.parse('2026-12-02T05:00:00Z');
  assert.equal(ago('2026-12-02T04:59:50Z', now), 'now');
  assert.equal(ago('2026-12-02T04:55:00Z', now), '5m');
  assert.equal(ago('2026-12-02T02:00:00Z', now), '3h');
  assert.equal(ago('2026-11-30T05:00:00Z', now), '2d');
  assert.equal(ago(undefined, now), '');
});

test('senders and browsers are labelled', () => {
  assert.equal(senderLabel({ sender: 'agent', sender_name: 'Ana' }), 'Ana');
  assert.equal(senderLabel({ sender: 'bot' }), 'Bot');
  assert.equal(browserOf('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'), 'Chrome 120 · Linux');
  assert.equal(browserOf(''), '—');
});

test('the actions shown follow the status and who holds the conversation', () => {
  const me = { meId: 'me', role: 'agent' };
  const admin = { meId: 'me', role: 'admin' };
  assert.deepEqual(actionsFor({ status: 'pending', assignee: null }, me), ['claim', 'assign', 'resolve', 'handback']);
  assert.deepEqual(actionsFor({ status: 'open', assignee: { id: 'me' } }, me), ['assign', 'unassign', 'resolve', 'handback']);
  assert.deepEqual(actionsFor({ status: 'open', assignee: { id: 'bo' } }, me), [], 'an agent cannot act on another agent’s conversation');
  assert.deepEqual(actionsFor({ status: 'open', assignee: { id: 'bo' } }, admin), ['assign', 'unassign', 'resolve', 'handback'], 'an admin can (claim never takes it)');
  assert.deepEqual(actionsFor({ status: 'resolved', assignee: null }, me), ['reopen']);
  assert.deepEqual(actionsFor({ status: 'bot', assignee: null }, me), ['claim', 'assign', 'resolve']);
});

test('the contact a visitor left names them when the widget had no name', async () => {
  const { contactLine, contactOf } = await import('../src/format.js');
  const c = { conversation_id: '1a2b3c4d', visitor: null, contact: { email: ' jo@example.com ', name: null, transcript: true } };
  assert.deepEqual(contactOf(c), { email: 'jo@example.com', name: '', transcript: true });
  assert.equal(visitorName(c), 'jo@example.com', 'no name: the email is the name');
  assert.equal(contactLine(c), 'jo@example.com · wants a transcript');
  const named = { conversation_id: 'x', visitor: { name: 'Jo' }, contact: { email: 'jo@example.com', name: 'Jo Doe', transcript: false } };
  assert.equal(visitorName(named), 'Jo');
  assert.equal(contactLine(named), 'Jo Doe · jo@example.com');
  assert.equal(visitorName({ conversation_id: 'x', contact: { name: 'Jo Doe', email: null } }), 'Jo Doe');
  assert.equal(contactLine({ conversation_id: 'x', contact: { name: 'Jo Doe', email: null } }), '', 'the name is already the header');
  assert.equal(contactLine({ conversation_id: 'x', contact: null }), '');
  assert.equal(contactLine({ conversation_id: 'x' }), '', 'an older backend sends no contact field');
  assert.deepEqual(contactOf({ contact: { email: 42, name: ['x'], transcript: 'yes' } }), { email: '', name: '', transcript: false }, 'odd types are dropped');
});

test('a delivery log row reads as time, event, attempt, result, latency, outcome, next retry', async () => {
  const { deliveryRow } = await import('../src/format.js');
  const now = Date.parse('2026-12-03T10:00:00Z');
  const ok = deliveryRow({ id: 'd1', event: 'message.created', attempt: 1, status: 200, ok: true, error: null, latency_ms: 41.6, at: '2026-12-03T09:59:00Z', next_retry_at: null }, now);
  assert.equal(ok.outcome, 'ok');
  assert.equal(ok.result, '200');
  assert.equal(ok.latency, '42 ms');
  assert.equal(ok.attempt, '#1');
  assert.equal(ok.retry, '');
  const failed = deliveryRow({ event: 'conversation.handoff', attempt: 2, status: 500, ok: false, error: 'HTTP 500', latency_ms: 120, at: '2026-12-03T09:59:00Z', next_retry_at: '2026-12-03T10:01:00Z' }, now);
  assert.equal(failed.outcome, 'failed');
  assert.equal(failed.result, '500 · HTTP 500');
  assert.equal(failed.retry, 'retry in 1m');
  const timeout = deliveryRow({ event: 'message.created', attempt: 6, status: null, ok: false, error: 'timed out after 5 s', latency_ms: 5000, next_retry_at: null }, now);
  assert.equal(timeout.result, 'timed out after 5 s');
  assert.equal(timeout.retry, 'no more retries');
  assert.equal(deliveryRow({}, now).result, 'No answer');
  assert.equal(deliveryRow({}, now).latency, '—');
});
