"""Who is at the desk, and what a conversation left for the team: presence, contact, notification marks.

* presence  ``PK=SITE#<key>  SK=PRESENCE#<agent id>``  ``ttl`` = last heartbeat + PRESENCE_TTL_SECONDS
* contact   attribute ``contact`` {email, name, transcript} of the conversation's STATE item
* marks     attributes of the STATE item: ``notify_due`` (a notification is scheduled for this
            quiet period), ``notified_seq`` (the last seq a notification covered),
            ``transcript_sent_rev`` (the resolve whose transcript went out)

Counting who is online is one Query of the site's partition on the PRESENCE# prefix,
filtered on ``ttl`` (no emulator expires items, and DynamoDB deletes them late).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from ..desk import PRESENCE_TTL_SECONDS
from ..errors import ParleyError
from .messages import conversation_from, live
from .sites import site_pk
from .table import STATE_SK, Table, conv_pk, translated

PRESENCE = "PRESENCE#"


class DeskStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    # -- presence -------------------------------------------------------------

    @translated
    def beat(self, site_key: str, agent_id: str) -> int:
        """The agent's console is open on the site: its presence lives PRESENCE_TTL_SECONDS more. Returns the ttl."""
        until = int(self._clock()) + PRESENCE_TTL_SECONDS
        self.table.client.put_item(TableName=self.table.name, Item=self.table.item(
            PK=site_pk(site_key), SK=PRESENCE + agent_id, agent_id=agent_id, ttl=until))
        return until

    @translated
    def leave(self, site_key: str, agent_id: str) -> None:
        self.table.client.delete_item(TableName=self.table.name,
                                      Key=self.table.key(site_pk(site_key), PRESENCE + agent_id))

    @translated
    def online(self, site_key: str) -> int:
        """How many of the site's agents have a live presence row (one Query, counted by DynamoDB)."""
        answer = self.table.client.query(
            TableName=self.table.name, Select="COUNT",
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            FilterExpression="#ttl > :now", ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=self.table.values(pk=site_pk(site_key), prefix=PRESENCE,
                                                        now=int(self._clock())))
        # A site has a handful of agents: one page (1 MB) always holds them.
        return int(answer.get("Count", 0))

    # -- contact ----------------------------------------------------------------

    @translated
    def set_contact(self, conversation_id: str, site_key: str, current: Mapping[str, Any] | None,
                    changes: Mapping[str, Any]) -> dict[str, Any]:
        """Sets the given contact fields (None removes one) over ``current`` (the conversation as just
        read); returns the contact as stored. One UpdateItem, conditioned on the conversation still
        existing and belonging to the site: a conversation deleted meanwhile gets nothing half-written.
        Two tabs editing at once: the later write wins (each writes the whole contact it meant)."""
        t = self.table
        merged = {"email": None, "name": None, "transcript": False, **(current or {}), **changes}
        if merged.get("transcript") and not merged.get("email"):
            raise ParleyError("email_required", "A transcript needs an email address to go to.")
        stored = {k: v for k, v in merged.items() if v not in (None, "", False)}
        try:
            t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET contact = :contact",
                ConditionExpression="attribute_exists(PK) AND site_key = :site AND attribute_not_exists(deleted_by)",
                ExpressionAttributeValues=t.values(contact=stored, site=site_key))
        except t.client.exceptions.ConditionalCheckFailedException:
            raise ParleyError("conversation_not_found", "No such conversation.") from None
        return stored

    # -- notification marks -------------------------------------------------------

    @translated
    def claim_notification(self, conversation_id: str, due: int, *, stale_before: int,
                           notified_seq: int | None = None) -> bool:
        """Opens a quiet period: True if none was open (this caller queues the notify job).

        Only while a person is awaited or holds the conversation (pending,
        open). The condition makes it one per conversation per period however
        many messages arrive at once, in however many containers. A period
        whose job never ran (due before ``stale_before``) is taken over.
        ``notified_seq`` sets that mark back too (an email that failed covered nothing).
        """
        t = self.table
        extra = {} if notified_seq is None else {"seq": notified_seq}
        try:
            t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET notify_due = :due" + (", notified_seq = :seq" if extra else ""),
                ConditionExpression=("attribute_exists(PK) AND attribute_not_exists(deleted_by) AND "
                                     "#status IN (:pending, :open) AND "
                                     "(attribute_not_exists(notify_due) OR notify_due < :stale)"),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=t.values(due=due, stale=stale_before, pending="pending", open="open",
                                                   **extra))
        except t.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @translated
    def close_notification(self, conversation_id: str, due: int, notified_seq: int | None, *,
                           seen_last_seq: int | None = None) -> bool:
        """Ends the quiet period ``due`` opened (and records what a sent email covered). False if the
        period is not that one any more (a redelivered job: it was closed already), or, with
        ``seen_last_seq``, if a message was stored since the caller read the conversation."""
        t = self.table
        expression = "REMOVE notify_due" + (" SET notified_seq = :seq" if notified_seq is not None else "")
        values = {"due": due, **({"seq": notified_seq} if notified_seq is not None else {})}
        condition = "notify_due = :due"
        if seen_last_seq is not None:
            condition += " AND last_seq = :seen"
            values["seen"] = seen_last_seq
        try:
            t.client.update_item(TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                                 UpdateExpression=expression, ConditionExpression=condition,
                                 ExpressionAttributeValues=t.values(**values))
        except t.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @translated
    def claim_transcript(self, conversation_id: str, rev: int) -> bool:
        """True once per resolve (state revision ``rev``): the caller sends that resolve's transcript."""
        t = self.table
        try:
            t.client.update_item(
                TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                UpdateExpression="SET transcript_sent_rev = :rev",
                ConditionExpression=("attribute_exists(PK) AND (attribute_not_exists(transcript_sent_rev) "
                                     "OR transcript_sent_rev < :rev)"),
                ExpressionAttributeValues=t.values(rev=rev))
        except t.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @translated
    def release_transcript(self, conversation_id: str, rev: int) -> None:
        """Gives back the claim ``claim_transcript(rev)`` took (its email was not sent)."""
        t = self.table
        try:
            t.client.update_item(TableName=t.name, Key=t.key(conv_pk(conversation_id), STATE_SK),
                                 UpdateExpression="REMOVE transcript_sent_rev",
                                 ConditionExpression="transcript_sent_rev = :rev",
                                 ExpressionAttributeValues=t.values(rev=rev))
        except t.client.exceptions.ConditionalCheckFailedException:
            pass  # a later resolve's claim: not ours to give back

    @translated
    def state(self, conversation_id: str) -> tuple[Any, dict[str, Any]] | None:
        """The conversation and its raw marks (notify_due, notified_seq), read strongly consistent;
        None when there is none, or it expired, or it is being deleted."""
        t = self.table
        item = t.client.get_item(TableName=t.name, ConsistentRead=True,
                                 Key=t.key(conv_pk(conversation_id), STATE_SK)).get("Item")
        values = t.plain(item) if item else None
        if not live(values, self._clock()):
            return None
        return conversation_from(conversation_id, values), values  # type: ignore[arg-type]
