"""Small realtime clients for the e2e tests and benchmarks (asyncio, aiohttp).

They do what the widget does, over real sockets: a Pusher protocol-7 client
that gets its channel auth from Parley's /api/chatbot/pusher/auth, and an API
Gateway WebSocket client that connects with ``?token=``. Each keeps every
``ChatMessageReceived`` it gets, with the time it arrived, so a test can check
what arrived and a benchmark how fast.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

MESSAGE_EVENT = "ChatMessageReceived"


@dataclass
class Received:
    data: dict[str, Any]
    at: float  # time.perf_counter() when it arrived


@dataclass
class _Client:
    received: list[Received] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task | None = None

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def seqs(self) -> list[int]:
        return [r.data["seq"] for r in self.received if "seq" in r.data]

    def _keep(self, event: dict[str, Any], data: Any) -> None:
        self.events.append(event)
        if event.get("event") == MESSAGE_EVENT:
            self.received.append(Received(data, time.perf_counter()))
            self._arrived.set()

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Waits until ``predicate(self)`` holds; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return predicate(self)
        return True


class PusherChannelClient(_Client):
    """Subscribes to a conversation's private channel the way pusher-js does."""

    def __init__(self, http: aiohttp.ClientSession, ws_url: str, auth_url: str, token: str,
                 channel: str, origin: str | None = None) -> None:
        super().__init__()
        self.http, self.ws_url, self.auth_url = http, ws_url, auth_url
        self.token, self.channel, self.origin = token, channel, origin
        self.socket_id: str | None = None

    async def connect(self, timeout: float = 10) -> None:
        self._ws = await asyncio.wait_for(self.http.ws_connect(self.ws_url), timeout)
        hello = json.loads((await self._ws.receive(timeout=timeout)).data)
        if hello.get("event") != "pusher:connection_established":
            raise RuntimeError(f"unexpected first frame {hello}")
        self.socket_id = json.loads(hello["data"])["socket_id"]
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.origin:
            headers["Origin"] = self.origin
        async with self.http.post(self.auth_url, headers=headers,
                                  data={"socket_id": self.socket_id, "channel_name": self.channel}) as r:
            body = await r.json()
            if r.status != 200:
                raise PermissionError(f"channel auth refused: {r.status} {body}")
        await self._ws.send_str(json.dumps({"event": "pusher:subscribe",
                                            "data": {"channel": self.channel, "auth": body["auth"]}}))
        while True:
            frame = json.loads((await self._ws.receive(timeout=timeout)).data)
            if frame.get("event") == "pusher_internal:subscription_succeeded":
                break
            if frame.get("event") in ("pusher:error", "pusher:subscription_error"):
                raise PermissionError(f"subscription refused: {frame}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            data = frame.get("data")
            self._keep(frame, json.loads(data) if isinstance(data, str) else data)


class ApiGatewayClient(_Client):
    """Connects to the API Gateway WebSocket API with a visitor token (or, with ``params``, an
    agent's: ``{"agent_token": …, "site_key": …}``)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str, origin: str | None = None,
                 params: dict[str, str] | None = None) -> None:
        super().__init__()
        self.http, self.url, self.token, self.origin = http, url, token, origin
        self.params = params or {"token": token}
        self.connection_id: str | None = None
        self._pong = asyncio.Event()

    async def connect(self, timeout: float = 10) -> None:
        headers = {"Origin": self.origin} if self.origin else {}
        self._ws = await asyncio.wait_for(
            self.http.ws_connect(self.url, params=self.params, headers=headers), timeout)
        self._reader = asyncio.create_task(self._read())
        # A ping's pong carries the connection id, and proves $connect registered us.
        await self.send({"action": "ping"})
        await asyncio.wait_for(self._pong.wait(), timeout)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(frame))

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame.get("event") == "pong":
                self.connection_id = frame["data"]["connection_id"]
                self._pong.set()
            self._keep(frame, frame.get("data"))

    @property
    def closed(self) -> bool:
        return self._ws is None or self._ws.closed

