"""Pusher Channels through the official library: triggers, and private-channel auth.

Host, port, TLS and cluster come from settings, so a self-hosted
Pusher-protocol server (Reverb, soketi, infra/local/pusher_server.py) works
the same way as Pusher itself.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from ..errors import ParleyError
from ..lazy import Lazy
from ..settings import Settings
from . import MESSAGE_EVENT, channel_name, feed_channel, message_payload

if TYPE_CHECKING:
    from ..models import Message
    from ..secretstore import Secrets

log = logging.getLogger("parley.realtime.pusher")

# Pusher refuses events over 10 KB. The library checks 30 KB in trigger() and
# 10 KB only in trigger_batch(), so Parley enforces the real limit itself.
PUSHER_MAX_EVENT_BYTES = 10_240
# fullmatch, not match: "$" also matches before a trailing newline.
SOCKET_ID = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
CHANNEL = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
MAX_CHANNEL_LENGTH = 164


class PusherBroadcaster:
    name = "pusher"

    def __init__(self, settings: Settings, secrets: "Secrets", client: Any = None) -> None:
        self.settings = settings
        self.secrets = secrets
        self._client = Lazy(self._build_client, client)

    def _build_client(self) -> Any:
        import pusher  # loaded on the first broadcast or auth, not at cold start

        s = self.settings
        return pusher.Pusher(app_id=s.pusher_app_id, key=s.pusher_key, secret=self.secrets.pusher_secret(),
                             cluster=s.pusher_cluster, host=s.pusher_host, port=s.pusher_port,
                             ssl=s.pusher_use_tls, timeout=s.pusher_timeout_seconds)

    @property
    def client(self) -> Any:
        return self._client.get()

    def publish(self, conversation_id: str, message: "Message", last_seq: int,
                exclude: str | None = None, site_key: str | None = None) -> None:
        data = message_payload(message, last_seq, PUSHER_MAX_EVENT_BYTES)
        channels = [channel_name(conversation_id)] + ([feed_channel(site_key)] if site_key else [])
        # One trigger for both channels (Pusher takes up to 100). A string is
        # sent as it is (the library does not encode it again), so the size
        # checked above is the size Pusher sees.
        self.client.trigger(channels, MESSAGE_EVENT, data,
                            socket_id=exclude if exclude and SOCKET_ID.fullmatch(exclude) else None)

    def send_event(self, event: str, data: Any, *, conversation_id: str | None = None,
                   site_key: str | None = None, exclude: str | None = None) -> None:
        channels = (([channel_name(conversation_id)] if conversation_id else [])
                    + ([feed_channel(site_key)] if site_key else []))
        if not channels:
            return
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if len(body.encode("utf-8")) > PUSHER_MAX_EVENT_BYTES:
            log.warning("%s event over Pusher's limit; not sent", event)
            return
        self.client.trigger(channels, event, body,
                            socket_id=exclude if exclude and SOCKET_ID.fullmatch(exclude) else None)

    def authorize(self, conversation_id: str, socket_id: Any, channel: Any) -> dict[str, str]:
        """Signs a private-channel subscription, only for ``conversation_id``'s own channel.

        Parley decides who may subscribe (the checks here come first, with our
        error codes); the signature itself is the official library's.
        """
        channel = self.checked_channel(socket_id, channel)
        if not hmac.compare_digest(channel.encode(), channel_name(conversation_id).encode()):
            raise ParleyError("channel_forbidden", "The token does not open this channel.")
        return self.sign(socket_id, channel)

    @staticmethod
    def checked_channel(socket_id: Any, channel: Any) -> str:
        """The channel name, once it and the socket id are well-formed and private."""
        if not isinstance(socket_id, str) or not SOCKET_ID.fullmatch(socket_id):
            raise ParleyError("invalid_socket_id", "socket_id must look like 1234.5678.")
        if (not isinstance(channel, str) or not channel or len(channel) > MAX_CHANNEL_LENGTH
                or not CHANNEL.fullmatch(channel)):
            raise ParleyError("invalid_channel", "channel_name is not a valid channel name.")
        if not channel.startswith("private-"):
            raise ParleyError("channel_forbidden", "Only private channels can be authorized.")
        return channel

    def sign(self, socket_id: str, channel: str) -> dict[str, str]:
        """The official library's signature, for a subscription Parley has already allowed."""
        return self.client.authenticate(channel=channel, socket_id=socket_id)
