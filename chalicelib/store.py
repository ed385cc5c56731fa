"""DynamoDB access: one table, every access a GetItem, Query or transaction.

Keys (see infra/table.json for the table itself):

* conversation  ``PK=CONV#<id>  SK=STATE``   site, visitor, status, last_seq
* message       ``PK=CONV#<id>  SK=MSG#<seq, 10 digits>``
* idempotency   ``PK=CONV#<id>  SK=CMID#<v|b>#<client message id>`` (a copy of the message;
                v: the visitor's message, b: the bot's reply to it)
* site          ``PK=SITE#<key> SK=META``    origins, bot, widget; ``GSI1PK=SITE`` lists sites
* origin index  ``PK=ORIGIN#<origin> SK=SITE#<key>`` answers a preflight that names no site

The conversation record is ``STATE`` rather than ``META`` on purpose: it sorts
after every ``MSG#`` key, so a single Query ``SK BETWEEN MSG#<n> AND STATE``
returns the messages after ``n`` *and* the conversation's ``last_seq`` — an
empty poll is one call.
"""
from __future__ import annotations

import functools
import json
import random
import threading
import time
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import NotFound, Unavailable
from .lazy import Lazy

# What DynamoDB says when it is busy or briefly down, after botocore's own
# retries are spent: the client may try again, so it gets a 503, not a 500.
_TRANSIENT = {"ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
              "LimitExceededException"}


def _translated(method: Any) -> Any:
    """Turns DynamoDB's transient failures into Unavailable; anything else stays a bug."""

    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError

        try:
            return method(self, *args, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TRANSIENT:
                raise Unavailable("The message store is busy; please retry.") from exc
            raise
        except BotoConnectionError as exc:
            raise Unavailable("The message store cannot be reached; please retry.") from exc

    return wrapper

SEQ_DIGITS = 10
MAX_SEQ = 10 ** SEQ_DIGITS - 1
STATE_SK = "STATE"
# Optimistic appends: under contention each round has one winner, so the
# losers back off (exponential, full jitter) to spread out instead of
# colliding again. The budget outlasts 50 truly simultaneous senders in one
# conversation, and a send's two appends (message, reply) still end inside
# the Lambda timeout (15 s), so the client gets our 503, not a gateway's 504.
MAX_APPEND_ATTEMPTS = 60
APPEND_BUDGET_SECONDS = 5.0
BACKOFF_BASE_SECONDS = 0.004
BACKOFF_CAP_SECONDS = 0.2


def _dynamodb_client() -> Any:
    import boto3  # imported here: cold start pays only when a request needs it

    return boto3.client("dynamodb")


def now_iso(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def msg_sk(seq: int) -> str:
    return f"MSG#{seq:0{SEQ_DIGITS}d}"


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def message_from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A message in the API's shape from a raw DynamoDB item."""
    message = {
        "id": item["id"]["S"],
        "conversation_id": item["conversation_id"]["S"],
        "seq": int(item["seq"]["N"]),
        "sender": item["sender"]["S"],
        "text": item["text"]["S"],
        "created_at": item["created_at"]["S"],
    }
    if "client_message_id" in item:
        message["client_message_id"] = item["client_message_id"]["S"]
    return message


def _message_attrs(message: dict[str, Any]) -> dict[str, Any]:
    attrs = {
        "id": _s(message["id"]),
        "conversation_id": _s(message["conversation_id"]),
        "seq": _n(message["seq"]),
        "sender": _s(message["sender"]),
        "text": _s(message["text"]),
        "created_at": _s(message["created_at"]),
    }
    if message.get("client_message_id") is not None:
        attrs["client_message_id"] = _s(message["client_message_id"])
    return attrs


@dataclass(frozen=True)
class Page:
    messages: list[dict[str, Any]]
    last_seq: int
    has_more: bool


class _SeqHints:
    """Last seq seen per conversation in this process: the first guess of an append.

    A wrong guess costs one failed transaction, which hands back the true value
    (``ReturnValuesOnConditionCheckFailure``), so the hint never affects
    correctness, only how often a send needs a second call.
    """

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._data: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> int:
        with self._lock:
            return self._data.get(conversation_id, 0)

    def known(self, conversation_id: str) -> bool:
        with self._lock:
            return conversation_id in self._data

    def see(self, conversation_id: str, seq: int) -> None:
        with self._lock:
            if seq >= self._data.get(conversation_id, 0):
                self._data[conversation_id] = seq
                self._data.move_to_end(conversation_id)
                while len(self._data) > self._size:
                    self._data.popitem(last=False)


class Store:
    """The Parley table. The boto3 client is made on first use, or injected."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table = table_name
        self._client = Lazy(_dynamodb_client, client)
        self.hints = _SeqHints()
        # Appends to one conversation from threads of this process queue up
        # here instead of colliding in DynamoDB (a collision costs a round trip
        # and a backoff). Between processes (Lambda containers) the
        # transaction's condition alone keeps seq gapless. Striped, so the
        # memory stays bounded however many conversations pass through.
        self._append_locks = [threading.Lock() for _ in range(64)]

    @property
    def client(self) -> Any:
        return self._client.get()

    # -- conversations -----------------------------------------------------

    @_translated
    def create_conversation(self, conversation_id: str, site_key: str,
                            visitor: dict[str, Any] | None, locale: str | None) -> dict[str, Any]:
        stamp = now_iso()
        item = {
            "PK": _s(conv_pk(conversation_id)), "SK": _s(STATE_SK),
            "site_key": _s(site_key), "status": _s("bot"), "last_seq": _n(0),
            "created_at": _s(stamp), "updated_at": _s(stamp),
        }
        if visitor:
            item["visitor"] = _s(json.dumps(visitor, separators=(",", ":")))
        if locale:
            item["locale"] = _s(locale)
        # attribute_not_exists: an id collision must never reset someone's conversation.
        self.client.put_item(TableName=self.table, Item=item,
                             ConditionExpression="attribute_not_exists(PK)")
        return {"conversation_id": conversation_id, "site_key": site_key, "last_seq": 0}

    # -- messages ------------------------------------------------------------

    @_translated
    def append_message(self, conversation_id: str, sender: str, text: str,
                       idempotency_key: str | None = None,
                       client_message_id: str | None = None) -> tuple[dict[str, Any], bool]:
        lock = self._append_locks[hash(conversation_id) % len(self._append_locks)]
        with lock:
            return self._append(conversation_id, sender, text, idempotency_key, client_message_id)

    def _append(self, conversation_id: str, sender: str, text: str, idempotency_key: str | None,
                client_message_id: str | None) -> tuple[dict[str, Any], bool]:
        """Stores a message under the next seq; returns (message, created).

        One transaction makes the message visible together with the counter
        that names it, so seq is gapless: the counter update is conditioned
        on its old value, the message put on its key being new, and the
        idempotency record on its key being new. When ``idempotency_key`` was
        seen before in this conversation, the stored message comes back with
        created=False.
        """
        pk = conv_pk(conversation_id)
        guess = self.hints.get(conversation_id)
        cmid_sk = f"CMID#{idempotency_key}" if idempotency_key else None
        message_id = f"m_{secrets.token_hex(16)}"
        deadline = time.monotonic() + APPEND_BUDGET_SECONDS
        for attempt in range(MAX_APPEND_ATTEMPTS):
            seq = guess + 1
            message = {"id": message_id, "conversation_id": conversation_id, "seq": seq,
                       "sender": sender, "text": text, "created_at": now_iso()}
            if client_message_id is not None:
                message["client_message_id"] = client_message_id
            attrs = _message_attrs(message)
            items: list[dict[str, Any]] = [
                {"Update": {
                    "TableName": self.table,
                    "Key": {"PK": _s(pk), "SK": _s(STATE_SK)},
                    "UpdateExpression": "SET last_seq = :new, updated_at = :at",
                    # The counter moves only from the value we based seq on; a
                    # missing conversation fails this too (no last_seq at all).
                    "ConditionExpression": "last_seq = :old",
                    "ExpressionAttributeValues": {":new": _n(seq), ":old": _n(guess),
                                                  ":at": attrs["created_at"]},
                    # On failure DynamoDB hands back the current counter, so the
                    # retry needs no read of its own.
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }},
                {"Put": {
                    "TableName": self.table,
                    "Item": {"PK": _s(pk), "SK": _s(msg_sk(seq)), **attrs},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }},
            ]
            if cmid_sk:
                items.append({"Put": {
                    "TableName": self.table,
                    "Item": {"PK": _s(pk), "SK": _s(cmid_sk), **attrs},
                    # The idempotency record holds a copy of the message, so a
                    # repeated send is answered from the failure itself.
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }})
            try:
                self.client.transact_write_items(TransactItems=items)
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code", "None") for r in reasons]
                if cmid_sk and len(reasons) > 2 and codes[2] == "ConditionalCheckFailed":
                    stored = reasons[2].get("Item")
                    if stored:
                        found = message_from_item(stored)
                        self.hints.see(conversation_id, found["seq"])
                        return found, False
                if codes and codes[0] == "ConditionalCheckFailed":
                    current = (reasons[0].get("Item") or {}).get("last_seq")
                    if current is None:
                        raise NotFound("No such conversation.", code="conversation_not_found") from exc
                    guess = int(current["N"])
                    self.hints.see(conversation_id, guess)
                elif "TransactionConflict" not in codes:
                    raise
                if time.monotonic() > deadline:
                    break
                time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempt)))
                continue
            self.hints.see(conversation_id, seq)
            return message, True
        raise Unavailable("The conversation is too busy right now; please retry.", code="busy")

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        return self.client.query(TableName=self.table, ConsistentRead=True, **kwargs)["Items"]

    @_translated
    def messages_after(self, conversation_id: str, after: int, limit: int = 100) -> Page:
        """Messages with seq > after, oldest first, and the conversation's last_seq.

        One Query: the range runs from the first wanted message up to the
        conversation's STATE record, which sorts after all messages.

        A Query is read-committed item by item, not a snapshot: while it runs,
        appends may land behind it, so it can see STATE count a message it
        read past too early, or (in principle) message n+1 without n. So the
        answer stops at the first gap and says ``has_more`` whenever the
        messages it returns end below ``last_seq``: a client that asks again
        from the last seq it received never skips one.
        """
        items = self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": _s(conv_pk(conversation_id)),
                                       ":lo": _s(msg_sk(after + 1)), ":hi": _s(STATE_SK)},
            Limit=limit + 1,
        )
        state = items[-1] if items and items[-1]["SK"]["S"] == STATE_SK else None
        messages: list[dict[str, Any]] = []
        for item in items:
            if item["SK"]["S"] == STATE_SK or len(messages) == limit:
                break
            message = message_from_item(item)
            if message["seq"] != after + len(messages) + 1:
                break  # a gap: what lies beyond it waits for the next ask
            messages.append(message)
        if state is None and not messages:
            raise NotFound("No such conversation.", code="conversation_not_found")
        reached = messages[-1]["seq"] if messages else after
        last_seq = max(int(state["last_seq"]["N"]) if state else 0, reached)
        if state is not None:
            self.hints.see(conversation_id, last_seq)
        return Page(messages, last_seq, has_more=state is None or reached < last_seq)

    @_translated
    def latest_messages(self, conversation_id: str, limit: int) -> Page:
        """The newest ``limit`` messages (oldest first) and last_seq, in one Query."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": _s(conv_pk(conversation_id)),
                                       ":lo": _s("MSG#"), ":hi": _s(STATE_SK)},
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        if not items or items[0]["SK"]["S"] != STATE_SK:
            raise NotFound("No such conversation.", code="conversation_not_found")
        messages = [message_from_item(i) for i in reversed(items[1:])]
        # STATE is read first here: a message appended meanwhile may come back
        # with a seq above the counter read. Report what was really seen.
        last_seq = max([int(items[0]["last_seq"]["N"])] + [m["seq"] for m in messages])
        self.hints.see(conversation_id, last_seq)
        has_more = bool(messages) and messages[0]["seq"] > 1
        return Page(messages, last_seq, has_more)

    @_translated
    def messages_before(self, conversation_id: str, before: int, limit: int) -> Page:
        """Up to ``limit`` messages with seq < before (oldest first), for paging back."""
        pk = _s(conv_pk(conversation_id))
        state = self.client.get_item(TableName=self.table, ConsistentRead=True,
                                     Key={"PK": pk, "SK": _s(STATE_SK)}).get("Item")
        if state is None:
            raise NotFound("No such conversation.", code="conversation_not_found")
        last_seq = int(state["last_seq"]["N"])
        if before <= 1:
            return Page([], last_seq, has_more=False)
        items = self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": pk, ":lo": _s("MSG#"),
                                       ":hi": _s(msg_sk(min(before, MAX_SEQ + 1) - 1))},
            ScanIndexForward=False,
            Limit=limit,
        )
        messages = [message_from_item(i) for i in reversed(items)]
        return Page(messages, last_seq, has_more=bool(messages) and messages[0]["seq"] > 1)

    # -- WebSocket connections ------------------------------------------------
    #
    # Two rows per connection: one under the conversation, for fan-out (a
    # Query), and one under the connection id, because $disconnect knows only
    # that id. Both carry `ttl`: $disconnect is best-effort, and API Gateway
    # drops every connection after 2 h anyway. No emulator expires TTL rows and
    # DynamoDB does it late, so reads filter on it.

    @_translated
    def add_connection(self, conversation_id: str, connection_id: str, ttl_seconds: int) -> None:
        now = int(time.time())
        common = {"conversation_id": _s(conversation_id), "connection_id": _s(connection_id),
                  "connected_at": _s(now_iso()), "since": _n(now), "ttl": _n(now + ttl_seconds)}
        self.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.table, "Item": {
                "PK": _s(conv_pk(conversation_id)), "SK": _s(f"CONN#{connection_id}"), **common}}},
            {"Put": {"TableName": self.table, "Item": {
                "PK": _s(f"CONN#{connection_id}"), "SK": _s("META"), **common}}},
        ])

    def connections(self, conversation_id: str) -> list[str]:
        """The live connection ids of a conversation (expired rows left out)."""
        return [row["id"] for row in self.connection_rows(conversation_id)]

    @_translated
    def connection_rows(self, conversation_id: str) -> list[dict[str, Any]]:
        """The live connections of a conversation: ``{"id", "since"}`` (epoch seconds)."""
        now = int(time.time())
        rows: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
                FilterExpression="#ttl > :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":pk": _s(conv_pk(conversation_id)), ":conn": _s("CONN#"),
                                           ":now": _n(now)},
                ProjectionExpression="connection_id, since", **kwargs)
            rows += [{"id": i["connection_id"]["S"], "since": int(i.get("since", {"N": "0"})["N"])}
                     for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    @_translated
    def connection_conversation(self, connection_id: str) -> str | None:
        item = self.client.get_item(TableName=self.table, Key={
            "PK": _s(f"CONN#{connection_id}"), "SK": _s("META")}).get("Item")
        if not item or int(item["ttl"]["N"]) <= time.time():
            return None
        return item["conversation_id"]["S"]

    @_translated
    def remove_connection(self, conversation_id: str, connection_id: str) -> None:
        """Deletes both rows of one connection (idempotent: gone rows are fine)."""
        self.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": self.table, "Key": {
                "PK": _s(conv_pk(conversation_id)), "SK": _s(f"CONN#{connection_id}")}}},
            {"Delete": {"TableName": self.table, "Key": {
                "PK": _s(f"CONN#{connection_id}"), "SK": _s("META")}}},
        ])

    # -- sites -----------------------------------------------------------------

    @_translated
    def get_site(self, site_key: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table,
                                    Key={"PK": _s(f"SITE#{site_key}"), "SK": _s("META")}).get("Item")
        return _site_from_item(item) if item else None

    @_translated
    def site_and_counter(self, site_key: str | None,
                         conversation_id: str | None) -> tuple[dict[str, Any] | None, int | None]:
        """Reads a site and/or a conversation's last_seq in one BatchGetItem.

        The counter read is strongly consistent and feeds the seq hint, so the
        append that follows usually succeeds at its first attempt.
        """
        keys = []
        if site_key is not None:
            keys.append({"PK": _s(f"SITE#{site_key}"), "SK": _s("META")})
        if conversation_id is not None:
            keys.append({"PK": _s(conv_pk(conversation_id)), "SK": _s(STATE_SK)})
        found: list[dict[str, Any]] = []
        request = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(5):  # UnprocessedKeys: DynamoDB may hand back part of a batch
            page = self.client.batch_get_item(RequestItems=request)
            found += page.get("Responses", {}).get(self.table, [])
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.01)
        site, last_seq = None, None
        for item in found:
            if item["SK"]["S"] == "META":
                site = _site_from_item(item)
            else:
                last_seq = int(item["last_seq"]["N"])
                self.hints.see(conversation_id, last_seq)  # type: ignore[arg-type]
        return site, last_seq

    @_translated
    def list_sites(self) -> list[dict[str, Any]]:
        """Every site, through the sparse GSI1 (keys only), then one GetItem each."""
        keys: list[str] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.client.query(TableName=self.table, IndexName="GSI1",
                                     KeyConditionExpression="GSI1PK = :p",
                                     ExpressionAttributeValues={":p": _s("SITE")}, **kwargs)
            keys += [i["GSI1SK"]["S"] for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        return [s for s in (self.get_site(k) for k in keys) if s]

    @_translated
    def origin_is_listed(self, origin: str) -> bool:
        """Whether any site lists this origin (for a preflight that names no site)."""
        items = self.client.query(TableName=self.table, Limit=1,
                                  KeyConditionExpression="PK = :pk",
                                  ExpressionAttributeValues={":pk": _s(f"ORIGIN#{origin}")})["Items"]
        return bool(items)

    @_translated
    def put_site(self, site: dict[str, Any], previous_origins: Iterable[str] = (),
                 create: bool = False) -> None:
        """Creates (``create``: only if new) or replaces a site and its origin-index rows.

        One transaction, so the origin index never lists an origin its site
        does not, nor misses one it does.
        """
        key = site["site_key"]
        origins = list(site["origins"])
        stamp = now_iso()
        item = {
            "PK": _s(f"SITE#{key}"), "SK": _s("META"), "GSI1PK": _s("SITE"), "GSI1SK": _s(key),
            "site_key": _s(key), "name": _s(site.get("name") or key),
            "origins": {"L": [_s(o) for o in origins]},
            "bot": _s(json.dumps(site.get("bot") or {}, separators=(",", ":"))),
            "widget": _s(json.dumps(site.get("widget") or {}, separators=(",", ":"))),
            "created_at": _s(site.get("created_at") or stamp), "updated_at": _s(stamp),
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if create:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        ops: list[dict[str, Any]] = [{"Put": put}]
        for origin in origins:
            ops.append({"Put": {"TableName": self.table, "Item": {
                "PK": _s(f"ORIGIN#{origin}"), "SK": _s(f"SITE#{key}")}}})
        for origin in set(previous_origins) - set(origins):
            ops.append({"Delete": {"TableName": self.table, "Key": {
                "PK": _s(f"ORIGIN#{origin}"), "SK": _s(f"SITE#{key}")}}})
        self.client.transact_write_items(TransactItems=ops)


def _site_from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "site_key": item["site_key"]["S"],
        "name": item.get("name", {}).get("S", item["site_key"]["S"]),
        "origins": [o["S"] for o in item.get("origins", {}).get("L", [])],
        "bot": json.loads(item.get("bot", {}).get("S", "{}")),
        "widget": json.loads(item.get("widget", {}).get("S", "{}")),
        "created_at": item.get("created_at", {}).get("S"),
        "updated_at": item.get("updated_at", {}).get("S"),
    }
