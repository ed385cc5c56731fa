/**
 * The connection state machine. Every change goes through `setState`, which
 * checks the transition and tells every listener: the status line, the
 * `Parley.state()` snapshot and the logs all read from here, never from a
 * transport, so they cannot disagree and no invalid jump goes unnoticed.
 *
 *   idle ─► connecting ─► connected ◄──────────┐
 *              │   ▲          │                │
 *              ▼   │          ▼                │
 *           polling ◄─── reconnecting ─────────┘
 *              │ ▲            │
 *              ▼ │            ▼
 *             offline ◄───────┘
 *
 * `connecting` is the first try of the providers in order (the provider is
 * the one being tried); `reconnecting` the backoff after a realtime
 * connection dropped (polling meanwhile, so the provider is `polling`);
 * `polling` the fallback (which keeps trying to upgrade in the background);
 * `offline` when not even the HTTP API answers.
 */
export const STATES = ['idle', 'connecting', 'connected', 'reconnecting', 'polling', 'offline'];

const ALLOWED = {
  idle: ['connecting', 'polling', 'offline'],
  connecting: ['connecting', 'connected', 'reconnecting', 'polling', 'offline', 'idle'],
  connected: ['reconnecting', 'polling', 'offline', 'idle'],
  reconnecting: ['reconnecting', 'connecting', 'connected', 'polling', 'offline', 'idle'],
  polling: ['connected', 'offline', 'idle'],
  offline: ['connecting', 'reconnecting', 'polling', 'connected', 'idle'],
};

export class InvalidTransition extends Error {
  constructor(from, to) {
    super(`connection: ${from} -> ${to} is not a valid transition`);
    this.name = 'InvalidTransition';
  }
}

export function createConnection() {
  let current = { state: 'idle', provider: null };
  const listeners = new Set();

  function setState(state, provider = current.provider) {
    if (!STATES.includes(state)) throw new InvalidTransition(current.state, state);
    if (state === current.state && provider === current.provider) return false;
    if (state !== current.state && !ALLOWED[current.state].includes(state)) {
      throw new InvalidTransition(current.state, state);
    }
    const previous = current;
    current = { state, provider };
    const change = { state, provider, previous };
    for (const fn of [...listeners]) fn(change);
    return true;
  }

  return {
    setState,
    get state() {
      return current.state;
    },
    get provider() {
      return current.provider;
    },
    /** A realtime provider is up: polling is not "connected". */
    get connected() {
      return current.state === 'connected';
    },
    /** Calls `fn({state, provider, previous})` on every change; returns the unsubscribe. */
    on(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
