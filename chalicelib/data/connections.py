"""WebSocket connections: who is listening to which conversation.

Two rows per connection: one under the conversation, for fan-out (a Query),
and one under the connection id, because ``$disconnect`` knows only that id.

* ``PK=CONV#<id>        SK=CONN#<connection id>``
* ``PK=CONN#<conn id>   SK=META``

An agent console's connection listens to its site's inbox feed, and to the
one conversation it watches:

* ``PK=FEED#<site key>  SK=CONN#<connection id>``
* ``PK=CONV#<id>        SK=CONN#<connection id>``   (while it watches that conversation)
* ``PK=CONN#<conn id>   SK=META``  kind ``agent``, site, agent, ``watching``

Both carry ``ttl``: ``$disconnect`` is best-effort, and API Gateway drops
every connection after 2 h anyway. No emulator expires TTL rows and DynamoDB
does it late, so reads filter on it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ParleyError
from .messages import visitor_check, visitor_refusal
from .table import META_SK, Table, conv_pk, now_iso, translated


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    since: int  # epoch seconds of $connect
    pk: str = ""  # the partition it was found under (a conversation's, or a feed's)


@dataclass(frozen=True, slots=True)
class AgentConnection:
    connection_id: str
    site_key: str
    agent_id: str
    agent_name: str
    watching: str | None


def feed_pk(site_key: str) -> str:
    return f"FEED#{site_key}"


class ConnectionStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    @translated
    def add(self, conversation_id: str, connection_id: str, ttl_seconds: int,
            token_version: int | None = None) -> None:
        """Registers a visitor's connection.

        With ``token_version`` the same transaction checks the conversation:
        live, and the token the current one (404 / 401 token_revoked otherwise),
        so a revoked token opens no socket and costs no read of its own.
        """
        now = self._clock()
        common = dict(conversation_id=conversation_id, connection_id=connection_id,
                      connected_at=now_iso(now), since=int(now), ttl=int(now) + ttl_seconds)
        t = self.table
        items: list[dict] = [
            {"Put": {"TableName": t.name, "Item": t.item(
                PK=conv_pk(conversation_id), SK=f"CONN#{connection_id}", **common)}},
            {"Put": {"TableName": t.name, "Item": t.item(PK=f"CONN#{connection_id}", SK=META_SK, **common)}},
        ]
        if token_version is not None:
            items.append(visitor_check(t, conversation_id, token_version, now))
        try:
            t.client.transact_write_items(TransactItems=items)
        except t.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if token_version is None or len(reasons) < 3 or reasons[2].get("Code") != "ConditionalCheckFailed":
                raise
            state = reasons[2].get("Item")
            raise (visitor_refusal(t.plain(state) if state else None, now, token_version)
                   or ParleyError("conversation_not_found", "No such conversation.")) from None

    @translated
    def add_agent(self, site_key: str, connection_id: str, agent_id: str, agent_name: str,
                  ttl_seconds: int) -> None:
        """Registers an agent console's connection on its site's feed."""
        now = self._clock()
        common = dict(kind="agent", site_key=site_key, agent_id=agent_id, agent_name=agent_name,
                      connection_id=connection_id, connected_at=now_iso(now), since=int(now),
                      ttl=int(now) + ttl_seconds)
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": t.name, "Item": t.item(PK=feed_pk(site_key), SK=f"CONN#{connection_id}",
                                                         **common)}},
            {"Put": {"TableName": t.name, "Item": t.item(PK=f"CONN#{connection_id}", SK=META_SK, **common)}},
        ])

    @translated
    def agent_of(self, connection_id: str) -> AgentConnection | None:
        row = self._meta(connection_id)
        if row is None or row.get("kind") != "agent":
            return None
        return AgentConnection(connection_id, row["site_key"], row["agent_id"], row.get("agent_name", ""),
                               row.get("watching"))

    @translated
    def watch(self, agent: AgentConnection, conversation_id: str | None) -> None:
        """Moves an agent connection's conversation row to ``conversation_id`` (None: none)."""
        t = self.table
        now = self._clock()
        row = self._meta(agent.connection_id) or {}
        ttl = int(row.get("ttl", int(now) + 3600))
        items: list[dict] = []
        if agent.watching and agent.watching != conversation_id:
            items.append({"Delete": {"TableName": t.name,
                                     "Key": t.key(conv_pk(agent.watching), f"CONN#{agent.connection_id}")}})
        if conversation_id:
            items.append({"Put": {"TableName": t.name, "Item": t.item(
                PK=conv_pk(conversation_id), SK=f"CONN#{agent.connection_id}", kind="agent",
                conversation_id=conversation_id, connection_id=agent.connection_id,
                since=int(row.get("since", int(now))), ttl=ttl)}})
        names = {"#w": "watching"}
        if conversation_id:
            update = {"UpdateExpression": "SET #w = :w", "ExpressionAttributeValues": t.values(w=conversation_id)}
        else:
            update = {"UpdateExpression": "REMOVE #w"}
        items.append({"Update": {"TableName": t.name, "Key": t.key(f"CONN#{agent.connection_id}", META_SK),
                                 "ExpressionAttributeNames": names, "ConditionExpression": "attribute_exists(PK)",
                                 **update}})
        t.client.transact_write_items(TransactItems=items)

    @translated
    def of_conversation(self, conversation_id: str) -> list[Connection]:
        """The live connections of a conversation (expired rows left out)."""
        return self._live(conv_pk(conversation_id))

    @translated
    def of_feed(self, site_key: str) -> list[Connection]:
        """The live agent connections on a site's feed."""
        return self._live(feed_pk(site_key))

    def _live(self, pk: str) -> list[Connection]:
        rows = self.table.query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
            FilterExpression="#ttl > :now",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=self.table.values(pk=pk, conn="CONN#", now=int(self._clock())),
            ProjectionExpression="connection_id, since")
        return [Connection(r["connection_id"], int(r.get("since", 0)), pk) for r in rows]

    def _meta(self, connection_id: str) -> dict | None:
        item = self.table.client.get_item(TableName=self.table.name,
                                          Key=self.table.key(f"CONN#{connection_id}", META_SK)).get("Item")
        if not item:
            return None
        row = self.table.plain(item)
        return None if int(row["ttl"]) <= self._clock() else row

    def ids(self, conversation_id: str) -> list[str]:
        return [c.id for c in self.of_conversation(conversation_id)]

    @translated
    def conversation_of(self, connection_id: str) -> str | None:
        """The conversation a live connection listens to (an agent's: the one it watches), or None."""
        row = self._meta(connection_id)
        if row is None:
            return None
        return row.get("watching") if row.get("kind") == "agent" else row["conversation_id"]

    @translated
    def forget(self, connection_id: str) -> None:
        """Deletes every row of one connection, visitor's or agent's (for $disconnect)."""
        row = self._meta(connection_id)
        if row is None:
            return
        t = self.table
        keys = [t.key(f"CONN#{connection_id}", META_SK)]
        if row.get("kind") == "agent":
            keys.append(t.key(feed_pk(row["site_key"]), f"CONN#{connection_id}"))
            if row.get("watching"):
                keys.append(t.key(conv_pk(row["watching"]), f"CONN#{connection_id}"))
        else:
            keys.append(t.key(conv_pk(row["conversation_id"]), f"CONN#{connection_id}"))
        t.client.transact_write_items(TransactItems=[{"Delete": {"TableName": t.name, "Key": k}} for k in keys])

    @translated
    def remove_row(self, pk: str, connection_id: str) -> None:
        """Deletes a gone connection's row under ``pk`` and its META (a 410 from API Gateway)."""
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": t.name, "Key": t.key(pk, f"CONN#{connection_id}")}},
            {"Delete": {"TableName": t.name, "Key": t.key(f"CONN#{connection_id}", META_SK)}},
        ])

    @translated
    def remove(self, conversation_id: str, connection_id: str) -> None:
        """Deletes both rows of one connection (idempotent: gone rows are fine)."""
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": t.name, "Key": t.key(conv_pk(conversation_id), f"CONN#{connection_id}")}},
            {"Delete": {"TableName": t.name, "Key": t.key(f"CONN#{connection_id}", META_SK)}},
        ])
