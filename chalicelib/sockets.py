"""WebSocket handlers: $connect, $default and $disconnect of the API Gateway WebSocket API.

``$connect?token=T`` registers the connection for the token's conversation
(the access policy decides; a 401/403/404 answer refuses the upgrade).
Clients send ``{"action": "ping"}`` (answered with a ``pong`` event carrying
the connection id) or ``{"action": "typing"}`` (relayed to the conversation's
other connections as ``ClientTyping``); messages reach them as
``{"event": "ChatMessageReceived", "data": {message}}``.

An agent console connects with ``$connect?agent_token=<Cognito ID token>&site_key=K``
(a member of K only) and gets K's inbox feed; ``{"action": "watch",
"conversation_id": C}`` adds one conversation of K (its typing included), and
its ``typing`` frames reach that conversation as the agent's.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

from .access import AccessPolicy
from .data.connections import ConnectionStore
from .data.messages import MessageStore
from .errors import ParleyError
from .limits import RateLimiter
from .models import CONVERSATION_ID
from .realtime.apigw_websocket import WebSocketBroadcaster
from .settings import Settings
from .typing_relay import TypingRelay

log = logging.getLogger("parley.sockets")

MAX_FRAME_BYTES = 4096  # clients send tiny control frames; anything bigger is not ours
MAX_FRAME_DEPTH = 4      # {"action": …, "conversation_id": …} is depth 1


def _nesting(body: str) -> int:
    """How deeply a JSON text nests arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in body:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.get("headers") or {}).items()}


def _refuse(error: ParleyError) -> dict[str, Any]:
    return {"statusCode": error.status, "body": json.dumps(error.body())}


class SocketHandlers:
    def __init__(self, settings: Settings, access: AccessPolicy, connections: ConnectionStore,
                 messages: MessageStore, websocket: Callable[[], WebSocketBroadcaster],
                 typing: TypingRelay, limits: RateLimiter) -> None:
        self.settings = settings
        self.access = access
        self.connections = connections
        self.messages = messages
        self._websocket = websocket  # built on first use: $connect needs none
        self.typing = typing
        self.limits = limits

    def connect(self, event: dict[str, Any]) -> dict[str, Any]:
        """Registers the connection for its token's conversation (or agent's site), or refuses the upgrade."""
        try:
            if "websocket" not in self.settings.realtime_providers:
                raise ParleyError("websocket_disabled", "The WebSocket provider is not enabled here.")
            query = event.get("queryStringParameters") or {}
            connection_id = event["requestContext"]["connectionId"]
            origin = _headers(event).get("origin")
            if "agent_token" in query:
                decision = self.access.for_agent(query.get("agent_token"), query.get("site_key"), origin)
                agent = decision.agent
                self.connections.add_agent(agent.site_key, connection_id, agent.id,  # type: ignore[union-attr]
                                           agent.name, self.settings.connection_ttl_seconds)  # type: ignore[union-attr]
                return {"statusCode": 200}
            decision = self.access.for_token(query.get("token"), origin)
            claims = decision.claims
            assert claims is not None
            # The site's own limits, from the site cache (a warm container reads nothing).
            self.limits.hit("connections", claims.conversation_id, self.access.sites.get(claims.site_key))
            # The token's version is checked in the transaction that registers the
            # connection: a revoked token opens no socket, for no call of its own.
            self.connections.add(claims.conversation_id, connection_id, self.settings.connection_ttl_seconds,
                                 token_version=claims.version)
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
            # Checked before parsing: a deeply nested frame must not reach the parser's recursion.
            if _nesting(body) > MAX_FRAME_DEPTH:
                raise ParleyError("invalid_json", "The frame is nested too deeply.")
            try:
                frame = json.loads(body)
            except (ValueError, RecursionError):
                raise ParleyError("invalid_json", "A frame must be JSON like {\"action\": \"ping\"}.") from None
            action = frame.get("action") if isinstance(frame, dict) else None
            if action == "ping":
                self._reply(connection_id, "pong", {"connection_id": connection_id})
            elif action == "typing":
                self._typing(connection_id)
            elif action == "watch":
                self._watch(connection_id, frame.get("conversation_id"))
            else:
                raise ParleyError("unknown_action", "Unknown action; use ping, typing or watch.")
        except ParleyError as error:
            self._reply(connection_id, "error", error.body()["error"])
        return {"statusCode": 200}

    def _typing(self, connection_id: str) -> None:
        agent = self.connections.agent_of(connection_id)
        if agent is not None:
            if agent.watching is None:
                raise ParleyError("invalid_request", "Watch a conversation before typing in it.")
            self.typing.relay(agent.watching, "agent", agent.agent_name, exclude=connection_id)
            return
        conversation_id = self.connections.conversation_of(connection_id)
        if conversation_id is None:
            raise ParleyError("unknown_connection", "This connection is not registered.")
        self.typing.relay(conversation_id, "visitor", None, exclude=connection_id)

    def _watch(self, connection_id: str, conversation_id: Any) -> None:
        """An agent connection follows one conversation of its site (None: none)."""
        agent = self.connections.agent_of(connection_id)
        if agent is None:
            raise ParleyError("unknown_action", "Only an agent console's connection can watch.")
        if conversation_id is not None:
            if not isinstance(conversation_id, str) or not re.fullmatch(CONVERSATION_ID, conversation_id):
                raise ParleyError("invalid_request", "conversation_id: must be a conversation id or null.")
            # Still a member? (The token was checked at $connect; membership may have ended since.)
            self.access.member_or_refuse(agent.agent_id, agent.site_key)
            conversation = self.messages.get_conversation(conversation_id)
            if conversation is None or conversation.site_key != agent.site_key:
                raise ParleyError("conversation_not_found", "No such conversation on this site.")
        self.connections.watch(agent, conversation_id)
        self._reply(connection_id, "watching", {"conversation_id": conversation_id})

    def _reply(self, connection_id: str, event: str, data: Any) -> None:
        payload = json.dumps({"event": event, "data": data}, separators=(",", ":")).encode()
        try:
            self._websocket().client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except Exception:  # the client went away meanwhile; nothing to tell it
            log.info("could not answer connection %s", connection_id, exc_info=True)

    def disconnect(self, event: dict[str, Any]) -> dict[str, Any]:
        """Forgets the connection (best effort: API Gateway may never call this; TTL covers it)."""
        self.connections.forget(event["requestContext"]["connectionId"])
        return {"statusCode": 200}
