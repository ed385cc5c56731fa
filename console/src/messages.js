/**
 * One conversation's messages, ordered and deduplicated by `seq`.
 *
 * Push is a hint, storage is the truth: a message may arrive twice (the site
 * feed, the conversation channel and a fetch), late, or above a hole. The
 * store keeps one entry per seq and `contiguousSeq`, the highest seq up to
 * which nothing is missing; a message that lands above a hole calls
 * `onGap(contiguousSeq)` so the caller fetches `messages?after=` it (through
 * widget/src/catchup.js, which takes this store as it is).
 *
 * The agent's own replies are here before the server numbers them, keyed by
 * `client_message_id`: pending, then failed or confirmed. A confirmed reply
 * keeps its `key`, so the view updates one bubble in place.
 */
export function createMessageStore({ onChange = () => {}, onGap = () => {}, now = () => new Date().toISOString() } = {}) {
  const bySeq = new Map();
  const ordered = [];
  const local = new Map(); // client_message_id -> {key, state: pending|failed, text, ...}
  let contiguous = 0;
  let highest = 0;
  let quiet = 0;

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
    // Every field is kept (sender_name, event, ...): the view reads what it knows.
    const entry = { ...message, key: mine ? mine.key : `s${seq}`, text: String(message.text ?? ''), state: 'sent' };
    bySeq.set(seq, entry);
    insertOrdered(entry);
    if (seq > highest) highest = seq;
    while (bySeq.has(contiguous + 1)) contiguous++;
    return true;
  }

  function add(messages) {
    const list = Array.isArray(messages) ? messages : [messages];
    let added = false;
    for (const m of list) added = put(m) || added;
    if (added && !quiet) {
      onChange();
      if (highest > contiguous) onGap(contiguous);
    }
    return added;
  }

  return {
    add,
    /**
     * The conversation as first loaded: its newest messages and the server's
     * `last_seq`. What lies before the first one is history (paged with
     * `before=`), not a gap; anything missing up to `last_seq` is.
     */
    seed(messages, serverLastSeq = 0) {
      const seqs = messages.map((m) => m.seq).filter(Number.isInteger);
      const first = seqs.length ? Math.min(...seqs) : serverLastSeq + 1;
      if (contiguous < first - 1) contiguous = first - 1;
      if (highest < serverLastSeq) highest = serverLastSeq;
      quiet++;
      add(messages);
      quiet--;
      onChange();
      if (highest > contiguous) onGap(contiguous);
    },
    /** Older messages (`before=`): below the contiguous seq, so never a gap. */
    addHistory(messages) {
      quiet++;
      const added = add(messages);
      quiet--;
      if (added) onChange();
      return added;
    },
    /** A reply being sent: shown at once, confirmed when the message with its id arrives. */
    addPending(clientMessageId, text, extra = {}) {
      if (local.has(clientMessageId)) return false;
      local.set(clientMessageId, {
        ...extra,
        key: `c${clientMessageId}`,
        sender: 'agent',
        text,
        created_at: now(),
        client_message_id: clientMessageId,
        state: 'pending',
      });
      onChange();
      return true;
    },
    /** The server stored the reply: `message` is what it answered (kept even if it lacks the id). */
    confirm(clientMessageId, message) {
      const mine = local.get(clientMessageId);
      if (mine && message && message.client_message_id == null) message = { ...message, client_message_id: clientMessageId };
      const added = message ? add(message) : false;
      if (local.delete(clientMessageId)) onChange(); // a duplicate of a seq already shown
      return added;
    },
    fail(clientMessageId, error) {
      const entry = local.get(clientMessageId);
      if (!entry) return false;
      entry.state = 'failed';
      entry.error = error;
      onChange();
      return true;
    },
    /** A failed reply goes back to pending; returns its text, to send again with the same id. */
    retry(clientMessageId) {
      const entry = local.get(clientMessageId);
      if (!entry || entry.state !== 'failed') return null;
      entry.state = 'pending';
      entry.error = undefined;
      onChange();
      return entry.text;
    },
    get(seq) {
      return bySeq.get(seq) || null;
    },
    /** Stored messages by seq, then the agent's unconfirmed replies in the order written. */
    list() {
      return [...ordered, ...local.values()];
    },
    get contiguousSeq() {
      return contiguous;
    },
    get highestSeq() {
      return highest;
    },
    /** The lowest seq held (for `before=`), or null. */
    get firstSeq() {
      return ordered.length ? ordered[0].seq : null;
    },
    get size() {
      return ordered.length;
    },
  };
}
