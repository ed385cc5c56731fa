/**
 * The sidebar tabs and the conversation list. Both are keyboard-operable
 * with a roving tabindex: one Tab stop each, arrows (and j/k in the list)
 * move, Enter opens. The view holds no state of its own beyond focus.
 */
import { h, clear, setText } from './dom.js';
import { ago, contactOf, visitorName } from './format.js';
import { TABS } from './inbox.js';

export const TAB_LABEL = { pending: 'Needs a human', mine: 'Mine', open: 'Open', resolved: 'Resolved' };
const EMPTY = {
  pending: 'Nobody is waiting for a person.',
  mine: 'No conversation is assigned to you.',
  open: 'No open conversation.',
  resolved: 'Nothing resolved yet.',
};

export function createInboxView({ tablist, list, onTab, onOpen, onLoadMore }) {
  let active = 'pending';
  const tabs = {};

  for (const [i, tab] of TABS.entries()) {
    const badge = h('span', { class: 'badge', 'data-testid': 'badge', 'aria-label': '0 conversations', text: '0' });
    const el = h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${tab}`,
        class: 'tab',
        'data-testid': `tab-${tab}`,
        'aria-controls': 'conversation-list',
        'aria-keyshortcuts': String(i + 1),
        onclick: () => onTab(tab),
      },
      h('span', { class: 'tab__label', text: TAB_LABEL[tab] }),
      badge,
    );
    tabs[tab] = { el, badge };
    tablist.append(el);
  }

  tablist.addEventListener('keydown', (e) => {
    const i = TABS.indexOf(active);
    const move = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[e.key];
    if (move === undefined && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : (i + move + TABS.length) % TABS.length;
    onTab(TABS[next]);
    tabs[TABS[next]].el.focus();
  });

  const title = h('h2', { class: 'list__title', id: 'list-title' });
  const rows = h('ul', {
    class: 'rows',
    id: 'conversation-list',
    role: 'listbox',
    'aria-labelledby': 'list-title',
    'data-testid': 'inbox-list',
  });
  const more = h('button', { type: 'button', class: 'btn btn--quiet more', 'data-testid': 'load-more', hidden: true, onclick: () => onLoadMore() }, 'Load more');
  const empty = h('p', { class: 'list__empty', hidden: true });
  list.append(h('header', { class: 'list__header' }, title), rows, empty, more);

  rows.addEventListener('keydown', (e) => {
    const row = e.target.closest('[data-testid=inbox-row]');
    if (!row) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onOpen(row.dataset.conversationId);
    }
  });
  rows.addEventListener('click', (e) => {
    const row = e.target.closest('[data-testid=inbox-row]');
    if (row) onOpen(row.dataset.conversationId);
  });

  function rowItems() {
    return [...rows.querySelectorAll('[data-testid=inbox-row]')];
  }

  function row(c, { selected, now }) {
    const last = c.last_message || {};
    const who = { agent: 'Agent: ', bot: 'Bot: ', system: '' }[last.sender] ?? '';
    const when = c.status === 'pending' ? `waiting ${ago(c.status_since, now)}` : ago(last.created_at || c.updated_at, now);
    const unread = c.unread > 0;
    const email = contactOf(c).email;
    return h(
      'li',
      {
        role: 'option',
        class: `row${selected ? ' row--active' : ''}${unread ? ' row--unread' : ''}`,
        tabindex: '-1',
        'aria-selected': selected ? 'true' : 'false',
        'data-testid': 'inbox-row',
        'data-conversation-id': c.conversation_id,
        'data-status': c.status,
        'data-unread': String(c.unread || 0),
        'data-has-email': email ? 'true' : 'false',
      },
      h(
        'div',
        { class: 'row__top' },
        h('span', { class: 'row__name', text: visitorName(c) }),
        email ? h('span', { class: 'row__mail', 'data-testid': 'row-contact', title: `Email: ${email}`, 'aria-label': `Email known: ${email}`, text: '✉' }) : null,
        h('span', { class: 'row__time', 'data-testid': 'row-time', text: when }),
      ),
      h('div', { class: `row__preview${last.sender === 'system' ? ' row__preview--system' : ''}`, 'data-testid': 'row-preview', text: `${who}${last.text || 'No messages yet'}` }),
      h(
        'div',
        { class: 'row__bottom' },
        h('span', { class: 'row__assignee', 'data-testid': 'row-assignee', text: c.assignee ? c.assignee.name : 'Unassigned' }),
        unread ? h('span', { class: 'badge badge--accent', 'data-testid': 'unread-badge', 'aria-label': `${c.unread} unread`, text: c.unread > 99 ? '99+' : c.unread }) : null,
      ),
    );
  }

  return {
    renderTabs(counts, current) {
      active = current;
      for (const tab of TABS) {
        const { el, badge } = tabs[tab];
        const { count, more: hasMore, unread } = counts[tab];
        const selected = tab === current;
        el.setAttribute('aria-selected', selected ? 'true' : 'false');
        el.tabIndex = selected ? 0 : -1;
        el.classList.toggle('tab--unread', unread > 0);
        setText(badge, `${count}${hasMore ? '+' : ''}`);
        badge.setAttribute('aria-label', `${count}${hasMore ? ' or more' : ''} conversations${unread ? `, ${unread} unread` : ''}`);
        badge.dataset.count = String(count);
        badge.dataset.unread = String(unread);
      }
    },
    renderRows(list, { tab, activeId, hasMore, now = Date.now() }) {
      const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-testid=inbox-row]');
      const focusedId = focused && rows.contains(focused) ? focused.dataset.conversationId : null;
      setText(title, TAB_LABEL[tab]);
      clear(rows);
      for (const c of list) rows.append(row(c, { selected: c.conversation_id === activeId, now }));
      empty.hidden = list.length > 0;
      setText(empty, EMPTY[tab]);
      more.hidden = !hasMore;
      // One Tab stop: the focused row, else the open one, else the first.
      const items = rowItems();
      const stop = items.find((r) => r.dataset.conversationId === focusedId) || items.find((r) => r.classList.contains('row--active')) || items[0];
      if (stop) stop.tabIndex = 0;
      if (focusedId && stop && stop.dataset.conversationId === focusedId) stop.focus();
    },
    /** Moves focus `delta` rows (j/k, arrows); focuses the first row if none has focus. */
    move(delta) {
      const items = rowItems();
      if (!items.length) return;
      let i = items.indexOf(document.activeElement);
      if (i < 0) i = Math.max(0, items.findIndex((r) => r.tabIndex === 0)) - (delta > 0 ? 1 : 0);
      const next = items[Math.min(items.length - 1, Math.max(0, i + delta))];
      for (const r of items) r.tabIndex = r === next ? 0 : -1;
      next.focus();
      next.scrollIntoView({ block: 'nearest' });
    },
    focusRow(id) {
      const items = rowItems();
      const target = items.find((r) => r.dataset.conversationId === id) || items[0];
      if (!target) return false;
      for (const r of items) r.tabIndex = r === target ? 0 : -1;
      target.focus();
      return true;
    },
    focusTab: () => tabs[active].el.focus(),
    hasRowFocus: () => rows.contains(document.activeElement),
  };
}
