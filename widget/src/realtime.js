/**
 * Chooses and keeps a provider: Pusher, then the WebSocket API, then
 * polling, in the order config names them, each with a connect timeout. A
 * dropped connection is retried with backoff (5 attempts from 1 s, full
 * jitter), during which the widget polls so nothing waits (state
 * `reconnecting`, provider `polling`); after the fifth failure it settles on
 * polling (state `polling`) and keeps trying to upgrade in the background.
 * Every (re)connect catches up (catchup.js): push is a hint, storage is the
 * truth. A slow bot's `ChatReplyDelta` hints go to `onDelta` (replies.js);
 * polling brings only stored messages, so a polling client sees the final
 * reply only.
 *
 * Every delay here (connect timeout, backoff, stable and upgrade timers, the
 * polling interval) is a global setTimeout, so a test drives them all with a
 * fake clock (node:test's mock.timers).
 */
import { createBackoff } from './backoff.js';
import { createCatchUp } from './catchup.js';
import { createPoller } from './transports/polling.js';

export const CONNECT_TIMEOUT_MS = 5000;
// A connection counts as good (and the backoff starts over) only once it has
// stayed up this long: a server that accepts and drops at once must still
// end in polling, not in a tight reconnect loop.
export const STABLE_MS = 10000;
export const UPGRADE = { base: 4000, max: 20000 };

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: no connection within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createRealtime({
  config,
  transports, // {pusher: factory, websocket: factory}
  connection,
  store,
  fetchAfter, // (after) => Promise<{messages, last_seq, has_more}>
  onTyping = () => {},
  onDelta = () => {},
  connectTimeoutMs = CONNECT_TIMEOUT_MS,
  stableMs = STABLE_MS,
  backoff = createBackoff(),
  upgradeBackoff = createBackoff({ ...UPGRADE, attempts: Infinity }),
  random = Math.random,
}) {
  const order = (config.providers || ['polling']).filter((p) => p === 'polling' || transports[p]);
  const realtime = order.filter((p) => p !== 'polling');
  const intervalMs = (config.polling && config.polling.interval_ms) || 2000;
  let transport = null;
  let timer = null;
  let stable = null;
  let stopped = false;
  let attempt = 0; // bumps on every start, stop, drop and nudge, so a stale try cannot take over

  const catchUp = createCatchUp({ store, fetchAfter });

  const poller = createPoller({
    tick: catchUp,
    intervalMs,
    onResult(ok) {
      const s = connection.state;
      if (s === 'polling' && !ok) connection.setState('offline', 'polling');
      else if (s === 'offline' && ok && connection.provider === 'polling') connection.setState('polling', 'polling');
    },
  });

  // -- transports -------------------------------------------------------------
  function handlers(name, current) {
    return {
      message(data) {
        if (!data) return;
        if (Number.isInteger(data.seq)) store.add(data);
        else if (Number.isInteger(data.last_seq) && data.last_seq > store.contiguousSeq) catchUp().catch(() => {});
      },
      typing: (data) => onTyping(data, name),
      delta: (data) => data && onDelta(data, name),
      // Only the transport in use can drop; one replaced meanwhile is already closed.
      drop: () => current() === transport && dropped(),
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
    return true;
  }

  function connected(name) {
    clearTimeout(timer);
    poller.stop();
    upgradeBackoff.reset();
    stable = setTimeout(() => backoff.reset(), stableMs);
    connection.setState('connected', name);
    catchUp().catch(() => {});
  }

  async function tryAll(token, announce) {
    for (const name of realtime) {
      if (announce) connection.setState(announce, name);
      if (await tryConnect(name, token)) {
        connected(name);
        return true;
      }
      if (token !== attempt || stopped) return true;
    }
    return false;
  }

  function toPolling() {
    connection.setState('polling', 'polling');
    poller.start();
    scheduleUpgrade();
  }

  function scheduleUpgrade() {
    if (!realtime.length || stopped) return;
    const token = attempt;
    // Equal jitter: half fixed, half random, so an upgrade never hammers at 0 ms.
    const ceiling = upgradeBackoff.next();
    const delay = ceiling / 2 + random() * (ceiling / 2);
    timer = setTimeout(async () => {
      if (token !== attempt || stopped) return;
      if (!(await tryAll(token, null)) && token === attempt) scheduleUpgrade();
    }, delay);
  }

  function dropped() {
    if (stopped) return;
    transport = null;
    clearTimeout(stable);
    const token = ++attempt;
    // Polling delivers until a reconnect succeeds, so it is the provider meanwhile;
    // the attempts run in the background, as upgrades do.
    connection.setState('reconnecting', 'polling');
    poller.start();
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
      clearTimeout(stable);
      poller.stop();
      if (transport) transport.close();
      transport = null;
    },
    /** Reconnect now (the browser came back online), skipping what is left of a backoff. */
    nudge() {
      if (stopped) return;
      const s = connection.state;
      if (s === 'reconnecting' || s === 'polling' || s === 'offline') {
        clearTimeout(timer);
        const token = ++attempt;
        tryAll(token, null).then((ok) => {
          if (!ok && token === attempt) {
            if (connection.state === 'reconnecting') reconnect(token);
            else scheduleUpgrade();
          }
        });
      }
      catchUp().catch(() => {});
    },
    /** Fetches everything after the contiguous seq; calls made meanwhile coalesce into one more. */
    catchUp,
    socketId: () => (transport ? transport.socketId() : undefined),
    typing: () => transport && transport.typing(),
    get transport() {
      return transport;
    },
  };
}
