/**
 * Polling: `tick()` (a `messages?after=` fetch) every `intervalMs`, one at a
 * time, never overlapping. Reports each outcome, so the caller can tell
 * `polling` (answers come) from `offline` (they do not).
 */
export function createPoller({ tick, intervalMs = 2000, onResult = () => {} }) {
  let timer = null;
  let running = false;

  async function run() {
    timer = null;
    let ok = true;
    try {
      await tick();
    } catch (err) {
      ok = false;
      onResult(false, err);
    }
    if (ok) onResult(true);
    if (running) timer = setTimeout(run, intervalMs);
  }

  return {
    start({ now = true } = {}) {
      if (running) return;
      running = true;
      timer = setTimeout(run, now ? 0 : intervalMs);
    },
    stop() {
      running = false;
      clearTimeout(timer);
      timer = null;
    },
    get running() {
      return running;
    },
  };
}
