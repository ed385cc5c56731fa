/**
 * The dialog: header (avatar, title, status, close) around the message list
 * and the composer. The status line says who answers (the conversation's
 * status) while the connection is fine, and the connection's state when it
 * is not. Escape anywhere in it closes.
 */
import { h, icon, ICONS } from './dom.js';

export function createPanel({ t, title, onClose, body, actions = [] }) {
  const titleEl = h('div', { class: 'title', id: 'pw-title', text: title });
  const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true', 'data-state': 'idle' });
  const status = h('div', { class: 'status', 'data-part': 'status', 'aria-live': 'polite' });
  // The team's availability ("We're online", "We reply within 4 hours"): one more short line, or none.
  const avail = h('div', { class: 'status avail', 'data-part': 'availability', hidden: true });
  let connection = 'idle';
  let conversation = '';
  const close = h('button', { type: 'button', class: 'close', 'data-part': 'close', 'aria-label': t('close'), onclick: onClose },
    icon(ICONS.close));
  const el = h('div', {
    class: 'panel',
    id: 'pw-panel',
    'data-part': 'panel',
    role: 'dialog',
    'aria-label': title,
    hidden: true,
  }, [h('div', { class: 'head' }, [avatar, h('div', { class: 'titles' }, [titleEl, status, avail]), ...actions, close]), ...body]);

  function setTitle(value) {
    titleEl.textContent = value;
    avatar.textContent = (value.trim()[0] || '?').toUpperCase();
    el.setAttribute('aria-label', value);
  }
  setTitle(title);

  function show() {
    status.textContent = (connection === 'connected' || connection === 'polling') && conversation || t(connection);
  }

  return {
    el,
    setTitle,
    setAvailability(text) {
      avail.textContent = text;
      avail.hidden = !text;
    },
    /** bot, pending, open (an agent holds it: their name) or resolved; data-conversation keeps the raw value. */
    setConversation(value, agentName) {
      status.dataset.conversation = value;
      conversation = t(value === 'open' ? 'withAgent' : value, { name: agentName });
      show();
    },
    /** The connection machine's state; data-state/-provider keep the raw values. */
    setStatus({ state, provider }) {
      connection = state;
      show();
      status.dataset.state = state;
      if (provider) status.dataset.provider = provider;
      else delete status.dataset.provider;
      avatar.dataset.state = state;
    },
  };
}
