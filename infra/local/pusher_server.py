"""A Pusher Channels stand-in for the local stack and the tests: protocol 7 plus the REST trigger API.

    python -m infra.local.pusher_server --host 127.0.0.1 --port 6001 \\
        --app-id 1 --key parley-key --secret parley-secret

One aiohttp app serves both halves of Pusher on one port, so pusher-js (``wsHost``,
``wsPort``) and the official server libraries (``host``, ``port``) reach it with
their ordinary options. ``--app-id``, ``--key`` and ``--secret`` default to
PUSHER_APP_ID, PUSHER_KEY and PUSHER_SECRET, ``--port`` to PARLEY_PUSHER_PORT or
6001; ``--port 0`` picks a free port. When it is ready it prints one line,
``pusher stand-in listening on ws://HOST:PORT/app/KEY``; SIGTERM or Ctrl-C stop it.

What it implements, following Pusher's protocol and HTTP API references:

WebSocket ``/app/{key}``
    ``pusher:connection_established`` (socket_id, activity_timeout); public,
    ``private-`` and ``presence-`` channels with their auth signatures
    (presence: member list on subscribe, member_added / member_removed);
    ``pusher:ping`` / ``pusher:pong`` both ways, and the server's own activity
    check (a silent client is pinged, and closed with 4201 when no answer comes).
    Refusals: 4001 unknown key, 4006 / 4007 / 4008 protocol version; client
    events get Pusher's code-less "you must enable this feature" error.
REST ``/apps/{app_id}/...``
    ``POST events`` and ``POST batch_events`` with Pusher's request signature,
    its limits (10,240-byte data, 100 channels an event, 10 events a batch,
    164-character channel names) and ``socket_id`` exclusion;
    ``GET channels`` and ``GET channels/{name}``.

What it leaves out: client events (refused, as on an app that has not enabled
them), user sign-in (``pusher:signin``) and watchlists, cache channels,
webhooks, the ``/users`` and terminate-connections endpoints, end-to-end
encryption (``private-encrypted-`` data passes through as the library
encrypted it), rate limits and quotas, TLS, more than one app, REST parameters
in the query string of a POST, and the deprecated ``/channels/{name}/events``
resource. Everything lives in one process's memory; nothing is persisted.

Where it differs from Pusher on purpose: a refused private or presence
subscription gets Pusher's ``pusher:error`` *and* a channel-scoped
``pusher:subscription_error`` (see :meth:`PusherServer.refuse_subscription`);
a handshake without ``protocol`` is refused with 4008 where Pusher still
falls back to protocol 1; only protocol 7 is accepted.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger("parley.pusher")

PROTOCOL_VERSION = 7
MAX_DATA_BYTES = 10_240
MAX_CHANNELS_PER_EVENT = 100
MAX_BATCH_EVENTS = 10
MAX_CHANNEL_NAME = 164
MAX_EVENT_NAME = 200
TIMESTAMP_TOLERANCE_SECONDS = 600

CHANNEL_NAME = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
SOCKET_ID = re.compile(r"[0-9]+\.[0-9]+")

# Error codes from the protocol's ranges. pusher-js acts on the range a close
# code falls in: 4000-4099 never reconnect, 4200-4299 reconnect at once.
APP_DOES_NOT_EXIST = 4001
INVALID_VERSION_FORMAT = 4006
UNSUPPORTED_PROTOCOL = 4007
NO_PROTOCOL_VERSION = 4008
PONG_NOT_RECEIVED = 4201
CLIENT_EVENTS_DISABLED = ("To send client events, you must enable this feature in the Settings page "
                          "of your dashboard.")


@dataclass(frozen=True)
class App:
    """The one Pusher app this server hosts, and its timeouts in seconds."""

    app_id: str
    key: str
    secret: str
    activity_timeout: float = 120.0
    pong_timeout: float = 30.0

    def sign(self, text: str) -> str:
        """HMAC-SHA256 of ``text`` with the app secret, hex: every Pusher signature."""
        return hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def frame(event: str, data: Any = None, channel: str | None = None) -> str:
    """Encodes one protocol message; ``data`` goes out as given (string or object)."""
    message: dict[str, Any] = {"event": event}
    if channel is not None:
        message["channel"] = channel
    if data is not None:
        message["data"] = data
    return json.dumps(message, separators=(",", ":"))


def error_frame(message: str, code: int | None = None) -> str:
    """A ``pusher:error``; its data is an object, as the protocol documents it."""
    return frame("pusher:error", {"code": code, "message": message})


def valid_channel_name(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= MAX_CHANNEL_NAME and CHANNEL_NAME.fullmatch(name) is not None


def needs_auth(channel: str) -> bool:
    return channel.startswith(("private-", "presence-"))


class Connection:
    """One WebSocket client: its socket_id, its channels, and when it was last heard from."""

    def __init__(self, ws: web.WebSocketResponse, socket_id: str) -> None:
        self.ws = ws
        self.socket_id = socket_id
        self.channels: set[str] = set()
        self.last_heard = time.monotonic()
        self.timed_out = False

    async def send(self, text: str) -> None:
        """Sends one frame. A client that has just gone is not an error: its cleanup is under way."""
        if self.ws.closed:
            return
        try:
            # aiohttp writes straight to the transport and waits only when this
            # client's write buffer is full, so delivery has no queue or poll.
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass


class Channels:
    """Who is subscribed to what, and the members of presence channels: the shared state."""

    def __init__(self) -> None:
        self.subscribers: dict[str, dict[str, Connection]] = {}
        # presence channel -> socket_id -> (user_id, user_info)
        self.presence: dict[str, dict[str, tuple[str, Any]]] = {}

    def count(self, channel: str) -> int:
        return len(self.subscribers.get(channel, ()))

    def members(self, channel: str) -> dict[str, Any]:
        """user_id -> user_info; a user with several connections is one member."""
        return {user_id: info for user_id, info in self.presence.get(channel, {}).values()}

    def join(self, conn: Connection, channel: str, member: tuple[str, Any] | None = None) -> bool:
        """Subscribes ``conn``; True when ``member`` is a user new to the channel."""
        is_new = member is not None and member[0] not in self.members(channel)
        self.subscribers.setdefault(channel, {})[conn.socket_id] = conn
        if member is not None:
            self.presence.setdefault(channel, {})[conn.socket_id] = member
        conn.channels.add(channel)
        return is_new

    def leave(self, conn: Connection, channel: str) -> str | None:
        """Unsubscribes ``conn``; returns the user_id of a presence member who has now gone."""
        conn.channels.discard(channel)
        subscribers = self.subscribers.get(channel, {})
        subscribers.pop(conn.socket_id, None)
        if not subscribers:
            self.subscribers.pop(channel, None)
        members = self.presence.get(channel)
        if members is None or conn.socket_id not in members:
            return None
        user_id, _ = members.pop(conn.socket_id)
        if not members:
            self.presence.pop(channel, None)
        return None if user_id in self.members(channel) else user_id

    async def publish(self, channel: str, text: str, except_socket_id: str | None = None) -> None:
        # A snapshot, because a send can yield and a subscriber can leave meanwhile.
        for conn in list(self.subscribers.get(channel, {}).values()):
            if conn.socket_id != except_socket_id:
                await conn.send(text)


class RestError(Exception):
    """A REST failure: HTTP status and the plain-text explanation Pusher puts in the body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    channels: list[str]
    socket_id: str | None


class PusherServer:
    """The WebSocket protocol and the REST API over one :class:`Channels`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.channels = Channels()
        self.connections: dict[str, Connection] = {}

    def web_app(self) -> web.Application:
        application = web.Application(middlewares=[rest_errors])
        application.router.add_get("/app/{key}", self.websocket)
        application.router.add_post("/apps/{app_id}/events", self.trigger)
        application.router.add_post("/apps/{app_id}/batch_events", self.trigger_batch)
        application.router.add_get("/apps/{app_id}/channels", self.list_channels)
        application.router.add_get("/apps/{app_id}/channels/{channel}", self.channel_info)
        application.on_shutdown.append(self.close_all)
        return application

    # --- WebSocket -------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One client connection, from handshake to cleanup."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        refusal = self.refusal(request)
        if refusal is not None:
            code, message = refusal
            # The protocol answers a bad handshake on the socket itself: an
            # error pusher-js reads first, then a close with the same code.
            await ws.send_str(error_frame(message, code))
            await ws.close(code=code, message=_close_reason(message))
            return ws

        conn = Connection(ws, self.new_socket_id())
        self.connections[conn.socket_id] = conn
        log.info("connected %s", conn.socket_id)
        established = {"socket_id": conn.socket_id, "activity_timeout": _seconds(self.app.activity_timeout)}
        # Its data is a JSON *string*: pusher-js parses it a second time.
        await conn.send(frame("pusher:connection_established", json.dumps(established, separators=(",", ":"))))
        watchdog = asyncio.create_task(self.watch_activity(conn))
        try:
            async for message in ws:
                conn.last_heard = time.monotonic()
                if message.type == WSMsgType.TEXT:
                    await self.on_message(conn, message.data)
                elif message.type == WSMsgType.BINARY:
                    await conn.send(error_frame("Binary frames are not supported"))
        finally:
            if conn.timed_out:
                await watchdog  # it is closing the socket with 4201: let it finish the handshake
            else:
                watchdog.cancel()
            await self.disconnect(conn)
        return ws

    def refusal(self, request: web.Request) -> tuple[int, str] | None:
        """The error code and message for a handshake this server will not take, if any."""
        if request.match_info["key"] != self.app.key:
            return APP_DOES_NOT_EXIST, f"App key {request.match_info['key']} does not exist"
        protocol = request.query.get("protocol")
        if protocol is None:
            # Pusher still falls back to protocol 1 here; refusing is more
            # useful in tests than emulating a deprecated protocol.
            return NO_PROTOCOL_VERSION, "No protocol version supplied"
        if not (protocol.isascii() and protocol.isdigit()):
            return INVALID_VERSION_FORMAT, f"Invalid version string format: {protocol}"
        if int(protocol) != PROTOCOL_VERSION:
            # Only 7 is spoken (pusher-js 8 sends 7); older versions differ in
            # details this stand-in does not emulate, so it does not pretend to.
            return UNSUPPORTED_PROTOCOL, f"Unsupported protocol version {protocol}; this server speaks 7"
        return None

    def new_socket_id(self) -> str:
        while True:
            socket_id = f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"
            if socket_id not in self.connections:
                return socket_id

    async def watch_activity(self, conn: Connection) -> None:
        """Pings a client silent for activity_timeout; closes it with 4201 if nothing answers."""
        app = self.app
        while not conn.ws.closed:
            idle = time.monotonic() - conn.last_heard
            if idle < app.activity_timeout:
                await asyncio.sleep(app.activity_timeout - idle)
                continue
            pinged_at = time.monotonic()
            await conn.send(frame("pusher:ping", {}))
            await asyncio.sleep(app.pong_timeout)
            # Any message proves the client alive, not only pusher:pong.
            if conn.last_heard < pinged_at:
                log.info("no pong from %s: closing", conn.socket_id)
                conn.timed_out = True
                await conn.ws.close(code=PONG_NOT_RECEIVED, message=b"Pong reply not received")
                return

    async def disconnect(self, conn: Connection) -> None:
        self.connections.pop(conn.socket_id, None)
        for channel in list(conn.channels):
            await self.unsubscribe_from(conn, channel)
        log.info("disconnected %s", conn.socket_id)

    async def close_all(self, _application: web.Application) -> None:
        """On shutdown: tell every client the server is going away, so none hangs."""
        await asyncio.gather(*(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down")
                               for conn in list(self.connections.values())), return_exceptions=True)

    async def on_message(self, conn: Connection, text: str) -> None:
        """Dispatches one client frame by its event name."""
        try:
            message = json.loads(text)
            event = message["event"]
            if not isinstance(event, str):
                raise TypeError(event)
        except (ValueError, KeyError, TypeError):
            await conn.send(error_frame("Invalid message: expected a JSON object with an 'event'"))
            return
        data = message.get("data")
        if isinstance(data, str):
            # Some clients send data JSON-encoded a second time, as the server does.
            try:
                data = json.loads(data)
            except ValueError:
                pass
        handler = self.handlers.get(event)
        if handler is not None:
            await handler(self, conn, data if isinstance(data, dict) else {})
        elif event.startswith("client-"):
            # Pusher's own answer when client events are off: no code, this message.
            # (4301 is its rate-limit refusal for apps that do enable them.)
            await conn.send(error_frame(CLIENT_EVENTS_DISABLED))
        else:
            await conn.send(error_frame(f"Unsupported event {event!r}"))

    async def on_ping(self, conn: Connection, _data: dict[str, Any]) -> None:
        await conn.send(frame("pusher:pong", {}))

    async def on_pong(self, conn: Connection, _data: dict[str, Any]) -> None:
        """Nothing to do: receiving it already counted as activity."""

    async def on_subscribe(self, conn: Connection, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if not valid_channel_name(channel):
            await conn.send(error_frame(
                f"Invalid channel name {channel!r}: at most {MAX_CHANNEL_NAME} characters "
                "from A-Z a-z 0-9 _ - = @ , . ;"))
            return
        if channel in conn.channels:
            await conn.send(error_frame(f"Existing subscription to channel {channel}"))
            return
        member = None
        if needs_auth(channel):
            problem = self.auth_problem(conn.socket_id, channel, data)
            if problem is None and channel.startswith("presence-"):
                member, problem = parse_member(data.get("channel_data"))
            if problem is not None:
                await self.refuse_subscription(conn, channel, problem)
                return
        is_new_member = self.channels.join(conn, channel, member)
        log.info("%s subscribed to %s", conn.socket_id, channel)
        await self.confirm_subscription(conn, channel, member, is_new_member)

    def auth_problem(self, socket_id: str, channel: str, data: dict[str, Any]) -> str | None:
        """Why the ``auth`` of a private or presence subscription is wrong, or None when it is right."""
        auth = data.get("auth")
        if not isinstance(auth, str) or ":" not in auth:
            return f"Invalid auth for channel {channel}: expected '<key>:<signature>'"
        key, _, signature = auth.partition(":")
        if key != self.app.key:
            return f"Invalid key in subscription auth data: '{key}'"
        signed = f"{socket_id}:{channel}"
        if channel.startswith("presence-"):
            signed += f":{data.get('channel_data', '')}"
        # Bytes, because compare_digest refuses non-ASCII str and a client may send anything.
        if not hmac.compare_digest(signature.encode(), self.app.sign(signed).encode()):
            return f"Invalid signature: Expected HMAC SHA256 hex digest of {signed}, but got {signature}"
        return None

    async def refuse_subscription(self, conn: Connection, channel: str, message: str) -> None:
        """Reports a refused subscription both ways a client may be listening.

        Pusher itself sends only a ``pusher:error`` without a channel, which
        pusher-js logs on the connection and never shows to the channel.
        Servers such as soketi add a ``pusher:subscription_error`` naming the
        channel, which pusher-js emits on that channel like an auth endpoint
        failure. Sending both lets code written for either see the refusal.
        """
        log.info("%s refused on %s: %s", conn.socket_id, channel, message)
        await conn.send(error_frame(message))
        await conn.send(frame("pusher:subscription_error",
                              {"type": "AuthError", "error": message, "status": 401}, channel))

    async def confirm_subscription(self, conn: Connection, channel: str,
                                   member: tuple[str, Any] | None, is_new_member: bool) -> None:
        if member is None:
            await conn.send(frame("pusher_internal:subscription_succeeded", "{}", channel))
            return
        members = self.channels.members(channel)
        presence = {"presence": {"ids": list(members), "hash": members, "count": len(members)}}
        await conn.send(frame("pusher_internal:subscription_succeeded", json.dumps(presence), channel))
        if is_new_member:
            user_id, user_info = member
            added = json.dumps({"user_id": user_id, "user_info": user_info})
            await self.channels.publish(channel, frame("pusher_internal:member_added", added, channel),
                                        except_socket_id=conn.socket_id)

    async def on_unsubscribe(self, conn: Connection, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if isinstance(channel, str) and channel in conn.channels:
            await self.unsubscribe_from(conn, channel)
            log.info("%s unsubscribed from %s", conn.socket_id, channel)

    async def unsubscribe_from(self, conn: Connection, channel: str) -> None:
        gone = self.channels.leave(conn, channel)
        if gone is not None:
            removed = frame("pusher_internal:member_removed", json.dumps({"user_id": gone}), channel)
            await self.channels.publish(channel, removed)

    handlers: dict[str, Callable[[PusherServer, Connection, dict[str, Any]], Awaitable[None]]] = {
        "pusher:ping": on_ping,
        "pusher:pong": on_pong,
        "pusher:subscribe": on_subscribe,
        "pusher:unsubscribe": on_unsubscribe,
    }

    # --- REST ------------------------------------------------------------

    async def trigger(self, request: web.Request) -> web.Response:
        """``POST /apps/{app_id}/events``: one event to up to 100 channels."""
        body = await self.authenticated_body(request)
        event = parse_event(parse_json(body))
        await self.deliver(event)
        return web.json_response({})

    async def trigger_batch(self, request: web.Request) -> web.Response:
        """``POST /apps/{app_id}/batch_events``: up to 10 events, all checked before any is sent."""
        body = await self.authenticated_body(request)
        payload = parse_json(body)
        batch = payload.get("batch") if isinstance(payload, dict) else None
        if not isinstance(batch, list) or not batch:
            raise RestError(400, "Missing or invalid 'batch': expected a list of events")
        if len(batch) > MAX_BATCH_EVENTS:
            raise RestError(400, f"Batch too large: {len(batch)} events, the limit is {MAX_BATCH_EVENTS}")
        events = [parse_event(item) for item in batch]
        for event in events:
            await self.deliver(event)
        return web.json_response({})

    async def deliver(self, event: Event) -> None:
        for channel in event.channels:
            text = frame(event.name, event.data, channel)
            await self.channels.publish(channel, text, except_socket_id=event.socket_id)
        log.info("%s -> %s", event.name, ", ".join(event.channels))

    async def list_channels(self, request: web.Request) -> web.Response:
        """``GET /apps/{app_id}/channels``: occupied channels, optionally by prefix."""
        await self.authenticated_body(request)
        prefix = request.query.get("filter_by_prefix", "")
        wanted = set(request.query.get("info", "").split(","))
        result: dict[str, dict[str, int]] = {}
        for channel in self.channels.subscribers:
            if channel.startswith(prefix):
                result[channel] = {}
                if "user_count" in wanted and channel.startswith("presence-"):
                    result[channel]["user_count"] = len(self.channels.members(channel))
        return web.json_response({"channels": result})

    async def channel_info(self, request: web.Request) -> web.Response:
        """``GET /apps/{app_id}/channels/{name}``: occupied, and counts when ``info`` asks."""
        await self.authenticated_body(request)
        channel = request.match_info["channel"]
        if not valid_channel_name(channel):
            raise RestError(400, f"Invalid channel name {channel!r}")
        wanted = set(request.query.get("info", "").split(","))
        count = self.channels.count(channel)
        result: dict[str, Any] = {"occupied": count > 0}
        if "subscription_count" in wanted:
            result["subscription_count"] = count
        if "user_count" in wanted and channel.startswith("presence-"):
            result["user_count"] = len(self.channels.members(channel))
        return web.json_response(result)

    async def authenticated_body(self, request: web.Request) -> bytes:
        """Checks the app id and the request signature; returns the body it covers."""
        if request.match_info["app_id"] != self.app.app_id:
            raise RestError(404, f"Unknown app_id {request.match_info['app_id']}")
        body = await request.read()
        check_signature(self.app, request.method, request.path, dict(request.query), body)
        return body


def check_signature(app: App, method: str, path: str, query: dict[str, str], body: bytes,
                    *, now: float | None = None) -> None:
    """Checks a REST request's authentication the way Pusher documents it.

    The string to sign is the method, the path and the query parameters
    (keys lowercased, sorted, ``auth_signature`` left out, joined as
    ``key=value`` with ``&``, not URL-escaped), one per line. ``now`` is the
    server time in epoch seconds (the clock when None). A failure raises
    RestError 401, saying which part is wrong.
    """
    params = {key.lower(): value for key, value in query.items()}
    missing = [name for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature")
               if name not in params]
    if missing:
        raise RestError(401, f"Missing authentication parameter(s): {', '.join(missing)}")
    if params["auth_key"] != app.key:
        raise RestError(401, f"Unknown auth_key {params['auth_key']!r}")
    if params["auth_version"] != "1.0":
        raise RestError(401, f"Unsupported auth_version {params['auth_version']!r}; expected 1.0")
    try:
        timestamp = int(params["auth_timestamp"])
    except ValueError:
        raise RestError(401, f"Invalid auth_timestamp {params['auth_timestamp']!r}") from None
    server_time = int(time.time() if now is None else now)
    if abs(server_time - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        raise RestError(401, f"Timestamp expired: given timestamp ({timestamp}) not within "
                             f"{TIMESTAMP_TOLERANCE_SECONDS}s of server time ({server_time})")
    if body or "body_md5" in params:
        actual_md5 = hashlib.md5(body).hexdigest()
        if params.get("body_md5") != actual_md5:
            raise RestError(401, f"The body_md5 parameter ({params.get('body_md5')}) does not match "
                                 f"the md5 of the body ({actual_md5})")
    query_string = "&".join(f"{key}={value}" for key, value in sorted(params.items())
                            if key != "auth_signature")
    string_to_sign = f"{method}\n{path}\n{query_string}"
    given = params["auth_signature"]
    if not hmac.compare_digest(given.encode(), app.sign(string_to_sign).encode()):
        # Pusher shows the string it signed: it is what a library author needs to see.
        raise RestError(401, f"Invalid signature: you should have sent HmacSHA256Hex({string_to_sign!r}, "
                             f"your_secret_key), but you sent {given!r}")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RestError(400, "Invalid JSON in the request body") from None


def parse_event(payload: Any) -> Event:
    """Validates one event (of ``events`` or of a batch) against Pusher's limits.

    A malformed event raises RestError 400; data over 10,240 bytes, 413.
    """
    if not isinstance(payload, dict):
        raise RestError(400, "Expected an event as a JSON object")
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        raise RestError(400, "Missing or invalid 'name'")
    if len(name) > MAX_EVENT_NAME:
        raise RestError(400, f"Event name too long: {len(name)} characters, the limit is {MAX_EVENT_NAME}")
    data = payload.get("data")
    if not isinstance(data, str):
        # The libraries JSON-encode data into a string; an object here is a client bug.
        raise RestError(400, "Missing or invalid 'data': expected a string")
    channels = payload.get("channels")
    if channels is None and "channel" in payload:
        channels = [payload["channel"]]
    if not isinstance(channels, list) or not channels:
        raise RestError(400, "Missing or invalid 'channels': expected a list of channel names")
    if len(channels) > MAX_CHANNELS_PER_EVENT:
        raise RestError(400, f"Too many channels: {len(channels)}, the limit is {MAX_CHANNELS_PER_EVENT}")
    for channel in channels:
        if not valid_channel_name(channel):
            raise RestError(400, f"Invalid channel name {channel!r}")
    socket_id = payload.get("socket_id")
    if socket_id is not None and not (isinstance(socket_id, str) and SOCKET_ID.fullmatch(socket_id)):
        raise RestError(400, f"Invalid socket_id {socket_id!r}")
    size = len(data.encode("utf-8"))
    if size > MAX_DATA_BYTES:
        raise RestError(413, f"Payload too large: event data is {size} bytes, the limit is {MAX_DATA_BYTES}")
    return Event(name=name, data=data, channels=channels, socket_id=socket_id)


def parse_member(channel_data: Any) -> tuple[tuple[str, Any] | None, str | None]:
    """The (user_id, user_info) a presence subscription announces, or why it cannot be read."""
    try:
        parsed = json.loads(channel_data)
        user_id = parsed["user_id"]
    except (TypeError, ValueError, KeyError):
        return None, "Invalid channel_data: expected a JSON object with a user_id"
    if not isinstance(user_id, (str, int)) or isinstance(user_id, bool):
        return None, "Invalid channel_data: user_id must be a string"
    return (str(user_id), parsed.get("user_info")), None


@web.middleware
async def rest_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Turns a :class:`RestError` into Pusher's kind of answer: a status and a plain-text reason."""
    try:
        return await handler(request)
    except RestError as exc:
        return web.Response(status=exc.status, text=exc.message + "\n")


def _close_reason(text: str) -> bytes:
    """A WebSocket close reason: at most 123 bytes of valid UTF-8."""
    return text.encode()[:123].decode(errors="ignore").encode()


def _seconds(value: float) -> int | float:
    """120.0 -> 120: Pusher sends whole seconds; fractions only appear in tests."""
    return int(value) if float(value).is_integer() else value


async def serve(app: App, host: str, port: int) -> None:
    """Runs until SIGTERM or SIGINT, printing the ready line once it listens."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the ready line: whoever reads it may send SIGTERM at once.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(PusherServer(app).web_app(), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        print(f"pusher stand-in listening on ws://{host}:{bound_port}/app/{app.key}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.pusher_server",
                                     description="A Pusher Channels stand-in (protocol 7 and the REST API).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PARLEY_PUSHER_PORT", "6001")),
                        help="0 picks a free port (printed in the ready line)")
    parser.add_argument("--app-id", default=os.environ.get("PUSHER_APP_ID"))
    parser.add_argument("--key", default=os.environ.get("PUSHER_KEY"))
    parser.add_argument("--secret", default=os.environ.get("PUSHER_SECRET"))
    parser.add_argument("--activity-timeout", type=float, default=120.0,
                        help="seconds of client silence before the server pings it")
    parser.add_argument("--pong-timeout", type=float, default=30.0,
                        help="seconds to wait for the answer to that ping before closing with 4201")
    parser.add_argument("--verbose", action="store_true", help="log connections, subscriptions and triggers")
    args = parser.parse_args(argv)
    for flag, variable in (("app_id", "PUSHER_APP_ID"), ("key", "PUSHER_KEY"), ("secret", "PUSHER_SECRET")):
        if not getattr(args, flag):
            parser.error(f"--{flag.replace('_', '-')} (or {variable}) is required")
    if args.activity_timeout <= 0 or args.pong_timeout <= 0:
        parser.error("--activity-timeout and --pong-timeout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="pusher stand-in: %(message)s", stream=sys.stderr)
    app = App(app_id=args.app_id, key=args.key, secret=args.secret,
              activity_timeout=args.activity_timeout, pong_timeout=args.pong_timeout)
    try:
        asyncio.run(serve(app, args.host, args.port))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
