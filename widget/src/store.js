/**
 * The conversation's messages, ordered and deduplicated by `seq`.
 *
 * Push is a hint, storage is the truth: a message can arrive twice (push and
 * a fetch), late, or after a hole. The store keeps one entry per seq and
 * `contiguousSeq`, the highest seq up to which nothing is missing (not the
 * server's `last_seq`, the highest seq known to exist); when a message lands
 * above a hole it asks (`onGap(contiguousSeq)`) for
 * `messages?after=<contiguousSeq>`.
 *
 * The visitor's own sends live here too before the server has numbered them,
 * keyed by `client_message_id`: pending, then failed or confirmed. The entry
 * keeps its `key` when confirmed, so the UI updates one bubble in place.
 *
 * A slow bot's reply carries a `reply_id`, also known before it is stored
 * (replies.js shows it as it is written): `hasReply(id)` says whether the
 * message with that id is here.
 */
export function createStore({ onChange = () => {}, onGap = () => {}, now = () => new Date().toISOString() } = {}) {
  const bySeq = new Map(); // seq -> entry
  const ordered = []; // confirmed entries, ascending seq
  const local = new Map(); // client_message_id -> pending or failed entry
  const replyIds = new Set(); // reply_id of every stored message that has one
  let contiguous = 0;
  let highest = 0;
  let batching = 0;
  let dirty = false;

  function changed() {
    if (batching) dirty = true;
    else onChange();
  }

  function insertOrdered(entry) {
    let lo = 0;
    let hi = ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ordered[mid].seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    ordered.splice(lo, 0, entry);
  }

  function put(message) {
    const seq = message && message.seq;
    if (!Number.isInteger(seq) || seq < 1 || bySeq.has(seq)) return false;
    const cmid = message.client_message_id;
    const mine = cmid != null ? local.get(cmid) : undefined;
    if (mine) local.delete(cmid);
    // Every field the server sent (sender_name, event, ...), so new ones need no change here.
    const entry = Object.assign(mine || { key: `s${seq}` }, message, { text: String(message.text ?? ''), state: 'sent' });
    bySeq.set(seq, entry);
    insertOrdered(entry);
    if (typeof message.reply_id === 'string') replyIds.add(message.reply_id);
    if (seq > highest) highest = seq;
    while (bySeq.has(contiguous + 1)) contiguous++;
    return true;
  }

  function checkGap() {
    if (highest > contiguous) onGap(contiguous);
  }

  /** Adds messages (any order, duplicates welcome); true if any was new. */
  function add(messages) {
    const list = Array.isArray(messages) ? messages : [messages];
    let added = false;
    for (const m of list) added = put(m) || added;
    if (added) {
      changed();
      if (!batching) checkGap();
    }
    return added;
  }

  return {
    add,
    /** Forgets everything (the visitor deleted the conversation). */
    clear() {
      bySeq.clear();
      ordered.length = 0;
      local.clear();
      replyIds.clear();
      contiguous = highest = 0;
      changed();
    },
    /**
     * The history init returned: the latest messages, and the server's
     * `last_seq` (the highest seq that exists). What came before the messages
     * is history (paged with `before=`), not a gap.
     */
    seed(messages, serverLastSeq) {
      const first = messages.length ? Math.min(...messages.map((m) => m.seq)) : serverLastSeq + 1;
      if (contiguous < first - 1) contiguous = first - 1;
      if (highest < serverLastSeq) highest = serverLastSeq; // anything missing up to it is a gap
      batching++;
      add(messages);
      batching--;
      if (dirty) {
        dirty = false;
        onChange();
      }
      checkGap();
    },
    /** A local send, shown at once; confirmed when a message with this id arrives. */
    addPending(clientMessageId, text) {
      if (local.has(clientMessageId) || this.findSent(clientMessageId)) return false;
      local.set(clientMessageId, {
        key: `c${clientMessageId}`,
        sender: 'visitor',
        text,
        created_at: now(),
        client_message_id: clientMessageId,
        state: 'pending',
      });
      changed();
      return true;
    },
    fail(clientMessageId) {
      const entry = local.get(clientMessageId);
      if (!entry || entry.state === 'failed') return false;
      entry.state = 'failed';
      changed();
      return true;
    },
    /** A pending send held back by a 429 for `seconds` (the "quickly" notice); 0: no longer. */
    wait(clientMessageId, seconds) {
      const entry = local.get(clientMessageId);
      if (entry && entry.wait !== seconds) {
        entry.wait = seconds;
        changed();
      }
    },
    /** A failed send goes back to pending; returns its text (to send again, same id). */
    retry(clientMessageId) {
      const entry = local.get(clientMessageId);
      if (!entry || entry.state !== 'failed') return null;
      entry.state = 'pending';
      changed();
      return entry.text;
    },
    findSent(clientMessageId) {
      return ordered.find((e) => e.client_message_id === clientMessageId) || null;
    },
    local(clientMessageId) {
      return local.get(clientMessageId) || null;
    },
    /** Whether the message of this reply_id is stored (its deltas are then stale). */
    hasReply(replyId) {
      return replyIds.has(replyId);
    },
    /**
     * Confirmed messages by seq, then `between` (replies being written, which
     * follow everything stored so far), then the visitor's unconfirmed ones in
     * the order written.
     */
    list(between = []) {
      return [...ordered, ...between, ...local.values()];
    },
    /** The highest seq up to which the store has every message. */
    get contiguousSeq() {
      return contiguous;
    },
    get highestSeq() {
      return highest;
    },
    get size() {
      return ordered.length;
    },
  };
}
