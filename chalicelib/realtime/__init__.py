"""Realtime delivery: what the widget is told, and the broadcasters that push.

Push is a hint, storage is the truth: every message is stored (and sequenced)
before it is broadcast, a broadcast that fails is logged and never fails the
send, and a client that misses one fills the gap with ``messages?after=``.
Several providers can be active at once; each is tried on its own.

Only public values leave ``public_config``: the Pusher key, never its secret.
The provider modules (and the ``pusher`` library) load on first use.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from ..lazy import Lazy

if TYPE_CHECKING:
    from ..data.connections import ConnectionStore
    from ..models import Message
    from ..secretstore import Secrets
    from ..settings import Settings

log = logging.getLogger("parley.realtime")

PUSHER_AUTH_PATH = "/api/chatbot/pusher/auth"
AGENT_PUSHER_AUTH_PATH = "/api/agent/pusher/auth"
CHANNEL_PREFIX = "private-chat.conversation."
# The agents' inbox feed of one site: every message of its conversations, and new conversations.
FEED_PREFIX = "private-agent.site."
MESSAGE_EVENT = "ChatMessageReceived"
CONVERSATION_EVENT = "ConversationCreated"
# A visitor deleted their conversation: to the site's agent feed and the conversation's other tabs.
CONVERSATION_DELETED_EVENT = "ConversationDeleted"
# What a provider may cost one request at most, all its pushes together, unless the
# settings say otherwise (PARLEY_BROADCAST_BUDGET_SECONDS). Each provider has its own
# timeouts too (Pusher 2 s, a fan-out 3 s), which fit inside it.
BROADCAST_BUDGET_SECONDS = 4.0
TYPING_EVENT = "ClientTyping"
# A bot reply's text as it is being written (chalicelib/replies.py): on the conversation's
# channel only, never stored; the stored message with the same reply_id replaces it.
REPLY_DELTA_EVENT = "ChatReplyDelta"
# Pusher's limit (10 KB), kept for the event as the WebSocket API frames it too: its
# ``{"event", "data"}`` envelope is the larger of the two, so one check holds for both.
DELTA_MAX_BYTES = 10_240


def channel_name(conversation_id: str) -> str:
    """The private Pusher channel of one conversation (the name widgets already subscribe to)."""
    return f"{CHANNEL_PREFIX}{conversation_id}"


def feed_channel(site_key: str) -> str:
    """The private Pusher channel of a site's agent inbox feed."""
    return f"{FEED_PREFIX}{site_key}"


def message_payload(message: "Message", last_seq: int, limit: int) -> str:
    """The message as JSON, or a thin ``{"last_seq": n}`` notice if it exceeds ``limit`` bytes.

    A client that gets the notice fetches ``messages?after=<last seen>``.
    """
    data = json.dumps(message.to_json(), separators=(",", ":"), ensure_ascii=False)
    if len(data.encode("utf-8")) <= limit:
        return data
    # The conversation id too: an agent's feed carries many conversations.
    return json.dumps({"conversation_id": message.conversation_id, "last_seq": last_seq})


def reply_delta(conversation_id: str, reply_id: str, reply_to_seq: int, n: int, text: str) -> dict[str, Any] | None:
    """The data of the ``n``-th ChatReplyDelta of a reply: the WHOLE text so far (not the new part),
    so a lost or reordered delta is harmless. None when it would not stay under DELTA_MAX_BYTES."""
    data = {"conversation_id": conversation_id, "reply_id": reply_id, "reply_to_seq": reply_to_seq, "n": n,
            "text": text}
    frame = json.dumps({"event": REPLY_DELTA_EVENT, "data": data}, separators=(",", ":"), ensure_ascii=False)
    return data if len(frame.encode("utf-8")) < DELTA_MAX_BYTES else None


class Broadcaster(Protocol):
    name: str

    def publish(self, conversation_id: str, message: "Message", last_seq: int,
                exclude: str | None = None, site_key: str | None = None) -> None:
        """Pushes one stored message to the conversation's clients and, with ``site_key``, to
        that site's agent feed (``exclude``: the sender's socket)."""

    def send_event(self, event: str, data: Any, *, conversation_id: str | None = None,
                   site_key: str | None = None, exclude: str | None = None) -> Any:
        """Pushes an event that is not a stored message (typing, a new conversation)."""


class Budget:
    """How long one request may still wait for each provider: ``seconds`` each, in all."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent: dict[str, float] = {}

    def left(self, name: str) -> float:
        return self.seconds - self.spent.get(name, 0.0)

    def spend(self, name: str, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + max(0.0, seconds)


# The budget of the request this thread serves (``Realtime.budgeted``); None: each push its own.
_BUDGET: ContextVar[Budget | None] = ContextVar("parley_broadcast_budget", default=None)


class Realtime:
    """Every configured provider; a failure in one is logged and stops nothing.

    Providers publish side by side, on a small pool: one provider's round trip
    (Pusher's REST API is a WAN hop away) must not delay the other's delivery.
    Each provider has a budget per request (``budgeted``; a push outside one has
    a budget of its own): the request waits for a provider only while its
    budget lasts, and a provider that has spent it is skipped for the rest of
    the request. So a hung provider costs a send its budget once, not a timeout
    per broadcast, and never delays the others.
    """

    def __init__(self, broadcasters: list[Broadcaster], budget_seconds: float = BROADCAST_BUDGET_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.broadcasters = broadcasters
        self.budget_seconds = budget_seconds
        self._clock = clock
        # Room for pushes still running past their budget (each ends by its client's timeout)
        # beside the next request's, and for the threads of `chalice local`.
        self._executor = Lazy(lambda: ThreadPoolExecutor(max_workers=8 * max(1, len(broadcasters)),
                                                         thread_name_prefix="parley-publish"))

    @contextmanager
    def budgeted(self, budget: Budget | None = None) -> Iterator[Budget]:
        """Every push inside shares one budget per provider (a send: message, reply, events);
        ``budget`` to use one the caller made (a reply's deltas: a small one per delta)."""
        budget = budget or Budget(self.budget_seconds)
        token = _BUDGET.set(budget)
        try:
            yield budget
        finally:
            _BUDGET.reset(token)

    def get(self, name: str) -> Broadcaster | None:
        return next((b for b in self.broadcasters if b.name == name), None)

    def publish(self, conversation_id: str, message: "Message", last_seq: int,
                exclude: str | None = None, site_key: str | None = None) -> None:
        """Pushes a stored message to its conversation and (``site_key``) its site's agent feed."""
        self._each(lambda b: b.publish(conversation_id, message, last_seq, exclude, site_key),
                   f"conversation {conversation_id} (seq {message.seq})")

    def event(self, event: str, data: Any, *, conversation_id: str | None = None,
              site_key: str | None = None, exclude: str | None = None) -> None:
        """Pushes an ephemeral event (typing, a new conversation) through every provider."""
        self._each(lambda b: b.send_event(event, data, conversation_id=conversation_id, site_key=site_key,
                                          exclude=exclude), f"{event} event")

    def _each(self, push: Callable[[Broadcaster], Any], what: str) -> None:
        budget = _BUDGET.get() or Budget(self.budget_seconds)
        clock = self._clock
        began = clock()
        finished: dict[str, float] = {}
        futures = {}
        for b in self.broadcasters:
            if budget.left(b.name) <= 0:
                log.warning("%s spent its broadcast budget in this request; %s not pushed through it",
                            b.name, what)
                continue
            future = self.executor.submit(self._push_one, b, push, what)
            future.add_done_callback(lambda _f, name=b.name: finished.setdefault(name, clock()))
            futures[b.name] = future
        # Wait for every push, each only while its provider's budget lasts: a hung
        # provider must not hold the send (the message is stored; push is a hint).
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, budget.left(name) - (clock() - began)))
            except TimeoutError:
                log.warning("%s did not finish %s within its broadcast budget", name, what)
        now = clock()
        for name in futures:
            budget.spend(name, finished.get(name, now) - began)

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor.get()

    @staticmethod
    def _push_one(broadcaster: Broadcaster, push: Callable[[Broadcaster], Any], what: str) -> None:
        try:
            push(broadcaster)
        except Exception:  # push is a hint; the message is stored
            log.exception("broadcast through %s failed for %s", broadcaster.name, what)


def build(settings: "Settings", connections: "ConnectionStore", secrets: "Secrets",
          pusher_client: Any = None, management_client: Any = None,
          clock: Callable[[], float] = time.time) -> Realtime:
    """The broadcasters the settings name, in their order (``polling`` pushes nothing).

    ``pusher_client`` and ``management_client`` replace the official clients
    (tests hand in fakes); otherwise each is made on its first use.
    """
    broadcasters: list[Broadcaster] = []
    for provider in settings.realtime_providers:
        if provider == "pusher":
            from .pusher_channels import PusherBroadcaster

            broadcasters.append(PusherBroadcaster(settings, secrets, client=pusher_client))
        elif provider == "websocket":
            from .apigw_websocket import WebSocketBroadcaster

            broadcasters.append(WebSocketBroadcaster(settings, connections, client=management_client,
                                                      clock=clock))
    return Realtime(broadcasters, budget_seconds=settings.broadcast_budget_seconds)


def public_config(settings: "Settings") -> dict[str, Any]:
    """The realtime section of ``config`` and ``init``: provider order and how to reach each."""
    pusher = None
    if "pusher" in settings.realtime_providers:
        pusher = {
            "key": settings.pusher_key,
            "cluster": settings.pusher_cluster,
            "host": settings.pusher_host,
            "port": settings.pusher_port,
            "use_tls": settings.pusher_use_tls,
            # Relative to the API base the widget was given (data-api).
            "auth_endpoint": PUSHER_AUTH_PATH,
            "channel_prefix": CHANNEL_PREFIX,
            "event": MESSAGE_EVENT,
            "typing_event": TYPING_EVENT,
            "delta_event": REPLY_DELTA_EVENT,
        }
    websocket = None
    if "websocket" in settings.realtime_providers:
        websocket = {"url": settings.websocket_url, "event": MESSAGE_EVENT,
                     "typing_event": TYPING_EVENT, "delta_event": REPLY_DELTA_EVENT}
    return {
        "providers": list(settings.realtime_providers),
        "pusher": pusher,
        "websocket": websocket,
        "polling": {"interval_ms": settings.polling_interval_ms},
    }
