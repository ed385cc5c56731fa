/**
 * The dialog: header (avatar, title, connection status, close) around the
 * message list and the composer. Escape anywhere in it closes.
 */
import { h, icon, ICONS } from './dom.js';

export function createPanel({ t, title, onClose, body }) {
  const titleEl = h('div', { class: 'title', id: 'pw-title', text: title });
  const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true', 'data-state': 'idle' });
  const status = h('div', { class: 'status', 'data-part': 'status', 'aria-live': 'polite' });
  const close = h('button', { type: 'button', class: 'close', 'data-part': 'close', 'aria-label': t('close'), onclick: onClose },
    icon(ICONS.close));
  const el = h('div', {
    class: 'panel',
    id: 'pw-panel',
    'data-part': 'panel',
    role: 'dialog',
    'aria-label': title,
    hidden: true,
  }, [h('div', { class: 'head' }, [avatar, h('div', { class: 'titles' }, [titleEl, status]), close]), ...body]);

  function setTitle(value) {
    titleEl.textContent = value;
    avatar.textContent = (value.trim()[0] || '?').toUpperCase();
    el.setAttribute('aria-label', value);
  }
  setTitle(title);

  return {
    el,
    setTitle,
    /** The status line shows the machine's state in words; data-state/-provider keep the raw values. */
    setStatus({ state, provider }) {
      status.textContent = t(state);
      status.dataset.state = state;
      if (provider) status.dataset.provider = provider;
      else delete status.dataset.provider;
      avatar.dataset.state = state;
    },
  };
}
