/**
 * Ties the pieces together: the session, the store, the connection state
 * machine, the realtime chooser and the UI. Nothing here knows a transport's
 * protocol or the DOM's details.
 */
import { ApiError, createApi } from './api.js';
import { availabilityText, within } from './availability.js';
import { retrying } from './backoff.js';
import { createConnection } from './connection.js';
import { createContact } from './contact.js';
import { createHandoff } from './handoff.js';
import { createOutbox } from './outbox.js';
import { createRealtime } from './realtime.js';
import { createReplies } from './replies.js';
import { createSession } from './session.js';
import { reduceStatus } from './status.js';
import { createStore } from './store.js';
import { createPusherTransport } from './transports/pusher.js';
import { createWebSocketTransport } from './transports/websocket.js';
import { createUI } from './ui/index.js';
import { MAX_LENGTH } from './ui/composer.js';

const TYPING_SHOWN_MS = 4000;
const READY_WAIT_MS = 15000;

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/** An error that retrying will not fix: the site is unknown or this origin is not on its list. */
function fatal(err) {
  return err instanceof ApiError && (err.status === 403 || err.status === 404 || err.status === 400);
}

export function createApp(options) {
  // The shell's words (parley.js carries the tables; this bundle does not carry them twice).
  const { locale, t } = options.shell;
  const api = createApi(options.api, options.siteKey);
  const session = createSession({ siteKey: options.siteKey, api, locale });
  const connection = createConnection();
  const listeners = { state: new Set(), message: new Set(), open: new Set(), close: new Set() };
  let realtime = null;
  let title = options.title || t('title');
  let sending = 0;
  let remoteTyping = null;
  let typist = null; // the agent's name while one types
  let seed = null; // init's {status, assignee}
  let status = null; // the status shown (seed, then system messages): {status, assignee}
  let agentName = null;
  let availability = null; // the freshest of config's, init's and handoff's (issue 13); null: an older backend
  let desk = {}; // config's prechat and transcripts
  let asked = false; // the visitor pressed "Talk to a person": the email form, if it comes, takes focus

  function emit(event, payload) {
    for (const fn of listeners[event] || []) {
      try {
        fn(payload);
      } catch (err) {
        console.error(err);
      }
    }
  }

  const store = createStore({
    onChange: render,
    onGap: () => catchUp(),
  });
  // A slow bot's reply as it is written (ChatReplyDelta), until its stored message is here.
  const replies = createReplies({
    stored: (id) => store.hasReply(id),
    onChange: render,
    onExpire: () => catchUp(),
  });

  function catchUp() {
    if (realtime) realtime.catchUp().catch(() => {});
  }

  const ui = createUI({
    t,
    locale,
    title,
    shell: options.shell,
    onSend: (text) => send(text),
    onRetry: (id) => retry(id),
    onTyping: () => realtime && realtime.typing(),
    onHandoff: () => handoff(),
    onTranscript: () => downloadTranscript(),
    onDelete: () => forget(),
    onPrechat: (values) => contact.stage(values),
    onContact: (body) => contact.save(body),
    onOpenChange(open) {
      if (open) markRead();
      render();
      emit(open ? 'open' : 'close');
    },
  });
  if (options.greeting) ui.setGreeting(options.greeting);

  const seenKeys = new Set();
  function render() {
    replies.settle(); // a stored reply replaces its draft (ui/messages.js: in place)
    // The drafts have no seq: status, unread and message events go by the stored ones only.
    const entries = store.list(replies.list());
    ui.render(entries);
    const next = seed && reduceStatus(seed, entries, store.contiguousSeq);
    if (next !== status) {
      status = next;
      agentName = (next.assignee && next.assignee.name) || null;
      ui.setConversation(next.status, agentName);
      showDesk();
      emit('state', state());
    }
    showTyping();
    if (ui.isOpen) markRead();
    const read = session.read;
    ui.setUnread(ui.isOpen ? 0 : entries.filter((e) => e.seq > read && e.sender !== 'visitor').length);
    // In seq order: a message above a gap waits for the ones below it.
    for (const e of entries) {
      if (e.seq && e.seq <= store.contiguousSeq && !seenKeys.has(e.seq)) {
        seenKeys.add(e.seq);
        if (e.sender === 'agent') stopTyping(); // the message they were typing is here
        emit('message', { ...e });
      }
    }
  }

  // -- nobody at the desk: availability, the email form --------------------------
  const contact = createContact({
    post: (body) => authed((token) => api.contact(token, { conversation_id: session.conversationId, ...body })),
  });

  function setAvailability(a) {
    if (!a) return;
    availability = a;
    showDesk();
  }

  /**
   * The header's availability line (not while an agent holds the
   * conversation), and the email form while a person is awaited and nobody
   * is online.
   */
  function showDesk() {
    const s = status && status.status;
    ui.setAvailability(s === 'open' ? '' : availabilityText(t, availability, locale));
    const capture = s === 'pending' && availability && availability.online === false;
    ui.setCapture(capture ? {
      contact: contact.current,
      name: ['optional', 'required'].includes(desk.prechat && desk.prechat.name),
      transcript: desk.transcripts === true,
      lead: t('leave', { when: availabilityText(t, availability, locale) }),
      within: within(t, availability.reply_within_hours),
      focus: asked,
    } : null);
    if (capture) asked = false;
  }

  function markRead() {
    session.read = store.highestSeq;
  }

  /**
   * An agent typing, else the bot answering (only the bot answers in status
   * bot): a send under way, or a reply it announced (reply_pending) whose
   * text has not started. A reply being written shows itself instead.
   */
  function showTyping() {
    if (typist !== null) ui.setTyping(typist, true);
    else {
      const answering = (sending > 0 || replies.awaited) && !replies.list().length;
      ui.setTyping(answering && (!status || status.status === 'bot') && title);
    }
  }

  function stopTyping() {
    clearTimeout(remoteTyping);
    typist = null;
    showTyping();
  }

  function state() {
    const seq = store.contiguousSeq;
    // lastSeq is the name this value had first, kept for pages and tests that read it.
    return {
      provider: connection.provider,
      connected: connection.connected,
      contiguousSeq: seq,
      lastSeq: seq,
      status: status && status.status,
      agentName,
    };
  }

  connection.on((change) => {
    ui.setStatus(change);
    emit('state', state());
  });
  ui.setStatus(connection);

  /**
   * A call with the visitor's token. A 401 `token_revoked` means another tab
   * of this visitor resumed the conversation (which revokes earlier tokens)
   * and saved the new token: the call goes once more with it.
   */
  async function authed(call) {
    try {
      return await call(session.token);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'token_revoked' && session.adoptSaved())) throw err;
      return call(session.token);
    }
  }

  // -- sending ----------------------------------------------------------------
  const outbox = createOutbox({
    store,
    post: (id, text) => authed((token) => api.send(token, {
      conversation_id: session.conversationId,
      text,
      client_message_id: id,
      socket_id: realtime ? realtime.socketId() : undefined,
    })),
  });

  async function deliver(id, text) {
    sending++;
    showTyping();
    try {
      const started = await Promise.race([begin(), new Promise((r) => setTimeout(() => r(false), READY_WAIT_MS))]);
      if (!started) throw new Error('no conversation yet');
      await contact.flush().catch(() => {}); // the pre-chat fields, right after init; never fails the message
      const res = await outbox(id, text);
      // A slow bot answers later: reply null, reply_pending {reply_id, reply_to_seq}.
      store.add([res.message, res.reply].filter(Boolean));
      replies.expect(res.reply_pending);
    } catch {
      store.fail(id);
    } finally {
      sending--;
      showTyping();
    }
  }

  function send(text) {
    const body = String(text ?? '').trim().slice(0, MAX_LENGTH);
    if (!body) return;
    const id = newId();
    store.addPending(id, body);
    deliver(id, body);
  }

  function retry(id) {
    const text = store.retry(id);
    if (text !== null) deliver(id, text);
  }

  // Already pending or open (no message): the system message that says so is fetched.
  const handoff = createHandoff({
    request: async () => {
      if (!(await begin())) throw new Error('no conversation yet');
      await contact.flush().catch(() => {});
      const res = await authed((token) => api.handoff(token, { conversation_id: session.conversationId }));
      asked = true;
      setAvailability(res.availability); // the freshest: decides whether the email form shows
      return res;
    },
    add(m) {
      if (m) store.add(m);
      else realtime.catchUp().catch(() => {});
      asked = false;
    },
    onFailed: ui.setHandoffFailed,
  });

  // -- starting ---------------------------------------------------------------
  function applySiteSettings(widget = {}) {
    if (!options.title && widget.title) {
      title = widget.title;
      ui.setTitle(title);
    }
    if (!options.greeting) ui.setGreeting(widget.greeting || t('greeting'));
  }

  function startRealtime(realtimeConfig) {
    const config = realtimeConfig || { providers: ['polling'] };
    realtime = createRealtime({
      config,
      transports: {
        pusher: (on) => createPusherTransport({
          config, session, apiBase: options.api, siteKey: options.siteKey, on, api, chunkBase: options.chunkBase,
        }),
        websocket: (on) => createWebSocketTransport({ config, session, on }),
      },
      connection,
      store,
      fetchAfter: (after) => authed((token) => api.messages(token, session.conversationId, after)),
      onTyping(data) {
        // The visitor's own typing (from another tab) is for agents' consoles, not for them.
        if (data && data.sender === 'visitor') return;
        clearTimeout(remoteTyping);
        remoteTyping = setTimeout(stopTyping, TYPING_SHOWN_MS);
        typist = (data && data.name) || t('agent');
        showTyping();
      },
      onDelta(data) {
        if (!data.conversation_id || data.conversation_id === session.conversationId) replies.delta(data);
      },
    });
    return realtime.start();
  }

  /** A 4xx that retrying cannot fix (unknown site, origin not listed): the widget goes, the console says why. */
  function giveUp(err) {
    console.warn(`Parley: ${err.message} (site ${options.siteKey})`);
    if (connection.state !== 'idle') connection.setState('idle', null);
    ui.destroy();
  }

  /**
   * The conversation: resumed at once when this browser holds one, else
   * created by the visitor's first message (or "Talk to a person"), so a
   * visitor who only looks stores nothing and opens no socket. init is
   * retried with backoff (after a 429: its Retry-After); resolves once the
   * conversation is there (realtime then connects in the background).
   */
  let begun = null;
  let epoch = 0; // bumps when the conversation is deleted: a start still under way then is dropped
  function begin() {
    if (!begun) {
      const mine = ++epoch;
      begun = new Promise((resolve) => {
        retrying(async () => {
          if (mine !== epoch) return;
          connection.setState('connecting', null);
          const res = await session.start();
          if (mine !== epoch) return;
          // A backend without the agent side answers no status: the bot it is.
          seed = { status: res.status || 'bot', assignee: res.assignee };
          contact.current = res.contact || null;
          ui.setPrechat(null); // there is a conversation: the pre-chat fields are for a first message
          setAvailability(res.availability);
          store.seed(res.messages || [], res.last_seq || 0);
          render(); // the status, even with no message yet
          ui.setHasConversation(true);
          resolve(true);
          await startRealtime(res.realtime);
        }, (err) => {
          if (fatal(err)) {
            giveUp(err);
            resolve(false);
            return true;
          }
          if (connection.state !== 'offline') connection.setState('offline', null);
        });
      });
    }
    return begun;
  }

  /** The transcript as a text file, through the browser's download (the page is not left). */
  async function downloadTranscript() {
    const text = await authed((token) => api.transcript(token, session.conversationId));
    const href = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    const a = document.createElement('a');
    a.href = href;
    a.download = `conversation-${session.conversationId}.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(href), 0);
  }

  /**
   * Deletes the conversation on the server (which revokes its tokens), then
   * here: the widget is as on a first visit, and the next message starts a
   * new conversation. Already gone (404) is done too.
   */
  async function forget() {
    try {
      await authed((token) => api.deleteConversation(token, session.conversationId));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    if (realtime) realtime.stop();
    realtime = null;
    begun = null;
    epoch++;
    session.clear();
    seenKeys.clear();
    replies.clear();
    store.clear();
    if (connection.state !== 'idle') connection.setState('idle', null);
    seed = { status: 'bot', assignee: null };
    contact.current = null;
    contact.stage(null);
    ui.resetCapture();
    ui.setPrechat(desk.prechat);
    ui.setHasConversation(false);
    render();
  }

  /** config (title, greeting; cacheable), and the conversation only if there is one to resume. */
  function start() {
    api.config().then((c) => {
      applySiteSettings(c.widget);
      desk = { prechat: c.prechat, transcripts: c.transcripts };
      if (!begun) ui.setPrechat(c.prechat);
      setAvailability(c.availability);
    }, (err) => {
      if (fatal(err)) giveUp(err);
      else applySiteSettings(); // defaults; the conversation may still work
    });
    if (session.saved) begin();
    else {
      // No conversation yet: the bot answers the first message, and "Talk to a person" is there.
      seed = { status: 'bot', assignee: null };
      render();
    }
  }

  window.addEventListener('online', () => realtime && realtime.nudge());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') catchUp();
  });

  start();

  return {
    open: () => ui.open(),
    close: () => ui.close(),
    toggle: () => ui.toggle(),
    send,
    state,
    on(event, fn) {
      if (listeners[event] && typeof fn === 'function') listeners[event].add(fn);
    },
    off(event, fn) {
      if (listeners[event]) listeners[event].delete(fn);
    },
  };
}
