"""Conversations and their messages: gapless seq, idempotent appends, paging.

Keys:

* conversation  ``PK=CONV#<id>  SK=STATE``  site, visitor, status, last_seq
* message       ``PK=CONV#<id>  SK=MSG#<seq, 10 digits>``
* idempotency   ``PK=CONV#<id>  SK=CMID#<v|b>#<client message id>`` (a copy of the message;
                v: the visitor's message, b: the bot's reply to it)

The conversation record is ``STATE`` rather than ``META`` on purpose: it sorts
after every ``MSG#`` key, so a single Query ``SK BETWEEN MSG#<n> AND STATE``
returns the messages after ``n`` *and* the conversation's ``last_seq`` — an
empty poll is one call.
"""
from __future__ import annotations

import json
import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..cache import Cache
from ..errors import ParleyError
from ..lifecycle import Change
from ..models import Conversation, Message, Page, Sender
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


def message_from(values: dict[str, Any]) -> Message:
    """A Message from a stored item's plain values (a message row or its idempotency copy)."""
    return Message(id=values["id"], conversation_id=values["conversation_id"], seq=int(values["seq"]),
                   sender=values["sender"], text=values["text"], created_at=values["created_at"],
                   client_message_id=values.get("client_message_id"), sender_name=values.get("sender_name"),
                   event=values.get("event"))


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
        last_message=values.get("last_message"), page=values.get("page"), user_agent=values.get("user_agent"))


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
                            page: str | None = None, user_agent: str | None = None) -> Conversation:
        stamp = now_iso(self._clock())
        item = self.table.item(
            PK=conv_pk(conversation_id), SK=STATE_SK, site_key=site_key, status="bot", last_seq=0,
            state_rev=0, agent_read_seq=0, created_at=stamp, updated_at=stamp, status_since=stamp,
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
        """The conversation's state, read strongly consistent (decisions are made on it)."""
        item = self.table.client.get_item(TableName=self.table.name, ConsistentRead=True,
                                          Key=self.table.key(conv_pk(conversation_id), STATE_SK)).get("Item")
        return conversation_from(conversation_id, self.table.plain(item)) if item else None

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
        kwargs: dict[str, Any] = dict(IndexName=index, KeyConditionExpression=f"{pk_name} = :pk",
                                      ExpressionAttributeValues=self.table.values(pk=pk), Limit=limit,
                                      ScanIndexForward=status != "resolved")
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
                       guard: Guard | None = None) -> tuple[Message, bool]:
        """Stores a message under the next seq; returns (message, created).

        When ``idempotency_key`` was seen before in this conversation, the
        message stored then comes back with created=False. With a ``guard``
        whose conditions the stored state does not meet, nothing is stored
        and ``StateRefused`` carries the state found.
        """
        lock = self._append_locks[hash(conversation_id) % len(self._append_locks)]
        with lock:
            return self._append(conversation_id, sender, text, idempotency_key, client_message_id,
                                sender_name, guard or Guard())

    def _append(self, conversation_id: str, sender: Sender, text: str, idempotency_key: str | None,
                client_message_id: str | None, sender_name: str | None,
                guard: Guard) -> tuple[Message, bool]:
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
                              client_message_id, sender_name, guard.change.event() if guard.change else None)
            attrs = message.to_json()
            update = _state_update(table, conversation_id, message, guess, guard, self._clock())
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
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=conv_pk(conversation_id),
                                                        lo=msg_sk(after + 1), hi=STATE_SK),
            Limit=limit + 1,
        )
        state = items[-1] if items and items[-1]["SK"] == STATE_SK else None
        messages: list[Message] = []
        for item in items:
            if item["SK"] == STATE_SK or len(messages) == limit:
                break
            message = message_from(item)
            if message.seq != after + len(messages) + 1:
                break  # a gap: what lies beyond it waits for the next ask
            messages.append(message)
        if state is None and not messages:
            raise ParleyError("conversation_not_found", "No such conversation.")
        reached = messages[-1].seq if messages else after
        # The highest seq known to exist: the counter (or, if the page ended before
        # reaching it, the last message read), never the client's own `after`.
        last_seq = (max(int(state["last_seq"]), messages[-1].seq if messages else 0) if state is not None
                    else reached)
        if state is not None:
            self.hints.see(conversation_id, last_seq)
        return Page(messages, last_seq, has_more=state is None or reached < last_seq)

    def latest_messages(self, conversation_id: str, limit: int) -> Page:
        """The newest ``limit`` messages (oldest first) and last_seq, in one Query."""
        return self.latest(conversation_id, limit)[0]

    @translated
    def latest(self, conversation_id: str, limit: int) -> tuple[Page, Conversation]:
        """The newest ``limit`` messages (oldest first) and the conversation's state, in one Query."""
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=conv_pk(conversation_id), lo="MSG#", hi=STATE_SK),
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        if not items or items[0]["SK"] != STATE_SK:
            raise ParleyError("conversation_not_found", "No such conversation.")
        messages = [message_from(i) for i in reversed(items[1:])]
        # STATE is read first here: a message appended meanwhile may come back
        # with a seq above the counter read. Report what was really seen.
        last_seq = max([int(items[0]["last_seq"])] + [m.seq for m in messages])
        self.hints.see(conversation_id, last_seq)
        return (Page(messages, last_seq, has_more=bool(messages) and messages[0].seq > 1),
                conversation_from(conversation_id, items[0]))

    @translated
    def messages_before(self, conversation_id: str, before: int, limit: int) -> Page:
        """Up to ``limit`` messages with seq < before (oldest first), for paging back."""
        pk = conv_pk(conversation_id)
        state = self.table.client.get_item(TableName=self.table.name, ConsistentRead=True,
                                           Key=self.table.key(pk, STATE_SK)).get("Item")
        if state is None:
            raise ParleyError("conversation_not_found", "No such conversation.")
        last_seq = int(self.table.plain(state)["last_seq"])
        if before <= 1:
            return Page([], last_seq, has_more=False)
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.table.values(pk=pk, lo="MSG#",
                                                        hi=msg_sk(min(before, MAX_SEQ + 1) - 1)),
            ScanIndexForward=False,
            Limit=limit,
        )
        messages = [message_from(i) for i in reversed(items)]
        return Page(messages, last_seq, has_more=bool(messages) and messages[0].seq > 1)


def preview_of(message: Message) -> dict[str, Any]:
    """The conversation's ``last_message``: what the inbox shows of its newest message."""
    preview: dict[str, Any] = {"seq": message.seq, "sender": message.sender, "text": message.text[:PREVIEW_CHARS],
                               "created_at": message.created_at}
    if message.sender_name:
        preview["sender_name"] = message.sender_name
    return preview


def _state_update(table: Table, conversation_id: str, message: Message, old_seq: int, guard: Guard,
                  now: float) -> dict[str, Any]:
    """The conversation update of one append: counter, last message, and what the guard asks."""
    preview = preview_of(message)
    values: dict[str, Any] = {"new": message.seq, "old": old_seq, "at": message.created_at, "lm": preview}
    names: dict[str, str] = {}
    sets = ["last_seq = :new", "updated_at = :at", "last_message = :lm"]
    removes: list[str] = []
    # The counter moves only from the value we based seq on; a missing
    # conversation fails this too (no last_seq at all).
    conditions = ["last_seq = :old"]
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
