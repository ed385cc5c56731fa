/**
 * The inbox as state: conversation summaries by id, and per tab the cursor
 * of the pages loaded. A tab's rows are the summaries that belong in it, so a
 * conversation moves between tabs as soon as a feed event changes its status,
 * without a fetch. No I/O here: the app feeds in pages and events and acts on
 * what the reducer answers (`{unknown}`: fetch that summary).
 */
export const TABS = ['pending', 'mine', 'open', 'resolved'];

/** Whether summary `c` belongs in `tab` for the agent `meId`. */
export function inTab(tab, c, meId) {
  switch (tab) {
    case 'pending':
      return c.status === 'pending';
    case 'mine':
      return c.status === 'open' && !!c.assignee && c.assignee.id === meId;
    case 'open':
      return c.status === 'open';
    case 'resolved':
      return c.status === 'resolved';
    case 'bot':
      return c.status === 'bot';
    default:
      return false;
  }
}

const time = (c) => Date.parse(c.status_since || c.created_at || '') || 0;

function withUnread(c) {
  const read = Number.isInteger(c.agent_read_seq) ? c.agent_read_seq : 0;
  const last = Number.isInteger(c.last_seq) ? c.last_seq : 0;
  return { ...c, agent_read_seq: read, last_seq: last, unread: Math.max(0, last - read) };
}

export function createInbox({ meId }) {
  const byId = new Map();
  const pages = Object.fromEntries(TABS.map((t) => [t, { cursor: null, loaded: false }]));

  /** A summary from the server; a newer state already known (by seq) is kept, read marks only rise. */
  function upsert(summary) {
    if (!summary || !summary.conversation_id) return false;
    const known = byId.get(summary.conversation_id);
    let next = summary;
    if (known && known.last_seq > (summary.last_seq || 0)) {
      next = { ...known, agent_read_seq: Math.max(known.agent_read_seq, summary.agent_read_seq || 0) };
    } else if (known) {
      next = { ...summary, agent_read_seq: Math.max(known.agent_read_seq, summary.agent_read_seq || 0) };
    }
    byId.set(summary.conversation_id, withUnread(next));
    return true;
  }

  return {
    upsert,
    /**
     * A page of `tab` from the server. The first page (`append` false)
     * replaces what the tab showed: a conversation the tab held that the
     * server no longer lists there has moved on (and is forgotten until an
     * event or a page brings it back).
     */
    setPage(tab, conversations, nextCursor, { append = false, keep = null } = {}) {
      const ids = new Set(conversations.map((c) => c.conversation_id));
      if (!append) {
        for (const [id, c] of byId) if (inTab(tab, c, meId) && !ids.has(id) && id !== keep) byId.delete(id);
      }
      for (const c of conversations) upsert(c);
      pages[tab] = { cursor: nextCursor || null, loaded: true };
    },
    /**
     * A message from the feed. Returns `{unknown: id}` for a conversation not
     * held (fetch its summary), else `{changed}`. System messages carry the
     * new status and assignee in `event`; an agent's reply moves the agent
     * side's read mark (the contract: their own reply marks it read).
     */
    applyMessage(m) {
      if (!m || !m.conversation_id) return { changed: false };
      const c = byId.get(m.conversation_id);
      if (!c) return { unknown: m.conversation_id, changed: false };
      if (!Number.isInteger(m.seq) || m.seq <= c.last_seq) return { changed: false };
      const next = {
        ...c,
        last_seq: m.seq,
        last_message: { seq: m.seq, sender: m.sender, text: String(m.text ?? '').slice(0, 200), created_at: m.created_at },
        updated_at: m.created_at || c.updated_at,
      };
      if (m.sender === 'agent') next.agent_read_seq = m.seq;
      const e = m.event;
      if (m.sender === 'system' && e && e.status) {
        if (e.status !== c.status) next.status_since = m.created_at || next.status_since;
        next.status = e.status;
        next.assignee = e.assignee || null;
      }
      byId.set(c.conversation_id, withUnread(next));
      return { changed: true };
    },
    /** `ConversationCreated`. */
    applyCreated(data) {
      return upsert(data && (data.conversation || data));
    },
    markRead(id, seq) {
      const c = byId.get(id);
      if (!c || seq <= c.agent_read_seq) return false;
      byId.set(id, withUnread({ ...c, agent_read_seq: seq }));
      return true;
    },
    get: (id) => byId.get(id) || null,
    /** The rows of `tab`: oldest `status_since` first, resolved newest first (as the server pages them). */
    rows(tab) {
      const list = [...byId.values()].filter((c) => inTab(tab, c, meId));
      list.sort((a, b) => (tab === 'resolved' ? time(b) - time(a) : time(a) - time(b)) || (a.conversation_id < b.conversation_id ? -1 : 1));
      return list;
    },
    /** Per tab: `{count, more, unread}` (unread: conversations with unread messages). */
    counts() {
      return Object.fromEntries(
        TABS.map((t) => {
          const rows = this.rows(t);
          return [t, { count: rows.length, more: !!pages[t].cursor, unread: rows.filter((c) => c.unread > 0).length }];
        }),
      );
    },
    cursor: (tab) => pages[tab].cursor,
    loaded: (tab) => pages[tab].loaded,
  };
}
