/**
 * The input: a labelled <textarea> that grows with its text, Enter sends and
 * Shift+Enter breaks the line (not while an IME is composing), and a send
 * button disabled while there is nothing to send. `gate()` may hold a send
 * back (the pre-chat fields: false keeps the text and the focus where it put it).
 * `send(text)` sends a text not typed (a suggestion) the same way, gate and all.
 */
import { h, icon, ICONS } from './dom.js';

export const MAX_LENGTH = 4000;
const TYPING_EVERY_MS = 3000;

export function createComposer({ t, onSend, onTyping = () => {}, gate = () => true }) {
  const input = h('textarea', {
    id: 'pw-input',
    'data-part': 'input',
    rows: '1',
    maxlength: String(MAX_LENGTH),
    placeholder: t('placeholder'),
    'aria-describedby': 'pw-hint',
    enterkeyhint: 'send',
  });
  const send = h('button', { type: 'submit', class: 'send', 'data-part': 'send', 'aria-label': t('send'), disabled: true },
    icon(ICONS.send));
  const el = h('form', { class: 'composer', novalidate: true }, [
    h('label', { class: 'sr', for: 'pw-input', text: t('input') }),
    h('div', { class: 'field' }, [input, send]),
    h('span', { class: 'sr', id: 'pw-hint', text: t('hint') }),
    h('div', { class: 'foot', text: t('powered') }),
  ]);

  let lastTyping = 0;

  function resize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }

  function update() {
    send.disabled = !input.value.trim();
    resize();
  }

  /** What Enter and the send button go through (and a suggestion, ui/messages.js: `typed` false keeps the draft). */
  function pass(text, typed) {
    if (!gate()) return false;
    if (typed) {
      input.value = '';
      update();
    }
    onSend(text);
    return true;
  }

  function submit() {
    const text = input.value.trim();
    return !text || pass(text, true);
  }

  el.addEventListener('submit', (e) => {
    e.preventDefault();
    if (submit()) input.focus();
  });
  input.addEventListener('input', () => {
    update();
    const now = Date.now();
    if (input.value && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      onTyping();
    }
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });

  return { el, input, send: pass, focus: () => input.focus({ preventScroll: true }), resize };
}
