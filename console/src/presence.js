/**
 * The agent's presence heartbeat: while signed in and while the tab is
 * visible, `beat(site)` for every site the agent is a member of, at once and
 * then every 30 s (the server keeps a presence row for 90 s, so one lost beat
 * does not take the agent offline). A hidden tab stops beating and lets the
 * rows run out ("Away"); becoming visible beats at once. `stop()` and the
 * page going away send `leave(site)` (a keepalive DELETE).
 *
 * Best effort: a failed beat is ignored and tried again on the next tick,
 * never sooner. There is one timer, and a site whose beat is still in flight
 * is skipped, so a slow server never piles requests up.
 *
 * States (`onState`): `pending` (no answer yet), `online` (the last round was
 * answered for at least one site), `unavailable` (visible, but no site
 * answered: offline, or a backend without presence), `away` (hidden), `off`.
 */
export const HEARTBEAT_MS = 30000;

export function createPresence({
  sites,
  beat,
  leave,
  onState = () => {},
  doc = globalThis.document,
  win = globalThis.window,
  intervalMs = HEARTBEAT_MS,
}) {
  let timer = null;
  let running = false;
  let state = 'off';
  let round = 0;
  const inFlight = new Set();

  const visible = () => !doc || doc.visibilityState !== 'hidden';

  function setState(next) {
    if (next === state) return;
    state = next;
    onState(next);
  }

  function clearTimer() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  /** One round: a beat per site; the state follows what the round got. */
  function pulse() {
    if (!running || !visible()) return;
    const mine = ++round;
    const keys = sites();
    const jobs = keys.filter((s) => !inFlight.has(s)).map((s) => {
      inFlight.add(s);
      let sent;
      try {
        sent = Promise.resolve(beat(s)); // at once, not a tick later: "visible again" means now
      } catch (err) {
        sent = Promise.reject(err);
      }
      return sent.then(() => true, () => false).finally(() => inFlight.delete(s));
    });
    if (!jobs.length) return;
    Promise.all(jobs).then((results) => {
      // A later round, a hidden tab or a stop since: this answer is old news.
      if (!running || mine !== round || !visible()) return;
      setState(results.some(Boolean) ? 'online' : 'unavailable');
    });
  }

  /** Beats now and every interval after; any previous timer goes first (one timer, always). */
  function resume() {
    clearTimer();
    if (!running) return;
    if (!visible()) {
      setState('away');
      return;
    }
    if (state !== 'online') setState('pending');
    pulse();
    timer = setInterval(pulse, intervalMs);
  }

  function leaveAll() {
    for (const s of sites()) {
      try {
        Promise.resolve(leave(s)).catch(() => {});
      } catch {
        // best effort
      }
    }
  }

  function onVisibility() {
    if (!running) return;
    if (visible()) resume();
    else {
      clearTimer();
      round++; // an answer still on its way must not say "online" now
      setState('away');
    }
  }

  function onPageHide() {
    if (!running) return;
    clearTimer();
    round++;
    leaveAll();
  }

  function onPageShow(e) {
    // Back from the back/forward cache: the page lives again.
    if (running && e && e.persisted) resume();
  }

  return {
    start() {
      if (running) return;
      running = true;
      if (doc) doc.addEventListener('visibilitychange', onVisibility);
      if (win) {
        win.addEventListener('pagehide', onPageHide);
        win.addEventListener('pageshow', onPageShow);
      }
      resume();
    },
    /** Signs off: no more beats, and the presence rows are deleted (keepalive). */
    stop({ leave: sendLeave = true } = {}) {
      if (!running) return;
      running = false;
      clearTimer();
      round++;
      if (doc) doc.removeEventListener('visibilitychange', onVisibility);
      if (win) {
        win.removeEventListener('pagehide', onPageHide);
        win.removeEventListener('pageshow', onPageShow);
      }
      if (sendLeave) leaveAll();
      setState('off');
    },
    get state() {
      return state;
    },
    get running() {
      return running;
    },
  };
}
