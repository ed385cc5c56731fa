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
from typing import Any, Callable

from ..cache import Cache
from ..errors import ParleyError
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


def message_from(values: dict[str, Any]) -> Message:
    """A Message from a stored item's plain values (a message row or its idempotency copy)."""
    return Message(id=values["id"], conversation_id=values["conversation_id"], seq=int(values["seq"]),
                   sender=values["sender"], text=values["text"], created_at=values["created_at"],
                   client_message_id=values.get("client_message_id"))


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
                            visitor: dict[str, str] | None, locale: str | None) -> Conversation:
        stamp = now_iso(self._clock())
        item = self.table.item(
            PK=conv_pk(conversation_id), SK=STATE_SK, site_key=site_key, status="bot", last_seq=0,
            created_at=stamp, updated_at=stamp, locale=locale or None,
            visitor=json.dumps(visitor, separators=(",", ":")) if visitor else None)
        # attribute_not_exists: an id collision must never reset someone's conversation.
        self.table.client.put_item(TableName=self.table.name, Item=item,
                                   ConditionExpression="attribute_not_exists(PK)")
        return Conversation(conversation_id, site_key, "bot", 0, visitor or None, locale or None, stamp, stamp)

    # -- messages ------------------------------------------------------------

    @translated
    def append_message(self, conversation_id: str, sender: Sender, text: str,
                       idempotency_key: str | None = None,
                       client_message_id: str | None = None) -> tuple[Message, bool]:
        """Stores a message under the next seq; returns (message, created).

        When ``idempotency_key`` was seen before in this conversation, the
        message stored then comes back with created=False.
        """
        lock = self._append_locks[hash(conversation_id) % len(self._append_locks)]
        with lock:
            return self._append(conversation_id, sender, text, idempotency_key, client_message_id)

    def _append(self, conversation_id: str, sender: Sender, text: str, idempotency_key: str | None,
                client_message_id: str | None) -> tuple[Message, bool]:
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
                              client_message_id)
            attrs = message.to_json()
            items: list[dict[str, Any]] = [
                {"Update": {
                    "TableName": table.name,
                    "Key": table.key(pk, STATE_SK),
                    "UpdateExpression": "SET last_seq = :new, updated_at = :at",
                    # The counter moves only from the value we based seq on; a
                    # missing conversation fails this too (no last_seq at all).
                    "ConditionExpression": "last_seq = :old",
                    "ExpressionAttributeValues": table.values(new=seq, old=guess, at=message.created_at),
                    # On failure DynamoDB hands back the current counter, so the
                    # retry needs no read of its own.
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
            try:
                table.client.transact_write_items(TransactItems=items)
            except table.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code", "None") for r in reasons]
                if cmid_sk and len(reasons) > 2 and codes[2] == "ConditionalCheckFailed":
                    stored = reasons[2].get("Item")
                    if stored:
                        found = message_from(table.plain(stored))
                        self.hints.see(conversation_id, found.seq)
                        return found, False
                if codes and codes[0] == "ConditionalCheckFailed":
                    current = (reasons[0].get("Item") or {}).get("last_seq")
                    if current is None:
                        raise ParleyError("conversation_not_found", "No such conversation.") from exc
                    guess = int(current["N"])
                    self.hints.see(conversation_id, guess)
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
        last_seq = max(int(state["last_seq"]) if state else 0, reached)
        if state is not None:
            self.hints.see(conversation_id, last_seq)
        return Page(messages, last_seq, has_more=state is None or reached < last_seq)

    @translated
    def latest_messages(self, conversation_id: str, limit: int) -> Page:
        """The newest ``limit`` messages (oldest first) and last_seq, in one Query."""
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
        return Page(messages, last_seq, has_more=bool(messages) and messages[0].seq > 1)

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
