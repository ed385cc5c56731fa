"""Per-site daily budgets of an LLM bot engine: calls and tokens, counted in DynamoDB.

* budget  ``PK=SITE#<key>  SK=BOTBUDGET#<UTC date>``  ``calls``, ``tokens``, ``ttl``

One row per site and UTC day, so a new day starts from nothing without a
reset job, and reading or counting is one GetItem or UpdateItem (no Scan).
A call is counted *before* it is made, by one conditional UpdateItem that adds
it only while both the calls and the tokens of the day are below the site's
limits: concurrent replies in any number of containers cannot overshoot the
call limit, and a refused call adds nothing. Tokens are known only after the
call, so they are added then (unconditionally: the call has been paid for).
The tokens limit is therefore a soft one: the call that crosses it still
completes, and every call after it is refused. Rows carry ``ttl`` (two days
after the day's end); nothing reads an old day anyway.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .sites import site_pk
from .table import Table, translated

DAY_SECONDS = 86400
KEEP_SECONDS = 2 * DAY_SECONDS  # after the day's end, for a look at yesterday's figures


def budget_sk(day: str) -> str:
    return f"BOTBUDGET#{day}"


@dataclass(frozen=True)
class Grant:
    """One counted call: where its tokens go once they are known (the day the call was counted)."""

    site_key: str
    day: str


@dataclass(frozen=True)
class Usage:
    calls: int
    tokens: int


class BudgetStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    def _day(self, now: float | None = None) -> tuple[str, int]:
        """Today's UTC date and the row's ttl (the day's end plus ``KEEP_SECONDS``)."""
        now = self._clock() if now is None else now
        start = int(now // DAY_SECONDS) * DAY_SECONDS
        return time.strftime("%Y-%m-%d", time.gmtime(start)), start + DAY_SECONDS + KEEP_SECONDS

    @translated
    def take(self, site_key: str, daily_calls: int, daily_tokens: int) -> Grant | None:
        """Counts one call for today, or answers None (counting nothing) when the day's calls
        or tokens have reached the limits."""
        day, ttl = self._day()
        t = self.table
        try:
            t.client.update_item(
                TableName=t.name, Key=t.key(site_pk(site_key), budget_sk(day)),
                UpdateExpression="ADD calls :one SET tokens = if_not_exists(tokens, :zero), "
                                 "#ttl = if_not_exists(#ttl, :ttl)",
                # The first call of the day finds no row; after it, calls and tokens
                # both exist. Both below their limits, or the call is not made: the
                # check and the count are one write, so two containers racing for
                # the last call cannot both get it.
                ConditionExpression="attribute_not_exists(calls) OR (calls < :calls AND tokens < :tokens)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=t.values(one=1, zero=0, ttl=ttl, calls=daily_calls,
                                                   tokens=daily_tokens))
        except t.client.exceptions.ConditionalCheckFailedException:
            return None
        return Grant(site_key, day)

    @translated
    def spend(self, grant: Grant, tokens: int) -> None:
        """Adds a counted call's tokens to the day it was counted on (also past midnight)."""
        if tokens <= 0:
            return
        t = self.table
        t.client.update_item(TableName=t.name, Key=t.key(site_pk(grant.site_key), budget_sk(grant.day)),
                             UpdateExpression="ADD tokens :n", ExpressionAttributeValues=t.values(n=int(tokens)))

    @translated
    def usage(self, site_key: str, day: str | None = None) -> Usage:
        """The calls and tokens counted for ``day`` (a UTC ``YYYY-MM-DD``; today when None)."""
        day = day or self._day()[0]
        t = self.table
        item = t.client.get_item(TableName=t.name, Key=t.key(site_pk(site_key), budget_sk(day)),
                                 ConsistentRead=True).get("Item")
        values = t.plain(item) if item else {}
        return Usage(int(values.get("calls", 0)), int(values.get("tokens", 0)))
