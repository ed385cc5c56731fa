"""Rate limits: fixed windows counted in DynamoDB, one conditional UpdateItem per check.

A counter row ``PK=RATE#<limit>#<key>  SK=<window start>`` is incremented only
while it is below the limit (``ADD n :one`` with ``n < :max``), so a refused
request adds nothing, and concurrent requests in any number of Lambda
containers cannot overshoot. Rows carry ``ttl`` (the window's end plus a
minute): DynamoDB deletes them, and nothing reads an old window anyway.

The keys (what a limit is counted per):

* ``conversations``  site + client IP (API Gateway's ``sourceIp``, never a header a client sets)
* ``messages``       site + client IP
* ``polls``          conversation (the token's)
* ``pusher_auth``    conversation
* ``connections``    conversation: WebSocket ``$connect``s per token
* ``deletes``        site + client IP: a visitor's DELETE of their conversation
* ``transcripts``    conversation: transcript downloads

Defaults (per minute; the README gives the reasoning) can be changed for a
deployment with ``PARLEY_RATE_LIMITS`` (``messages=120/60,polls=240/60``), and
for one site by its ``limits`` setting (``python -m infra.sites set-limit``),
which wins over both. The site comes from the site cache (every route has it at
hand, or gets it through the cache), so an override costs no call of its own and
reaches every container within ``PARLEY_SITE_CACHE_SECONDS``.
A limited request answers 429 ``rate_limited`` with ``Retry-After``. A send's
count is not a call of its own: it is one more item of the transaction that
stores the message (``counted``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from .data.table import Table, translated
from .errors import ParleyError
from .models import Site


@dataclass(frozen=True)
class Limit:
    count: int
    window_seconds: int


DEFAULT_LIMITS: dict[str, Limit] = {
    # Chatwoot's defaults are the anchor: 30 new conversations a minute per IP and site
    # is far above a person (each page view makes one today) and far below a script.
    "conversations": Limit(30, 60),
    # One message a second, sustained, from one address: faster than anyone types,
    # and an office behind one NAT still has room.
    "messages": Limit(60, 60),
    # The widget polls every 2 s when it has no socket (30 a minute); several tabs
    # of one conversation, and catch-ups after reconnects, fit in 120.
    "polls": Limit(120, 60),
    # A subscription per connect; pusher-js reconnects with backoff.
    "pusher_auth": Limit(30, 60),
    "connections": Limit(30, 60),
    # A visitor deletes a conversation once; a script deleting what it creates is
    # slowed here as well as by `conversations`. Per site and client IP.
    "deletes": Limit(10, 60),
    # A transcript reads the whole history (up to 2,000 messages): a few a minute
    # per conversation is plenty for a person saving it.
    "transcripts": Limit(10, 60),
    # Leaving an email address (and correcting it) a few times; a script trying
    # addresses through someone's conversation is slowed. Per site and client IP.
    "contacts": Limit(10, 60),
    # The console's presence heartbeat: every 30 s per site per tab; several tabs fit.
    "presence": Limit(30, 60),
}


# For the test suite's and the benchmarks' shared stacks: one address (127.0.0.1) makes
# every request of a whole run there; the limits themselves have their own tests.
UNLIMITED = ",".join(f"{name}=1000000/60" for name in DEFAULT_LIMITS)


def parse_limits(text: str | None) -> dict[str, Limit]:
    """``name=count/seconds,…`` over the defaults; a bad entry is a ValueError naming it."""
    limits = dict(DEFAULT_LIMITS)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.strip().partition("=")
        count, _, seconds = value.partition("/")
        if name not in DEFAULT_LIMITS or not count.isdigit() or not seconds.isdigit() or int(seconds) < 1:
            raise ValueError(f"{part.strip()!r}: expected one of {sorted(DEFAULT_LIMITS)} as name=count/seconds")
        limits[name] = Limit(int(count), int(seconds))
    return limits


@dataclass(frozen=True)
class Counted:
    """A count to make inside another transaction: its item, and the error if its limit is reached."""

    item: dict
    retry_after: int

    def refused(self) -> ParleyError:
        return ParleyError("rate_limited", f"Too many requests; try again in {self.retry_after} s.",
                           headers={"Retry-After": str(self.retry_after)})


class RateLimiter:
    def __init__(self, table: Table, limits: Mapping[str, Limit],
                 clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.limits = dict(limits)
        self._clock = clock

    def limit(self, name: str, site: Site | None = None) -> Limit:
        """The limit that applies: the site's own, else the deployment's."""
        override = site.limits.get(name) if site is not None else None
        if override:
            return Limit(override["limit"], override["window"])
        return self.limits[name]

    def _window(self, name: str, site: Site | None) -> tuple[Limit, int, int]:
        limit = self.limit(name, site)
        now = self._clock()
        start = int(now // limit.window_seconds) * limit.window_seconds
        return limit, start, max(1, math.ceil(start + limit.window_seconds - now))

    def _update(self, name: str, key: str, site: Site | None) -> tuple[dict, int]:
        limit, start, wait = self._window(name, site)
        t = self.table
        return {"TableName": t.name, "Key": t.key(f"RATE#{name}#{key}", str(start)),
                "UpdateExpression": "ADD n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                # Below the limit only: a refused request leaves the count as it was.
                "ConditionExpression": "attribute_not_exists(n) OR n < :max",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": t.values(one=1, max=limit.count,
                                                      ttl=start + limit.window_seconds + 60)}, wait

    @translated
    def hit(self, name: str, key: str, site: Site | None = None) -> None:
        """Counts one request against ``name`` for ``key``, or refuses it with 429 (counting nothing).

        ``site``: the site the request is for, whose own limits win (None: the deployment's).
        """
        update, wait = self._update(name, key, site)
        try:
            self.table.client.update_item(**update)
        except self.table.client.exceptions.ConditionalCheckFailedException:
            raise Counted({}, wait).refused() from None

    def counted(self, name: str, key: str, site: Site | None = None) -> Counted:
        """The same count as ``hit``, as an item for the transaction that stores what it guards.

        A send counts this way: the message and its count are one write, so
        the limit costs the send no round trip of its own, a refused send
        stores nothing, and a repeated one (answered from its stored copy) is
        not counted twice.
        """
        update, wait = self._update(name, key, site)
        return Counted({"Update": update}, wait)
