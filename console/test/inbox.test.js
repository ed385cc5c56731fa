import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createInbox, inTab } from '../src/inbox.js';

const ME = 'agent-me';
const summary = (id, extra = {}) => ({
  conversation_id: id, site_key: 'demo', status: 'pending', assignee: null, last_seq: 3, agent_read_seq: 1, unread: 2,
  last_message: { seq: 3, sender: 'visitor', text: 'help', created_at: '2026-12-02T04:00:00.000Z' },
  status_since: '2026-12-02T04:00:00.000Z', created_at: '2026-12-02T03:59:00.000Z', visitor: { name: '' }, ...extra,
});
const msg = (id, seq, extra = {}) => ({ id: `m${seq}`, conversation_id: id, seq, sender: 'visitor', text: `text ${seq}`, created_at: `2026-12-02T05:00:${String(seq).padStart(2, '0')}.000Z`, ...extra });
const status = (id, seq, s, assignee = null, previous = 'pending') =>
  msg(id, seq, { sender: 'system', text: `now ${s}`, event: { type: 'status', status: s, previous, assignee } });
const ids = (rows) => rows.map((c) => c.conversation_id);

test('a feed message updates the row: last message, last_seq and unread', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('c1')], null);
  assert.deepEqual(inbox.applyMessage(msg('c1', 4)), { changed: true });
  const c = inbox.get('c1');
  assert.equal(c.last_seq, 4);
  assert.equal(c.last_message.text, 'text 4');
  assert.equal(c.unread, 3, 'unread = last_seq - agent_read_seq');
});

test('an old or repeated message changes nothing', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('c1')], null);
  inbox.applyMessage(msg('c1', 4));
  assert.equal(inbox.applyMessage(msg('c1', 4)).changed, false);
  assert.equal(inbox.applyMessage(msg('c1', 2)).changed, false);
  assert.equal(inbox.get('c1').last_message.text, 'text 4');
  assert.equal(inbox.get('c1').unread, 3);
});

test('a long preview is cut to 200 characters', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('c1')], null);
  inbox.applyMessage(msg('c1', 4, { text: 'x'.repeat(500) }));
  assert.equal(inbox.get('c1').last_message.text.length, 200);
});

test('a status system message moves the conversation between tabs', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('c1'), summary('c2', { status_since: '2026-12-02T04:10:00.000Z' })], null);
  assert.deepEqual(ids(inbox.rows('pending')), ['c1', 'c2'], 'oldest waiting first');
  inbox.applyMessage(status('c1', 4, 'open', { id: ME, name: 'Me' }));
  assert.deepEqual(ids(inbox.rows('pending')), ['c2']);
  assert.deepEqual(ids(inbox.rows('mine')), ['c1']);
  assert.deepEqual(ids(inbox.rows('open')), ['c1']);
  assert.equal(inbox.get('c1').status_since, msg('c1', 4).created_at, 'a new status starts its clock');
  inbox.applyMessage(status('c1', 5, 'open', { id: 'other', name: 'Bo' }, 'open'));
  assert.deepEqual(ids(inbox.rows('mine')), [], 'assigned away: not mine any more');
  assert.equal(inbox.get('c1').assignee.name, 'Bo');
  inbox.applyMessage(status('c1', 6, 'resolved', null, 'open'));
  assert.deepEqual(ids(inbox.rows('resolved')), ['c1']);
  assert.equal(inbox.get('c1').assignee, null);
  const counts = inbox.counts();
  assert.equal(counts.pending.count, 1);
  assert.equal(counts.resolved.count, 1);
  assert.equal(counts.open.count, 0);
});

test('resolved conversations are newest first', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('resolved', [
    summary('old', { status: 'resolved', status_since: '2026-12-01T00:00:00.000Z' }),
    summary('new', { status: 'resolved', status_since: '2026-12-02T00:00:00.000Z' }),
  ], null);
  assert.deepEqual(ids(inbox.rows('resolved')), ['new', 'old']);
});

test('a message for a conversation not in the list asks for its summary', () => {
  const inbox = createInbox({ meId: ME });
  assert.deepEqual(inbox.applyMessage(msg('c9', 1)), { unknown: 'c9', changed: false });
  inbox.upsert(summary('c9', { last_seq: 1, agent_read_seq: 0 }));
  assert.equal(inbox.get('c9').unread, 1);
});

test('an agent reply moves the read mark; a visitor message does not', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('open', [summary('c1', { status: 'open', assignee: { id: ME, name: 'Me' } })], null);
  inbox.applyMessage(msg('c1', 4));
  assert.equal(inbox.get('c1').unread, 3);
  inbox.applyMessage(msg('c1', 5, { sender: 'agent', sender_name: 'Me' }));
  assert.equal(inbox.get('c1').unread, 0);
  assert.equal(inbox.get('c1').agent_read_seq, 5);
});

test('ConversationCreated adds the conversation; counts follow', () => {
  const inbox = createInbox({ meId: ME });
  inbox.applyCreated({ conversation: summary('c1', { status: 'bot', last_seq: 0, agent_read_seq: 0 }) });
  assert.equal(inbox.get('c1').status, 'bot');
  assert.equal(inbox.counts().pending.count, 0);
  inbox.applyCreated({ conversation: summary('c2') });
  assert.equal(inbox.counts().pending.count, 1);
  assert.equal(inbox.counts().pending.unread, 1);
});

test('a summary older than what the feed told keeps the newer state; read marks never go down', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('c1')], null);
  inbox.applyMessage(status('c1', 4, 'open', { id: ME, name: 'Me' }));
  inbox.upsert(summary('c1', { last_seq: 3, agent_read_seq: 3 })); // a fetch that left before the event
  assert.equal(inbox.get('c1').status, 'open');
  assert.equal(inbox.get('c1').agent_read_seq, 3, 'but its read mark is taken');
  assert.equal(inbox.get('c1').unread, 1);
  inbox.upsert(summary('c1', { status: 'open', last_seq: 6, agent_read_seq: 2 }));
  assert.equal(inbox.get('c1').last_seq, 6, 'a newer summary wins');
  assert.equal(inbox.get('c1').agent_read_seq, 3, 'the read mark stays');
  assert.equal(inbox.markRead('c1', 6), true);
  assert.equal(inbox.get('c1').unread, 0);
  assert.equal(inbox.markRead('c1', 5), false);
});

test('a reloaded first page replaces the tab; load more appends and keeps the cursor', () => {
  const inbox = createInbox({ meId: ME });
  inbox.setPage('pending', [summary('a'), summary('b')], 'cur1');
  assert.equal(inbox.cursor('pending'), 'cur1');
  assert.equal(inbox.counts().pending.more, true);
  inbox.setPage('pending', [summary('c', { status_since: '2026-12-03T00:00:00.000Z' })], null, { append: true });
  assert.deepEqual(ids(inbox.rows('pending')), ['a', 'b', 'c']);
  inbox.setPage('pending', [summary('b')], null, { keep: 'a' });
  assert.deepEqual(ids(inbox.rows('pending')), ['a', 'b'], 'c left the tab; the open one (a) is kept');
  assert.equal(inbox.cursor('pending'), null);
});

test('tab membership', () => {
  const open = (assignee) => ({ status: 'open', assignee });
  assert.equal(inTab('mine', open({ id: ME }), ME), true);
  assert.equal(inTab('mine', open({ id: 'x' }), ME), false);
  assert.equal(inTab('open', open({ id: 'x' }), ME), true);
  assert.equal(inTab('pending', { status: 'bot' }, ME), false);
});
