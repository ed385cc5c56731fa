/**
 * The conversation's status (bot, pending, open, resolved) and who holds it.
 * init's answer seeds it; after that every status change is a system message
 * with `event: {type: "status", status, assignee}`, stored in seq order with
 * the messages around it, so the latest such message up to the store's
 * contiguous seq is the status. Nothing above a gap counts: a push that
 * overtook an older change cannot show a state that is already stale.
 *
 * Returns the seed or the latest event itself (`{status, assignee}`): the
 * same object until another change lands, so callers compare by reference.
 */
export function reduceStatus(seed, entries, upTo) {
  let s = seed;
  for (const e of entries) {
    const ev = e.event;
    if (e.seq <= upTo && e.sender === 'system' && ev && ev.type === 'status') s = ev;
  }
  return s;
}
