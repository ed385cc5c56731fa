/**
 * Sending, within the backend's rate limit. Sends go out at once, side by
 * side. One answered 429 (which stored nothing) stays pending with the
 * "quickly" notice (`store.wait(id, seconds)`) and goes again, with the same
 * client_message_id, after the Retry-After (5 s without one). Until the line
 * is empty, every send (the limited ones and any new one) waits in it: in
 * order, one at a time, all behind the same delay. Resolves to send's answer;
 * rejects on any other error.
 */
import { limitedMs, sleep } from './api.js';

export function createOutbox({ post, store }) {
  let line = Promise.resolve(); // the sends held back, one after the other
  let held = 0; // how many: while any is, a new send joins them
  let gate = null; // while limited: {s, p}, the delay the sends in line wait for

  function limited(err) {
    const ms = limitedMs(err);
    if (!ms) throw err;
    const g = (gate = { s: ms / 1000, p: sleep(ms).then(() => gate === g && (gate = null)) });
  }

  async function turn(id, text) {
    for (;;) {
      store.wait(id, gate ? gate.s : 0); // going again: the notice goes
      if (gate) await gate.p;
      else {
        try {
          return await post(id, text);
        } catch (err) {
          limited(err);
        }
      }
    }
  }

  function queue(id, text) {
    if (gate) store.wait(id, gate.s);
    held++;
    const mine = line.then(() => turn(id, text)).finally(() => held--);
    line = mine.catch(() => {});
    return mine;
  }

  return (id, text) => (held ? queue(id, text) : post(id, text).catch((err) => (limited(err), queue(id, text))));
}
