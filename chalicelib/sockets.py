"""WebSocket handlers: $connect, $default and $disconnect of the API Gateway WebSocket API.

``$connect?token=T`` registers the connection for the token's conversation
(the access policy decides; a 401/403/404 answer refuses the upgrade).
Clients send ``{"action": "ping"}`` (answered with a ``pong`` event carrying
the connection id) or ``{"action": "typing"}`` (relayed to the conversation's
other connections as ``ClientTyping``); messages reach them as
``{"event": "ChatMessageReceived", "data": {message}}``.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from .access import AccessPolicy
from .cache import Cache
from .data.connections import ConnectionStore
from .errors import ParleyError
from .realtime import TYPING_EVENT
from .realtime.apigw_websocket import WebSocketBroadcaster
from .settings import Settings

log = logging.getLogger("parley.sockets")

MAX_FRAME_BYTES = 4096  # clients send tiny control frames; anything bigger is not ours
# A typing relay costs a read, a Query and a post per other tab: one per
# connection every TYPING_INTERVAL_SECONDS is plenty for dots that last
# seconds. Kept per Lambda container (a client hopping containers gets a
# little more; nobody gets a fan-out per keystroke).
TYPING_INTERVAL_SECONDS = 2.0


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.get("headers") or {}).items()}


def _refuse(error: ParleyError) -> dict[str, Any]:
    return {"statusCode": error.status, "body": json.dumps(error.body())}


class SocketHandlers:
    def __init__(self, settings: Settings, access: AccessPolicy, connections: ConnectionStore,
                 websocket: Callable[[], WebSocketBroadcaster],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.access = access
        self.connections = connections
        self._websocket = websocket  # built on first use: $connect needs none
        # A connection id is in here for TYPING_INTERVAL_SECONDS after it relayed.
        self._typed: Cache[str, bool] = Cache(10_000, ttl=TYPING_INTERVAL_SECONDS, clock=clock)

    def connect(self, event: dict[str, Any]) -> dict[str, Any]:
        """Registers the connection for its token's conversation, or refuses the upgrade."""
        try:
            if "websocket" not in self.settings.realtime_providers:
                raise ParleyError("websocket_disabled", "The WebSocket provider is not enabled here.")
            token = (event.get("queryStringParameters") or {}).get("token")
            decision = self.access.for_token(token, _headers(event).get("origin"))
            self.connections.add(decision.claims.conversation_id,  # type: ignore[union-attr]
                                 event["requestContext"]["connectionId"],
                                 self.settings.connection_ttl_seconds)
        except ParleyError as error:
            log.info("refused websocket connect: %s", error.code)
            return _refuse(error)
        return {"statusCode": 200}

    def message(self, event: dict[str, Any]) -> dict[str, Any]:
        """Handles one client frame: ping, typing; anything else gets an error event back."""
        connection_id = event["requestContext"]["connectionId"]
        body = event.get("body") or ""
        try:
            if len(body.encode("utf-8", "replace")) > MAX_FRAME_BYTES:
                raise ParleyError("frame_too_large", "Frames are small control messages.")
            try:
                frame = json.loads(body)
            except ValueError:
                raise ParleyError("invalid_json", "A frame must be JSON like {\"action\": \"ping\"}.") from None
            except RecursionError:
                raise ParleyError("invalid_json", "The frame is nested too deeply.") from None
            action = frame.get("action") if isinstance(frame, dict) else None
            if action == "ping":
                self._reply(connection_id, "pong", {"connection_id": connection_id})
            elif action == "typing":
                self._typing(connection_id)
            else:
                raise ParleyError("unknown_action", "Unknown action; use ping or typing.")
        except ParleyError as error:
            self._reply(connection_id, "error", error.body()["error"])
        return {"statusCode": 200}

    def _typing(self, connection_id: str) -> None:
        if not self._typed.put_if_absent(connection_id, True):
            return  # relayed less than TYPING_INTERVAL_SECONDS ago
        conversation_id = self.connections.conversation_of(connection_id)
        if conversation_id is None:
            raise ParleyError("unknown_connection", "This connection is not registered.")
        self._websocket().send_event(conversation_id, TYPING_EVENT,
                                     {"conversation_id": conversation_id, "sender": "visitor"},
                                     exclude=connection_id)

    def _reply(self, connection_id: str, event: str, data: Any) -> None:
        payload = json.dumps({"event": event, "data": data}, separators=(",", ":")).encode()
        try:
            self._websocket().client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except Exception:  # the client went away meanwhile; nothing to tell it
            log.info("could not answer connection %s", connection_id, exc_info=True)

    def disconnect(self, event: dict[str, Any]) -> dict[str, Any]:
        """Forgets the connection (best effort: API Gateway may never call this; TTL covers it)."""
        connection_id = event["requestContext"]["connectionId"]
        conversation_id = self.connections.conversation_of(connection_id)
        if conversation_id is not None:
            self.connections.remove(conversation_id, connection_id)
        return {"statusCode": 200}
