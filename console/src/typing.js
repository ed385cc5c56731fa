/**
 * Typing, both ways. Out: the agent's keystrokes become at most one "typing"
 * relay every 2 s (the server drops more anyway; this saves the requests).
 * In: a visitor's `ClientTyping` shows the indicator for a few seconds,
 * extended by every new one, hidden at once when their message lands.
 */
export const THROTTLE_MS = 2000;
export const SHOWN_MS = 4000;

/** `fn` at most once per `intervalMs`; calls in between are dropped (the next keystroke sends again). */
export function createThrottle(fn, { intervalMs = THROTTLE_MS, now = () => Date.now() } = {}) {
  let last = -Infinity;
  const call = (...args) => {
    const t = now();
    if (t - last < intervalMs) return false;
    last = t;
    fn(...args);
    return true;
  };
  call.reset = () => {
    last = -Infinity;
  };
  return call;
}

/** `onChange(who | null)` as the other side starts and stops typing. */
export function createTypingIndicator({ onChange, shownMs = SHOWN_MS }) {
  let timer = null;
  let who = null;
  function set(next) {
    if (next === who) return;
    who = next;
    onChange(who);
  }
  return {
    show(name) {
      clearTimeout(timer);
      timer = setTimeout(() => set(null), shownMs);
      set(name || 'Visitor');
    },
    hide() {
      clearTimeout(timer);
      timer = null;
      set(null);
    },
    get who() {
      return who;
    },
  };
}
