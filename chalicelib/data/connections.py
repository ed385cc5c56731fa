"""WebSocket connections: who is listening to which conversation.

Two rows per connection: one under the conversation, for fan-out (a Query),
and one under the connection id, because ``$disconnect`` knows only that id.

* ``PK=CONV#<id>        SK=CONN#<connection id>``
* ``PK=CONN#<conn id>   SK=META``

Both carry ``ttl``: ``$disconnect`` is best-effort, and API Gateway drops
every connection after 2 h anyway. No emulator expires TTL rows and DynamoDB
does it late, so reads filter on it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .table import META_SK, Table, conv_pk, now_iso, translated


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    since: int  # epoch seconds of $connect


class ConnectionStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    @translated
    def add(self, conversation_id: str, connection_id: str, ttl_seconds: int) -> None:
        now = self._clock()
        common = dict(conversation_id=conversation_id, connection_id=connection_id,
                      connected_at=now_iso(now), since=int(now), ttl=int(now) + ttl_seconds)
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": t.name, "Item": t.item(
                PK=conv_pk(conversation_id), SK=f"CONN#{connection_id}", **common)}},
            {"Put": {"TableName": t.name, "Item": t.item(PK=f"CONN#{connection_id}", SK=META_SK, **common)}},
        ])

    @translated
    def of_conversation(self, conversation_id: str) -> list[Connection]:
        """The live connections of a conversation (expired rows left out)."""
        rows = self.table.query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
            FilterExpression="#ttl > :now",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=self.table.values(pk=conv_pk(conversation_id), conn="CONN#",
                                                        now=int(self._clock())),
            ProjectionExpression="connection_id, since")
        return [Connection(r["connection_id"], int(r.get("since", 0))) for r in rows]

    def ids(self, conversation_id: str) -> list[str]:
        return [c.id for c in self.of_conversation(conversation_id)]

    @translated
    def conversation_of(self, connection_id: str) -> str | None:
        """The conversation a live connection listens to, or None."""
        item = self.table.client.get_item(TableName=self.table.name,
                                          Key=self.table.key(f"CONN#{connection_id}", META_SK)).get("Item")
        if not item:
            return None
        row = self.table.plain(item)
        return None if int(row["ttl"]) <= self._clock() else row["conversation_id"]

    @translated
    def remove(self, conversation_id: str, connection_id: str) -> None:
        """Deletes both rows of one connection (idempotent: gone rows are fine)."""
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": t.name, "Key": t.key(conv_pk(conversation_id), f"CONN#{connection_id}")}},
            {"Delete": {"TableName": t.name, "Key": t.key(f"CONN#{connection_id}", META_SK)}},
        ])
