"""A local stand-in for an API Gateway WebSocket API that runs Chalice's ``on_ws_*`` handlers.

    python -m infra.local.apigw_ws --host 127.0.0.1 --port 8001 --app app:app --stage local \
        [--idle-timeout 600] [--max-duration 7200]

`chalice local` serves only the REST API, no WebSocket, so this plays
API Gateway's part on one port:

- WebSocket clients connect to ``ws://HOST:PORT/`` (or ``/<stage>``). Each
  connection gets an API-Gateway-like id, and the Chalice app's ``$connect``,
  ``$default`` and ``$disconnect`` handlers are called exactly as Lambda calls
  them: ``handler(event, context)`` with REST-style WebSocket proxy events.
  A ``$connect`` answer that is not 2xx refuses the upgrade with that status
  (a handler exception: 500); no ``$connect`` handler means accept.
- The ``@connections`` management API (POST, GET, DELETE), at the root and
  under ``/<stage>``, for boto3's ``apigatewaymanagementapi`` client pointed
  here with ``endpoint_url``. Unknown or closed ids answer 410 GoneException.
- API Gateway's limits: 128 KB messages (bigger: closed with 1009), text
  frames only (a binary frame: closed with 1003, as AWS documents), 10-minute
  idle timeout and 2-hour connection lifetime (the two timeouts are settings,
  so tests can shorten them; both close with 1001 "Going away"). However a
  connection ends, ``$disconnect`` runs for it.

What counts as activity for the idle timeout: data frames in either direction,
i.e. client frames and ``@connections`` posts. That is what users of API
Gateway report (a server-side keep-alive post every ~9 minutes keeps a socket
open until the 2-hour limit). Ping/pong control frames are answered but do
not count: API Gateway's handling of them is not documented, and not counting
them means a widget that relies on them alone is caught here, not in prod.

Handlers block (they call DynamoDB), so they run in a thread pool, never on
the event loop. One connection's calls run one at a time, in order:
``$connect``, then ``$default`` per frame, then ``$disconnect``. (API Gateway
itself promises no order; keeping one makes local runs reproducible.)

Left out: custom route keys and route selection (Chalice only registers
``$default``), route responses (a ``$default`` handler's return value is
dropped, as with no route response configured), authorizers, API keys,
SigV4 checks (signatures are ignored), the 32 KB frame limit (API Gateway
splits bigger messages into fragments; clients reassemble them anyway),
throttling (429 LimitExceededException) and permessage-deflate.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import importlib
import json
import logging
import os
import secrets
import signal
import string
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import WSMsgType, web

log = logging.getLogger("apigw_ws")

MAX_PAYLOAD_BYTES = 128 * 1024  # API Gateway's message payload limit (and boto3's Data max)
GOING_AWAY = 1001
NORMAL_CLOSURE = 1000
UNSUPPORTED_DATA = 1003
ABNORMAL_CLOSURE = 1006
LAMBDA_TIMEOUT_SECONDS = 60  # Chalice's default lambda_timeout
HANDLER_THREADS = 64  # Lambda scales out per invocation; locally a bound is plenty
SHUTDOWN_GRACE_SECONDS = 10
HOP_BY_HOP = {"connection", "upgrade", "keep-alive", "transfer-encoding", "te", "trailer"}
READY_LINE = "websocket stand-in listening on ws://{host}:{port}"

Handler = Callable[[dict[str, Any], Any], Any]


# --- the Chalice app and its handlers ----------------------------------------------------------

def load_handlers(app_ref: str) -> tuple[Any, dict[str, Handler]]:
    """Imports ``module:attr`` and returns the Chalice app and its handlers by route key."""
    module_name, _, attr = app_ref.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    chalice_app = getattr(module, attr or "app")
    handlers = {route_key: resolve_handler(config.handler_string, module)
                for route_key, config in chalice_app.websocket_handlers.items()}
    return chalice_app, handlers


def resolve_handler(handler_string: str, app_module: Any) -> Handler:
    """The object Lambda would call for ``handler_string`` (``module.function``).

    Chalice names every handler defined in the app file ``app.<function>``
    because in the Lambda package that file *is* the module ``app``. Here the
    app may live elsewhere (``tests.e2e.ws_echo_app``), so ``app`` means the
    module given with ``--app``; blueprints name their real module.
    """
    module_name, _, function_name = handler_string.rpartition(".")
    module = app_module if module_name == "app" else importlib.import_module(module_name)
    return getattr(module, function_name)


def lambda_context(function_name: str, region: str) -> Any:
    """Chalice's own local Lambda context, filled in as Lambda fills in a deployed function's."""
    from chalice.local import LambdaContext

    context = LambdaContext(function_name, memory_size=128, max_runtime_ms=LAMBDA_TIMEOUT_SECONDS * 1000)
    context.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
    context.log_group_name = f"/aws/lambda/{function_name}"
    context.log_stream_name = f"local/{context.aws_request_id}"
    return context


# --- ids, times and events ---------------------------------------------------------------------

def new_id() -> str:
    """An id like API Gateway's connection and request ids: 11 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def new_api_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def epoch_ms() -> int:
    return int(time.time() * 1000)


def iso8601(ms: int) -> str:
    """API Gateway's timestamp format in @connections answers: ``2024-02-09T18:11:43.419Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def request_time(ms: int) -> str:
    """The CLF-style ``requestTime`` of proxy events: ``09/Feb/2024:18:11:43 +0000``."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")


def multi_value(pairs: Any) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


@dataclass
class Connection:
    """One client socket, as API Gateway keeps it: id, identity, times, and how it ended."""

    id: str
    source_ip: str
    user_agent: str
    connected_at: int = field(default_factory=epoch_ms)  # epoch ms, as in events
    last_active_at: int = 0  # epoch ms, for GET @connections
    last_active: float = 0.0  # loop time, for the idle timer
    ws: web.WebSocketResponse | None = None
    closing: bool = False
    close_code: int | None = None
    close_reason: str = ""
    idle_timer: asyncio.TimerHandle | None = None
    max_timer: asyncio.TimerHandle | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        self.last_active = asyncio.get_running_loop().time()
        self.last_active_at = epoch_ms()

    @property
    def open(self) -> bool:
        return self.ws is not None and not self.closing and not self.ws.closed


@dataclass
class Gateway:
    """The stand-in: connections by id, the handlers, and the settings they run under."""

    handlers: dict[str, Handler]
    app_name: str
    stage: str
    domain_name: str = ""  # host:port, known once the server listens
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    # Added to each management API call: models the Lambda -> API Gateway round
    # trip (a few ms in-region), which loopback does not have. 0 = loopback.
    management_latency: float = 0.0
    api_id: str = field(default_factory=new_api_id)
    region: str = field(default_factory=lambda: os.environ.get("AWS_REGION")
                        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    connections: dict[str, Connection] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=HANDLER_THREADS, thread_name_prefix="lambda"))
    _tasks: set[asyncio.Task] = field(default_factory=set)

    # --- events ---

    def request_context(self, conn: Connection, route_key: str, event_type: str) -> dict[str, Any]:
        now = epoch_ms()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": new_id(),
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": conn.connected_at,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "requestId": new_id(),
            "domainName": self.domain_name,
            "connectionId": conn.id,
            "apiId": self.api_id,
        }

    def connect_event(self, conn: Connection, request: web.Request) -> dict[str, Any]:
        # API Gateway passes the upgrade request's end-to-end headers on (Origin,
        # User-Agent, Sec-WebSocket-*, ...), plus its own X-Forwarded-*.
        header_pairs = [*((k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP),
                        ("X-Forwarded-For", conn.source_ip),
                        ("X-Forwarded-Port", str(request.url.port or "")),
                        ("X-Forwarded-Proto", request.scheme)]
        query = list(request.query.items())
        return {
            "headers": dict(header_pairs),
            "multiValueHeaders": multi_value(header_pairs),
            # None, not {}, when there is no query string: handlers that write
            # `event["queryStringParameters"]["token"]` must fail here as on AWS.
            "queryStringParameters": dict(query) if query else None,
            "multiValueQueryStringParameters": multi_value(query) if query else None,
            "requestContext": self.request_context(conn, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }

    def message_event(self, conn: Connection, body: str) -> dict[str, Any]:
        context = self.request_context(conn, "$default", "MESSAGE")
        context["messageId"] = new_id()
        # Always text: binary frames never get this far (see read_frames).
        return {"requestContext": context, "body": body, "isBase64Encoded": False}

    def disconnect_event(self, conn: Connection, code: int, reason: str) -> dict[str, Any]:
        # The few headers API Gateway sends with $disconnect (there is no HTTP request then).
        headers = {"Host": self.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        context = self.request_context(conn, "$disconnect", "DISCONNECT")
        context.update(disconnectStatusCode=code, disconnectReason=reason)
        return {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
                "requestContext": context, "isBase64Encoded": False}

    # --- calling handlers ---

    async def invoke(self, route_key: str, event: dict[str, Any]) -> Any:
        """Calls the route's handler in the pool; None when the app has no handler for it."""
        handler = self.handlers.get(route_key)
        if handler is None:
            return None
        function = {"$connect": "websocket_connect", "$default": "websocket_message",
                    "$disconnect": "websocket_disconnect"}[route_key]
        context = lambda_context(f"{self.app_name}-{self.stage}-{function}", self.region)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, handler, event, context)

    async def on_message(self, conn: Connection, body: str) -> None:
        try:
            await self.invoke("$default", self.message_event(conn, body))
        except Exception:  # noqa: BLE001 - a failing handler must not take the socket down
            log.exception("$default handler failed for %s", conn.id)
            # What API Gateway sends the client when a route's integration fails.
            error = {"message": "Internal server error", "connectionId": conn.id,
                     "requestId": new_id()}
            await self.send(conn, json.dumps(error))

    async def on_disconnect(self, conn: Connection, code: int, reason: str) -> None:
        try:
            await self.invoke("$disconnect", self.disconnect_event(conn, code, reason))
        except Exception:  # noqa: BLE001 - $disconnect is best effort on AWS too
            log.exception("$disconnect handler failed for %s", conn.id)

    # --- the WebSocket side ---

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """Handshake, ``$connect``, the frame loop and ``$disconnect`` for one client."""
        if "stage" in request.match_info and request.match_info["stage"] != self.stage:
            return aws_error(403, "ForbiddenException", "Forbidden")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"message": "Upgrade Required"}, status=426)
        conn = Connection(new_id(), request.remote or "", request.headers.get("User-Agent", ""))
        try:
            answer = await self.invoke("$connect", self.connect_event(conn, request))
        except Exception:  # noqa: BLE001 - API Gateway answers an integration failure with 500
            log.exception("$connect handler failed")
            return web.json_response({"message": "Internal server error"}, status=500)
        status = int((answer or {}).get("statusCode", 200))
        if not 200 <= status < 300:
            return refusal(answer or {}, status)
        return await self.serve(conn, request, answer or {})

    async def serve(self, conn: Connection, request: web.Request,
                    answer: dict[str, Any]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            protocols=accepted_protocols(answer), compress=False, autoping=True,
            max_msg_size=MAX_PAYLOAD_BYTES)  # bigger messages: aiohttp closes with 1009, as AWS does
        conn.ws = ws
        try:
            await ws.prepare(request)
            # Only now is the id addressable: API Gateway, too, refuses posts to
            # a connection whose $connect handler has not returned yet.
            self.connections[conn.id] = conn
            conn.touch()
            self.arm_timers(conn)
            await self.read_frames(conn)
        finally:
            for timer in (conn.idle_timer, conn.max_timer):
                if timer is not None:
                    timer.cancel()
            code, reason = self.how_it_ended(conn)
            conn.closing = True
            if ws.prepared:
                await ws.close()
            await self.on_disconnect(conn, code, reason)
            self.connections.pop(conn.id, None)
            conn.finished.set()
        return ws

    async def read_frames(self, conn: Connection) -> None:
        """``$default`` per data frame, awaited one by one so the calls keep their order."""
        assert conn.ws is not None
        async for msg in conn.ws:  # ends at the close handshake
            if msg.type is WSMsgType.TEXT:
                conn.touch()
                await self.on_message(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                # API Gateway takes text frames only: "If a client app sends a
                # binary frame, API Gateway rejects it and disconnects the
                # client with code 1003" (developer guide, binary media types).
                await self.close(conn, UNSUPPORTED_DATA, "Binary frames are not supported")
                break
            elif msg.type is WSMsgType.ERROR:  # e.g. a message over 128 KB: aiohttp closed it, 1009
                # The code aiohttp closed with is the error's; close_code ends up
                # being whatever the broken stream left behind.
                conn.close_code = getattr(msg.data, "code", None) or ABNORMAL_CLOSURE
                conn.close_reason = str(msg.data or "WebSocket protocol error")
                log.info("connection %s: %s", conn.id, conn.close_reason)
                break

    @staticmethod
    def how_it_ended(conn: Connection) -> tuple[int, str]:
        """``disconnectStatusCode`` and ``disconnectReason`` for the ``$disconnect`` event."""
        if conn.close_code is not None:  # we closed it: DELETE, a timeout, a bad frame, shutdown
            return conn.close_code, conn.close_reason
        code = conn.ws.close_code if conn.ws is not None else None
        if code is None or code == ABNORMAL_CLOSURE:
            return ABNORMAL_CLOSURE, "Connection lost without a close frame"
        return code, f"Client-side close frame status code {code}"

    async def send(self, conn: Connection, data: bytes | str) -> bool:
        """One frame to the client: text for str, binary for bytes. False if the socket is gone."""
        if not conn.open:
            return False
        assert conn.ws is not None
        try:
            if isinstance(data, str):
                await conn.ws.send_str(data)
            else:
                await conn.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):  # closed under our feet
            return False
        return True

    async def close(self, conn: Connection, code: int, reason: str) -> None:
        """Closes from the server side; ``serve`` then runs ``$disconnect`` with this code."""
        if conn.closing or conn.ws is None:
            return
        conn.closing = True  # from here on the id is gone for @connections
        conn.close_code, conn.close_reason = code, reason
        message = reason.encode() if code == GOING_AWAY else b""
        await conn.ws.close(code=code, message=message)

    # --- timeouts ---

    def arm_timers(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        conn.max_timer = loop.call_later(self.max_duration, self.expire, conn, "max duration")
        conn.idle_timer = loop.call_later(self.idle_timeout, self.check_idle, conn)

    def check_idle(self, conn: Connection) -> None:
        # One timer per connection, re-armed for the rest of the window when
        # there was activity, instead of a new timer for every frame.
        loop = asyncio.get_running_loop()
        remaining = self.idle_timeout - (loop.time() - conn.last_active)
        if remaining <= 0.005:  # timers may fire a hair early; that is not activity
            self.expire(conn, "idle timeout")
        else:
            conn.idle_timer = loop.call_later(remaining, self.check_idle, conn)

    def expire(self, conn: Connection, why: str) -> None:
        log.info("connection %s: %s", conn.id, why)
        self.spawn(self.close(conn, GOING_AWAY, "Going away"))

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # a reference, so the task is not collected mid-way
        task.add_done_callback(self._tasks.discard)

    # --- the @connections management API ---

    def lookup(self, request: web.Request) -> Connection | web.Response:
        """The open connection the URL names, or the error response API Gateway gives."""
        stage = request.match_info.get("stage")
        if stage is not None and stage != self.stage:
            return aws_error(403, "ForbiddenException", "Forbidden")
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or not conn.open:
            return gone()
        return conn

    async def post_to_connection(self, request: web.Request) -> web.Response:
        if self.management_latency:
            await asyncio.sleep(self.management_latency)
        conn = self.lookup(request)
        if not isinstance(conn, Connection):
            return conn
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            return too_large()
        data = await request.read()
        if len(data) > MAX_PAYLOAD_BYTES:
            return too_large()
        try:
            frame: bytes | str = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
        if not await self.send(conn, frame):
            return gone()
        conn.touch()
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        conn = self.lookup(request)
        if not isinstance(conn, Connection):
            return conn
        # The wire names are camelCase; boto3 turns them into ConnectedAt, Identity.SourceIp, ...
        return web.json_response({
            "connectedAt": iso8601(conn.connected_at),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "lastActiveAt": iso8601(conn.last_active_at),
        })

    async def delete_connection(self, request: web.Request) -> web.Response:
        conn = self.lookup(request)
        if not isinstance(conn, Connection):
            return conn
        await self.close(conn, NORMAL_CLOSURE, "Connection deleted through the @connections API")
        return web.Response(status=204)

    # --- stopping ---

    async def shutdown(self) -> None:
        """Closes every socket with 1001 and waits (bounded) for their ``$disconnect``."""
        conns = list(self.connections.values())
        await asyncio.gather(*(self.close(c, GOING_AWAY, "Going away") for c in conns),
                             return_exceptions=True)
        try:
            await asyncio.wait_for(asyncio.gather(*(c.finished.wait() for c in conns)),
                                   SHUTDOWN_GRACE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("some $disconnect handlers did not finish within %ss", SHUTDOWN_GRACE_SECONDS)
        self.executor.shutdown(wait=False, cancel_futures=True)


# --- responses ---------------------------------------------------------------------------------

def aws_error(status: int, error_type: str, message: str) -> web.Response:
    # botocore's rest-json parser takes the error code from this header.
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": error_type})


def gone() -> web.Response:
    return aws_error(410, "GoneException", "The connection is gone")


def too_large() -> web.Response:
    return aws_error(413, "PayloadTooLargeException",
                     f"Message payload is over {MAX_PAYLOAD_BYTES} bytes")


def refusal(answer: dict[str, Any], status: int) -> web.Response:
    """The HTTP answer to a refused upgrade: the ``$connect`` handler's status, body and headers."""
    body = answer.get("body")
    if answer.get("isBase64Encoded") and body:
        try:
            body = base64.b64decode(body)
        except (binascii.Error, ValueError):
            pass
    headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
    return web.Response(status=status, body=body if body is not None else b"", headers=headers)


def accepted_protocols(answer: dict[str, Any]) -> tuple[str, ...]:
    """The subprotocol a ``$connect`` answer accepts in its ``Sec-WebSocket-Protocol`` header.

    API Gateway completes a subprotocol handshake only with the protocol the
    integration names; aiohttp then picks it from those the client offered.
    """
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() == "sec-websocket-protocol":
            return tuple(p.strip() for p in str(value).split(",") if p.strip())
    return ()


def build_app(gateway: Gateway) -> web.Application:
    # Big enough that we, not aiohttp, answer an oversized post (with AWS's 413).
    app = web.Application(client_max_size=4 * MAX_PAYLOAD_BYTES)
    for prefix in ("", "/{stage}"):
        path = prefix + "/@connections/{connection_id}"
        app.router.add_post(path, gateway.post_to_connection)
        app.router.add_get(path, gateway.get_connection)
        app.router.add_delete(path, gateway.delete_connection)
    app.router.add_get("/", gateway.websocket)
    app.router.add_get("/{stage}", gateway.websocket)
    return app


# --- running it --------------------------------------------------------------------------------

async def serve(args: argparse.Namespace) -> None:
    chalice_app, handlers = load_handlers(args.app)
    gateway = Gateway(handlers=handlers, app_name=chalice_app.app_name, stage=args.stage,
                      idle_timeout=args.idle_timeout, max_duration=args.max_duration,
                      management_latency=args.management_latency_ms / 1000)
    runner = web.AppRunner(build_app(gateway), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = runner.addresses[0][1]  # the real one, also when --port 0
    gateway.domain_name = f"{args.host}:{port}"

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(READY_LINE.format(host=args.host, port=port), flush=True)
    try:
        await stop.wait()
    finally:
        await gateway.shutdown()
        await runner.cleanup()


def positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--app", default="app:app", help="module:attribute of the Chalice app")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--idle-timeout", type=positive_seconds,
                        default=os.environ.get("PARLEY_WS_IDLE_TIMEOUT", "600"),
                        help="seconds without data frames before closing (env PARLEY_WS_IDLE_TIMEOUT)")
    parser.add_argument("--max-duration", type=positive_seconds,
                        default=os.environ.get("PARLEY_WS_MAX_DURATION", "7200"),
                        help="longest life of a connection in seconds (env PARLEY_WS_MAX_DURATION)")
    parser.add_argument("--management-latency-ms", type=float, default=0.0,
                        help="delay each @connections post, to model a network round trip (benchmarks)")
    parser.add_argument("--verbose", action="store_true", help="log connects, disconnects, timeouts")
    args = parser.parse_args(argv)
    # The app's own loggers keep their levels; --verbose is about the stand-in.
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
