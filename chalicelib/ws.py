"""WebSocket handlers: $connect, $default and $disconnect of the API Gateway WebSocket API.

``$connect?token=T`` registers the connection for the token's conversation
(a 401/403 answer refuses the upgrade). Clients send ``{"action": "ping"}``
(answered with a ``pong`` event carrying the connection id) or
``{"action": "typing"}`` (relayed to the conversation's other connections as
``ClientTyping``); messages reach them as ``{"event": "ChatMessageReceived",
"data": {message}}``.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from .api import service
from .chat import ChatService
from .errors import Forbidden, NotFound, ParleyError
from .lazy import Lazy
from .realtime import TYPING_EVENT
from .realtime.apigw_websocket import WebSocketBroadcaster

log = logging.getLogger("parley.ws")

MAX_FRAME_BYTES = 4096  # clients send tiny control frames; anything bigger is not ours
# A typing relay costs a read, a Query and a post per other tab: one per
# connection every TYPING_INTERVAL_SECONDS is plenty for dots that last
# seconds. Kept per Lambda container (a client hopping containers gets a
# little more; nobody gets a fan-out per keystroke).
TYPING_INTERVAL_SECONDS = 2.0
_last_typing: dict[str, float] = {}


def _build_broadcaster() -> WebSocketBroadcaster:
    svc = service()
    existing = svc.realtime.get("websocket")
    return existing if isinstance(existing, WebSocketBroadcaster) else WebSocketBroadcaster(svc.settings, svc.store)


_broadcaster: Lazy[WebSocketBroadcaster] = Lazy(_build_broadcaster)


def broadcaster() -> WebSocketBroadcaster:
    return _broadcaster.get()


def set_broadcaster(b: WebSocketBroadcaster | None) -> None:
    _broadcaster.set(b)


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.get("headers") or {}).items()}


def _refuse(error: ParleyError) -> dict[str, Any]:
    return {"statusCode": error.status, "body": json.dumps(error.body())}


def connect(event: dict[str, Any]) -> dict[str, Any]:
    """Registers the connection for its token's conversation, or refuses the upgrade."""
    svc: ChatService = service()
    context = event["requestContext"]
    try:
        if "websocket" not in svc.settings.realtime_providers:
            raise NotFound("The WebSocket provider is not enabled here.", code="websocket_disabled")
        token = (event.get("queryStringParameters") or {}).get("token")
        claims = svc.claims(token)
        origin = _headers(event).get("origin")
        if not svc.origin_is_tokens(claims, origin):
            site = svc.sites.get(claims.site_key)
            if site is None:
                raise Forbidden("The site of this token no longer exists.", code="unknown_site")
            svc.require_origin(site, origin)
        svc.store.add_connection(claims.conversation_id, context["connectionId"],
                                 svc.settings.connection_ttl_seconds)
    except ParleyError as error:
        log.info("refused websocket connect: %s", error.code)
        return _refuse(error)
    return {"statusCode": 200}


def message(event: dict[str, Any]) -> dict[str, Any]:
    """Handles one client frame: ping, typing; anything else gets an error event back."""
    connection_id = event["requestContext"]["connectionId"]
    ws = broadcaster()
    body = event.get("body") or ""
    try:
        if len(body.encode("utf-8", "replace")) > MAX_FRAME_BYTES:
            raise ParleyError("Frames are small control messages.", code="frame_too_large")
        try:
            frame = json.loads(body)
        except ValueError:
            raise ParleyError("A frame must be JSON like {\"action\": \"ping\"}.",
                              code="invalid_json") from None
        action = frame.get("action") if isinstance(frame, dict) else None
        if action == "ping":
            _reply(ws, connection_id, "pong", {"connection_id": connection_id})
        elif action == "typing":
            if not _typing_allowed(connection_id):
                return {"statusCode": 200}
            conversation_id = ws.store.connection_conversation(connection_id)
            if conversation_id is None:
                raise NotFound("This connection is not registered.", code="unknown_connection")
            ws.send_event(conversation_id, TYPING_EVENT,
                          {"conversation_id": conversation_id, "sender": "visitor"},
                          exclude=connection_id)
        else:
            raise ParleyError("Unknown action; use ping or typing.", code="unknown_action")
    except ParleyError as error:
        _reply(ws, connection_id, "error", error.body()["error"])
    return {"statusCode": 200}


def _typing_allowed(connection_id: str, now: float | None = None) -> bool:
    now = time.monotonic() if now is None else now
    if now - _last_typing.get(connection_id, float("-inf")) < TYPING_INTERVAL_SECONDS:
        return False
    if len(_last_typing) > 10_000:
        _last_typing.clear()
    _last_typing[connection_id] = now
    return True


def _reply(ws: WebSocketBroadcaster, connection_id: str, event: str, data: Any) -> None:
    payload = json.dumps({"event": event, "data": data}, separators=(",", ":")).encode()
    try:
        ws.client.post_to_connection(ConnectionId=connection_id, Data=payload)
    except Exception:  # the client went away meanwhile; nothing to tell it
        log.info("could not answer connection %s", connection_id, exc_info=True)


def disconnect(event: dict[str, Any]) -> dict[str, Any]:
    """Forgets the connection (best effort: API Gateway may never call this; TTL covers it)."""
    connection_id = event["requestContext"]["connectionId"]
    store = service().store
    conversation_id = store.connection_conversation(connection_id)
    if conversation_id is not None:
        store.remove_connection(conversation_id, connection_id)
    return {"statusCode": 200}
