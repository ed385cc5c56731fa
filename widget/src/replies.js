/**
 * Replies being written. A slow bot answers off the request path: `send`
 * says `reply_pending: {reply_id, reply_to_seq}`, the text comes as
 * `ChatReplyDelta` hints (`{reply_id, reply_to_seq, n, text}`, `text` the
 * WHOLE text so far, `n` 1, 2, 3 … per reply), and then the stored message,
 * which carries the same `reply_id`.
 *
 * Each reply_id gets one provisional bot entry (`state: 'streaming'`) that
 * the deltas grow. Push is a hint and storage the truth, so a delta is
 * dropped when its n is not above the last one seen (late, reordered,
 * repeated: the newer text is already shown) or when the store already holds
 * that reply; `settle()` drops the entries whose message is stored. A reply
 * announced by `expect()` is awaited (the bot's typing dots) until its first
 * delta or its message. After TIMEOUT_MS without a delta and without the
 * message (a lost push, a worker that died) the reply is forgotten, its
 * entry goes, and `onExpire` asks for a catch-up: if the message exists, the
 * fetch brings it.
 *
 * The timers are the global setTimeout (a test drives them with a fake clock).
 */
export const TIMEOUT_MS = 60000;

export function createReplies({
  stored, // (reply_id) => whether its message is in the store
  onChange = () => {},
  onExpire = () => {},
  timeoutMs = TIMEOUT_MS,
  now = () => new Date().toISOString(),
}) {
  const open = new Map(); // reply_id -> {n: last n seen, entry: the bubble's entry (null until a delta), timer}

  function drop(id) {
    clearTimeout(open.get(id).timer);
    open.delete(id);
  }

  /** Keeps the reply for another TIMEOUT_MS, and says what is shown changed. */
  function track(id, r) {
    open.set(id, r);
    clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      drop(id);
      onChange();
      onExpire(id);
    }, timeoutMs);
    onChange();
  }

  return {
    /** A ChatReplyDelta's data; true if it changed what is shown. */
    delta(data) {
      const id = data && data.reply_id;
      if (!id || typeof id !== 'string' || !Number.isInteger(data.n) || typeof data.text !== 'string' || stored(id)) return false;
      const r = open.get(id) || { n: 0, entry: null };
      if (data.n <= r.n) return false;
      r.n = data.n;
      // Text only: the UI puts it in with textContent, as every message.
      if (!r.entry) r.entry = { key: `r${id}`, sender: 'bot', reply_id: id, reply_to_seq: data.reply_to_seq, created_at: now(), state: 'streaming' };
      r.entry.text = data.text;
      track(id, r);
      return true;
    },
    /** send's `reply_pending`: the bot is answering (typing) until the first delta or the message. */
    expect(pending) {
      const id = pending && pending.reply_id;
      if (!id || typeof id !== 'string' || open.has(id) || stored(id)) return;
      track(id, { n: 0, entry: null });
    },
    /** Forgets the replies whose message is stored now (called before each render). */
    settle() {
      for (const id of [...open.keys()]) if (stored(id)) drop(id);
    },
    /** The provisional entries, oldest first. */
    list() {
      const list = [];
      for (const r of open.values()) if (r.entry) list.push(r.entry);
      return list;
    },
    /** Whether a reply is announced but none of its text has come yet. */
    get awaited() {
      for (const r of open.values()) if (!r.entry) return true;
      return false;
    },
    clear() {
      for (const id of [...open.keys()]) drop(id);
    },
  };
}
