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
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable, Protocol

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
# Each provider has its own timeouts (Pusher 2 s, a fan-out 3 s); this bounds them together.
PUBLISH_DEADLINE_SECONDS = 3.5
TYPING_EVENT = "ClientTyping"


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


class Broadcaster(Protocol):
    name: str

    def publish(self, conversation_id: str, message: "Message", last_seq: int,
                exclude: str | None = None, site_key: str | None = None) -> None:
        """Pushes one stored message to the conversation's clients and, with ``site_key``, to
        that site's agent feed (``exclude``: the sender's socket)."""

    def send_event(self, event: str, data: Any, *, conversation_id: str | None = None,
                   site_key: str | None = None, exclude: str | None = None) -> Any:
        """Pushes an event that is not a stored message (typing, a new conversation)."""


class Realtime:
    """Every configured provider; a failure in one is logged and stops nothing.

    With more than one provider they publish side by side: one provider's
    round trip (Pusher's REST API is a WAN hop away) must not delay the
    other's delivery. A single provider publishes on the request thread and
    is bounded by its own timeouts.
    """

    def __init__(self, broadcasters: list[Broadcaster]) -> None:
        self.broadcasters = broadcasters
        self._executor = Lazy(lambda: ThreadPoolExecutor(max_workers=len(broadcasters),
                                                         thread_name_prefix="parley-publish"))

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
        if len(self.broadcasters) <= 1:
            for broadcaster in self.broadcasters:
                self._push_one(broadcaster, push, what)
            return
        futures = [self.executor.submit(self._push_one, b, push, what) for b in self.broadcasters]
        # Wait for every push to be attempted, but never past the deadline: a
        # hung provider must not hold the send (the message is stored).
        _, late = wait(futures, timeout=PUBLISH_DEADLINE_SECONDS)
        if late:
            log.warning("publish deadline passed with %d provider(s) unfinished", len(late))

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
    return Realtime(broadcasters)


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
        }
    websocket = None
    if "websocket" in settings.realtime_providers:
        websocket = {"url": settings.websocket_url, "event": MESSAGE_EVENT,
                     "typing_event": TYPING_EVENT}
    return {
        "providers": list(settings.realtime_providers),
        "pusher": pusher,
        "websocket": websocket,
        "polling": {"interval_ms": settings.polling_interval_ms},
    }
