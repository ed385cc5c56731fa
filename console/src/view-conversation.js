/**
 * The open conversation: header (visitor, status, actions), the thread, the
 * typing line, the composer and the visitor facts. The thread is a
 * role=log live region updated in place (one node per message key, moved
 * into seq order), so a screen reader hears each new message once.
 */
import { h, clear, setText } from './dom.js';
import { STATUS_LABEL, browserOf, clock, contactLine, contactOf, dateTime, senderLabel, visitorName } from './format.js';

/** The actions a status allows, for this agent (`agent` may not act on another agent's conversation). */
export function actionsFor(c, { meId, role }) {
  if (!c) return [];
  const mine = !!c.assignee && c.assignee.id === meId;
  const free = !c.assignee;
  const may = mine || free || role === 'admin';
  switch (c.status) {
    case 'bot':
      return ['claim', 'assign', 'resolve'];
    case 'pending':
      return may ? ['claim', 'assign', 'resolve', 'handback'] : [];
    case 'open':
      return may ? [...(mine ? [] : free ? ['claim'] : []), 'assign', 'unassign', 'resolve', 'handback'] : [];
    case 'resolved':
      return ['reopen'];
    default:
      return [];
  }
}

const ACTION_LABEL = { claim: 'Claim', assign: 'Assign', unassign: 'Unassign', resolve: 'Resolve', reopen: 'Reopen', handback: 'Hand back to bot' };
const MAX_LENGTH = 4000;

export function createConversationView({ root, onSend, onRetry, onTyping, onAction, onLoadEarlier, onClose }) {
  const name = h('h2', { class: 'conv__name', id: 'conv-name', 'data-testid': 'conversation-name' });
  const contact = h('div', { class: 'conv__contact', 'data-testid': 'conversation-contact', hidden: true });
  const status = h('span', { class: 'pill', 'data-testid': 'conversation-status' });
  const assignee = h('span', { class: 'conv__assignee', 'data-testid': 'conversation-assignee' });
  const actions = h('div', { class: 'conv__actions', role: 'toolbar', 'aria-label': 'Conversation actions' });
  const menu = h('div', { class: 'menu', role: 'menu', 'data-testid': 'assign-menu', hidden: true });
  const back = h('button', { type: 'button', class: 'btn btn--quiet conv__back', 'aria-label': 'Back to the inbox (Esc)', onclick: () => onClose() }, '←');
  const earlier = h('button', { type: 'button', class: 'btn btn--quiet earlier', 'data-testid': 'load-earlier', hidden: true, onclick: () => onLoadEarlier() }, 'Load earlier messages');
  const thread = h('div', {
    class: 'thread',
    role: 'log',
    'aria-live': 'polite',
    'aria-relevant': 'additions',
    'aria-labelledby': 'conv-name',
    'data-testid': 'thread',
  });
  const typing = h('div', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite', hidden: true });
  const input = h('textarea', {
    class: 'composer__input',
    rows: '2',
    maxlength: String(MAX_LENGTH),
    placeholder: 'Write a reply…  (Enter sends, Shift+Enter for a new line)',
    'aria-label': 'Reply',
    'data-testid': 'composer-input',
  });
  const send = h('button', { type: 'button', class: 'btn btn--primary', 'data-testid': 'composer-send' }, 'Send');
  const composer = h('form', { class: 'composer', onsubmit: (e) => e.preventDefault() }, input, send);
  const facts = h('dl', { class: 'facts__list', 'data-testid': 'visitor-facts' });
  const error = h('div', { class: 'conv__error', role: 'alert', 'data-testid': 'conversation-error', hidden: true });

  const body = h(
    'div',
    { class: 'conv', hidden: true },
    h(
      'div',
      { class: 'conv__main' },
      h('header', { class: 'conv__header' }, back, h('div', { class: 'conv__who' }, name, contact, h('div', { class: 'conv__meta' }, status, assignee)), h('div', { class: 'conv__tools' }, actions, menu)),
      error,
      h('div', { class: 'thread__scroll' }, earlier, thread),
      typing,
      composer,
    ),
    h('aside', { class: 'facts', 'aria-label': 'Visitor' }, h('h3', { class: 'facts__title', text: 'Visitor' }), facts),
  );
  const empty = h('div', { class: 'conv-empty', 'data-testid': 'conversation-empty' }, h('p', { text: 'Select a conversation' }), h('p', { class: 'muted', text: 'j / k to move, Enter to open, ? for all shortcuts' }));
  root.append(empty, body);

  const nodes = new Map(); // entry key -> element
  let current = null;

  function submit() {
    const text = input.value.trim();
    if (!text || input.disabled) return;
    input.value = '';
    onSend(text.slice(0, MAX_LENGTH));
  }
  send.addEventListener('click', submit);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => input.value.trim() && onTyping());

  function closeMenu() {
    menu.hidden = true;
    const btn = actions.querySelector('[data-testid=action-assign]');
    if (btn) btn.setAttribute('aria-expanded', 'false');
  }
  menu.addEventListener('keydown', (e) => {
    const items = [...menu.querySelectorAll('button')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      e.stopPropagation();
      closeMenu();
      const btn = actions.querySelector('[data-testid=action-assign]');
      if (btn) btn.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const next = items[(i + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length];
      if (next) next.focus();
    }
  });

  function openMenu(members, c) {
    clear(menu);
    const others = members.filter((m) => !c.assignee || m.id !== c.assignee.id);
    if (!others.length) menu.append(h('p', { class: 'menu__empty', text: 'No one else to assign to.' }));
    for (const m of others) {
      menu.append(
        h(
          'button',
          { type: 'button', role: 'menuitem', class: 'menu__item', 'data-testid': 'assign-member', 'data-agent-id': m.id, onclick: () => { closeMenu(); onAction('assign', { agent_id: m.id }); } },
          h('span', { text: m.name || m.email }),
          h('span', { class: 'muted', text: m.role === 'admin' ? 'admin' : '' }),
        ),
      );
    }
    menu.hidden = false;
    const first = menu.querySelector('button');
    if (first) first.focus();
  }

  function messageNode(e) {
    const kind = e.sender === 'system' ? 'system' : e.sender;
    if (kind === 'system') {
      return h('div', { class: 'msg msg--system' }, h('span', { class: 'msg__note' }));
    }
    return h(
      'div',
      { class: `msg msg--${kind}` },
      h('div', { class: 'msg__meta' }, h('span', { class: 'msg__who' }), h('time', { class: 'msg__time' })),
      h('div', { class: 'msg__bubble' }),
      h('div', { class: 'msg__offered', 'data-testid': 'message-suggestions', hidden: true }),
      h('div', { class: 'msg__state' }),
    );
  }

  function update(node, e) {
    const sent = e.state === 'sent';
    node.dataset.testid = sent ? 'message' : 'message-pending';
    if (sent) node.dataset.seq = String(e.seq);
    node.dataset.sender = e.sender;
    node.dataset.state = e.state;
    if (e.sender === 'system') {
      setText(node.querySelector('.msg__note'), `${e.text}${e.created_at ? ` · ${clock(e.created_at)}` : ''}`);
      return;
    }
    setText(node.querySelector('.msg__who'), senderLabel(e));
    const time = node.querySelector('.msg__time');
    setText(time, clock(e.created_at));
    if (e.created_at) time.setAttribute('datetime', e.created_at);
    setText(node.querySelector('.msg__bubble'), e.text);
    // A bot reply that did not know offered the visitor these questions ("Did you mean:").
    const offered = e.sender === 'bot' && Array.isArray(e.suggestions)
      ? e.suggestions.filter((s) => typeof s === 'string' && s).slice(0, 3) : [];
    const offeredEl = node.querySelector('.msg__offered');
    offeredEl.hidden = !offered.length;
    setText(offeredEl, offered.length ? `Offered: ${offered.join(' · ')}` : '');
    const state = node.querySelector('.msg__state');
    clear(state);
    if (e.state === 'pending') state.append('Sending…');
    if (e.state === 'failed') {
      state.append(
        h('span', { text: `Not sent${e.error ? `: ${e.error}` : ''}. ` }),
        h('button', { type: 'button', class: 'link', 'data-testid': 'message-retry', onclick: () => onRetry(e.client_message_id) }, 'Retry'),
      );
    }
  }

  function fact(label, value, title) {
    return [h('dt', { text: label }), h('dd', { title: title || undefined }, value)];
  }

  return {
    /** A conversation opens (`null`: none). */
    show(c) {
      current = c ? c.conversation_id : null;
      empty.hidden = !!c;
      body.hidden = !c;
      clear(thread);
      nodes.clear();
      this.setTyping(null);
      this.setError(null);
      closeMenu();
      input.value = '';
    },
    renderSummary(c, { meId, role, members }) {
      if (!c) return;
      setText(name, visitorName(c));
      const who = contactOf(c);
      const line = contactLine(c);
      setText(contact, line);
      contact.hidden = !line;
      contact.dataset.email = who.email;
      contact.dataset.transcript = who.transcript ? 'true' : 'false';
      setText(status, STATUS_LABEL[c.status] || c.status);
      status.dataset.status = c.status;
      setText(assignee, c.assignee ? `Assigned to ${c.assignee.id === meId ? 'you' : c.assignee.name}` : 'Unassigned');
      const allowed = actionsFor(c, { meId, role });
      const have = [...actions.children].map((b) => b.dataset.action).join();
      if (have !== allowed.join()) {
        const hadFocus = actions.contains(document.activeElement);
        clear(actions);
        for (const a of allowed) {
          const btn = h('button', {
            type: 'button',
            class: `btn ${a === 'resolve' || a === 'claim' || a === 'reopen' ? 'btn--primary' : 'btn--secondary'}`,
            'data-testid': `action-${a}`,
            'data-action': a,
            ...(a === 'assign' ? { 'aria-haspopup': 'menu', 'aria-expanded': 'false' } : {}),
          }, ACTION_LABEL[a]);
          btn.addEventListener('click', () => {
            if (a !== 'assign') return onAction(a);
            if (!menu.hidden) return closeMenu();
            btn.setAttribute('aria-expanded', 'true');
            Promise.resolve(members()).then((list) => openMenu(list || [], c));
          });
          actions.append(btn);
        }
        if (hadFocus && actions.firstChild) actions.firstChild.focus();
        closeMenu();
      }
      const resolved = c.status === 'resolved';
      input.disabled = resolved;
      send.disabled = resolved;
      input.placeholder = resolved ? 'Resolved. Reopen the conversation to reply.' : 'Write a reply…  (Enter sends, Shift+Enter for a new line)';

      clear(facts);
      const page = c.page && /^https?:\/\//i.test(c.page) ? h('a', { href: c.page, target: '_blank', rel: 'noopener noreferrer', text: c.page }) : c.page || '—';
      facts.append(
        ...fact('Name', c.visitor && c.visitor.name ? c.visitor.name : who.name || 'Not given'),
        ...fact('Email', who.email ? h('span', { 'data-testid': 'visitor-email', text: who.email }) : 'Not given'),
        ...(who.email ? fact('Transcript', who.transcript ? 'Emailed when resolved' : 'Not asked for') : []),
        ...fact('Page', page, c.page),
        ...fact('Locale', c.locale || '—'),
        ...fact('Browser', browserOf(c.user_agent), c.user_agent),
        ...fact('First seen', dateTime(c.created_at)),
        ...fact('Status since', dateTime(c.status_since)),
        ...fact('Conversation', h('code', { text: c.conversation_id })),
      );
    },
    /** Entries in order (messages by seq, then pending replies): nodes are made once and moved. */
    renderMessages(entries, { hasEarlier = false } = {}) {
      earlier.hidden = !hasEarlier;
      const scroller = thread.parentElement;
      const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
      const keep = new Set();
      let prev = null;
      for (const e of entries) {
        keep.add(e.key);
        let node = nodes.get(e.key);
        if (!node) {
          node = messageNode(e);
          nodes.set(e.key, node);
        }
        update(node, e);
        const want = prev ? prev.nextSibling : thread.firstChild;
        if (want !== node) thread.insertBefore(node, want);
        prev = node;
      }
      for (const [key, node] of nodes) {
        if (!keep.has(key)) {
          node.remove();
          nodes.delete(key);
        }
      }
      if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    },
    setTyping(who) {
      typing.hidden = !who;
      typing.dataset.active = who ? 'true' : 'false';
      setText(typing, who ? `${who} is typing…` : '');
    },
    setError(text) {
      error.hidden = !text;
      setText(error, text || '');
    },
    focusComposer: () => !input.disabled && input.focus(),
    get current() {
      return current;
    },
  };
}
