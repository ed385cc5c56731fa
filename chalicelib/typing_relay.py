"""Typing indicators, both ways: "the visitor is typing" to the console, "Ana is typing" to the widget.

Typing is ephemeral: never stored, sent through every realtime provider (a
visitor on the WebSocket and an agent on Pusher still see each other), and
throttled per conversation and side, not per connection or tab: dots that
last seconds need one relay every ``TYPING_INTERVAL_SECONDS``, whoever
types in however many tabs. The throttle is per Lambda container (a client
hopping containers gets a little more; nobody gets a fan-out per keystroke).
"""
from __future__ import annotations

import time
from typing import Callable

from .cache import Cache
from .realtime import TYPING_EVENT, Realtime

TYPING_INTERVAL_SECONDS = 2.0


class TypingRelay:
    def __init__(self, realtime: Realtime, clock: Callable[[], float] = time.monotonic) -> None:
        self.realtime = realtime
        self._recent: Cache[tuple[str, str], bool] = Cache(10_000, ttl=TYPING_INTERVAL_SECONDS, clock=clock)

    def relay(self, conversation_id: str, sender: str, name: str | None, exclude: str | None = None) -> bool:
        """Relays one "is typing"; False if this side of the conversation relayed one just now."""
        if not self._recent.put_if_absent((conversation_id, sender), True):
            return False
        data = {"conversation_id": conversation_id, "sender": sender}
        if name:
            data["name"] = name
        self.realtime.event(TYPING_EVENT, data, conversation_id=conversation_id, exclude=exclude)
        return True
