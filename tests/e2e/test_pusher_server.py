"""The Pusher stand-in (infra/local/pusher_server.py) driven by the clients Parley really uses.

The official ``pusher`` library triggers; raw aiohttp WebSockets show the
protocol frames pusher-js would hide; hand-signed ``requests`` calls probe the
REST checks one flaw at a time; pusher-js under node subscribes the way the
widget does. The server runs as a subprocess on a port it picks itself.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar
from urllib.parse import parse_qs

import aiohttp
import pusher
import pytest
import requests

from infra.local.devstack import stop_process
from infra.local.pusher_server import App, RestError, check_signature

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).resolve().parent / "node" / "pusher_subscribe.js"
APP_ID, KEY, SECRET = "1", "test-key", "test-secret"
TOKEN = "visitor-token"
TIMEOUT = 5.0  # seconds: the bound on every single wait below
READY = re.compile(r"pusher stand-in listening on ws://127\.0\.0\.1:(\d+)/app/(\S+)")

T = TypeVar("T")


# --- harness ---------------------------------------------------------------

class Lines:
    """A subprocess's output, read on a thread so that every wait has a deadline."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def close(self) -> None:
        """Once the process has exited: the pump reaches end of file, then the pipe is closed."""
        self.thread.join(timeout=TIMEOUT)
        if not self.thread.is_alive():
            self.stream.close()

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; output so far:\n{''.join(self.seen)}")
            try:
                line = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended before {what}; output:\n{''.join(self.seen)}")
            self.seen.append(line)
            if predicate(line):
                return line

    def wait_for_json(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next JSON line whose ``type`` is ``kind`` (non-JSON lines are logs, kept for errors)."""
        line = self.wait_for(lambda text: _json_type(text) == kind, f"a {kind!r} line", timeout)
        return json.loads(line)


def _json_type(text: str) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed.get("type") if isinstance(parsed, dict) else None


@dataclass(frozen=True)
class StandIn:
    port: int

    @property
    def ws_url(self) -> str:
        return self.ws_url_for(KEY)

    def ws_url_for(self, key: str, query: str = "protocol=7&client=js&version=8.6.0") -> str:
        return f"ws://127.0.0.1:{self.port}/app/{key}?{query}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, secret: str = SECRET) -> pusher.Pusher:
        return pusher.Pusher(APP_ID, KEY, secret, host="127.0.0.1", port=self.port, ssl=False, timeout=TIMEOUT)


@contextmanager
def running_stand_in(*extra_args: str) -> Iterator[StandIn]:
    """Starts the server on a port it chooses (``--port 0``) and stops it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.pusher_server", "--host", "127.0.0.1", "--port", "0",
         "--app-id", APP_ID, "--key", KEY, "--secret", SECRET, *extra_args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(proc.stdout)
    try:
        ready = lines.wait_for(lambda line: READY.search(line) is not None, "ready line", timeout=20)
        match = READY.search(ready)
        assert match is not None and match.group(2) == KEY
        yield StandIn(port=int(match.group(1)))
    finally:
        stop_process(proc, timeout=10)
        lines.close()


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    with running_stand_in() as stand_in:
        yield stand_in


def new_channel(prefix: str = "private-") -> str:
    """A channel no other test uses: the server is shared by the whole module."""
    return f"{prefix}test.{uuid.uuid4().hex[:12]}"


def run(scenario: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(scenario, timeout=30))


class Socket:
    """A raw protocol-7 client over aiohttp."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, established: dict[str, Any]) -> None:
        self.ws = ws
        self.established = established
        self.socket_id: str = established["socket_id"]

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str) -> Socket:
        ws = await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT))
        message = await _receive_json(ws)
        assert message["event"] == "pusher:connection_established", message
        assert isinstance(message["data"], str), "connection_established data must be a JSON string"
        return cls(ws, json.loads(message["data"]))

    async def send(self, event: str, data: Any, channel: str | None = None) -> None:
        message: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            message["channel"] = channel
        await self.ws.send_str(json.dumps(message))

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await _receive_json(self.ws, timeout)

    async def subscribe(self, channel: str, auth: str | None = None, channel_data: str | None = None
                        ) -> dict[str, Any]:
        data = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        await self.send("pusher:subscribe", data)
        reply = await self.next()
        assert reply["event"] == "pusher_internal:subscription_succeeded", f"subscribing to {channel}: {reply}"
        assert reply["channel"] == channel
        return reply

    async def subscribe_private(self, client: pusher.Pusher, channel: str) -> None:
        auth = client.authenticate(channel=channel, socket_id=self.socket_id)["auth"]
        await self.subscribe(channel, auth)

    async def synced(self) -> None:
        """Returns once the server has handled every frame sent before (one socket is in order)."""
        await self.send("pusher:ping", {})
        reply = await self.next()
        assert reply["event"] == "pusher:pong", reply


async def _receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = TIMEOUT) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message.type}: {message.data!r}"
    return json.loads(message.data)


async def trigger(client: pusher.Pusher, channels: str | list[str], event: str, data: Any,
                  socket_id: str | None = None) -> Any:
    # The library blocks on requests; a thread keeps the sockets' loop free.
    return await asyncio.to_thread(client.trigger, channels, event, data, socket_id)


def signed_post(server: StandIn, path: str, body: bytes, *, key: str = KEY, secret: str = SECRET,
                timestamp: int | None = None, body_md5: str | None = None,
                signature: str | None = None) -> requests.Response:
    """A REST call signed by hand, as Pusher documents it; each keyword plants one flaw."""
    params = {
        "auth_key": key,
        "auth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest() if body_md5 is None else body_md5,
    }
    string_to_sign = "\n".join(["POST", path, "&".join(f"{k}={v}" for k, v in sorted(params.items()))])
    params["auth_signature"] = signature or hmac.new(
        secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return requests.post(server.rest + path, params=params, data=body,
                         headers={"Content-Type": "application/json"}, timeout=TIMEOUT)


def event_body(**fields: Any) -> bytes:
    event = {"name": "ChatMessageReceived", "data": json.dumps({"seq": 1}), "channels": [new_channel()]}
    event.update(fields)
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


# --- signatures: the documents' own worked examples --------------------------

def test_channel_auth_signature_matches_pushers_worked_example():
    app = App(app_id="3", key="278d425bdf160c739803", secret="7ad3773142a6692b25b8")
    assert app.sign("1234.1234:private-foobar") == (
        "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")


def test_rest_signature_check_accepts_pushers_worked_example_and_nothing_else():
    app = App(app_id="3", key="278d425bdf160c739803", secret="7ad3773142a6692b25b8")
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    query = {"auth_key": app.key, "auth_timestamp": "1353088179", "auth_version": "1.0",
             "body_md5": "ec365a775a4cd0599faeb73354201b6f",
             "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"}
    check_signature(app, "POST", "/apps/3/events", query, body, now=1353088179)
    with pytest.raises(RestError) as refused:
        check_signature(app, "POST", "/apps/3/events", query, body + b" ", now=1353088179)
    assert refused.value.status == 401


# --- WebSocket protocol --------------------------------------------------------

def test_connection_established_carries_socket_id_and_activity_timeout(server):
    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            return (await Socket.connect(session, server.ws_url)).established

    established = run(scenario())
    assert re.fullmatch(r"\d+\.\d+", established["socket_id"]), established
    assert established["activity_timeout"] == 120


def test_ping_gets_pong(server):
    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.send("pusher:ping", {})
            return await socket.next()

    assert run(scenario())["event"] == "pusher:pong"


@pytest.mark.parametrize("key, query, code", [
    ("unknown-key", "protocol=7&client=js&version=8.6.0", 4001),
    (KEY, "protocol=6&client=js&version=8.6.0", 4007),
    (KEY, "protocol=seven", 4006),
    (KEY, "client=js&version=8.6.0", 4008),
], ids=["unknown-app-key", "old-protocol", "bad-protocol", "no-protocol"])
def test_refused_handshake_sends_pusher_error_then_closes_with_its_code(server, key, query, code):
    async def scenario() -> tuple[dict[str, Any], aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.ws_url_for(key, query))
            error = await _receive_json(ws)
            closing = await ws.receive(timeout=TIMEOUT)
            return error, closing

    error, closing = run(scenario())
    assert error["event"] == "pusher:error" and error["data"]["code"] == code, error
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == code, closing


def test_trigger_reaches_a_private_subscriber(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            assert await trigger(client, channel, "ChatMessageReceived", {"seq": 1, "text": "hi"}) == {}
            return await socket.next()

    received = run(scenario())
    assert received["event"] == "ChatMessageReceived" and received["channel"] == channel
    assert json.loads(received["data"]) == {"seq": 1, "text": "hi"}


def test_trigger_batch_delivers_every_event_in_order(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            batch = [{"channel": channel, "name": "ChatMessageReceived", "data": {"seq": n}} for n in (1, 2, 3)]
            await asyncio.to_thread(client.trigger_batch, batch)
            return [await socket.next() for _ in batch]

    received = run(scenario())
    assert [json.loads(frame["data"])["seq"] for frame in received] == [1, 2, 3]


def test_two_subscribers_both_receive(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            sockets = [await Socket.connect(session, server.ws_url) for _ in range(2)]
            for socket in sockets:
                await socket.subscribe_private(client, channel)
            await trigger(client, channel, "ChatMessageReceived", {"seq": 7})
            return [await socket.next() for socket in sockets]

    assert [json.loads(frame["data"]) for frame in run(scenario())] == [{"seq": 7}, {"seq": 7}]


def test_the_socket_named_by_socket_id_is_left_out(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            sender = await Socket.connect(session, server.ws_url)
            other = await Socket.connect(session, server.ws_url)
            for socket in (sender, other):
                await socket.subscribe_private(client, channel)
            await trigger(client, channel, "ChatMessageReceived", {"seq": 1}, socket_id=sender.socket_id)
            await trigger(client, channel, "ChatMessageReceived", {"seq": 2})
            # One socket's frames arrive in order: if the first had reached the
            # sender, it would come before the second.
            return await sender.next(), await other.next()

    sender_first, other_first = run(scenario())
    assert json.loads(sender_first["data"]) == {"seq": 2}, "the excluded socket must not get seq 1"
    assert json.loads(other_first["data"]) == {"seq": 1}


def test_unsubscribe_stops_delivery(server):
    client, dropped, kept = server.client(), new_channel(), new_channel()

    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, dropped)
            await socket.subscribe_private(client, kept)
            await socket.send("pusher:unsubscribe", {"channel": dropped})
            await socket.synced()
            await trigger(client, dropped, "ChatMessageReceived", {"seq": 1})
            await trigger(client, kept, "ChatMessageReceived", {"seq": 2})
            return await socket.next()

    first = run(scenario())
    assert first["channel"] == kept, f"nothing more should come from {dropped}: {first}"


@pytest.mark.parametrize("flaw", ["signature", "key", "socket"])
def test_bad_private_auth_is_refused_as_a_subscription_error(server, flaw):
    client, channel = server.client(), new_channel()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            good = client.authenticate(channel=channel, socket_id=socket.socket_id)["auth"]
            auth = {
                "signature": good[:-4] + "0000",
                "key": "other-key:" + good.partition(":")[2],
                "socket": client.authenticate(channel=channel, socket_id="1.2")["auth"],
            }[flaw]
            await socket.send("pusher:subscribe", {"channel": channel, "auth": auth})
            error, subscription_error = await socket.next(), await socket.next()
            marker = new_channel("public-")
            await socket.subscribe(marker)
            await trigger(client, [channel, marker], "ChatMessageReceived", {"seq": 1})
            return error, subscription_error, await socket.next()

    error, subscription_error, first = run(scenario())
    assert error["event"] == "pusher:error", error
    assert subscription_error["event"] == "pusher:subscription_error", subscription_error
    assert subscription_error["channel"] == channel
    assert subscription_error["data"]["status"] == 401
    assert first["channel"] != channel, "a refused socket must get nothing from the channel"


def test_presence_members_are_listed_added_and_removed(server):
    client, channel = server.client(), new_channel("presence-")

    async def join(socket: Socket, user_id: str) -> dict[str, Any]:
        signed = client.authenticate(channel=channel, socket_id=socket.socket_id,
                                     custom_data={"user_id": user_id, "user_info": {"name": user_id}})
        reply = await socket.subscribe(channel, signed["auth"], signed["channel_data"])
        return json.loads(reply["data"])["presence"]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            first, second = [await Socket.connect(session, server.ws_url) for _ in range(2)]
            await join(first, "agent")
            presence = await join(second, "visitor")
            added = await first.next()
            await second.send("pusher:unsubscribe", {"channel": channel})
            removed = await first.next()
            return presence, added, removed

    presence, added, removed = run(scenario())
    assert presence["count"] == 2 and sorted(presence["ids"]) == ["agent", "visitor"]
    assert added["event"] == "pusher_internal:member_added"
    assert json.loads(added["data"]) == {"user_id": "visitor", "user_info": {"name": "visitor"}}
    assert removed["event"] == "pusher_internal:member_removed"
    assert json.loads(removed["data"]) == {"user_id": "visitor"}


def test_channel_names_are_checked_on_subscribe(server):
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe("public-" + "x" * 157)  # 164 characters: the limit
            await socket.send("pusher:subscribe", {"channel": "public-" + "x" * 158})
            too_long = await socket.next()
            await socket.send("pusher:subscribe", {"channel": "public-ü"})
            return too_long, await socket.next()

    for refused in run(scenario()):
        assert refused["event"] == "pusher:error", refused


def test_client_events_are_refused_as_pusher_refuses_them_when_disabled(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            await socket.send("client-typing", {"typing": True}, channel=channel)
            return await socket.next()

    refused = run(scenario())
    assert refused["event"] == "pusher:error" and refused["data"]["code"] is None, refused
    assert "enable this feature" in refused["data"]["message"]


async def answer_pings(socket: Socket, count: int) -> None:
    for _ in range(count):
        ping = await socket.next(timeout=3)
        assert ping["event"] == "pusher:ping", ping
        await socket.send("pusher:pong", {})


def test_a_silent_client_is_pinged_then_closed_with_4201():
    with running_stand_in("--activity-timeout", "0.3", "--pong-timeout", "0.3") as stand_in:
        async def scenario() -> tuple[Socket, dict[str, Any], aiohttp.WSMessage, dict[str, Any]]:
            async with aiohttp.ClientSession() as session:
                silent = await Socket.connect(session, stand_in.ws_url)
                answering = await Socket.connect(session, stand_in.ws_url)
                # Meanwhile another client pongs every ping, and outlives the silent one.
                answered = asyncio.create_task(answer_pings(answering, 3))
                ping = await silent.next(timeout=3)
                closing = await silent.ws.receive(timeout=3)
                await answered
                await answering.send("pusher:ping", {})
                return silent, ping, closing, await answering.next(timeout=3)

        silent, ping, closing, still_there = run(scenario())
    assert silent.established["activity_timeout"] == 0.3
    assert ping["event"] == "pusher:ping"
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4201, closing
    assert still_there["event"] == "pusher:pong"


# --- REST ------------------------------------------------------------------------

def test_a_correctly_hand_signed_request_is_accepted(server):
    """The control for the 401 cases: the helper signs right when told no flaw."""
    response = signed_post(server, f"/apps/{APP_ID}/events", event_body())
    assert response.status_code == 200, response.text
    assert response.json() == {}


@pytest.mark.parametrize("flaw, expected_text", [
    ({"signature": "0" * 64}, "Invalid signature"),
    ({"secret": "not-the-secret"}, "Invalid signature"),
    ({"key": "not-the-key"}, "auth_key"),
    ({"timestamp": int(time.time()) - 601}, "Timestamp expired"),
    ({"body_md5": hashlib.md5(b"another body").hexdigest()}, "body_md5"),
], ids=["bad-signature", "wrong-secret", "wrong-key", "stale-timestamp", "wrong-body-md5"])
def test_rest_authentication_flaws_get_401(server, flaw, expected_text):
    response = signed_post(server, f"/apps/{APP_ID}/events", event_body(), **flaw)
    assert response.status_code == 401, f"{flaw}: {response.status_code} {response.text}"
    assert expected_text in response.text


def test_data_of_10240_bytes_is_delivered_and_10241_is_413(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> tuple[requests.Response, requests.Response, requests.Response, dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            path = f"/apps/{APP_ID}/events"
            too_big = await asyncio.to_thread(signed_post, server, path,
                                              event_body(data="x" * 10_241, channels=[channel]))
            # The limit counts UTF-8 bytes, not characters: 5,121 x "é" is 10,242 bytes.
            too_big_multibyte = await asyncio.to_thread(signed_post, server, path,
                                                        event_body(data="é" * 5_121, channels=[channel]))
            at_limit = await asyncio.to_thread(signed_post, server, path,
                                               event_body(data="x" * 10_240, channels=[channel]))
            return too_big, too_big_multibyte, at_limit, await socket.next()

    too_big, too_big_multibyte, at_limit, received = run(scenario())
    assert too_big.status_code == 413, too_big.text
    assert too_big_multibyte.status_code == 413, too_big_multibyte.text
    assert at_limit.status_code == 200, at_limit.text
    assert len(received["data"]) == 10_240, "only the event at the limit may arrive"


def test_100_channels_are_accepted_and_101_are_400(server):
    path = f"/apps/{APP_ID}/events"
    at_limit = signed_post(server, path, event_body(channels=[new_channel() for _ in range(100)]))
    over = signed_post(server, path, event_body(channels=[new_channel() for _ in range(101)]))
    assert at_limit.status_code == 200, at_limit.text
    assert over.status_code == 400, over.text


def test_10_batch_events_are_accepted_and_11_are_400(server):
    def batch(size: int) -> bytes:
        events = [{"channel": new_channel(), "name": "ChatMessageReceived", "data": "{}"} for _ in range(size)]
        return json.dumps({"batch": events}).encode()

    path = f"/apps/{APP_ID}/batch_events"
    at_limit, over = signed_post(server, path, batch(10)), signed_post(server, path, batch(11))
    assert at_limit.status_code == 200, at_limit.text
    assert over.status_code == 400, over.text


@pytest.mark.parametrize("body", [
    b"{not json",
    event_body(name=None),
    event_body(channels=None),
    event_body(data=None),
    event_body(data={"seq": 1}),
    event_body(channels=["private-bad channel"]),
    event_body(socket_id="not-a-socket-id"),
], ids=["bad-json", "no-name", "no-channels", "no-data", "data-not-a-string", "bad-channel", "bad-socket-id"])
def test_malformed_events_are_400(server, body):
    response = signed_post(server, f"/apps/{APP_ID}/events", body)
    assert response.status_code == 400, f"{body!r}: {response.status_code} {response.text}"


def test_a_bad_batch_delivers_none_of_its_events(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> tuple[requests.Response, dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            batch = [{"channel": channel, "name": "ChatMessageReceived", "data": '{"seq": 1}'},
                     {"channel": channel, "name": "ChatMessageReceived", "data": "x" * 10_241}]
            response = await asyncio.to_thread(signed_post, server, f"/apps/{APP_ID}/batch_events",
                                               json.dumps({"batch": batch}).encode())
            await trigger(client, channel, "ChatMessageReceived", {"seq": 2})
            return response, await socket.next()

    response, first = run(scenario())
    assert response.status_code == 413, response.text
    assert json.loads(first["data"]) == {"seq": 2}, "no event of a refused batch may be delivered"


def test_channel_info_reports_occupancy(server):
    client, channel = server.client(), new_channel()

    async def scenario() -> tuple[Any, Any]:
        async with aiohttp.ClientSession() as session:
            socket = await Socket.connect(session, server.ws_url)
            await socket.subscribe_private(client, channel)
            occupied = await asyncio.to_thread(client.channel_info, channel, ["subscription_count"])
            await socket.send("pusher:unsubscribe", {"channel": channel})
            await socket.synced()
            vacated = await asyncio.to_thread(client.channel_info, channel)
            return occupied, vacated

    occupied, vacated = run(scenario())
    assert occupied == {"occupied": True, "subscription_count": 1}
    assert vacated == {"occupied": False}


# --- pusher-js under node ----------------------------------------------------------

NODE = shutil.which("node")
needs_pusher_js = pytest.mark.skipif(
    NODE is None or not (ROOT / "widget" / "node_modules" / "pusher-js").is_dir(),
    reason="needs node on PATH and widget/node_modules/pusher-js (npm install in widget/)")


@dataclass
class AuthEndpoint:
    url: str
    requests: list[dict[str, Any]]


@pytest.fixture(scope="module")
def auth_endpoint(server) -> Iterator[AuthEndpoint]:
    """Parley's channel-auth route in miniature: Bearer token checked, then signed by the pusher library.

    ``/pusher/auth`` signs with the app secret; ``/pusher/auth-wrong-secret``
    with another, so the stand-in refuses what it signs.
    """
    signers = {"/pusher/auth": server.client(), "/pusher/auth-wrong-secret": server.client("wrong-secret")}
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization"), "form": form})
            signer = signers.get(self.path)
            if signer is None:
                self.answer(404, {"error": "no such route"})
            elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.answer(403, {"error": "bad token"})
            else:
                self.answer(200, signer.authenticate(channel=form["channel_name"], socket_id=form["socket_id"]))

        def answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield AuthEndpoint(url=f"http://127.0.0.1:{httpd.server_address[1]}", requests=seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=TIMEOUT)


@contextmanager
def pusher_js(server: StandIn, endpoint: str, channel: str, token: str = TOKEN) -> Iterator[
        tuple[subprocess.Popen, Lines]]:
    proc = subprocess.Popen(
        [NODE, str(NODE_SCRIPT), "--key", KEY, "--host", "127.0.0.1", "--port", str(server.port),
         "--auth-endpoint", endpoint, "--token", token, "--channel", channel, "--events", "1",
         "--timeout", "20"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(proc.stdout)
    try:
        yield proc, lines
    finally:
        stop_process(proc, timeout=5)
        lines.close()


@needs_pusher_js
def test_pusher_js_subscribes_and_receives_an_event_triggered_by_the_python_library(server, auth_endpoint):
    channel = new_channel("private-chat.conversation.")
    with pusher_js(server, auth_endpoint.url + "/pusher/auth", channel) as (proc, lines):
        connected = lines.wait_for_json("connected", timeout=15)
        lines.wait_for_json("subscribed", timeout=15)
        server.client().trigger(channel, "ChatMessageReceived", {"seq": 1, "text": "hello"})
        event = lines.wait_for_json("event")
        assert proc.wait(timeout=TIMEOUT) == 0, "the script exits 0 after its one event"
    assert event["event"] == "ChatMessageReceived" and event["channel"] == channel
    assert event["data"] == {"seq": 1, "text": "hello"}
    asked = [r for r in auth_endpoint.requests if r["form"].get("channel_name") == channel]
    assert asked and asked[0]["authorization"] == f"Bearer {TOKEN}"
    assert asked[0]["form"]["socket_id"] == connected["socket_id"]


@needs_pusher_js
def test_pusher_js_reports_a_signature_the_server_refuses_as_a_subscription_error(server, auth_endpoint):
    channel = new_channel()
    with pusher_js(server, auth_endpoint.url + "/pusher/auth-wrong-secret", channel) as (proc, lines):
        refused = lines.wait_for_json("subscription_error", timeout=15)
        assert proc.wait(timeout=TIMEOUT) == 2
    assert refused["error"]["status"] == 401 and "Invalid signature" in refused["error"]["error"], refused


@needs_pusher_js
def test_pusher_js_reports_a_refused_token_as_a_subscription_error(server, auth_endpoint):
    with pusher_js(server, auth_endpoint.url + "/pusher/auth", new_channel(), token="stolen") as (proc, lines):
        refused = lines.wait_for_json("subscription_error", timeout=15)
        assert proc.wait(timeout=TIMEOUT) == 2
    assert refused["error"]["status"] == 403, refused
