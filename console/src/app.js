/**
 * Ties the pieces together: sign-in, the site, the inbox state, the open
 * conversation's store, realtime and the views. Nothing here knows a
 * transport's protocol or the DOM's details.
 */
import { createCatchUp } from '../../widget/src/catchup.js';
import { createConnection } from '../../widget/src/connection.js';
import { createBackoff } from '../../widget/src/backoff.js';
import { createApi, describe, retryable, unsupported } from './api.js';
import { createAuth } from './auth.js';
import { parseDeepLink, withoutDeepLink } from './deeplink.js';
import { createInbox, inTab, TABS } from './inbox.js';
import { installKeyboard } from './keyboard.js';
import { createMessageStore } from './messages.js';
import { createNotifier, handoffOf, requestPermission } from './notify.js';
import { createPrefs } from './prefs.js';
import { createPresence } from './presence.js';
import { createRealtime } from './realtime.js';
import { createPusherTransport } from './transport-pusher.js';
import { createWebSocketTransport } from './transport-websocket.js';
import { createThrottle, createTypingIndicator } from './typing.js';
import { visitorName } from './format.js';
import { createConversationView } from './view-conversation.js';
import { createInboxView } from './view-inbox.js';
import { createShell } from './view-shell.js';
import { createWebhooksView } from './view-webhooks.js';
import { renderMessage, renderSignIn, renderSitePicker } from './view-signin.js';

const SITE_KEY = 'parley.console.site';
const SEND_ATTEMPTS = 4;
const POLLING_ONLY = { providers: ['polling'], polling: { interval_ms: 3000 } };
const noop = () => {};

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `search` is the page's query string: `?site=K&conversation=C` (a
 * notification email's link) opens that conversation once signed in.
 */
export function createConsole({ config, root, search = globalThis.location ? globalThis.location.search : '' }) {
  const auth = createAuth({ cognito: config.cognito || {} });
  const api = createApi({ base: config.api, auth, onSignedOut: () => auth.signedIn && auth.signOut() });
  const prefs = createPrefs();
  const notifier = createNotifier({ prefs });
  let me = null;
  let sites = [];
  let ctx = null; // everything that belongs to the site shown
  // Kept in memory through the sign-in form (which never navigates), consumed on entry.
  let deepLink = parseDeepLink(search);
  let presenceState = 'off';
  const presence = createPresence({
    sites: () => sites.map((s) => s.site_key),
    beat: (s) => api.presence(s),
    // Read the token now: on sign-out this runs before the session is dropped.
    leave: (s) => api.leave(s, auth.current()),
    onState: (state) => {
      presenceState = state;
      if (ctx) ctx.shell.setPresence(state);
    },
  });

  auth.onChange((session) => {
    if (!session && me) {
      presence.stop({ leave: false }); // the token is gone: the rows run out by themselves
      closeSite();
      me = null;
      showSignIn('Your session has ended. Sign in again.');
    }
  });

  function showSignIn(notice) {
    renderSignIn(root, {
      onSubmit: async (email, password) => {
        await auth.signIn(email, password);
        enter();
      },
    });
    if (notice) {
      const error = root.querySelector('[data-testid=signin-error]');
      error.textContent = notice;
      error.hidden = false;
    }
  }

  async function enter() {
    let res;
    try {
      res = await api.me();
    } catch (err) {
      if (!auth.signedIn) return showSignIn(describe(err));
      return renderMessage(root, { title: 'Cannot load your account', text: describe(err), onRetry: enter, onSignOut: signOut });
    }
    me = res.agent;
    sites = res.sites || [];
    if (!sites.length) {
      return renderMessage(root, { title: 'No site yet', text: 'You are not a member of any site. Ask an admin to invite you.', onSignOut: signOut });
    }
    presence.start();
    const link = takeDeepLink();
    if (link && sites.some((s) => s.site_key === link.site)) return openSite(link.site, { conversation: link.conversation });
    const notice = link ? `That link is for the site “${link.site}”, which you are not a member of.` : null;
    const saved = sessionStorage.getItem(SITE_KEY);
    if (sites.length === 1) openSite(sites[0].site_key, { notice });
    else if (sites.some((s) => s.site_key === saved)) openSite(saved, { notice });
    else renderSitePicker(root, { sites, onPick: (key) => openSite(key), onSignOut: signOut, notice });
  }

  /** The deep link, once: it leaves the address bar too, so a reload later starts as usual. */
  function takeDeepLink() {
    const link = deepLink;
    deepLink = null;
    if (link && globalThis.history && globalThis.location) {
      try {
        history.replaceState(history.state, '', withoutDeepLink(location.href));
      } catch {
        // not allowed here (a sandboxed frame): the link simply stays in the address bar
      }
    }
    return link;
  }

  function signOut() {
    sessionStorage.removeItem(SITE_KEY);
    const inside = !!me; // the auth listener shows the sign-in form for a signed-in agent
    presence.stop(); // before the session goes: the DELETE needs its token
    auth.signOut();
    if (!inside) showSignIn();
  }

  // -- the site -------------------------------------------------------------------
  function closeSite() {
    if (!ctx) return;
    ctx.realtime && ctx.realtime.stop();
    ctx.teardown.forEach((fn) => fn());
    ctx = null;
  }

  async function openSite(siteKey, { conversation = null, notice = null } = {}) {
    closeSite();
    sessionStorage.setItem(SITE_KEY, siteKey);
    const membership = sites.find((s) => s.site_key === siteKey) || {};
    const c = {
      site: siteKey,
      role: membership.role || 'agent',
      tab: 'pending',
      inbox: createInbox({ meId: me.id }),
      connection: createConnection(),
      open: null,
      members: null,
      realtime: null,
      teardown: [],
      renderQueued: false,
    };
    ctx = c;
    c.shell = createShell(root, {
      agent: me,
      site: siteKey,
      sites,
      prefs,
      onSwitchSite: openSite,
      onSignOut: signOut,
      onEnableNotifications: () => requestPermission().catch(noop),
      // Webhooks and their log are for the site's admins (the API answers 403 admin_only to others).
      onWebhooks: c.role === 'admin' ? () => openWebhooks() : null,
      presence: presenceState,
    });
    c.webhooks = createWebhooksView({ onRefresh: () => loadWebhooks(), onClose: () => closeWebhooks() });
    c.shell.addOverlay(c.webhooks.el, { isOpen: () => c.webhooks.open, close: () => closeWebhooks() });
    c.wh = { seq: 0, webhooks: null, deliveries: null, error: null, unavailable: false, loading: false };
    c.inboxView = createInboxView({ tablist: c.shell.tablist, list: c.shell.list, onTab: selectTab, onOpen: openConversation, onLoadMore: () => loadTab(c.tab, { append: true }).catch(showError) });
    c.convView = createConversationView({
      root: c.shell.conversation,
      onSend: send,
      onRetry: retry,
      onTyping: () => c.typingOut(),
      onAction: act,
      onLoadEarlier: loadEarlier,
      onClose: back,
    });
    c.typingIn = createTypingIndicator({ onChange: (who) => c.convView.setTyping(who) });
    c.typingOut = createThrottle(() => {
      if (!c.open || (c.realtime && c.realtime.typing())) return;
      api.typing(c.site, c.open.id).catch(noop);
    });
    c.connection.on((change) => c.shell.setConnection(change));
    c.shell.setConnection(c.connection);

    const listen = (target, event, fn) => {
      target.addEventListener(event, fn);
      c.teardown.push(() => target.removeEventListener(event, fn));
    };
    listen(window, 'online', () => c.realtime && c.realtime.online());
    listen(window, 'offline', () => c.realtime && c.realtime.offline());
    listen(document, 'visibilitychange', markRead);
    listen(window, 'focus', markRead);
    const ticker = setInterval(render, 30000); // "waiting 5m" moves on
    c.teardown.push(() => clearInterval(ticker));
    c.teardown.push(installKeyboard(document, {
      closeOverlays: () => c.shell.closeOverlays(),
      back,
      showShortcuts: () => c.shell.toggleShortcuts(true),
      selectTab: (i) => {
        selectTab(TABS[i]);
        c.inboxView.focusTab();
      },
      move: (d) => c.inboxView.move(d),
      reply: () => c.convView.focusComposer(),
      inTablist: (el) => c.shell.tablist.contains(el),
    }));
    render();
    if (notice) c.shell.toast(notice);
    if (conversation) openConversation(conversation, { reveal: true });

    await Promise.all(TABS.map((t) => loadTab(t).catch(showError)));
    if (ctx !== c) return;
    let rt = POLLING_ONLY;
    try {
      rt = ((await api.realtimeConfig(siteKey)) || {}).realtime || POLLING_ONLY;
    } catch (err) {
      console.warn('Parley console: no realtime config, polling', err);
    }
    if (ctx !== c) return;
    c.realtime = createRealtime({
      config: rt,
      transports: {
        pusher: (on) => createPusherTransport({ config: rt, authEndpoint: api.pusherAuthEndpoint(), token: auth.current, site: siteKey, on }),
        websocket: (on) => createWebSocketTransport({ config: rt, token: auth.current, site: siteKey, on }),
      },
      connection: c.connection,
      onMessage: received,
      onCreated: created,
      onTyping: typing,
      onResync: resync,
    });
    if (c.open) c.realtime.watch(c.open.id);
    c.realtime.start();
  }

  function showError(err) {
    if (ctx) ctx.shell.toast(describe(err));
  }

  // -- rendering (batched: a burst of events renders once) -----------------------
  function render() {
    const c = ctx;
    if (!c || c.renderQueued) return;
    c.renderQueued = true;
    queueMicrotask(() => {
      c.renderQueued = false;
      if (ctx !== c) return;
      c.inboxView.renderTabs(c.inbox.counts(), c.tab);
      c.inboxView.renderRows(c.inbox.rows(c.tab), { tab: c.tab, activeId: c.open && c.open.id, hasMore: !!c.inbox.cursor(c.tab) });
      if (c.open) {
        const summary = c.inbox.get(c.open.id);
        if (summary) c.convView.renderSummary(summary, { meId: me.id, role: c.role, members });
        c.convView.renderMessages(c.open.store.list(), { hasEarlier: c.open.hasEarlier });
        markRead();
      }
    });
  }

  // -- the inbox --------------------------------------------------------------------
  async function loadTab(tab, { append = false } = {}) {
    const c = ctx;
    const shown = c.inbox.rows(tab).length;
    const limit = append ? 25 : Math.min(50, Math.max(25, shown));
    const res = await api.inbox(c.site, tab, { cursor: append ? c.inbox.cursor(tab) || undefined : undefined, limit });
    if (ctx !== c) return;
    const list = res.conversations || [];
    // Polling (or a reconnect) sees a handoff as a new pending row; the first load is no news.
    if (tab === 'pending' && c.inbox.loaded('pending')) {
      for (const s of list) {
        const known = c.inbox.get(s.conversation_id);
        if (!known || known.status !== 'pending') announce(handoffOf('summary', s), s);
      }
    }
    c.inbox.setPage(tab, list, res.next_cursor, { append, keep: c.open && c.open.id });
    render();
  }

  function selectTab(tab) {
    if (!ctx || !TABS.includes(tab)) return;
    ctx.tab = tab;
    render();
    loadTab(tab).catch(showError);
  }

  const fetching = new Set();
  function refreshSummary(id) {
    const c = ctx;
    if (!c || fetching.has(id)) return;
    fetching.add(id);
    api.conversation(c.site, id).then((res) => {
      if (ctx !== c || !res) return;
      const had = c.inbox.get(id);
      c.inbox.upsert(res.conversation);
      if (!had) announce(handoffOf('summary', res.conversation), res.conversation);
      render();
    }, noop).finally(() => fetching.delete(id));
  }

  function announce(handoff, summary) {
    if (!handoff) return;
    const s = summary || (ctx && ctx.inbox.get(handoff.conversationId));
    notifier.handoff(handoff, { body: s ? `${visitorName(s)} asked for a person` : 'A visitor asked for a person' });
  }

  /** Storage is the truth: the inbox pages shown and the open conversation, after a reconnect or per poll. */
  async function resync() {
    const c = ctx;
    if (!c) return;
    const jobs = [loadTab(c.tab)];
    if (c.tab !== 'pending') jobs.push(loadTab('pending'));
    if (c.open && !c.open.loading) jobs.push(c.open.catchUp());
    await Promise.all(jobs);
  }

  // -- realtime events --------------------------------------------------------------
  function received(data, channelConversation) {
    const c = ctx;
    if (!c || !data) return;
    const id = data.conversation_id || channelConversation;
    if (!id) return;
    if (!Number.isInteger(data.seq)) {
      // A thin notice ({last_seq}): the message was too big to push; storage has it.
      if (c.open && c.open.id === id) c.open.catchUp().catch(noop);
      refreshSummary(id);
      return;
    }
    const m = data.conversation_id ? data : { ...data, conversation_id: id };
    note(m);
    if (c.open && c.open.id === id) {
      if (c.open.loading) c.open.buffer.push(m);
      else c.open.store.add(m);
      if (m.sender === 'visitor') c.typingIn.hide();
    }
    render();
  }

  /** A message (pushed or fetched) updates its inbox row, and may be a handoff. */
  function note(m) {
    const c = ctx;
    const r = c.inbox.applyMessage(m);
    if (r.unknown) refreshSummary(r.unknown);
    const e = m.sender === 'system' && m.event;
    if (e && e.status) {
      if (e.status === 'pending') announce(handoffOf('message', m));
      else notifier.forget(m.conversation_id);
    }
  }

  function created(data) {
    if (!ctx) return;
    const s = data && (data.conversation || data);
    ctx.inbox.applyCreated(data);
    announce(handoffOf('created', data), s);
    render();
  }

  function typing(data) {
    const c = ctx;
    if (!c || !c.open || !data) return;
    if (data.conversation_id && data.conversation_id !== c.open.id) return;
    if (data.sender !== 'visitor') return; // an agent's own typing comes back too
    const s = c.inbox.get(c.open.id);
    c.typingIn.show(s && s.visitor && s.visitor.name ? s.visitor.name : 'Visitor');
  }

  // -- the open conversation ----------------------------------------------------------
  async function openConversation(id, { reveal = false } = {}) {
    const c = ctx;
    if (!c || !id) return;
    if (c.open && c.open.id === id) return c.convView.focusComposer();
    closeConversation();
    const store = createMessageStore({ onChange: render, onGap: () => o.catchUp().catch(noop) });
    const o = {
      id,
      store,
      loading: true,
      buffer: [],
      hasEarlier: false,
      readSent: 0,
      catchUp: createCatchUp({
        store,
        fetchAfter: async (after) => {
          const page = await api.messagesAfter(c.site, id, after);
          for (const m of page.messages || []) note({ ...m, conversation_id: id });
          return page;
        },
      }),
    };
    c.open = o;
    c.typingOut.reset();
    c.convView.show(c.inbox.get(id) || { conversation_id: id });
    if (c.realtime) c.realtime.watch(id);
    render();
    try {
      const res = await api.conversation(c.site, id);
      if (c.open !== o) return;
      c.inbox.upsert(res.conversation);
      o.readSent = (res.conversation && res.conversation.agent_read_seq) || 0;
      o.hasEarlier = !!res.has_more;
      o.loading = false;
      store.seed(res.messages || [], res.last_seq || 0);
      if (o.buffer.length) store.add(o.buffer.splice(0));
      // Opened from a link: show the tab the conversation is in, so its row is there too.
      const s = reveal && res.conversation;
      if (s && !inTab(c.tab, s, me.id)) {
        const tab = TABS.find((t) => inTab(t, s, me.id));
        if (tab) selectTab(tab);
      }
    } catch (err) {
      if (c.open !== o) return;
      o.loading = false;
      c.convView.setError(describe(err));
    }
    render();
    c.convView.focusComposer();
  }

  function closeConversation() {
    const c = ctx;
    if (!c || !c.open) return;
    c.open = null;
    c.typingIn.hide();
    if (c.realtime) c.realtime.watch(null);
    c.convView.show(null);
    render();
  }

  function back() {
    const c = ctx;
    if (!c) return;
    const id = c.open && c.open.id;
    closeConversation();
    // Back where the agent was: the row, else (it left this tab) the tab itself.
    queueMicrotask(() => ctx === c && (c.inboxView.focusRow(id) || c.inboxView.focusTab()));
  }

  async function loadEarlier() {
    const c = ctx;
    const o = c && c.open;
    if (!o || !o.store.firstSeq) return;
    try {
      const page = await api.messagesBefore(c.site, o.id, o.store.firstSeq, 50);
      o.hasEarlier = !!page.has_more;
      o.store.addHistory(page.messages || []);
      render();
    } catch (err) {
      showError(err);
    }
  }

  let readTimer = null;
  /** The read mark follows what the agent can see: the open conversation, in a visible tab. */
  function markRead() {
    const c = ctx;
    const o = c && c.open;
    if (!o || o.loading || document.visibilityState !== 'visible') return;
    const seq = o.store.contiguousSeq;
    if (seq <= o.readSent) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (ctx !== c || c.open !== o || seq <= o.readSent) return;
      const before = o.readSent;
      o.readSent = seq;
      c.inbox.markRead(o.id, seq);
      render();
      api.read(c.site, o.id, seq).then((res) => {
        if (ctx === c && res && res.conversation) c.inbox.upsert(res.conversation);
      }, () => {
        if (o.readSent === seq) o.readSent = before;
      });
    }, 300);
  }

  // -- replying and acting --------------------------------------------------------------
  function send(text) {
    const c = ctx;
    if (!c || !c.open) return;
    const cmid = newId();
    c.open.store.addPending(cmid, text, { sender_name: me.name });
    deliver(c, c.open, cmid, text);
  }

  function retry(cmid) {
    const c = ctx;
    if (!c || !c.open) return;
    const text = c.open.store.retry(cmid);
    if (text !== null) deliver(c, c.open, cmid, text);
  }

  /** Sends a reply; a failure worth retrying is retried with the same client_message_id (stored once). */
  async function deliver(c, o, cmid, text) {
    const delays = createBackoff({ base: 1000, max: 8000, attempts: SEND_ATTEMPTS });
    for (;;) {
      try {
        const res = await api.reply(c.site, o.id, { text, client_message_id: cmid, socket_id: c.realtime ? c.realtime.socketId() : undefined });
        if (res.message) note({ ...res.message, conversation_id: o.id });
        o.store.confirm(cmid, res.message);
        // Replying to a pending conversation claims it first: that system message sits below the reply.
        if (res.last_seq > o.store.contiguousSeq) o.catchUp().catch(noop);
        render();
        return;
      } catch (err) {
        const delay = retryable(err) ? delays.next() : null;
        if (delay === null || c.open !== o) {
          o.store.fail(cmid, describe(err));
          return;
        }
        await sleep(500 + delay);
      }
    }
  }

  async function act(action, body) {
    const c = ctx;
    const o = c && c.open;
    if (!o) return;
    c.convView.setError(null);
    try {
      const res = await api.act(c.site, o.id, action, body);
      if (ctx !== c) return;
      if (res.message) {
        note({ ...res.message, conversation_id: o.id });
        if (c.open === o) o.store.add({ ...res.message, conversation_id: o.id });
      }
      if (res.conversation) c.inbox.upsert(res.conversation);
      render();
    } catch (err) {
      c.convView.setError(describe(err));
      if (err.status === 409) refreshSummary(o.id); // someone else moved first: show where it stands
    }
  }

  function members() {
    const c = ctx;
    if (!c) return [];
    if (!c.members) {
      c.members = api.members(c.site).then((r) => r.members || [], (err) => {
        c.members = null;
        showError(err);
        return [];
      });
    }
    return c.members;
  }

  // -- webhooks (read-only; the site CLI registers them) --------------------------------------
  function openWebhooks() {
    const c = ctx;
    if (!c) return;
    c.webhooks.show(c.site);
    loadWebhooks();
  }

  function closeWebhooks() {
    const c = ctx;
    if (!c || !c.webhooks.open) return;
    c.webhooks.hide();
    const button = root.querySelector('[data-testid=webhooks-button]');
    if (button) button.focus();
  }

  /** Both lists at once; a backend without the routes (404) makes the panel say so, never throws. */
  async function loadWebhooks() {
    const c = ctx;
    if (!c) return;
    const w = c.wh;
    const mine = ++w.seq;
    w.loading = true;
    c.webhooks.render({ ...w, site: c.site });
    const [hooks, log] = await Promise.allSettled([api.webhooks(c.site), api.deliveries(c.site, 50)]);
    if (ctx !== c || w.seq !== mine) return;
    w.loading = false;
    const failed = [hooks, log].filter((r) => r.status === 'rejected').map((r) => r.reason);
    w.unavailable = failed.some(unsupported);
    w.error = failed.length && !w.unavailable ? describe(failed[0]) : null;
    if (hooks.status === 'fulfilled') w.webhooks = (hooks.value && Array.isArray(hooks.value.webhooks)) ? hooks.value.webhooks : [];
    if (log.status === 'fulfilled') w.deliveries = (log.value && Array.isArray(log.value.deliveries)) ? log.value.deliveries : [];
    c.webhooks.render({ ...w, site: c.site });
  }

  // -- for tests and the console ------------------------------------------------------------
  function state() {
    const c = ctx;
    const s = c ? c.connection.state : 'idle';
    return {
      signedIn: auth.signedIn,
      site: c ? c.site : null,
      provider: c ? c.connection.provider : null,
      connected: s === 'connected' || s === 'polling',
      openConversation: c && c.open ? c.open.id : null,
      contiguousSeq: c && c.open ? c.open.store.contiguousSeq : 0,
      presence: presenceState,
    };
  }

  return {
    start() {
      if (auth.signedIn) enter();
      else showSignIn();
    },
    state,
    signOut,
  };
}
