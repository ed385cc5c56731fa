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
