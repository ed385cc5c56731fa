"""Agents' membership of sites: who may answer which site's visitors, and in what role.

Two rows per membership, written together, so both directions are one Query:

* ``PK=AGENT#<agent id>  SK=SITE#<site key>``   the sites of one agent (sign-in, every check)
* ``PK=SITE#<site key>   SK=MEMBER#<agent id>`` the members of one site (assign, notifications)

The agent id is the Cognito user's ``sub``: stable, unlike an email address.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..models import Member
from .sites import site_pk
from .table import Table, now_iso, translated


def agent_pk(agent_id: str) -> str:
    return f"AGENT#{agent_id}"


def _member(values: dict[str, Any]) -> Member:
    return Member(agent_id=values["agent_id"], site_key=values["site_key"], role=values["role"],
                  name=values.get("name") or "", email=values.get("email") or "")


class AgentStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    @translated
    def put_member(self, member: Member) -> Member:
        """Adds an agent to a site, or changes their role or name there (both rows at once)."""
        t = self.table
        attrs = dict(agent_id=member.agent_id, site_key=member.site_key, role=member.role,
                     name=member.name or None, email=member.email or None, updated_at=now_iso(self._clock()))
        t.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": t.name, "Item": t.item(PK=agent_pk(member.agent_id),
                                                         SK=f"SITE#{member.site_key}", **attrs)}},
            {"Put": {"TableName": t.name, "Item": t.item(PK=site_pk(member.site_key),
                                                         SK=f"MEMBER#{member.agent_id}", **attrs)}},
        ])
        return member

    @translated
    def remove_member(self, site_key: str, agent_id: str) -> None:
        t = self.table
        t.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": t.name, "Key": t.key(agent_pk(agent_id), f"SITE#{site_key}")}},
            {"Delete": {"TableName": t.name, "Key": t.key(site_pk(site_key), f"MEMBER#{agent_id}")}},
        ])

    @translated
    def membership(self, agent_id: str, site_key: str) -> Member | None:
        item = self.table.client.get_item(TableName=self.table.name,
                                          Key=self.table.key(agent_pk(agent_id), f"SITE#{site_key}")).get("Item")
        return _member(self.table.plain(item)) if item else None

    @translated
    def sites_of(self, agent_id: str) -> list[Member]:
        rows = self.table.query_all(KeyConditionExpression="PK = :pk AND begins_with(SK, :site)",
                                    ExpressionAttributeValues=self.table.values(pk=agent_pk(agent_id),
                                                                                site="SITE#"))
        return [_member(r) for r in rows]

    @translated
    def members_of(self, site_key: str) -> list[Member]:
        rows = self.table.query_all(KeyConditionExpression="PK = :pk AND begins_with(SK, :m)",
                                    ExpressionAttributeValues=self.table.values(pk=site_pk(site_key),
                                                                                m="MEMBER#"))
        return [_member(r) for r in rows]
