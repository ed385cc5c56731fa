/**
 * The message list (role="log", polite): the greeting, then one element per
 * message, kept in store order by key, so a pending send that gets confirmed
 * is the same element with new attributes. Consecutive messages from one
 * sender form a group (rounded as one, one timestamp under the last).
 * Text goes in with textContent only.
 *
 * A reply being written (replies.js: `state: 'streaming'`) is a bot message
 * with class `streaming`, `aria-busy` and `data-reply-id`, hidden from
 * screen readers while it grows (the log would read out every delta). Its
 * stored message takes its place as a new element, without the entrance
 * animation: the log announces that one addition, the final text, once.
 * A bot message's `sources` (entry titles) make a "from: …" line under it,
 * its `suggestions` (entry questions, when the bot was not sure) a "Did you
 * mean:" row of buttons that send one as the visitor's message
 * (`onSuggest(text)`, false if it was held back). Only the last message in
 * the log offers them: once one is picked or any message follows, they hide.
 */
import { h, icon, ICONS } from './dom.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
export const MAX_SUGGESTIONS = 3;
export const SUGGESTION_LENGTH = 200; // code points

/** A bot message's suggestions as shown: non-blank strings, trimmed and cut, at most 3. */
export function suggestionsOf(entry) {
  if (entry.sender !== 'bot' || !Array.isArray(entry.suggestions)) return [];
  return entry.suggestions
    .filter((s) => typeof s === 'string' && s.trim())
    .slice(0, MAX_SUGGESTIONS)
    .map((s) => [...s.trim()].slice(0, SUGGESTION_LENGTH).join(''));
}

export function createMessages({ t, locale, title, onRetry, onSuggest = () => true }) {
  const greeting = h('div', { class: 'msg first last', 'data-part': 'greeting', 'data-sender': 'bot' },
    h('div', { class: 'text' }));
  const log = h('div', {
    class: 'log',
    'data-part': 'log',
    role: 'log',
    'aria-live': 'polite',
    'aria-relevant': 'additions',
    'aria-label': t('log'),
  }, greeting);
  const typingLabel = h('span', { class: 'sr' });
  const typing = h('div', { class: 'typing', 'data-part': 'typing', hidden: true },
    [h('i'), h('i'), h('i'), typingLabel]);
  const scroll = h('div', { class: 'scroll' }, [log, typing]);

  let format;
  try {
    format = new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' });
  } catch {
    format = new Intl.DateTimeFormat('en', { hour: 'numeric', minute: '2-digit' });
  }
  const nodes = new Map(); // key -> {el, textEl, text, state}
  let name = title;
  let rendered = false;

  function who({ sender, sender_name: agent }) {
    if (sender === 'visitor') return `${t('you')}:`;
    if (sender === 'agent') return agent || t('agent'); // also shown over their messages (styles.css): no colon
    if (sender === 'bot') return `${name}:`;
    return '';
  }

  function time(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? '' : format.format(d);
  }

  function create(entry) {
    const textEl = h('div', { class: 'text' });
    const el = h('div', { class: 'msg', 'data-part': 'message' }, textEl);
    return { el, textEl, text: null, state: null, sources: '', sourcesEl: null, suggestions: '', suggestionsEl: null, picked: false };
  }

  function update(node, entry, first, last) {
    const { el } = node;
    if (node.text !== entry.text) {
      node.textEl.textContent = entry.text;
      node.text = entry.text;
    }
    const d = el.dataset;
    if (entry.seq) d.seq = String(entry.seq);
    d.sender = entry.sender || 'system';
    d.who = who(entry);
    d.time = time(entry.created_at);
    if (entry.client_message_id) d.clientMessageId = entry.client_message_id;
    if (entry.reply_id) d.replyId = entry.reply_id;
    const sources = entry.sender === 'bot' && Array.isArray(entry.sources)
      ? entry.sources.filter((s) => typeof s === 'string' && s).join(', ') : '';
    if (node.sources !== sources) {
      node.sources = sources;
      if (node.sourcesEl) node.sourcesEl.remove();
      node.sourcesEl = sources ? h('div', { class: 'sources', 'data-part': 'sources', text: t('from', { titles: sources }) }) : null;
      if (node.sourcesEl) node.textEl.after(node.sourcesEl);
    }
    const suggestions = suggestionsOf(entry);
    const said = suggestions.join('\n');
    if (node.suggestions !== said) {
      node.suggestions = said;
      node.picked = false;
      if (node.suggestionsEl) node.suggestionsEl.remove();
      node.suggestionsEl = said ? h('div', { class: 'suggestions', 'data-part': 'suggestions' }, [
        h('span', { text: t('suggest') }),
        ...suggestions.map((text) => h('button', {
          type: 'button',
          class: 'suggestion',
          'data-part': 'suggestion',
          text,
          onclick() {
            if (node.picked || onSuggest(text) === false) return;
            node.picked = true;
            if (node.suggestionsEl) node.suggestionsEl.hidden = true;
          },
        })),
      ]) : null;
      if (node.suggestionsEl) (node.sourcesEl || node.textEl).after(node.suggestionsEl);
    }
    el.classList.toggle('first', first);
    el.classList.toggle('last', last);
    // Pending: "Sending…", or while a 429 holds it back, when it goes again.
    if (entry.state === 'pending') d.sending = entry.wait ? t('quickly', { n: entry.wait }) : t('sending');
    if (node.state !== entry.state) {
      node.state = entry.state;
      const fail = el.querySelector('.fail');
      if (fail) fail.remove();
      if (entry.state === 'sent') {
        delete d.state;
        delete d.sending;
      } else {
        d.state = entry.state;
      }
      const streaming = entry.state === 'streaming';
      el.classList.toggle('streaming', streaming);
      for (const a of ['aria-busy', 'aria-hidden']) {
        if (streaming) el.setAttribute(a, 'true');
        else el.removeAttribute(a);
      }
      if (entry.state === 'failed') {
        el.append(h('div', { class: 'fail' }, [
          icon(ICONS.alert),
          h('span', { text: t('failed') }),
          h('button', {
            type: 'button',
            class: 'retry',
            'data-part': 'retry',
            onclick: () => onRetry(entry.client_message_id),
          }, t('retry')),
        ]));
      }
    }
  }

  /** The node of the reply being written with this id, if one is shown. */
  function draftOf(replyId) {
    for (const [key, node] of nodes) if (node.state === 'streaming' && node.el.dataset.replyId === replyId) return { key, el: node.el };
    return null;
  }

  function sameGroup(a, b) {
    if (!a || !b || a.sender !== b.sender || a.sender_name !== b.sender_name) return false;
    return Math.abs(new Date(b.created_at) - new Date(a.created_at)) < GROUP_GAP_MS;
  }

  function nearBottom() {
    return scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 80;
  }

  function toBottom() {
    scroll.scrollTop = scroll.scrollHeight;
  }

  return {
    el: scroll,
    log,
    setTitle(value) {
      name = value;
    },
    setGreeting(text) {
      greeting.firstChild.textContent = text || '';
      greeting.hidden = !text;
    },
    /** Brings the list in line with the store's entries (ordered). */
    render(entries) {
      const stick = nearBottom();
      let mineAdded = false;
      const seen = new Set();
      let prev = greeting;
      entries.forEach((entry, i) => {
        seen.add(entry.key);
        let node = nodes.get(entry.key);
        if (!node) {
          node = create(entry);
          nodes.set(entry.key, node);
          const draft = entry.reply_id && entry.state !== 'streaming' && draftOf(entry.reply_id);
          if (draft) {
            // The stored reply where its draft was: one bubble, no second entrance.
            draft.el.replaceWith(node.el);
            nodes.delete(draft.key);
          } else if (rendered) node.el.classList.add('in');
          if (entry.sender === 'visitor') mineAdded = true;
        }
        update(node, entry, !sameGroup(entries[i - 1], entry), !sameGroup(entry, entries[i + 1]));
        if (prev.nextSibling !== node.el) prev.after(node.el);
        prev = node.el;
      });
      for (const [key, node] of nodes) {
        if (!seen.has(key)) {
          node.el.remove();
          nodes.delete(key);
        } else if (node.suggestionsEl) {
          // Only the last message offers its suggestions, and only until one is picked.
          node.suggestionsEl.hidden = node.picked || node.el !== prev;
        }
      }
      if (!rendered || stick || mineAdded) toBottom();
      rendered = true;
    },
    /** `typist` (a name) is typing, or nobody (falsy); `shown`: the words are visible, not only the dots. */
    setTyping(typist, shown) {
      const stick = nearBottom();
      typingLabel.textContent = typist ? t('typing', { name: typist }) : '';
      typingLabel.className = shown ? 'who' : 'sr';
      typing.hidden = !typist;
      if (typist && stick) toBottom();
    },
    toBottom,
  };
}
