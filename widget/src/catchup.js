/**
 * Catching up: push is a hint, storage is the truth. A catch-up asks for
 * `messages?after=<contiguous seq>` (the highest seq up to which the store
 * has every message) and repeats while the server answers `has_more`, as the
 * API pages. Calls made while one runs do not start a second fetch in
 * parallel: they coalesce into one more round once it ends, so whatever
 * prompted them (a push notice, a gap, a reconnect) is answered by a fetch
 * that started after it. A 429 waits its Retry-After and asks again (a
 * limited request stored nothing), so the poll that asked waits with it,
 * and calls made meanwhile coalesce into that fetch.
 */
import { limitedMs, sleep } from './api.js';

// A round stops after this many pages even if the server still says
// has_more: a page whose messages do not move the contiguous seq (they sit
// above a hole the server cannot fill) would otherwise be asked for forever.
export const MAX_PAGES = 50;

/**
 * `store` is the message store (`add`, `contiguousSeq`); `fetchAfter(after)`
 * resolves to `{messages, last_seq, has_more}`. Returns `catchUp()`, which
 * resolves once the store has caught up (rejects if a fetch fails).
 */
export function createCatchUp({ store, fetchAfter, maxPages = MAX_PAGES }) {
  let inflight = null;
  let again = false;

  async function round() {
    for (let pages = 0; pages < maxPages; pages++) {
      let page;
      try {
        page = await fetchAfter(store.contiguousSeq);
      } catch (err) {
        const ms = limitedMs(err);
        if (!ms) throw err;
        await sleep(ms);
        again = false; // the fetch again answers calls made meanwhile too
        pages--;
        continue;
      }
      const messages = page.messages || [];
      store.add(messages);
      if (!page.has_more || !messages.length) return;
    }
  }

  return function catchUp() {
    if (inflight) {
      again = true;
      return inflight;
    }
    inflight = (async () => {
      try {
        do {
          again = false;
          await round();
        } while (again);
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };
}
