/**
 * Exponential backoff with full jitter: the n-th delay is uniform in
 * [0, min(max, base * 2^n)]. Full jitter spreads a crowd of widgets that lost
 * the same server, so they do not all come back in the same second.
 *
 * The defaults: 5 attempts from a 1 s base, then give up (the caller falls
 * back to polling).
 */
import { limitedMs, sleep } from './api.js';

export const BASE_MS = 1000;
export const MAX_MS = 30000;
export const ATTEMPTS = 5;

/** The ceiling of attempt `n` (0-based): base * 2^n, capped at max. */
export function ceiling(n, base = BASE_MS, max = MAX_MS) {
  return Math.min(max, base * 2 ** n);
}

/** A fully jittered delay for attempt `n`, in ms. */
export function jittered(n, { base = BASE_MS, max = MAX_MS, random = Math.random } = {}) {
  return Math.floor(random() * ceiling(n, base, max));
}

/**
 * Counts attempts: `next()` gives the next delay, or null once `attempts`
 * delays have been handed out; `reset()` after a success.
 */
export function createBackoff({ base = BASE_MS, max = MAX_MS, attempts = ATTEMPTS, random = Math.random } = {}) {
  let n = 0;
  return {
    next() {
      if (n >= attempts) return null;
      return jittered(n++, { base, max, random });
    },
    reset() {
      n = 0;
    },
    get attempt() {
      return n;
    },
  };
}

/**
 * `attempt()` until it resolves. After each failure `failed(err)` (true: give
 * up), then a wait: a 429's Retry-After, else the next step of `delays` (at
 * least 1 s; a 429 does not use a step up).
 */
export async function retrying(attempt, failed, delays = createBackoff({ attempts: Infinity })) {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (failed(err)) return;
      await sleep(limitedMs(err) || Math.max(1000, delays.next()));
    }
  }
}
