"""Conversations and their messages: gapless seq, idempotent appends, paging.

Keys:

* conversation  ``PK=CONV#<id>  SK=STATE``  site, visitor, status, last_seq
* message       ``PK=CONV#<id>  SK=MSG#<seq, 10 digits>``  (a bot reply also holds ``reply_id``, ``sources``, ``suggestions``)
* idempotency   ``PK=CONV#<id>  SK=CMID#<v|b>#<client message id>`` (a copy of the message;
                v: the visitor's message, b: the bot's reply to it)

The conversation record is ``STATE`` rather than ``META`` on purpose: it sorts
after every ``MSG#`` key, so a single Query ``SK BETWEEN MSG#<n> AND STATE``
returns the messages after ``n`` *and* the conversation's ``last_seq`` — an
empty poll is one call.

Retention: every item of a conversation carries ``ttl`` (epoch seconds), its
last activity plus the site's ``retention_days``. A message's is its own
``created_at`` plus retention, and each append moves ``STATE``'s forward to
the newest message's, so no message outlives its conversation while it is
used, and a conversation nobody writes to goes whole. DynamoDB deletes
expired items late (within days) and no emulator deletes them at all, so
every read here ignores them itself: an expired ``STATE`` is a conversation
that does not exist, an expired message is skipped. Expired messages are the
oldest ones (ttl grows with seq), so they leave a gap at the start of the
history, never in the middle: ``messages_after`` steps over it.

Revocation: ``STATE`` holds ``token_version``, the version (``v``) a visitor
token must carry; a resume moves it on, a delete too (tokens.py). A
conversation being deleted carries ``deleted_by`` and counts as gone.
"""
from __future__ import annotations

import calendar
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..cache import Cache
from ..errors import ParleyError
from ..lifecycle import Change
from ..models import DEFAULT_RETENTION_DAYS, Conversation, Message, Page, Sender
from .table import MAX_SEQ, STATE_SK, Table, conv_pk, msg_sk, now_iso, translated

# Optimistic appends: under contention each round has one winner, so the
# losers back off (exponential, full jitter) to spread out instead of
# colliding again. The budget outlasts 50 truly simultaneous senders in one
# conversation, and a send's two appends (message, reply) plus its publishes
# still end inside the Lambda timeout (20 s, .chalice/config.json), so the
# client gets our 503, not a gateway's 504.
MAX_APPEND_ATTEMPTS = 60
APPEND_BUDGET_SECONDS = 5.0
BACKOFF_BASE_SECONDS = 0.004
BACKOFF_CAP_SECONDS = 0.2


# The inbox shows this much of a conversation's last message.
PREVIEW_CHARS = 200

DAY_SECONDS = 86400
# An append commits within its budget (APPEND_BUDGET_SECONDS) of taking its
# timestamp. So a message older than this has every lower seq committed before
# it: a gap before it is history that expired, not an append still in flight.
SETTLED_SECONDS = 60
# A poll whose page held only expired messages reads on, this many pages at most.
MAX_EXPIRED_PAGES = 5
# A transcript (and an export) reads the history in pages of this many messages.
HISTORY_PAGE = 200
# A delete stops after this long (the Lambda's timeout is 20 s), leaving the
# conversation marked, hidden and revoked; the same delete again finishes it.
DELETE_BUDGET_SECONDS = 10.0
BATCH_WRITE_SIZE = 25  # DynamoDB's BatchWriteItem limit
BATCH_WRITE_ROUNDS = 5
# Every status a conversation can be in, each one partition of the inbox index (GSI2).
STATUSES = ("bot", "pending", "open", "resolved")


def live(values: dict[str, Any] | None, now: float) -> bool:
    """Whether a stored item (plain values) is there for readers: not expired, not being deleted.

    An item without ``ttl`` (written before retention existed) never expires.
    """
    if values is None or "deleted_by" in values:
        return False
    ttl = values.get("ttl")
    return ttl is None or int(ttl) > now


def stored_version(values: dict[str, Any]) -> int:
    return int(values.get("token_version", 0))


def visitor_refusal(values: dict[str, Any] | None, now: float, version: int | None) -> ParleyError | None:
    """Why a visitor with a token at ``version`` may not use this conversation (None: they may)."""
    if not live(values, now):
        return ParleyError("conversation_not_found", "No such conversation.")
    if version is not None and stored_version(values) != version:  # type: ignore[arg-type]
        return ParleyError("token_revoked", "This token was replaced: the conversation was resumed with it "
                                            "(perhaps in another tab) or deleted. Use the newer token.")
    return None


def live_condition(version: int | None) -> tuple[str, dict[str, str]]:
    """A condition on STATE: live (``:now`` is the caller's), and at ``version`` if given (``:tv``)."""
    condition = "attribute_exists(PK) AND (attribute_not_exists(#ttl) OR #ttl > :now) " \
                "AND attribute_not_exists(deleted_by)"
    if version is not None:
        # A conversation from before versions has none: that is version 0.
        condition += (" AND (token_version = :tv OR attribute_not_exists(token_version))" if version == 0
                      else " AND token_version = :tv")
    return condition, {"#ttl": "ttl"}


def visitor_check(table: Table, conversation_id: str, version: int, now: float) -> dict[str, Any]:
    """A transaction's ConditionCheck that the conversation is live and the token at its version.

    Its cancellation reason carries STATE (``visitor_refusal`` reads it).
    """
    condition, names = live_condition(version)
    return {"ConditionCheck": {
        "TableName": table.name, "Key": table.key(conv_pk(conversation_id), STATE_SK),
        "ConditionExpression": condition, "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": table.values(now=int(now), tv=version),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}


def _settled(values: dict[str, Any], now: float) -> bool:
    """Whether a message is older than SETTLED_SECONDS (by its created_at)."""
    try:
        created = calendar.timegm(time.strptime(str(values["created_at"])[:19], "%Y-%m-%dT%H:%M:%S"))
    except (KeyError, ValueError):
        return False
    return now - created > SETTLED_SECONDS


def message_from(values: dict[str, Any]) -> Message:
    """A Message from a stored item's plain values (a message row or its idempotency copy)."""
    return Message(id=values["id"], conversation_id=values["conversation_id"], seq=int(values["seq"]),
                   sender=values["sender"], text=values["text"], created_at=values["created_at"],
                   client_message_id=values.get("client_message_id"), sender_name=values.get("sender_name"),
                   event=values.get("event"), reply_id=values.get("reply_id"),
                   sources=tuple(values["sources"]) if values.get("sources") is not None else None,
                   suggestions=tuple(values["suggestions"]) if values.get("suggestions") else None)


def conversation_from(conversation_id: str, values: dict[str, Any]) -> Conversation:
    """A Conversation from its STATE item's plain values."""
    visitor = values.get("visitor")
    return Conversation(
        conversation_id=conversation_id, site_key=values["site_key"], status=values.get("status", "bot"),
        last_seq=int(values.get("last_seq", 0)), visitor=json.loads(visitor) if visitor else None,
        locale=values.get("locale"), created_at=values.get("created_at"), updated_at=values.get("updated_at"),
        assignee_id=values.get("assignee_id"), assignee_name=values.get("assignee_name"),
        state_rev=int(values.get("state_rev", 0)), status_since=values.get("status_since"),
        resolved_at=values.get("resolved_at"), agent_read_seq=int(values.get("agent_read_seq", 0)),
        last_message=values.get("last_message"), page=values.get("page"), user_agent=values.get("user_agent"),
        token_version=stored_version(values), contact=values.get("contact") or None)


def inbox_pk(site_key: str, status: str) -> str:
    return f"INBOX#{site_key}#{status}"


def mine_pk(site_key: str, agent_id: str) -> str:
    return f"MINE#{site_key}#{agent_id}"


class StateRefused(Exception):
    """The append's condition on the conversation's state failed; ``current`` is what is stored."""

    def __init__(self, current: Conversation) -> None:
        super().__init__(current.status)
        self.current = current


@dataclass(frozen=True)
class Guard:
    """What an append requires of the conversation, and what it changes besides the counter.

    ``change`` is a lifecycle change stored with the message (a system
    message), conditioned on ``expect_rev`` when given; ``when_status`` /
    ``when_assignee`` / ``when_site`` / ``min_misses`` only condition the append (the bot's
    reply, an agent's reply). ``bot_miss`` counts the bot's answers in a row
    that did not help (True), or resets the count (False). ``read_mark``
    moves the agent side's read mark to this message (an agent wrote it).
    """

    site_key: str | None = None
    change: Change | None = None
    expect_rev: int | None = None
    when_status: str | None = None
    when_assignee: str | None = None
    when_site: str | None = None
    min_misses: int | None = None
    bot_miss: bool | None = None
    read_mark: bool = False
    # A rate-limit count to make in the same transaction (chalicelib/limits.py's
    # RateLimiter.counted): the message is stored only if the count is below its limit.
    rate: Any = None
    # A visitor's token version: the append happens only if the conversation is at it.
    token_version: int | None = None


class SeqHints:
    """Last seq seen per conversation in this process: the first guess of an append.

    A wrong guess costs one failed transaction, which hands back the true value
    (``ReturnValuesOnConditionCheckFailure``), so the hint never affects
    correctness, only how often a send needs a second call.
    """

    def __init__(self, size: int = 2048) -> None:
        self._seen: Cache[str, int] = Cache(size)

    def get(self, conversation_id: str) -> int:
        return self._seen.peek(conversation_id)[1] or 0

    def known(self, conversation_id: str) -> bool:
        return self._seen.peek(conversation_id)[0]

    def see(self, conversation_id: str, seq: int) -> None:
        self._seen.update(conversation_id, lambda old: max(old or 0, seq))


class MessageStore:
    """Conversations and messages in the Parley table.

    ``clock``, ``monotonic``, ``sleep`` and ``jitter`` are injected so tests
    run the retry loop on a fake clock.
    """

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        self.table = table
        self.hints = SeqHints()
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._jitter = jitter
        # The retention of a site, for appends whose caller does not have the site
        # at hand (the composition root hands in the site cache's).
        self.retention_days_of: Callable[[str], int | None] = lambda _site_key: None
        # Appends to one conversation from threads of this process queue up
        # here instead of colliding in DynamoDB (a collision costs a round trip
        # and a backoff). Between processes (Lambda containers) the
        # transaction's condition alone keeps seq gapless. Striped, so the
        # memory stays bounded however many conversations pass through.
        self._append_locks = [threading.Lock() for _ in range(64)]

    # -- conversations -----------------------------------------------------

    @translated
    def create_conversation(self, conversation_id: str, site_key: str,
                            visitor: dict[str, str] | None, locale: str | None,
                            page: str | None = None, user_agent: str | None = None,
                            retention_days: int = DEFAULT_RETENTION_DAYS) -> Conversation:
        now = self._clock()
        stamp = now_iso(now)
        item = self.table.item(
            PK=conv_pk(conversation_id), SK=STATE_SK, site_key=site_key, status="bot", last_seq=0,
            state_rev=0, agent_read_seq=0, created_at=stamp, updated_at=stamp, status_since=stamp,
            token_version=0, ttl=int(now) + retention_days * DAY_SECONDS,
            locale=locale or None, page=page or None, user_agent=user_agent or None,
            visitor=json.dumps(visitor, separators=(",", ":"), ensure_ascii=False) if visitor else None,
            # The inbox index (GSI2): one partition per site and status, oldest first.
            GSI2PK=inbox_pk(site_key, "bot"), GSI2SK=f"{stamp}#{conversation_id}")
        # attribute_not_exists: an id collision must never reset someone's conversation.
        self.table.client.put_item(TableName=self.table.name, Item=item,
                                   ConditionExpression="attribute_not_exists(PK)")
        return Conversation(conversation_id, site_key, "bot", 0, visitor or None, locale or None, stamp, stamp,
                            status_since=stamp, page=page or None, user_agent=user_agent or None)

    @translated
    def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation's state, read strongly consistent (decisions are made on it).

        None when there is none, or it expired, or it is being deleted.
        """
        values = self._state(conversation_id)
        return conversation_from(conversation_id, values) if live(values, self._clock()) else None

    @translated
    def site_of(self, conversation_id: str) -> str | None:
        """The site of a stored conversation, expired or half-deleted ones too (for operators)."""
        values = self._state(conversation_id)
        return values.get("site_key") if values else None

    def _state(self, conversation_id: str) -> dict[str, Any] | None:
        item = self.table.client.get_item(TableName=self.table.name, ConsistentRead=True,
                                          Key=self.table.key(conv_pk(conversation_id), STATE_SK)).get("Item")
        return self.table.plain(item) if item else None

    @translated
    def visitor_conversation(self, conversation_id: str, version: int) -> Conversation:
        """The conversation, for a visitor whose token is at ``version``: 404 if gone, 401 token_revoked."""
        values = self._state(conversation_id)
        refusal = visitor_refusal(values, self._clock(), version)
        if refusal is not None:
            raise refusal
        return conversation_from(conversation_id, values)  # type: ignore[arg-type]

    @translated
    def resume(self, conversation_id: str, version: int) -> int | None:
        """Moves the conversation's token version on from ``version``: the new one, or None if it is gone.

        One conditional UpdateItem: the check and the step are one write, so of
        two tabs resuming with one token at once, one gets the new version and
        the other 401 token_revoked (its token is stale: the widget takes the
        newer one from storage). A token already stale is 401 token_revoked; a
        conversation that expired or was deleted answers None (init starts a
        new one).
        """
        t = self.table
        now = self._clock()
        condition, names = live_condition(version)
        try:
            t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET token_version = :next", ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=t.values(now=int(now), tv=version, next=version + 1),
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except t.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            values = t.plain(item) if item else None
            if not live(values, now):
                return None
            raise visitor_refusal(values, now, version) or exc
        return version + 1

    @translated
    def inbox(self, site_key: str, status: str, limit: int, start: dict[str, Any] | None = None,
              agent_id: str | None = None) -> tuple[list[Conversation], dict[str, Any] | None]:
        """One page of a site's conversations in one status (or open and held by ``agent_id``).

        One Query on GSI2 (``INBOX#<site>#<status>``) or GSI3
        (``MINE#<site>#<agent>``), sorted by when each entered its status:
        oldest first, except resolved ones (newest first). ``start`` is the
        previous page's last key, already checked to belong to this partition.
        """
        if agent_id is not None:
            index, pk_name, sk_name, pk = "GSI3", "GSI3PK", "GSI3SK", mine_pk(site_key, agent_id)
        else:
            index, pk_name, sk_name, pk = "GSI2", "GSI2PK", "GSI2SK", inbox_pk(site_key, status)
        # Expired conversations are left out (a page may then be short, even empty,
        # with a cursor to the next); one being deleted has left the index already.
        kwargs: dict[str, Any] = dict(IndexName=index, KeyConditionExpression=f"{pk_name} = :pk",
                                      FilterExpression="attribute_not_exists(#ttl) OR #ttl > :now",
                                      ExpressionAttributeNames={"#ttl": "ttl"},
                                      ExpressionAttributeValues=self.table.values(pk=pk, now=int(self._clock())),
                                      Limit=limit, ScanIndexForward=status != "resolved")
        if start:
            kwargs["ExclusiveStartKey"] = self.table.item(**start)
        answer = self.table.client.query(TableName=self.table.name, **kwargs)
        rows = [self.table.plain(i) for i in answer["Items"]]
        conversations = [conversation_from(r["PK"].removeprefix("CONV#"), r) for r in rows]
        last = answer.get("LastEvaluatedKey")
        return conversations, (self.table.plain(last) if last else None)

    @translated
    def mark_read(self, conversation_id: str, seq: int) -> Conversation:
        """Moves the agent side's read mark up to ``seq`` (never down, never past last_seq)."""
        t = self.table
        try:
            answer = t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET agent_read_seq = :seq",
                # Only forward, and only to a message that exists.
                ConditionExpression=("attribute_exists(PK) AND last_seq >= :seq AND "
                                     "(attribute_not_exists(agent_read_seq) OR agent_read_seq < :seq)"),
                ExpressionAttributeValues=t.values(seq=seq), ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except t.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            if not item:
                raise ParleyError("conversation_not_found", "No such conversation.") from exc
            current = conversation_from(conversation_id, t.plain(item))
            if seq > current.last_seq:
                raise ParleyError("invalid_request", f"seq: there is no message {seq} yet "
                                                     f"(last_seq is {current.last_seq}).") from exc
            return current  # already read that far
        return conversation_from(conversation_id, t.plain(answer["Attributes"]))

    # -- messages ------------------------------------------------------------

    @translated
    def append_message(self, conversation_id: str, sender: Sender, text: str,
                       idempotency_key: str | None = None,
                       client_message_id: str | None = None, *, sender_name: str | None = None,
                       guard: Guard | None = None, retention_days: int | None = None,
                       reply_id: str | None = None, sources: tuple[str, ...] | None = None,
                       suggestions: tuple[str, ...] | None = None) -> tuple[Message, bool]:
        """Stores a message under the next seq; returns (message, created).

        When ``idempotency_key`` was seen before in this conversation, the
        message stored then comes back with created=False. With a ``guard``
        whose conditions the stored state does not meet, nothing is stored
        and ``StateRefused`` carries the state found. A conversation that
        expired (or is being deleted) is 404, never revived; a visitor's
        stale token (``guard.token_version``) is 401 token_revoked.

        ``retention_days``: the site's; without it, the site of the guard's
        ``site_key``/``when_site`` is asked (``retention_days_of``, the site
        cache), else the default. ``reply_id``, ``sources`` and ``suggestions``: a bot reply's (stored with it).
        """
        guard = guard or Guard()
        if retention_days is None:
            site_key = guard.site_key or guard.when_site
            retention_days = (self.retention_days_of(site_key) if site_key else None) or DEFAULT_RETENTION_DAYS
        lock = self._append_locks[hash(conversation_id) % len(self._append_locks)]
        with lock:
            return self._append(conversation_id, sender, text, idempotency_key, client_message_id,
                                sender_name, guard, retention_days * DAY_SECONDS, reply_id, sources, suggestions)

    def _append(self, conversation_id: str, sender: Sender, text: str, idempotency_key: str | None,
                client_message_id: str | None, sender_name: str | None,
                guard: Guard, retention_seconds: int, reply_id: str | None = None,
                sources: tuple[str, ...] | None = None,
                suggestions: tuple[str, ...] | None = None) -> tuple[Message, bool]:
        """One transaction makes the message visible together with the counter that names it.

        So seq is gapless: the counter update is conditioned on its old value,
        the message put on its key being new, and the idempotency record on
        its key being new.
        """
        table = self.table
        pk = conv_pk(conversation_id)
        guess = self.hints.get(conversation_id)
        cmid_sk = f"CMID#{idempotency_key}" if idempotency_key else None
        message_id = f"m_{secrets.token_hex(16)}"
        deadline = self._monotonic() + APPEND_BUDGET_SECONDS
        for attempt in range(MAX_APPEND_ATTEMPTS):
            seq = guess + 1
            message = Message(message_id, conversation_id, seq, sender, text, now_iso(self._clock()),
                              client_message_id, sender_name, guard.change.event() if guard.change else None,
                              reply_id, sources, suggestions or None)
            now = self._clock()
            # The message and its idempotency copy expire retention after it was
            # written; STATE's ttl moves to the same instant (_state_update).
            attrs = {**message.to_json(), "ttl": int(now) + retention_seconds}
            update = _state_update(table, conversation_id, message, guess, guard, now, attrs["ttl"])
            items: list[dict[str, Any]] = [
                {"Update": {
                    "TableName": table.name,
                    "Key": table.key(pk, STATE_SK),
                    **update,
                    # On failure DynamoDB hands back the current state, so the
                    # retry (or the refusal) needs no read of its own.
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }},
                {"Put": {
                    "TableName": table.name,
                    "Item": table.item(PK=pk, SK=msg_sk(seq), **attrs),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }},
            ]
            if cmid_sk:
                items.append({"Put": {
                    "TableName": table.name,
                    "Item": table.item(PK=pk, SK=cmid_sk, **attrs),
                    # The idempotency record holds a copy of the message, so a
                    # repeated send is answered from the failure itself.
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }})
            if guard.rate is not None:
                items.append(guard.rate.item)
            try:
                table.client.transact_write_items(TransactItems=items)
            except table.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code", "None") for r in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    # Gone (never there, expired, being deleted) or a stale token:
                    # said before anything else, a repeat included.
                    state = reasons[0].get("Item")
                    refusal = visitor_refusal(table.plain(state) if state else None, now, guard.token_version)
                    if refusal is not None:
                        raise refusal from None
                if cmid_sk and len(reasons) > 2 and codes[2] == "ConditionalCheckFailed":
                    stored = reasons[2].get("Item")
                    if stored:
                        # A repeat: answered from the stored copy, and not counted again.
                        found = message_from(table.plain(stored))
                        self.hints.see(conversation_id, found.seq)
                        return found, False
                if guard.rate is not None and len(codes) == len(items) and codes[-1] == "ConditionalCheckFailed":
                    raise guard.rate.refused() from None
                if codes and codes[0] == "ConditionalCheckFailed":
                    stored = reasons[0].get("Item") or {}
                    current = stored.get("last_seq")
                    if current is None:
                        raise ParleyError("conversation_not_found", "No such conversation.") from exc
                    if int(current["N"]) == guess:
                        # The counter is where we thought: the guard's condition failed.
                        raise StateRefused(conversation_from(conversation_id, table.plain(stored))) from exc
                    guess = int(current["N"])
                    self.hints.see(conversation_id, guess)
                elif len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    # The slot for seq is taken although the counter looked
                    # unmoved: another append landed while ours was checked
                    # (an emulator that is not atomic across threads does this).
                    # The counter is past our guess; try the next one.
                    guess += 1
                elif "TransactionConflict" not in codes:
                    raise
                if self._monotonic() > deadline:
                    break
                self._sleep(self._jitter(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempt)))
                continue
            self.hints.see(conversation_id, seq)
            return message, True
        raise ParleyError("busy", "The conversation is too busy right now; please retry.")

    @translated
    def stored_reply(self, conversation_id: str, client_message_id: str) -> Message | None:
        """The bot's reply to the visitor message ``client_message_id``, if it is stored (one GetItem).

        Read from the reply's idempotency record (``CMID#b#<client id>``), which
        the reply's own transaction wrote: there is a reply exactly when it is there.
        """
        item = self.table.client.get_item(
            TableName=self.table.name, ConsistentRead=True,
            Key=self.table.key(conv_pk(conversation_id), f"CMID#b#{client_message_id}")).get("Item")
        values = self.table.plain(item) if item else None
        return message_from(values) if values is not None and live(values, self._clock()) else None

    @translated
    def messages_after(self, conversation_id: str, after: int, limit: int = 100,
                       visitor_version: int | None = None) -> Page:
        """Messages with seq > after, oldest first, and the conversation's last_seq.

        One Query: the range runs from the first wanted message up to the
        conversation's STATE record, which sorts after all messages.

        A Query is read-committed item by item, not a snapshot: while it runs,
        appends may land behind it, so it can see STATE count a message it
        read past too early, or (in principle) message n+1 without n. So the
        answer stops at the first gap and says ``has_more`` whenever the
        messages it returns end below ``last_seq``: a client that asks again
        from the last seq it received never skips one. The one gap stepped
        over is expired history at the start (see the module's docstring):
        expired messages still stored are skipped, and a gap before a message
        older than SETTLED_SECONDS cannot be an append in flight.

        ``visitor_version``: the visitor's token version, checked against
        STATE (401 token_revoked). STATE comes with the page, unless the page
        ends before it (over ``limit`` messages to catch up): then a GetItem reads it.
        """
        now = self._clock()
        pk = conv_pk(conversation_id)
        state: dict[str, Any] | None = None
        messages: list[Message] = []
        reached = after
        kwargs: dict[str, Any] = dict(
            TableName=self.table.name, ConsistentRead=True, Limit=limit + 1,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=pk, lo=msg_sk(after + 1), hi=STATE_SK))
        for _ in range(1 + MAX_EXPIRED_PAGES):
            answer = self.table.client.query(**kwargs)
            items = [self.table.plain(i) for i in answer["Items"]]
            if items and items[-1]["SK"] == STATE_SK:
                state = items[-1]
            stop = False
            for item in items:
                if item["SK"] == STATE_SK:
                    stop = True
                    break
                if len(messages) == limit:
                    stop = True
                    break
                seq = int(item["seq"])
                if seq != reached + 1 and (messages or not _settled(item, now)):
                    stop = True
                    break  # a gap: what lies beyond it waits for the next ask
                reached = seq
                if live(item, now):
                    messages.append(message_from(item))
            if stop or messages or not answer.get("LastEvaluatedKey"):
                break
            # A page of expired messages only: read on from where it ended.
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if state is None and (visitor_version is not None or not messages):
            state = self._state(conversation_id)
            if state is None:
                raise ParleyError("conversation_not_found", "No such conversation.")
        if state is not None:
            refusal = visitor_refusal(state, now, visitor_version)
            if refusal is not None:
                raise refusal
        # The highest seq known to exist: the counter (or, if the page ended before
        # reaching it, the last message read), never the client's own `after`.
        read = reached if reached > after else 0  # the highest seq this answer read, if any
        last_seq = max(int(state["last_seq"]), read) if state is not None else reached
        if state is not None:
            self.hints.see(conversation_id, last_seq)
        return Page(messages, last_seq, has_more=state is None or reached < last_seq)

    def latest_messages(self, conversation_id: str, limit: int) -> Page:
        """The newest ``limit`` messages (oldest first) and last_seq, in one Query."""
        return self.latest(conversation_id, limit)[0]

    @translated
    def latest(self, conversation_id: str, limit: int) -> tuple[Page, Conversation]:
        """The newest ``limit`` messages (oldest first) and the conversation's state, in one Query."""
        now = self._clock()
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=conv_pk(conversation_id), lo="MSG#", hi=STATE_SK),
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        if not items or items[0]["SK"] != STATE_SK or not live(items[0], now):
            raise ParleyError("conversation_not_found", "No such conversation.")
        messages = [message_from(i) for i in reversed(items[1:]) if live(i, now)]
        # STATE is read first here: a message appended meanwhile may come back
        # with a seq above the counter read. Report what was really seen.
        last_seq = max([int(items[0]["last_seq"])] + [m.seq for m in messages])
        self.hints.see(conversation_id, last_seq)
        return (Page(messages, last_seq, has_more=bool(messages) and messages[0].seq > 1),
                conversation_from(conversation_id, items[0]))

    @translated
    def messages_before(self, conversation_id: str, before: int, limit: int,
                        visitor_version: int | None = None) -> Page:
        """Up to ``limit`` messages with seq < before (oldest first), for paging back."""
        now = self._clock()
        pk = conv_pk(conversation_id)
        state = self._state(conversation_id)
        refusal = visitor_refusal(state, now, visitor_version)
        if refusal is not None:
            raise refusal
        last_seq = int(state["last_seq"])  # type: ignore[index]
        if before <= 1:
            return Page([], last_seq, has_more=False)
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=pk, lo="MSG#",
                                                        hi=msg_sk(min(before, MAX_SEQ + 1) - 1)),
            ScanIndexForward=False,
            Limit=limit,
        )
        # Expired messages are the oldest: once one shows up, there is nothing older to page to.
        messages = [message_from(i) for i in reversed(items) if live(i, now)]
        has_more = bool(messages) and messages[0].seq > 1 and len(messages) == len(items)
        return Page(messages, last_seq, has_more=has_more)

    @translated
    def history(self, conversation_id: str, max_messages: int | None = None,
                visitor_version: int | None = None) -> tuple[Conversation, list[Message], bool]:
        """The whole (live) history in seq order, read in pages: (conversation, messages, truncated).

        For a transcript (``max_messages`` bounds it) and an export. STATE
        comes with the last page; a history cut short reads it with a GetItem.
        """
        now = self._clock()
        kwargs: dict[str, Any] = dict(
            TableName=self.table.name, ConsistentRead=True,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=conv_pk(conversation_id), lo="MSG#", hi=STATE_SK))
        messages: list[Message] = []
        state: dict[str, Any] | None = None
        truncated = False
        while state is None and not truncated:
            want = HISTORY_PAGE if max_messages is None else min(HISTORY_PAGE, max_messages - len(messages) + 1)
            answer = self.table.client.query(Limit=want, **kwargs)
            for item in map(self.table.plain, answer["Items"]):
                if item["SK"] == STATE_SK:
                    state = item
                elif max_messages is not None and len(messages) == max_messages:
                    truncated = True
                    break
                elif live(item, now):
                    messages.append(message_from(item))
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if state is None:
            state = self._state(conversation_id)
        refusal = visitor_refusal(state, now, visitor_version)
        if refusal is not None:
            raise refusal
        return conversation_from(conversation_id, state), messages, truncated  # type: ignore[arg-type]

    def site_conversations(self, site_key: str) -> Iterator[Conversation]:
        """Every live conversation of a site: the inbox index (GSI2), status by status, page by page.

        Each conversation is in exactly one status partition; one that changes
        status while this runs may show up twice (given once) or be missed, as
        in any index read while it is written to.
        """
        seen: set[str] = set()
        for status in STATUSES:
            start = None
            while True:
                page, start = self.inbox(site_key, status, 100, start)
                for conversation in page:
                    if conversation.conversation_id not in seen:
                        seen.add(conversation.conversation_id)
                        yield conversation
                if not start:
                    break

    # -- deleting ------------------------------------------------------------

    @translated
    def delete_conversation(self, conversation_id: str, version: int | None) -> tuple[bool, int, str | None]:
        """Deletes the conversation and every item under it: (finished, items deleted, its site).

        ``version``: the visitor's token version (None: an operator, no token).
        First one UpdateItem marks STATE ``deleted_by``, moves its token
        version on and takes it out of the inbox indexes: from then on every
        token is stale, every read finds it gone and no append lands. Then the
        items under ``CONV#<id>`` go, a Query page and BatchWriteItems of 25 at
        a time, a visitor connection's ``CONN#<id>`` row with its own; STATE
        last. Past DELETE_BUDGET_SECONDS it stops (finished False): the same
        delete again (the same token passes the mark) carries on.
        """
        t = self.table
        now = self._clock()
        deadline = self._monotonic() + DELETE_BUDGET_SECONDS
        by = "operator" if version is None else f"v{version}"
        if version is None:
            condition, names, values = "attribute_exists(PK)", {}, {"by": by}
        else:
            live_cond, names = live_condition(version)
            # A delete that stopped half-way is finished by the same token.
            condition = f"({live_cond}) OR deleted_by = :by"
            values = {"by": by, "now": int(now), "tv": version}
        try:
            answer = t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET token_version = if_not_exists(token_version, :zero) + :one, "
                                 "deleted_by = if_not_exists(deleted_by, :by) "
                                 "REMOVE GSI2PK, GSI2SK, GSI3PK, GSI3SK",
                ConditionExpression=condition, ExpressionAttributeValues=t.values(zero=0, one=1, **values),
                **({"ExpressionAttributeNames": names} if names else {}),
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
            site_key = t.plain(answer["Attributes"]).get("site_key")
        except t.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            if version is None or not item:
                raise ParleyError("conversation_not_found", "No such conversation.") from None
            raise (visitor_refusal(t.plain(item), now, version)
                   or ParleyError("token_revoked", "This conversation is being deleted.")) from None
        deleted = 0
        pages = t.client.get_paginator("query").paginate(
            TableName=t.name, ConsistentRead=True, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=t.values(pk=conv_pk(conversation_id)),
            ProjectionExpression="PK, SK, #kind, connection_id", ExpressionAttributeNames={"#kind": "kind"},
            PaginationConfig={"PageSize": 250})
        for page in pages:
            keys = []
            for row in map(t.plain, page["Items"]):
                if row["SK"] == STATE_SK:
                    continue
                keys.append(t.key(row["PK"], row["SK"]))
                if row["SK"].startswith("CONN#") and row.get("kind") != "agent" and row.get("connection_id"):
                    # A visitor connection's own row (an agent's stays: it is the console's).
                    keys.append(t.key(f"CONN#{row['connection_id']}", "META"))
            for i in range(0, len(keys), BATCH_WRITE_SIZE):
                if self._monotonic() > deadline:
                    return False, deleted, site_key
                self._delete_batch(keys[i:i + BATCH_WRITE_SIZE])
                deleted += len(keys[i:i + BATCH_WRITE_SIZE])
        t.client.delete_item(TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK))
        return True, deleted + 1, site_key

    def _delete_batch(self, keys: list[dict[str, Any]]) -> None:
        t = self.table
        request = {t.name: [{"DeleteRequest": {"Key": k}} for k in keys]}
        for round_ in range(BATCH_WRITE_ROUNDS):
            request = t.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
            self._sleep(BACKOFF_BASE_SECONDS * 2 ** round_)
        raise ParleyError("unavailable", "The message store is busy; please retry.")


def preview_of(message: Message) -> dict[str, Any]:
    """The conversation's ``last_message``: what the inbox shows of its newest message."""
    preview: dict[str, Any] = {"seq": message.seq, "sender": message.sender, "text": message.text[:PREVIEW_CHARS],
                               "created_at": message.created_at}
    if message.sender_name:
        preview["sender_name"] = message.sender_name
    return preview


def _state_update(table: Table, conversation_id: str, message: Message, old_seq: int, guard: Guard,
                  now: float, ttl: int) -> dict[str, Any]:
    """The conversation update of one append: counter, last message, ttl, and what the guard asks."""
    preview = preview_of(message)
    values: dict[str, Any] = {"new": message.seq, "old": old_seq, "at": message.created_at, "lm": preview,
                              "ttl": ttl, "now": int(now)}
    names: dict[str, str] = {"#ttl": "ttl"}
    sets = ["last_seq = :new", "updated_at = :at", "last_message = :lm", "#ttl = :ttl"]
    removes: list[str] = []
    # The counter moves only from the value we based seq on; a missing
    # conversation fails this too (no last_seq at all). An expired one, or
    # one being deleted, is not brought back by a late message.
    conditions = ["last_seq = :old", "(attribute_not_exists(#ttl) OR #ttl > :now)",
                  "attribute_not_exists(deleted_by)"]
    if guard.token_version is not None:
        # The visitor's token must be the conversation's current one (tokens.py).
        conditions.append("(token_version = :tv OR attribute_not_exists(token_version))"
                          if guard.token_version == 0 else "token_version = :tv")
        values["tv"] = guard.token_version
    if guard.read_mark:
        sets.append("agent_read_seq = :new")
    if guard.bot_miss is True:
        sets.append("bot_misses = if_not_exists(bot_misses, :zero) + :one")
        values.update(zero=0, one=1)
    elif guard.bot_miss is False:
        sets.append("bot_misses = :zero")
        values["zero"] = 0
    if guard.when_status is not None or guard.change is not None:
        names["#st"] = "status"
    if guard.when_status is not None:
        conditions.append("#st = :when_status")
        values["when_status"] = guard.when_status
    if guard.when_assignee is not None:
        conditions.append("assignee_id = :when_assignee")
        values["when_assignee"] = guard.when_assignee
    if guard.when_site is not None:
        conditions.append("site_key = :when_site")
        values["when_site"] = guard.when_site
    if guard.min_misses is not None:
        conditions.append("bot_misses >= :min_misses")
        values["min_misses"] = guard.min_misses
    change = guard.change
    if change is not None:
        assert guard.site_key is not None
        if guard.expect_rev is not None:
            # Optimistic concurrency on the lifecycle: the change was planned on
            # revision expect_rev; if another change landed since, re-plan.
            conditions.append("(state_rev = :rev OR attribute_not_exists(state_rev))" if guard.expect_rev == 0
                              else "state_rev = :rev")
            values["rev"] = guard.expect_rev
        since_key = f"{message.created_at}#{conversation_id}"
        sets += ["#st = :status", "status_since = :at", "state_rev = if_not_exists(state_rev, :zero) + :one",
                 "bot_misses = :zero", "GSI2PK = :g2pk", "GSI2SK = :since_key"]
        values.update(status=change.status, zero=0, one=1,
                      g2pk=inbox_pk(guard.site_key, change.status), since_key=since_key)
        if change.assignee is not None:
            sets += ["assignee_id = :aid", "assignee_name = :aname"]
            values.update(aid=change.assignee.id, aname=change.assignee.name)
            if change.status == "open":
                sets += ["GSI3PK = :g3pk", "GSI3SK = :since_key"]
                values["g3pk"] = mine_pk(guard.site_key, change.assignee.id)
        else:
            removes += ["assignee_id", "assignee_name"]
        if change.assignee is None or change.status != "open":
            removes += ["GSI3PK", "GSI3SK"]
        if change.status == "resolved":
            sets.append("resolved_at = :rat")
            values["rat"] = int(now)
    expression = "SET " + ", ".join(dict.fromkeys(sets))
    if removes:
        expression += " REMOVE " + ", ".join(dict.fromkeys(removes))
    update: dict[str, Any] = {"UpdateExpression": expression, "ConditionExpression": " AND ".join(conditions),
                              "ExpressionAttributeValues": table.values(**values)}
    if names:
        update["ExpressionAttributeNames"] = names
    return update
