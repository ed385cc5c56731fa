/**
 * The console's frame: three columns (sidebar, list, conversation), the
 * realtime status, the settings menu, the shortcut list and the toast line.
 */
import { h, setText } from './dom.js';

export const SHORTCUTS = [
  ['1 – 4', 'Switch tab'],
  ['j / ↓', 'Next conversation'],
  ['k / ↑', 'Previous conversation'],
  ['Enter', 'Open the conversation'],
  ['Esc', 'Back to the inbox'],
  ['r', 'Reply'],
  ['Enter / Shift+Enter', 'Send / new line (in the reply box)'],
  ['?', 'Show this list'],
];

const STATUS_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  polling: 'Live (polling)',
  offline: 'Offline',
};

const PRESENCE_TEXT = {
  online: 'You’re online',
  away: 'Away',
  pending: 'Going online…',
  unavailable: 'Not shown as online',
  off: '',
};
const PRESENCE_TITLE = {
  online: 'Visitors see that the team is online.',
  away: 'This tab is in the background: visitors no longer see you as online.',
  pending: '',
  unavailable: 'Parley did not take your presence: visitors may not see you as online.',
  off: '',
};

export function createShell(root, { agent, site, sites, onSwitchSite, onSignOut, prefs, onEnableNotifications, onWebhooks, presence = 'off' }) {
  const tablist = h('nav', { class: 'tabs', role: 'tablist', 'aria-orientation': 'vertical', 'aria-label': 'Inbox' });
  const status = h('div', { class: 'rt', 'data-testid': 'realtime-status', 'data-provider': '', 'data-connected': 'false', role: 'status' }, h('span', { class: 'rt__dot', 'aria-hidden': 'true' }), h('span', { class: 'rt__text', text: 'Connecting…' }));

  const notifications = h('input', { type: 'checkbox', 'data-testid': 'settings-notifications', id: 'pref-notifications' });
  const sound = h('input', { type: 'checkbox', 'data-testid': 'settings-sound', id: 'pref-sound' });
  notifications.checked = prefs.get('notifications');
  sound.checked = prefs.get('sound');
  notifications.addEventListener('change', () => {
    prefs.set('notifications', notifications.checked);
    if (notifications.checked) onEnableNotifications(); // a click: the one moment a permission prompt is allowed
  });
  sound.addEventListener('change', () => prefs.set('sound', sound.checked));
  const settingsPanel = h('div', { class: 'popover', id: 'settings-panel', 'data-testid': 'settings-panel', role: 'group', 'aria-label': 'Settings', hidden: true },
    h('label', { class: 'check', for: 'pref-notifications' }, notifications, 'Desktop notifications on a handoff'),
    h('label', { class: 'check', for: 'pref-sound' }, sound, 'Sound on a handoff'));
  const settingsButton = h('button', { type: 'button', class: 'btn btn--quiet side__btn', 'data-testid': 'settings', 'aria-expanded': 'false', 'aria-controls': 'settings-panel' }, 'Settings');
  settingsButton.addEventListener('click', () => {
    settingsPanel.hidden = !settingsPanel.hidden;
    settingsButton.setAttribute('aria-expanded', String(!settingsPanel.hidden));
  });

  const shortcuts = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'shortcuts-title', 'data-testid': 'shortcuts', hidden: true, tabindex: '-1' },
    h('div', { class: 'dialog__box' },
      h('h2', { id: 'shortcuts-title', text: 'Keyboard shortcuts' }),
      h('dl', { class: 'keys' }, SHORTCUTS.flatMap(([k, v]) => [h('dt', {}, h('kbd', { text: k })), h('dd', { text: v })])),
      h('button', { type: 'button', class: 'btn btn--secondary', onclick: () => api.toggleShortcuts(false) }, 'Close')));
  const shortcutsButton = h('button', { type: 'button', class: 'btn btn--quiet side__btn', 'data-testid': 'shortcuts-button', onclick: () => api.toggleShortcuts(true) }, 'Shortcuts  ?');

  const siteLabel = sites.length > 1
    ? h('select', { class: 'site-select', 'aria-label': 'Site', 'data-testid': 'site-select', onchange: (e) => onSwitchSite(e.target.value) },
      sites.map((s) => h('option', { value: s.site_key, selected: s.site_key === site ? true : undefined, text: s.name || s.site_key })))
    : h('div', { class: 'site-name', 'data-testid': 'site-name', text: (sites[0] && (sites[0].name || sites[0].site_key)) || site });

  const presenceEl = h('span', { class: 'presence', 'data-testid': 'presence-status', role: 'status' }, h('span', { class: 'presence__dot', 'aria-hidden': 'true' }), h('span', { class: 'presence__text' }));
  const webhooksButton = onWebhooks
    ? h('button', { type: 'button', class: 'btn btn--quiet side__btn', 'data-testid': 'webhooks-button', 'data-site-key': site, onclick: () => onWebhooks() }, 'Webhooks')
    : null;

  const sidebar = h('aside', { class: 'side' },
    h('div', { class: 'brand' }, h('span', { class: 'brand__mark', 'aria-hidden': 'true' }, 'P'), 'Parley'),
    siteLabel,
    tablist,
    h('div', { class: 'side__foot' },
      status,
      h('div', { class: 'side__menu' }, settingsButton, settingsPanel),
      webhooksButton,
      shortcutsButton,
      h('div', { class: 'me' }, h('span', { class: 'me__who' }, h('span', { class: 'me__name', 'data-testid': 'agent-name', text: agent.name || agent.email }), presenceEl),
        h('button', { type: 'button', class: 'btn btn--quiet', 'data-testid': 'signout', onclick: onSignOut }, 'Sign out'))));
  const list = h('section', { class: 'list', 'aria-label': 'Conversations' });
  const conversation = h('main', { class: 'main', 'aria-label': 'Conversation' });
  const toast = h('div', { class: 'toast', role: 'alert', 'data-testid': 'toast', hidden: true });
  root.replaceChildren(h('div', { class: 'app' }, sidebar, list, conversation), shortcuts, toast);

  let toastTimer = null;
  let lastFocus = null;
  let overlay = null; // an extra dialog (the webhooks panel), closed by Esc like the others
  const api = {
    tablist,
    list,
    conversation,
    /** Mounts a dialog next to the others; `close()` is how Esc closes it. */
    addOverlay(el, { isOpen, close }) {
      root.append(el);
      overlay = { isOpen, close };
    },
    /** The agent's own presence: `online`, `away`, `pending`, `unavailable` or `off`. */
    setPresence(state) {
      presenceEl.dataset.state = state;
      presenceEl.hidden = state === 'off';
      setText(presenceEl.querySelector('.presence__text'), PRESENCE_TEXT[state] ?? '');
      if (PRESENCE_TITLE[state]) presenceEl.setAttribute('title', PRESENCE_TITLE[state]);
      else presenceEl.removeAttribute('title');
    },
    setConnection({ state, provider }) {
      const live = state === 'connected' || state === 'polling';
      status.dataset.provider = provider || '';
      status.dataset.connected = live ? 'true' : 'false';
      status.dataset.state = state;
      setText(status.querySelector('.rt__text'), `${STATUS_TEXT[state] || state}${provider && state === 'connected' ? ` · ${provider}` : ''}`);
    },
    toast(text) {
      setText(toast, text);
      toast.hidden = false;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
    },
    toggleShortcuts(open = shortcuts.hidden) {
      if (open) {
        lastFocus = document.activeElement;
        shortcuts.hidden = false;
        shortcuts.querySelector('button').focus();
      } else if (!shortcuts.hidden) {
        shortcuts.hidden = true;
        if (lastFocus && lastFocus.focus) lastFocus.focus();
      }
    },
    /** Closes whatever floats (settings, shortcuts); true if something was open. */
    closeOverlays() {
      let closed = false;
      if (!shortcuts.hidden) { api.toggleShortcuts(false); closed = true; }
      if (!settingsPanel.hidden) { settingsPanel.hidden = true; settingsButton.setAttribute('aria-expanded', 'false'); closed = true; }
      if (overlay && overlay.isOpen()) { overlay.close(); closed = true; }
      return closed;
    },
  };
  api.setPresence(presence);
  return api;
}
