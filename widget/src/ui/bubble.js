/** The launcher: a real <button> (Enter and Space work natively) with the unread badge. */
import { h, icon, ICONS } from './dom.js';

export function createBubble({ t, onClick }) {
  const badge = h('span', { class: 'badge', 'data-part': 'badge', 'aria-hidden': 'true', hidden: true });
  const el = h('button', {
    type: 'button',
    class: 'bubble',
    'data-part': 'bubble',
    'aria-haspopup': 'dialog',
    'aria-expanded': 'false',
    'aria-controls': 'pw-panel',
    'aria-label': t('open'),
    onclick: onClick,
  }, [icon(ICONS.chat, 'i-chat'), icon(ICONS.down, 'i-down'), badge]);

  let unread = 0;
  let open = false;

  function label() {
    const base = t(open ? 'minimize' : 'open');
    el.setAttribute('aria-label', unread && !open ? `${base} (${t('unread', { n: unread })})` : base);
  }

  return {
    el,
    setOpen(value) {
      open = value;
      el.setAttribute('aria-expanded', String(value));
      label();
    },
    setUnread(n) {
      if (n === unread) return;
      unread = n;
      badge.textContent = n > 99 ? '99+' : String(n);
      badge.hidden = n === 0;
      label();
    },
  };
}
