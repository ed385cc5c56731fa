"""Fakes shared by the unit and functional tests: they record what they were asked, over no network.

Each stands where an official client stands in production, with the same
methods Parley calls; the e2e suite runs the official clients against the
local stand-ins instead.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import pusher

PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET = "4242", "parley-key", "parley-secret"


class FakePusher(pusher.Pusher):
    """The official client with ``trigger`` recorded instead of sent; ``authenticate`` is the library's own."""

    def __init__(self, fail: bool = False, key: str = PUSHER_KEY, secret: str = PUSHER_SECRET) -> None:
        super().__init__(app_id=PUSHER_APP_ID, key=key, secret=secret)
        self.fail = fail
        self.triggered: list[tuple] = []
        self.raw: list[str] = []

    def trigger(self, channel, event, data, socket_id=None):  # type: ignore[override]
        if self.fail:
            raise ConnectionError("pusher is down")
        self.raw.append(data)
        # One entry per channel reached: a trigger may name several (a
        # conversation and its site's agent feed).
        for name in ([channel] if isinstance(channel, str) else channel):
            self.triggered.append((name, event, json.loads(data), socket_id))


class GoneException(Exception):
    pass


class FakeManagement:
    """The ``apigatewaymanagementapi`` client: posts recorded per connection.

    Ids in ``gone`` answer 410 Gone; ids in ``broken`` fail some other way.
    """

    class exceptions:
        GoneException = GoneException

    def __init__(self, gone=(), broken=()) -> None:
        self.posted: dict[str, list[dict]] = {}
        self.gone, self.broken = set(gone), set(broken)
        self.lock = threading.Lock()

    def post_to_connection(self, ConnectionId, Data):
        if ConnectionId in self.gone:
            raise GoneException(ConnectionId)
        if ConnectionId in self.broken:
            raise ConnectionError(f"{ConnectionId}: connection reset")
        with self.lock:
            self.posted.setdefault(ConnectionId, []).append(json.loads(Data))


class FakeClock:
    """A clock that moves only when told; also a ``sleep`` that advances it instead of waiting."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fake_settings_env(**overrides: Any) -> dict[str, str]:
    """The environment tests build Settings from (tests/conftest.py sets the same in os.environ)."""
    import os

    env = {k: v for k, v in os.environ.items() if k.startswith(("PARLEY_", "PUSHER_"))}
    env.update({k: str(v) for k, v in overrides.items()})
    return env
