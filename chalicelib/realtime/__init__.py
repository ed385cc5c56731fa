"""Realtime delivery: what the widget is told, and (issue 3) the broadcasters.

Only public values leave here: the Pusher key, never its secret.
"""
from __future__ import annotations

from typing import Any

from ..settings import Settings

PUSHER_AUTH_PATH = "/api/chatbot/pusher/auth"


def channel_name(conversation_id: str) -> str:
    """The private Pusher channel of one conversation (the seed's name)."""
    return f"private-chat.conversation.{conversation_id}"


def public_config(settings: Settings) -> dict[str, Any]:
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
            "channel_prefix": "private-chat.conversation.",
            "event": "ChatMessageReceived",
        }
    websocket = None
    if "websocket" in settings.realtime_providers:
        websocket = {"url": settings.websocket_url}
    return {
        "providers": list(settings.realtime_providers),
        "pusher": pusher,
        "websocket": websocket,
        "polling": {"interval_ms": settings.polling_interval_ms},
    }
