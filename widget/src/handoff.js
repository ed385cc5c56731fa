/**
 * "Talk to a person": one request at a time. Only an answer changes anything
 * (`add` gets its system message, null when a person was already asked for or
 * is there); a failure changes nothing but `onFailed(true)`, so pressing
 * again retries, and the next press clears it (`onFailed(false)`). A 429 says
 * `onFailed(seconds)` (the "quickly" notice) and ignores presses until that
 * delay is over, then clears the notice.
 */
import { limitedMs, sleep } from './api.js';

export function createHandoff({ request, add, onFailed }) {
  let busy = false;
  return async () => {
    if (busy) return;
    busy = true;
    onFailed(false);
    try {
      add((await request()).message);
    } catch (err) {
      const ms = limitedMs(err);
      onFailed(ms / 1000 || true);
      await sleep(ms);
      if (ms) onFailed(false);
    }
    busy = false;
  };
}
