"""A site's webhooks and their delivery log.

* head      ``PK=SITE#<key>  SK=WEBHOOKS``               ``rev``: bumped by every add and remove
* webhook   ``PK=SITE#<key>  SK=WEBHOOK#<id>``           ``url``, ``events``, ``secret``, ``created_at``
* log row   ``PK=SITE#<key>  SK=WHLOG#<iso at>#<id>``    one delivery attempt; ``ttl`` = at + 30 days
* done mark ``PK=SITE#<key>  SK=WHDONE#<webhook id>#<event id>``  the event reached the webhook;
            ``ttl`` = 14 days (SQS keeps a message at most that long): a job SQS delivers again
            after its success is not POSTed again
* site      ``PK=SITE#<key>  SK=META``                   ``webhook_events``: the union of its webhooks'
            events, so a send asks the (cached) site before it costs a webhook anything

``begins_with(SK, "WEBHOOK")`` reads the head and every webhook in one Query.
Adding or removing is one transaction over the webhook, the head (its ``rev``
as read: two operators changing the same site's webhooks at once cannot both
win, so the limit of ``MAX_WEBHOOKS`` and the site's ``webhook_events`` stay
right) and the site (which must exist). The log is one Query, newest first,
filtered on ``ttl`` (no emulator expires items, and DynamoDB deletes them late).
Nothing scans.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import ParleyError
from .sites import site_pk
from .table import META_SK, Table, now_iso, translated

HEAD_SK = "WEBHOOKS"
WEBHOOK = "WEBHOOK#"
WHLOG = "WHLOG#"
WHDONE = "WHDONE#"
DONE_KEEP_SECONDS = 14 * 86400
MAX_WEBHOOKS = 10
LOG_KEEP_SECONDS = 30 * 86400
MAX_LOG_LIMIT = 100
CHANGE_ROUNDS = 3  # a transaction that lost a race reads again and retries this many times


@dataclass(frozen=True)
class Webhook:
    """One endpoint of a site. ``secret`` signs its deliveries; it leaves this process only once,
    when the webhook is made (``to_json`` shows its last four characters)."""

    id: str
    site_key: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": list(self.events), "created_at": self.created_at,
                "secret_hint": "…" + self.secret[-4:]}

    def __repr__(self) -> str:  # a traceback or a log line never shows the secret
        return f"Webhook(id={self.id!r}, site_key={self.site_key!r}, url={self.url!r}, events={self.events!r})"


def webhook_from(site_key: str, values: dict[str, Any]) -> Webhook:
    return Webhook(id=values["SK"][len(WEBHOOK):], site_key=site_key, url=values["url"],
                   events=tuple(values.get("events") or ()), secret=values["secret"],
                   created_at=values.get("created_at") or "")


class WebhookStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    def _read(self, site_key: str) -> tuple[int | None, list[Webhook]]:
        """The head's rev (None: no head yet) and the site's webhooks, oldest first: one Query."""
        rows = self.table.query(KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                                ExpressionAttributeValues=self.table.values(pk=site_pk(site_key), prefix="WEBHOOK"))
        # Up to MAX_WEBHOOKS small rows and the head: one page always holds them.
        rev = next((int(r.get("rev", 0)) for r in rows if r["SK"] == HEAD_SK), None)
        hooks = [webhook_from(site_key, r) for r in rows if r["SK"].startswith(WEBHOOK)]
        return rev, sorted(hooks, key=lambda h: (h.created_at, h.id))

    @translated
    def webhooks(self, site_key: str) -> list[Webhook]:
        """The site's webhooks, oldest first (one strongly consistent Query)."""
        return self._read(site_key)[1]

    @translated
    def get(self, site_key: str, webhook_id: str) -> Webhook | None:
        t = self.table
        item = t.client.get_item(TableName=t.name, Key=t.key(site_pk(site_key), WEBHOOK + webhook_id),
                                 ConsistentRead=True).get("Item")
        return webhook_from(site_key, t.plain(item)) if item else None

    @translated
    def add(self, hook: Webhook) -> None:
        """Stores a new webhook: 409 ``too_many_webhooks`` past MAX_WEBHOOKS, 404 ``unknown_site``."""
        t = self.table
        for _ in range(CHANGE_ROUNDS):
            rev, hooks = self._read(hook.site_key)
            if len(hooks) >= MAX_WEBHOOKS:
                raise ParleyError("too_many_webhooks", f"A site may have up to {MAX_WEBHOOKS} webhooks; "
                                                       "remove one first.")
            put = {"Put": {"TableName": t.name, "ConditionExpression": "attribute_not_exists(PK)",
                           "Item": t.item(PK=site_pk(hook.site_key), SK=WEBHOOK + hook.id, url=hook.url,
                                          events=list(hook.events), secret=hook.secret,
                                          created_at=hook.created_at)}}
            if self._change(hook.site_key, rev, [put], [*hooks, hook]):
                return
        raise ParleyError("busy", "The site's webhooks are being changed; please retry.")

    @translated
    def remove(self, site_key: str, webhook_id: str) -> bool:
        """Deletes a webhook; False if the site has none by that id."""
        t = self.table
        for _ in range(CHANGE_ROUNDS):
            rev, hooks = self._read(site_key)
            if not any(h.id == webhook_id for h in hooks):
                return False
            delete = {"Delete": {"TableName": t.name, "ConditionExpression": "attribute_exists(PK)",
                                 "Key": t.key(site_pk(site_key), WEBHOOK + webhook_id)}}
            if self._change(site_key, rev, [delete], [h for h in hooks if h.id != webhook_id]):
                return True
        raise ParleyError("busy", "The site's webhooks are being changed; please retry.")

    def _change(self, site_key: str, rev: int | None, ops: list[dict[str, Any]], after: Iterable[Webhook]) -> bool:
        """Writes ``ops`` with the head's next rev and the site's new ``webhook_events``, in one
        transaction. False if another change came first (the head's rev moved): read again."""
        t = self.table
        pk = site_pk(site_key)
        events = sorted({e for h in after for e in h.events})
        # The head's condition is the whole point: it is what the caller read, or the
        # change is computed from a list that is no longer the site's.
        head = {"Put": {"TableName": t.name, "Item": t.item(PK=pk, SK=HEAD_SK, rev=(rev or 0) + 1),
                        **({"ConditionExpression": "attribute_not_exists(PK)"} if rev is None else
                           {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": t.values(rev=rev)})}}
        site: dict[str, Any] = {"TableName": t.name, "Key": t.key(pk, META_SK),
                                "ConditionExpression": "attribute_exists(PK)"}
        if events:
            site.update(UpdateExpression="SET webhook_events = :events",
                        ExpressionAttributeValues=t.values(events=events))
        else:
            site["UpdateExpression"] = "REMOVE webhook_events"
        try:
            t.client.transact_write_items(TransactItems=[*ops, head, {"Update": site}])
        except t.client.exceptions.TransactionCanceledException as exc:
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if len(codes) == len(ops) + 2 and codes[-1] == "ConditionalCheckFailed":
                raise ParleyError("unknown_site", f"No site {site_key!r}.") from None
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                return False
            raise
        return True

    @translated
    def delivered(self, site_key: str, webhook_id: str, event_id: str) -> bool:
        """Whether ``event_id`` already reached the webhook (its done mark, unexpired)."""
        t = self.table
        item = t.client.get_item(TableName=t.name, Key=t.key(site_pk(site_key), f"{WHDONE}{webhook_id}#{event_id}"),
                                 ConsistentRead=True).get("Item")
        return bool(item) and int(t.plain(item).get("ttl", 0)) > self._clock()

    @translated
    def mark_delivered(self, site_key: str, webhook_id: str, event_id: str) -> None:
        t = self.table
        t.client.put_item(TableName=t.name, Item=t.item(PK=site_pk(site_key), SK=f"{WHDONE}{webhook_id}#{event_id}",
                                                        ttl=int(self._clock()) + DONE_KEEP_SECONDS))

    # -- the delivery log ---------------------------------------------------------

    @translated
    def log(self, site_key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Stores one delivery attempt (``entry`` in the API's shape, ``id`` and ``at`` added); returns it."""
        import secrets

        now = self._clock()
        row = {**entry, "id": entry.get("id") or "dl_" + secrets.token_hex(8), "at": now_iso(now)}
        t = self.table
        t.client.put_item(TableName=t.name, Item=t.item(
            PK=site_pk(site_key), SK=f"{WHLOG}{row['at']}#{row['id']}", ttl=int(now) + LOG_KEEP_SECONDS,
            **{k: v for k, v in row.items() if k not in ("PK", "SK", "ttl")}))
        return row

    @translated
    def deliveries(self, site_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The site's last ``limit`` (1..100) delivery attempts, newest first: one Query.

        Rows sort by time and their ttl grows with it, so the expired ones are the
        oldest: the filter (applied after Limit) can only shorten the tail.
        """
        limit = max(1, min(int(limit), MAX_LOG_LIMIT))
        rows = self.table.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)", ScanIndexForward=False, Limit=limit,
            FilterExpression="#ttl > :now", ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=self.table.values(pk=site_pk(site_key), prefix=WHLOG, now=int(self._clock())))
        fields = ("id", "webhook_id", "url", "event", "event_id", "attempt", "status", "ok", "error", "latency_ms",
                  "at", "next_retry_at")
        return [{f: row.get(f) for f in fields} for row in rows]
