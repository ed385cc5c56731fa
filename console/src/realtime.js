/**
 * The console's realtime: one feed for the site (every message of every
 * conversation, new conversations) plus the open conversation (its messages
 * and typing). Providers are tried in the order the site's config names
 * them, each with a connect timeout; the first that connects wins, polling
 * is the fallback. The idea is widget/src/realtime.js's, for two streams.
 *
 * Push is a hint, storage is the truth: whenever the stream may have missed
 * something (a reconnect, the browser coming back online, polling instead of
 * push) `onResync()` is called and the app catches up from storage: the open
 * conversation's `messages?after=` and the inbox pages shown.
 *
 * Every state change goes through `connection.setState` (widget/src/connection.js).
 *
 * A transport is `{name, connect(), close(), watch(id), typing(), socketId(), restart()}`;
 * it calls `on.message(data, conversationId?)`, `on.created(data)`, `on.typing(data)`,
 * `on.subscribed(kind)`, `on.down()` and `on.up()` (pusher-js reconnects by itself)
 * or, once, `on.drop()` (gone: reconnecting is ours).
 */
import { createBackoff } from '../../widget/src/backoff.js';
import { createPoller } from '../../widget/src/transports/polling.js';

export const CONNECT_TIMEOUT_MS = 6000;
export const UPGRADE = { base: 5000, max: 60000 };

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: no connection within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createRealtime({
  config,
  transports, // {pusher: (on) => transport, websocket: (on) => transport}
  connection,
  onMessage = () => {},
  onCreated = () => {},
  onTyping = () => {},
  onResync = async () => {}, // catch up from storage; rejects when the API does not answer
  connectTimeoutMs = CONNECT_TIMEOUT_MS,
  backoff = createBackoff({ attempts: 6 }),
  upgradeBackoff = createBackoff({ ...UPGRADE, attempts: Infinity }),
}) {
  const order = (config.providers && config.providers.length ? config.providers : ['polling']).filter(
    (p) => p === 'polling' || transports[p],
  );
  const realtime = order.filter((p) => p !== 'polling');
  const intervalMs = (config.polling && config.polling.interval_ms) || 2000;
  let transport = null;
  let watching = null;
  let timer = null;
  let stopped = false;
  let attempt = 0; // bumps on every start, stop and drop, so a stale try cannot take over

  const resync = () => onResync().catch(() => {});

  const poller = createPoller({
    tick: onResync,
    intervalMs,
    onResult(ok) {
      const s = connection.state;
      if (s === 'polling' && !ok) connection.setState('offline', 'polling');
      else if (s === 'offline' && ok && connection.provider === 'polling') connection.setState('polling', 'polling');
    },
  });

  function handlers(name, current) {
    const live = () => current() === transport;
    return {
      message: (data, conversationId) => live() && onMessage(data, conversationId),
      created: (data) => live() && onCreated(data),
      typing: (data) => live() && onTyping(data),
      // A (re)subscription may have missed what was sent before it took effect.
      subscribed: () => live() && resync(),
      down() {
        if (!live() || stopped) return;
        if (connection.state === 'connected') connection.setState('reconnecting', name);
        poller.start();
      },
      up() {
        if (!live() || stopped) return;
        poller.stop();
        connection.setState('connected', name);
        resync();
      },
      drop: () => live() && dropped(name),
    };
  }

  async function tryConnect(name, token) {
    let t = null;
    t = transports[name](handlers(name, () => t));
    try {
      await withTimeout(t.connect(), connectTimeoutMs, name);
    } catch {
      t.close();
      return false;
    }
    if (token !== attempt || stopped) {
      t.close();
      return false;
    }
    transport = t;
    if (watching) t.watch(watching);
    return true;
  }

  async function tryAll(token, announce) {
    for (const name of realtime) {
      if (announce) connection.setState('connecting', name);
      if (await tryConnect(name, token)) {
        clearTimeout(timer);
        poller.stop();
        backoff.reset();
        upgradeBackoff.reset();
        connection.setState('connected', name);
        resync();
        return true;
      }
      if (token !== attempt || stopped) return true;
    }
    return false;
  }

  function toPolling() {
    if (connection.state !== 'polling') connection.setState('polling', 'polling');
    poller.start();
    scheduleUpgrade();
  }

  function scheduleUpgrade() {
    if (!realtime.length || stopped) return;
    const token = attempt;
    timer = setTimeout(async () => {
      if (token !== attempt || stopped) return;
      if (!(await tryAll(token, null)) && token === attempt) scheduleUpgrade();
    }, upgradeBackoff.next());
  }

  function dropped(name) {
    if (stopped) return;
    transport = null;
    const token = ++attempt;
    connection.setState('reconnecting', name);
    poller.start(); // storage delivers meanwhile
    reconnect(token);
  }

  function reconnect(token) {
    const delay = backoff.next();
    if (delay === null) {
      backoff.reset();
      toPolling();
      return;
    }
    timer = setTimeout(async () => {
      if (token !== attempt || stopped) return;
      if (!(await tryAll(token, null)) && token === attempt) reconnect(token);
    }, delay);
  }

  return {
    async start() {
      stopped = false;
      const token = ++attempt;
      if (await tryAll(token, 'connecting')) return;
      if (token === attempt && !stopped) toPolling();
    },
    stop() {
      stopped = true;
      attempt++;
      clearTimeout(timer);
      poller.stop();
      if (transport) transport.close();
      transport = null;
    },
    /** The open conversation (null: none): its channel or `watch` frame. */
    watch(conversationId) {
      watching = conversationId || null;
      if (transport) transport.watch(watching);
    },
    /** The agent types: true if the transport relays it (WebSocket), else the app POSTs. */
    typing: () => !!(transport && transport.typing()),
    socketId: () => (transport ? transport.socketId() : undefined),
    /** The browser lost the network: nothing arrives now, whatever the socket says. */
    offline() {
      if (stopped) return;
      if (connection.state !== 'offline') connection.setState('offline', connection.provider);
    },
    /**
     * The browser is back online. A socket that looks open may have died
     * meanwhile, so the transport starts over (`restart`), the API is asked
     * for what was missed, and a dropped connection skips its backoff.
     */
    online() {
      if (stopped) return;
      if (transport) {
        if (connection.state === 'offline') connection.setState('reconnecting', connection.provider);
        poller.start();
        transport.restart();
      } else if (connection.provider === 'polling' || !realtime.length) {
        connection.setState('polling', 'polling');
        poller.start();
        clearTimeout(timer);
        scheduleUpgrade();
      } else {
        clearTimeout(timer);
        const token = ++attempt;
        if (connection.state === 'offline') connection.setState('reconnecting', connection.provider);
        poller.start();
        tryAll(token, null).then((ok) => !ok && token === attempt && reconnect(token));
      }
      resync();
    },
    get transport() {
      return transport;
    },
  };
}
