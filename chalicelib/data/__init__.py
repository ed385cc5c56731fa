"""The data layer: one DynamoDB table, one module per record type.

* ``table``        the client, item conversion (boto3's TypeSerializer), key shapes, error translation
* ``messages``     conversations and messages: gapless seq, idempotency, paging
* ``connections``  WebSocket connections, with TTL
* ``sites``        sites and the origin index
* ``agents``       agents' membership of sites
* ``desk``         agents' presence, a conversation's contact and notification marks

Every access is a GetItem, a Query, a BatchGetItem or a transaction; nothing
scans. Typed records (``chalicelib.models``) go in and out, never raw items,
and storage failures leave as ``ParleyError`` (503 ``unavailable``).
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable

from ..errors import ParleyError
from ..models import Site
from .agents import AgentStore
from .budgets import BudgetStore
from .connections import ConnectionStore
from .desk import DeskStore
from .messages import MessageStore
from .sites import SiteStore, site_from
from .table import STATE_SK, Table, conv_pk, translated

# BatchGetItem may hand back part of a batch as UnprocessedKeys (throttling);
# this many rounds, backing off between them, before the read answers 503.
BATCH_ROUNDS = 5
BATCH_BACKOFF_SECONDS = 0.01


class Data:
    """The table's record stores, sharing one client. The client is made on first use, or injected."""

    def __init__(self, table_name: str, client: Any = None, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        self.table = Table(table_name, client)
        self.messages = MessageStore(self.table, clock=clock, monotonic=monotonic, sleep=sleep, jitter=jitter)
        self.connections = ConnectionStore(self.table, clock=clock)
        self.sites = SiteStore(self.table, clock=clock)
        self.agents = AgentStore(self.table, clock=clock)
        self.budgets = BudgetStore(self.table, clock=clock)
        self.desk = DeskStore(self.table, clock=clock)
        self._sleep = sleep

    @translated
    def site_and_counter(self, site_key: str | None,
                         conversation_id: str | None) -> tuple[Site | None, int | None]:
        """Reads a site and/or a conversation's last_seq in one BatchGetItem.

        The counter read is strongly consistent and feeds the seq hint, so the
        append that follows usually succeeds at its first attempt. If DynamoDB
        still holds back keys after ``BATCH_ROUNDS`` rounds, this answers 503
        ``unavailable``: a site not read is not a site that does not exist.
        """
        t = self.table
        keys = []
        if site_key is not None:
            keys.append(self.sites.key(site_key))
        if conversation_id is not None:
            keys.append(t.key(conv_pk(conversation_id), STATE_SK))
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {t.name: {"Keys": keys, "ConsistentRead": True}}
        for round_ in range(BATCH_ROUNDS):
            page = t.client.batch_get_item(RequestItems=request)
            found += page.get("Responses", {}).get(t.name, [])
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
            if round_ < BATCH_ROUNDS - 1:
                self._sleep(BATCH_BACKOFF_SECONDS * 2 ** round_)
        else:
            raise ParleyError("unavailable", "The message store is busy; please retry.")
        site, last_seq = None, None
        for item in map(t.plain, found):
            if item["SK"] == STATE_SK:
                last_seq = int(item["last_seq"])
                self.messages.hints.see(conversation_id, last_seq)  # type: ignore[arg-type]
            else:
                site = site_from(item)
        return site, last_seq


__all__ = ["AgentStore", "ConnectionStore", "Data", "MessageStore", "SiteStore", "Table"]
