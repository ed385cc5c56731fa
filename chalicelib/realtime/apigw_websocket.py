"""API Gateway WebSocket API: fan-out through the @connections management API.

Chalice configures ``app.websocket_api`` only inside WebSocket handlers (and
for AWS's own endpoint), and a REST route such as send has none; so Parley
keeps its own ``apigatewaymanagementapi`` client, with the endpoint from
settings: the same client serves REST routes (send), the WebSocket handlers,
AWS and the local stand-in.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable

from ..cache import Cache
from ..lazy import Lazy
from ..settings import Settings
from . import MESSAGE_EVENT, REPLY_DELTA_EVENT, message_payload

if TYPE_CHECKING:
    from ..data.connections import ConnectionStore
    from ..models import Message

log = logging.getLogger("parley.realtime.websocket")

# API Gateway takes frames up to 32 KB (messages up to 128 KB in fragments);
# a message never comes near it (4,000 characters), but a thin notice keeps
# that promise whatever a message holds.
WEBSOCKET_MAX_DATA_BYTES = 32 * 1024
# A send waits for its broadcasts, so a fan-out gets one deadline, whatever
# the number of connections, and each post one attempt with short timeouts:
# a hung management API must cost a send seconds, not a Lambda timeout.
FANOUT_DEADLINE_SECONDS = 3.0
# One post: one attempt, this long to connect and this long to answer. Their sum must fit
# in the broadcast budget (settings.broadcast_budget_seconds checks it).
POST_CONNECT_TIMEOUT_SECONDS = 1.0
POST_READ_TIMEOUT_SECONDS = 2.0
POST_SECONDS = POST_CONNECT_TIMEOUT_SECONDS + POST_READ_TIMEOUT_SECONDS
# API Gateway answers 410 for a connection whose $connect has not finished
# (its row is written inside $connect). A row this young is left alone on a
# 410; its own later 410, $disconnect or TTL removes it if it really is gone.
NEW_CONNECTION_GRACE_SECONDS = 10
# A reply's deltas (up to ten a second) reuse the conversation's connections looked up this
# recently, instead of one Query each: a tab that connects meanwhile misses a few hints,
# and gets the stored reply (looked up fresh) anyway.
DELTA_CONNECTIONS_SECONDS = 1.0


class WebSocketBroadcaster:
    name = "websocket"

    def __init__(self, settings: Settings, connections: "ConnectionStore", client: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.connections = connections
        self._clock = clock
        self._client = Lazy(self._build_client, client)
        self._executor = Lazy(lambda: ThreadPoolExecutor(max_workers=settings.fanout_workers,
                                                         thread_name_prefix="parley-fanout"))
        self._delta_targets: Cache[str, list] = Cache(256, ttl=DELTA_CONNECTIONS_SECONDS)

    def _build_client(self) -> Any:
        from .. import aws

        return aws.client(
            "apigatewaymanagementapi", endpoint_url=self.settings.websocket_endpoint,
            # One pooled connection per fan-out worker; one attempt, short timeouts:
            # a post is a hint, and a send waits for its fan-out.
            max_pool_connections=self.settings.fanout_workers,
            connect_timeout=POST_CONNECT_TIMEOUT_SECONDS, read_timeout=POST_READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "total_max_attempts": 1})

    @property
    def client(self) -> Any:
        return self._client.get()

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor.get()

    def publish(self, conversation_id: str, message: "Message", last_seq: int,
                exclude: str | None = None, site_key: str | None = None) -> None:
        data = json.loads(message_payload(message, last_seq, WEBSOCKET_MAX_DATA_BYTES))
        self.send_event(MESSAGE_EVENT, data, conversation_id=conversation_id, site_key=site_key, exclude=exclude)

    def send_event(self, event: str, data: Any, *, conversation_id: str | None = None,
                   site_key: str | None = None, exclude: str | None = None) -> int:
        """Posts ``{"event", "data"}`` to every live connection of a conversation and/or a site's
        agent feed, but ``exclude``.

        Returns how many connections took it. Posts run in parallel, bounded
        by ``fanout_workers``; one failing connection does not stop the rest.
        The conversation's own connections (the widget's tabs, a console
        watching it) are posted to first; the site feed's after: the feed
        must not delay the conversation. A console on both lists gets the
        event once. One deadline bounds both.
        """
        payload = json.dumps({"event": event, "data": data}, separators=(",", ":"),
                             ensure_ascii=False).encode("utf-8")
        deadline = time.monotonic() + FANOUT_DEADLINE_SECONDS
        posted, delivered = {exclude}, 0
        of_conversation = self.connections.of_conversation
        if event == REPLY_DELTA_EVENT:
            of_conversation = lambda cid: self._delta_targets.get(  # noqa: E731
                cid, lambda key: list(self.connections.of_conversation(key)))
        for lookup in ((lambda: of_conversation(conversation_id)) if conversation_id else None,
                       (lambda: self.connections.of_feed(site_key)) if site_key else None):
            if lookup is None:
                continue
            targets = [c for c in lookup() if c.id not in posted]
            posted.update(c.id for c in targets)
            if not targets:
                continue
            # Each list is posted to, and waited for, before the next is looked up: the
            # feed's lookup must not compete with the conversation's own posts.
            futures = [self.executor.submit(self.post, c.pk, c.id, payload, c.since) for c in targets]
            done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            if late:
                log.warning("fan-out deadline: %d of %d posts unfinished", len(late), len(futures))
            delivered += sum(f.result() for f in done)
        return delivered

    def post(self, pk: str, connection_id: str, payload: bytes,
             since: int | None = None) -> bool:
        """One post; a 410 Gone removes *that* connection's rows (under ``pk``), nobody else's."""
        client = self.client
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=payload)
            return True
        except client.exceptions.GoneException:
            if since is not None and self._clock() - since < NEW_CONNECTION_GRACE_SECONDS:
                log.info("connection %s is not ready yet; keeping it", connection_id)
                return False
            log.info("connection %s is gone; removing it", connection_id)
            try:
                self.connections.remove_row(pk, connection_id)
            except Exception:  # the TTL removes it later anyway
                log.warning("could not remove stale connection %s", connection_id, exc_info=True)
        except Exception:  # one bad connection must not stop the fan-out
            log.warning("post to connection %s failed", connection_id, exc_info=True)
        return False
