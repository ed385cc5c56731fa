"""The API Gateway WebSocket stand-in (infra/local/apigw_ws.py) as clients, handlers and boto3 see it.

The stand-in runs as a subprocess with tests/e2e/ws_echo_app.py, a tiny app
whose handlers record every event they get (JSON lines) and echo frames back
through boto3's apigatewaymanagementapi client.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import boto3
import pytest
import requests
from botocore.config import Config


from .conftest import free_port, started

pytestmark = pytest.mark.e2e

STAGE = "local"
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
WAIT = 10  # seconds; every wait below is bounded by it (or less)


@dataclass
class StandIn:
    port: int
    record: Path
    proc: subprocess.Popen

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, endpoint: str | None = None, pool: int = 10) -> Any:
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint or self.endpoint,
                            region_name="eu-west-1", aws_access_key_id="fake",
                            aws_secret_access_key="fake",
                            config=Config(max_pool_connections=pool, retries={"max_attempts": 1}))

    def events(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        # The echo app appends a line per event from its own process: only lines that end in a
        # newline are whole (the last one may be half written while we read).
        text = self.record.read_text()
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line]

    def wait_for(self, what: str, match: Callable[[dict[str, Any]], bool],
                 timeout: float = WAIT) -> dict[str, Any]:
        """The first recorded event that matches; the handlers run in another process."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if match(e)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} event within {timeout}s; recorded: "
                                     f"{[e['requestContext']['routeKey'] for e in self.events()]}")
            time.sleep(0.02)

    def wait_for_route(self, route_key: str, connection_id: str, timeout: float = WAIT) -> dict[str, Any]:
        return self.wait_for(f"{route_key} for {connection_id}", lambda e: (
            e["requestContext"]["routeKey"] == route_key
            and e["requestContext"]["connectionId"] == connection_id), timeout)


@contextmanager
def running_stand_in(workdir: Path, *flags: str) -> Iterator[StandIn]:
    port = free_port()
    record = workdir / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_WS_")}
    env.update(WS_ECHO_RECORD=str(record), WS_MANAGEMENT_URL=f"http://127.0.0.1:{port}",
               AWS_ACCESS_KEY_ID="fake", AWS_SECRET_ACCESS_KEY="fake", AWS_DEFAULT_REGION="eu-west-1")
    env.pop("AWS_SESSION_TOKEN", None)
    command = [sys.executable, "-m", "infra.local.apigw_ws", "--host", "127.0.0.1", "--port", str(port),
               "--app", "tests.e2e.ws_echo_app:app", "--stage", STAGE, *flags]
    with started(command, env, "websocket stand-in listening", timeout=30) as proc:
        yield StandIn(port, record, proc)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_stand_in(tmp_path_factory.mktemp("apigw_ws")) as s:
        yield s


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """A stand-in whose idle timeout is 1 s and whose connections live at most 2.5 s."""
    with running_stand_in(tmp_path_factory.mktemp("apigw_ws_short"),
                          "--idle-timeout", "1", "--max-duration", "2.5") as s:
        yield s


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def open_socket(session: aiohttp.ClientSession, stand_in: StandIn, url: str | None = None,
                      **kwargs: Any) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A connected client and the connection id its $connect event carried."""
    tag = uuid.uuid4().hex
    ws = await session.ws_connect(url or stand_in.ws_url, params={"tag": tag}, **kwargs)
    event = await asyncio.to_thread(stand_in.wait_for, f"$connect tagged {tag}", lambda e: (
        (e.get("queryStringParameters") or {}).get("tag") == tag))
    return ws, event["requestContext"]["connectionId"]


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = WAIT) -> aiohttp.WSMessage:
    return await ws.receive(timeout=timeout)


# --- event shapes -------------------------------------------------------------------------------

def test_connect_event_is_shaped_like_api_gateways(stand_in: StandIn):
    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(stand_in.ws_url + "?a=1&a=2&b=x&tag=shape",
                                          headers={"Origin": "http://127.0.0.1:8080"}):
                pass
        return stand_in.wait_for("$connect tagged shape", lambda e: (
            (e.get("queryStringParameters") or {}).get("tag") == "shape"))

    event = run(scenario())
    assert {"headers", "multiValueHeaders", "queryStringParameters",
            "multiValueQueryStringParameters", "requestContext", "isBase64Encoded"} <= event.keys()
    assert event["queryStringParameters"] == {"a": "2", "b": "x", "tag": "shape"}, \
        "the last value of a repeated parameter wins, as on AWS"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"], "tag": ["shape"]}
    assert event["headers"]["Origin"] == "http://127.0.0.1:8080", "the client's headers reach $connect"
    assert event["multiValueHeaders"]["Origin"] == ["http://127.0.0.1:8080"]
    context = event["requestContext"]
    assert context["routeKey"] == "$connect" and context["eventType"] == "CONNECT"
    assert CONNECTION_ID.match(context["connectionId"]), f"API-Gateway-like id: {context['connectionId']}"
    assert context["domainName"] == f"127.0.0.1:{stand_in.port}"
    assert context["stage"] == STAGE
    assert context["messageDirection"] == "IN"
    assert context["apiId"] and context["requestId"]
    assert isinstance(context["connectedAt"], int) and isinstance(context["requestTimeEpoch"], int)
    assert abs(context["connectedAt"] / 1000 - time.time()) < 60, "epoch milliseconds"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "aiohttp" in context["identity"]["userAgent"]


def test_connect_without_a_query_string_has_none_for_its_parameters(stand_in: StandIn):
    async def scenario() -> str:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(stand_in.ws_url, headers={"User-Agent": "no-query-test"}):
                pass
        return "done"

    run(scenario())
    event = stand_in.wait_for("$connect without a query", lambda e: (
        e["requestContext"]["routeKey"] == "$connect"
        and e["requestContext"]["identity"]["userAgent"] == "no-query-test"))
    assert event["queryStringParameters"] is None, "AWS sends null, not {}, for no query string"
    assert event["multiValueQueryStringParameters"] is None


def test_message_event_carries_the_text_frame_and_the_echo_comes_back(stand_in: StandIn):
    async def scenario() -> tuple[str, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                await ws.send_str('{"action":"ping","n":1}')
                return connection_id, await receive(ws)

    connection_id, reply = run(scenario())
    assert reply.type is aiohttp.WSMsgType.TEXT and reply.data == '{"action":"ping","n":1}', \
        f"the $default handler's post_to_connection should echo the frame, got {reply}"
    event = stand_in.wait_for_route("$default", connection_id)
    assert event["body"] == '{"action":"ping","n":1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["eventType"] == "MESSAGE" and context["messageId"]
    connect = stand_in.wait_for_route("$connect", connection_id)
    assert context["connectedAt"] == connect["requestContext"]["connectedAt"], \
        "connectedAt is the connection's, in every event"


def test_client_close_runs_disconnect_and_the_id_is_gone_afterwards(stand_in: StandIn):
    async def scenario() -> str:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            await ws.close()
            return connection_id

    connection_id = run(scenario())
    event = stand_in.wait_for_route("$disconnect", connection_id)
    context = event["requestContext"]
    assert context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 1000, "the client's close code"
    assert context["disconnectReason"]
    client = stand_in.client()
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection_id, Data=b"too late")


# --- $connect answers ---------------------------------------------------------------------------

def test_a_denied_connect_refuses_the_upgrade_with_its_status(stand_in: StandIn):
    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(stand_in.ws_url + "?deny=1")
            return refused.value.status

    assert run(scenario()) == 403, "a 403 from $connect must reach the client as the handshake's status"


def test_a_failing_connect_handler_refuses_with_500(stand_in: StandIn):
    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(stand_in.ws_url + "?fail=1")
            return refused.value.status

    assert run(scenario()) == 500


def test_connect_may_accept_a_subprotocol(stand_in: StandIn):
    async def scenario() -> str | None:
        async with aiohttp.ClientSession() as session:
            ws, _ = await open_socket(session, stand_in, protocols=("chat.v1", "chat.v0"))
            async with ws:
                return ws.protocol

    assert run(scenario()) == "chat.v1", "the protocol $connect names in Sec-WebSocket-Protocol"


# --- the @connections management API through boto3 ------------------------------------------------

def test_post_get_and_delete_through_boto3(stand_in: StandIn):
    client = stand_in.client()

    async def scenario() -> tuple[str, aiohttp.WSMessage, dict[str, Any], aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                    Data='{"event":"ChatMessageReceived"}'.encode())
            posted = await receive(ws)
            info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            closed = await receive(ws)
            return connection_id, posted, info, closed

    connection_id, posted, info, closed = run(scenario())
    assert posted.type is aiohttp.WSMsgType.TEXT and posted.data == '{"event":"ChatMessageReceived"}'
    assert isinstance(info["ConnectedAt"], datetime) and isinstance(info["LastActiveAt"], datetime)
    assert abs((datetime.now(timezone.utc) - info["ConnectedAt"]).total_seconds()) < 60
    assert info["LastActiveAt"] >= info["ConnectedAt"]
    assert info["Identity"]["SourceIp"] == "127.0.0.1" and "aiohttp" in info["Identity"]["UserAgent"]
    assert closed.type is aiohttp.WSMsgType.CLOSE, f"DELETE should close the socket, got {closed}"
    event = stand_in.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 1000
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=connection_id)


def test_an_unknown_connection_id_is_gone_for_every_operation(stand_in: StandIn):
    client = stand_in.client()
    for call in (lambda: client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x"),
                 lambda: client.get_connection(ConnectionId="AAAAAAAAAAAAAAA="),
                 lambda: client.delete_connection(ConnectionId="AAAAAAAAAAAAAAA=")):
        with pytest.raises(client.exceptions.GoneException):
            call()


def test_the_api_is_also_served_under_the_stage_and_only_that_stage(stand_in: StandIn):
    staged = stand_in.client(f"{stand_in.endpoint}/{STAGE}")
    other = stand_in.client(f"{stand_in.endpoint}/prod")

    async def scenario() -> tuple[aiohttp.WSMessage, str]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in,
                                                  url=f"ws://127.0.0.1:{stand_in.port}/{STAGE}")
            async with ws:
                await asyncio.to_thread(staged.post_to_connection, ConnectionId=connection_id,
                                        Data=b"staged")
                return await receive(ws), connection_id

    message, connection_id = run(scenario())
    assert message.data == "staged"
    with pytest.raises(other.exceptions.ForbiddenException):
        other.get_connection(ConnectionId=connection_id)


def test_a_post_that_is_not_utf8_arrives_as_a_binary_frame(stand_in: StandIn):
    client = stand_in.client()

    async def scenario() -> aiohttp.WSMessage:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                        Data=b"\xff\x00\xfe")
                return await receive(ws)

    message = run(scenario())
    assert message.type is aiohttp.WSMsgType.BINARY and message.data == b"\xff\x00\xfe"


def test_a_payload_over_128_kb_is_refused_with_413(stand_in: StandIn):
    async def scenario() -> tuple[int, str, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                url = f"{stand_in.endpoint}/@connections/{connection_id}"
                # boto3 checks Data's size before sending, so the raw HTTP call it is.
                too_big = await asyncio.to_thread(requests.post, url, data=b"x" * (128 * 1024 + 1),
                                                  timeout=WAIT)
                just_fits = await asyncio.to_thread(requests.post, url, data=b"y" * (128 * 1024),
                                                    timeout=WAIT)
                assert just_fits.status_code == 200, just_fits.text
                return too_big.status_code, too_big.headers.get("x-amzn-ErrorType", ""), await receive(ws)

    status, error_type, message = run(scenario())
    assert status == 413 and error_type == "PayloadTooLargeException"
    assert message.data == "y" * (128 * 1024), "only the payload within the limit is delivered"


# --- frames from the client -----------------------------------------------------------------------

def test_one_connections_frames_are_handled_in_order(stand_in: StandIn):
    async def scenario() -> list[str]:
        async with aiohttp.ClientSession() as session:
            ws, _ = await open_socket(session, stand_in)
            async with ws:
                for n in range(20):
                    await ws.send_str(f"frame {n}")
                return [(await receive(ws)).data for _ in range(20)]

    assert run(scenario()) == [f"frame {n}" for n in range(20)]


def test_a_failing_default_handler_answers_internal_server_error_like_api_gateway(stand_in: StandIn):
    async def scenario() -> tuple[str, aiohttp.WSMessage, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                await ws.send_str("raise")
                error = await receive(ws)
                await ws.send_str("still here")
                return connection_id, error, await receive(ws)

    connection_id, error, after = run(scenario())
    body = json.loads(error.data)
    assert body["message"] == "Internal server error" and body["connectionId"] == connection_id
    assert after.data == "still here", "a failing handler does not close the socket"


def test_a_binary_frame_from_the_client_closes_with_1003_as_on_aws(stand_in: StandIn):
    async def scenario() -> tuple[str, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                await ws.send_bytes(b"\x00\x01")
                return connection_id, await receive(ws)

    connection_id, message = run(scenario())
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1003, message
    event = stand_in.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 1003
    assert not [e for e in stand_in.events() if e["requestContext"]["routeKey"] == "$default"
                and e["requestContext"]["connectionId"] == connection_id], "no $default for binary"


def test_a_message_over_128_kb_from_the_client_closes_with_1009_as_on_aws(stand_in: StandIn):
    async def scenario() -> tuple[str, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, stand_in)
            async with ws:
                await ws.send_str("z" * (128 * 1024 + 1))
                return connection_id, await receive(ws)

    connection_id, message = run(scenario())
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1009, message
    event = stand_in.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 1009


# --- many at once --------------------------------------------------------------------------------

def test_a_hundred_concurrent_posts_reach_a_hundred_connections(stand_in: StandIn):
    client = stand_in.client(pool=100)

    async def scenario() -> dict[str, str]:
        async with aiohttp.ClientSession() as session:
            opened = await asyncio.gather(*(open_socket(session, stand_in) for _ in range(100)))
            try:
                loop = asyncio.get_running_loop()
                with ThreadPoolExecutor(max_workers=100) as pool:
                    posts = [loop.run_in_executor(pool, lambda c=c: client.post_to_connection(
                        ConnectionId=c, Data=f"for {c}".encode())) for _, c in opened]
                    replies = await asyncio.gather(*(receive(ws) for ws, _ in opened))
                    await asyncio.gather(*posts)
                return {c: r.data for (_, c), r in zip(opened, replies)}
            finally:
                await asyncio.gather(*(ws.close() for ws, _ in opened))

    received = run(scenario())
    assert len(received) == 100
    wrong = {c: d for c, d in received.items() if d != f"for {c}"}
    assert not wrong, f"each connection should get its own post; wrong: {list(wrong.items())[:3]}"


# --- timeouts and stopping ----------------------------------------------------------------------

def test_an_idle_connection_is_closed_with_1001_and_disconnect_runs(short_lived: StandIn):
    async def scenario() -> tuple[str, aiohttp.WSMessage, float]:
        async with aiohttp.ClientSession() as session:
            ws, connection_id = await open_socket(session, short_lived)
            started = time.monotonic()
            message = await receive(ws, timeout=5)
            return connection_id, message, time.monotonic() - started

    connection_id, message, after = run(scenario())
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1001, message
    assert 0.5 < after < 2.4, f"closed by the 1 s idle timeout, not the 2.5 s limit ({after:.2f}s)"
    event = short_lived.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 1001


def test_frames_and_posts_keep_a_connection_alive_until_its_maximum_duration(short_lived: StandIn):
    client = short_lived.client()

    async def kept_alive_by_client(session: aiohttp.ClientSession) -> tuple[str, int, float]:
        ws, connection_id = await open_socket(session, short_lived)
        started = time.monotonic()

        async def chatter() -> None:
            while not ws.closed:
                await ws.send_str("keep")
                await asyncio.sleep(0.3)

        task = asyncio.ensure_future(chatter())
        try:
            while (message := await receive(ws, timeout=6)).type is aiohttp.WSMsgType.TEXT:
                pass
        finally:
            task.cancel()
        return connection_id, message.data, time.monotonic() - started

    async def kept_alive_by_posts(session: aiohttp.ClientSession) -> tuple[str, int, float]:
        ws, connection_id = await open_socket(session, short_lived)
        started = time.monotonic()

        async def post() -> None:
            while not ws.closed:
                try:
                    await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id,
                                            Data=b"keep")
                except client.exceptions.GoneException:
                    return
                await asyncio.sleep(0.3)

        task = asyncio.ensure_future(post())
        try:
            while (message := await receive(ws, timeout=6)).type is aiohttp.WSMsgType.TEXT:
                pass
        finally:
            await asyncio.wait_for(task, WAIT)
        return connection_id, message.data, time.monotonic() - started

    async def scenario() -> list[tuple[str, int, float]]:
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(kept_alive_by_client(session), kept_alive_by_posts(session))

    for connection_id, code, lived in run(scenario()):
        assert code == 1001, f"closed with 'Going away', got {code}"
        assert 2.0 < lived < 4.5, f"open until the 2.5 s maximum, not the 1 s idle timeout ({lived:.2f}s)"
        event = short_lived.wait_for_route("$disconnect", connection_id)
        assert event["requestContext"]["disconnectStatusCode"] == 1001


def test_sigterm_closes_every_socket_and_runs_their_disconnect(tmp_path: Path):
    with running_stand_in(tmp_path) as s:
        async def scenario() -> tuple[list[str], list[aiohttp.WSMessage]]:
            async with aiohttp.ClientSession() as session:
                opened = [await open_socket(session, s) for _ in range(3)]
                s.proc.send_signal(signal.SIGTERM)
                messages = await asyncio.gather(*(receive(ws) for ws, _ in opened))
                return [c for _, c in opened], messages

        connection_ids, messages = run(scenario())
        assert [m.data for m in messages] == [1001] * 3, messages
        assert s.proc.wait(timeout=WAIT) == 0, "SIGTERM is a normal way to stop"
        for connection_id in connection_ids:
            s.wait_for_route("$disconnect", connection_id, timeout=1)
