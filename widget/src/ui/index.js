/**
 * The widget's DOM: `<div id="parley-root">` on <body> with an open shadow
 * root holding the styles, the bubble and the panel. The shell (host, styles,
 * bubble) is built by parley.js on page load; the panel is added to it by the
 * chat bundle (parley-app.js) when it loads, so the bubble a visitor sees
 * first is the one they keep (no swap, focus stays). Opening moves focus to
 * the input; closing (close button, Escape, the bubble) moves it back to the
 * bubble. The panel is a non-modal dialog beside the page, modal only where
 * it covers the page (small screens).
 */
import css from './styles.css';
import { h } from './dom.js';
import { LIGHT, palette } from './color.js';
import { createBubble } from './bubble.js';
import { createPanel } from './panel.js';
import { createMessages } from './messages.js';
import { createComposer } from './composer.js';
import { createMenu } from './menu.js';
import { createContactForm } from './contact-form.js';
import { createPrechat } from './prechat.js';

export const HOST_ID = 'parley-root';

/**
 * The host, its shadow root and the bubble, appended to <body>. A press on
 * the bubble calls `shell.onBubble()`, which the loader sets and the UI
 * takes over. `t` and `locale` go with it to the chat bundle, which so
 * carries no second copy of the strings.
 */
export function createShell({ t, locale, accent, position }) {
  const host = h('div', { id: HOST_ID });
  const root = host.attachShadow({ mode: 'open' });
  const colors = palette(accent);
  const shell = {
    host,
    root,
    t,
    locale,
    onBubble: () => {},
    bubble: createBubble({ t, onClick: () => shell.onBubble() }),
  };
  const el = h('div', { class: `pw${position === 'left' ? ' left' : ''}`, lang: locale }, [shell.bubble.el]);
  el.style.setProperty('--accent', colors.accent);
  el.style.setProperty('--on-accent', colors.onAccent);
  el.style.setProperty('--ink', colors.ink);
  // The other extreme from the text on the accent: the avatar's disc is shaded
  // towards it, so its letter contrasts more than the header, never less.
  el.style.setProperty('--shade', colors.onAccent === LIGHT ? '#000' : '#fff');
  root.append(h('style', { text: css }), el);
  shell.el = el;
  document.body.append(host);
  return shell;
}

/**
 * The panel, added to `shell` (createShell's, from parley.js: the chat bundle
 * carries neither the styles nor a second bubble), and the bubble taken over.
 */
export function createUI({
  t, locale, title, shell: parts, onSend, onRetry, onTyping, onHandoff, onOpenChange, onTranscript, onDelete, onPrechat, onContact,
}) {
  const { host, root, bubble } = parts;
  const shell = parts.el;
  const messages = createMessages({
    t,
    locale,
    title,
    onRetry(id) {
      onRetry(id);
      composer.focus(); // the retry button goes away with the failure
    },
    // A "Did you mean" button: sent as if typed (the composer's gate and onSend), the draft kept.
    onSuggest(text) {
      const sent = composer.send(text);
      if (sent) composer.focus(); // the suggestions go once it is sent
      return sent;
    },
  });
  // Pre-chat fields (name, email) above the input until the first message goes.
  const prechat = createPrechat({ t });
  const composer = createComposer({
    t,
    onSend,
    onTyping,
    gate() {
      if (!prechat.active) return true;
      const values = prechat.check();
      if (!values) return false;
      prechat.set(null);
      onPrechat(values);
      return true;
    },
  });
  composer.el.prepend(prechat.el);
  // "Leave your email" after the messages (not in the log: it is no message).
  const contact = createContactForm({ t, onSubmit: onContact });
  messages.log.after(contact.el);
  // "Talk to a person", between the messages and the composer. A failed request says so under it
  // (role="alert"; each press empties it first, so a second failure is announced again); pressing again retries.
  const handoff = h('button', { type: 'button', class: 'handoff', 'data-part': 'handoff', onclick: onHandoff }, t('handoff'));
  const handoffNote = h('span', { class: 'fail', 'data-part': 'handoff-error', role: 'alert' });
  const ask = h('div', { class: 'ask', hidden: true }, [handoff, handoffNote]);
  const menu = createMenu({ t, onTranscript, onDelete });
  const panel = createPanel({
    t, title, onClose: () => close(), body: [messages.el, ask, composer.el, menu.list], actions: [menu.button],
  });
  shell.prepend(panel.el);
  parts.onBubble = () => toggle();

  // Up to 480 px wide the panel covers the page (styles.css): then it is modal,
  // and Tab cycles inside it. Wider, it sits beside the page, which stays
  // usable: no focus trap, Tab moves on to the bubble and the page.
  const full = matchMedia('(max-width: 480px)');
  let isOpen = false;

  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.el.setAttribute('aria-modal', String(full.matches));
    panel.el.hidden = false;
    shell.classList.add('open');
    bubble.setOpen(true);
    messages.toBottom();
    composer.resize();
    if (prechat.active) prechat.focus();
    else composer.focus();
    onOpenChange(true);
  }

  function close() {
    if (!isOpen) return;
    // Back to the bubble if focus was in the widget; a host page calling
    // Parley.close() keeps its own focus.
    const hadFocus = root.activeElement !== null;
    isOpen = false;
    panel.el.hidden = true;
    shell.classList.remove('open');
    bubble.setOpen(false);
    if (hadFocus) bubble.el.focus({ preventScroll: true });
    onOpenChange(false);
  }

  function toggle() {
    if (isOpen) close();
    else open();
  }

  shell.addEventListener('keydown', (e) => {
    if (!isOpen || e.isComposing) return; // Escape in an IME cancels the composition only
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    } else if (e.key === 'Tab' && full.matches) {
      // What can take focus: not what is hidden (display: none has no offsetParent).
      const items = [...panel.el.querySelectorAll('button:not(:disabled),textarea,input')].filter((el) => el.offsetParent !== null);
      const [first, last] = e.shiftKey ? [items[items.length - 1], items[0]] : [items[0], items[items.length - 1]];
      if (root.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  });

  return {
    host,
    root,
    open,
    close,
    toggle,
    get isOpen() {
      return isOpen;
    },
    render: messages.render,
    setTyping: messages.setTyping,
    setGreeting: messages.setGreeting,
    setTitle(value) {
      panel.setTitle(value);
      messages.setTitle(value);
    },
    setStatus: panel.setStatus,
    setAvailability: panel.setAvailability,
    /** Config's `prechat` while there is no conversation; null once the first message goes. */
    setPrechat(value) {
      prechat.set(value);
      // It came after the chat opened (config answered late): the fields first, unless the visitor is writing.
      if (prechat.active && isOpen && root.activeElement === composer.input && !composer.input.value) prechat.focus();
    },
    /** The email form's options (contact-form.js), or null to hide it; `reset` for a new conversation. */
    setCapture(options) {
      const appears = options && contact.el.hidden;
      contact.update(options);
      if (appears) messages.toBottom();
    },
    resetCapture: contact.reset,
    /** The conversation's status in the header; "Talk to a person" unless one is asked for or there. */
    setConversation(status, agentName) {
      panel.setConversation(status, agentName);
      const hide = status === 'pending' || status === 'open';
      if (hide && root.activeElement === handoff) composer.focus();
      ask.hidden = hide;
    },
    /** true: "Not sent."; a number: rate-limited for that many seconds; false: nothing. */
    setHandoffFailed(failed) {
      handoffNote.textContent = failed === true ? t('failed') : failed ? t('quickly', { n: failed }) : '';
    },
    setUnread: bubble.setUnread,
    setHasConversation: menu.setAvailable,
    destroy() {
      host.remove();
    },
  };
}
