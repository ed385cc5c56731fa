"""The OpenAPI 3.1 document of Parley's HTTP API (served at ``GET /api/openapi.json``).

Built, not written: request bodies and queries are the pydantic models the
routes parse (``chalicelib.models``), answers are the response models below,
and ``model_json_schema``'s ``$defs`` land in ``components/schemas``. What is
written by hand is ``ROUTES``: one line per route with its auth, models and
the error statuses it can answer. Each error is ``{"error": {"code",
"message"}}``, and a status's ``code`` enum is every code ``ERRORS`` gives that
status, so a code and its status cannot drift apart here either.

The response models are not what the code builds its answers with (that is
``Message.to_json``, ``Conversation.summary``, …): they describe those answers,
and tests/functional/test_openapi.py checks real answers against them, with
every object closed, so a field added to an answer and not here fails it.

**Adding a route**: add an ``Op`` to ``ROUTES`` (the path exactly as in app.py,
its method, auth, request and response models, error statuses), and response
models here if it answers something new. tests/functional/test_openapi.py
fails for a route app.py has and ``ROUTES`` lacks, and the other way round.

Only the /api/openapi.json view imports this module, so it costs a cold start nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from .errors import ERRORS
from .realtime.pusher_channels import CHANNEL, MAX_CHANNEL_LENGTH, SOCKET_ID
from .models import (CONVERSATION_ID, MAX_TEXT, SITE_KEY, AssignRequest, ContactRequest, ConversationRef,
                     ConversationStatus, DeliveriesQuery, InboxQuery, InitRequest, MessagesQuery, ReadRequest, ReplyRequest, Sender, SendRequest,
                     TranscriptQuery)

OPENAPI_PATH = "/api/openapi.json"
REF = "#/components/schemas/{model}"
Provider = Literal["pusher", "websocket", "polling"]
Role = Literal["agent", "admin"]


# -- response models (documentation of what the code answers) -----------------

class _Answer(BaseModel):
    # Clients ignore fields they do not know (docs/agent-api.md), so the published
    # objects stay open; the functional test closes them to find undocumented fields.
    model_config = ConfigDict(defer_build=True)


class Assignee(_Answer):
    id: str
    name: str


class StatusEvent(_Answer):
    """A ``system`` message's change of status (or of assignee)."""

    type: Literal["status"]
    status: ConversationStatus
    previous: ConversationStatus | None
    assignee: Assignee | None


class Message(_Answer):
    """One stored message; ``seq`` is its gapless place in the conversation (1, 2, 3, …)."""

    id: str
    conversation_id: str
    seq: int = Field(ge=1)
    sender: Sender
    text: str
    created_at: str
    client_message_id: str | None = Field(default=None, description="visitor and agent messages: the client's idempotency key")
    sender_name: str | None = Field(default=None, description="an agent's display name")
    event: StatusEvent | None = Field(default=None, description="a system message's status change")
    reply_id: str | None = Field(default=None, pattern=r"^r_[0-9a-f]{20}$", description=(
        "bot replies: the id its ChatReplyDelta events carried while it was written (README, "
        "\"Bot replies\"); a client replaces the provisional text of that id with this message"))
    sources: list[str] | None = Field(default=None, max_length=5, description=(
        "bot replies: titles of the knowledge entries the answer used (shown as \"from: <title>\")"))
    suggestions: list[str] | None = Field(default=None, max_length=3, description=(
        "bot replies that did not know: questions of knowledge entries the visitor may have meant, "
        "best first; a client offers them as one-tap questions (sent as the visitor's next message)"))


class ReplyPending(_Answer):
    """A streaming engine's reply, on its way: deltas, then the stored message, carry ``reply_id``."""

    reply_id: str = Field(pattern=r"^r_[0-9a-f]{20}$")
    reply_to_seq: int = Field(ge=1, description="the seq of the visitor message it answers")


class PusherConfig(_Answer):
    key: str | None
    cluster: str | None
    host: str | None
    port: int | None
    use_tls: bool
    auth_endpoint: str
    channel_prefix: str
    event: str
    typing_event: str
    delta_event: str = Field(description="a bot reply's text as it is written (ChatReplyDelta)")


class WebSocketConfig(_Answer):
    url: str | None
    event: str
    typing_event: str
    delta_event: str = Field(description="a bot reply's text as it is written (ChatReplyDelta)")


class PollingConfig(_Answer):
    interval_ms: int


class RealtimeConfig(_Answer):
    """The providers in the order to try, and how to reach each (public values only)."""

    providers: list[Provider]
    pusher: PusherConfig | None
    websocket: WebSocketConfig | None
    polling: PollingConfig


class Availability(_Answer):
    """Whether a person can answer now, and if not, when the team will (README, "When nobody is at the desk")."""

    online: bool = Field(description="an agent's console is open on the site (a heartbeat in the last 90 s), within hours")
    open: bool = Field(description="within the site's business hours (always true for a site without hours)")
    reply_within_hours: int = Field(ge=1, le=168, description="what the widget promises when nobody is online")
    next_open_at: str | None = Field(description="when the business hours next begin (UTC); null when open or without hours")
    timezone: str = Field(description="the site's IANA time zone")


FieldMode = Literal["off", "optional", "required"]


class Prechat(_Answer):
    """What the widget asks before the first message."""

    name: FieldMode
    email: FieldMode


class Contact(_Answer):
    """What the visitor left for the team to answer by email."""

    email: str | None
    name: str | None
    transcript: bool = Field(description="email the transcript to this address when the conversation is resolved")


class ContactAnswer(_Answer):
    contact: Contact


class ConfigAnswer(_Answer):
    site_key: str
    realtime: RealtimeConfig
    widget: dict[str, Any] = Field(description="the site's widget settings (title, greeting, accent, …)")
    availability: Availability
    prechat: Prechat
    transcripts: bool = Field(description="whether the widget offers the transcript by email")


class InitAnswer(_Answer):
    conversation_id: str
    token: str = Field(description="the visitor token: send it as `Authorization: Bearer <token>`")
    messages: list[Message]
    last_seq: int = Field(ge=0)
    has_more: bool
    resumed: bool
    status: ConversationStatus
    assignee: Assignee | None
    realtime: RealtimeConfig
    contact: Contact | None = Field(description="what the visitor left for the team (a resumed conversation)")


class SendAnswer(_Answer):
    message: Message
    reply: Message | None = Field(description=(
        "the bot's reply when it answered inline; null when the bot is not the one answering, "
        "or when its reply comes later (reply_pending)"))
    reply_pending: ReplyPending | None = Field(description=(
        "a streaming engine answers off the request path: its ChatReplyDelta events and then the "
        "stored reply (same reply_id) arrive over realtime and polling; null otherwise"))
    last_seq: int = Field(ge=1)
    duplicate: bool


class MessagesPage(_Answer):
    """Messages oldest first, gapless; ``last_seq`` is the highest seq known to exist."""

    messages: list[Message]
    last_seq: int = Field(ge=0)
    has_more: bool


class HandoffAnswer(_Answer):
    status: ConversationStatus
    assignee: Assignee | None
    message: Message | None = Field(description="the system message, or null when nothing changed")
    last_seq: int = Field(ge=0)
    availability: Availability | None = Field(description=(
        "when nobody is online, the widget asks for an email address and says when the team will answer"))
    contact: Contact | None


class Empty(_Answer):
    """``{}``."""


class DeleteAnswer(_Answer):
    """The conversation and everything of it is gone (202, ``deleted: false``: not yet, send the same DELETE again)."""

    deleted: bool
    conversation_id: str


class TranscriptAnswer(_Answer):
    """The whole history, oldest first (``format=json``; ``format=text`` answers it as text/plain). An attachment."""

    conversation_id: str
    site: str = Field(description="the site's name")
    created_at: str | None
    exported_at: str
    messages: list[Message]
    truncated: bool = Field(description="true when the history is longer than one transcript holds")


class PusherAuthAnswer(_Answer):
    auth: str = Field(pattern=r"^[^:]+:[0-9a-f]{64}$", description="`key:signature`")


class PusherAuthForm(_Answer):
    """What pusher-js posts (form-encoded; JSON is accepted too)."""

    socket_id: str = Field(pattern=f"^{SOCKET_ID.pattern}$")
    channel_name: str = Field(pattern=f"^{CHANNEL.pattern}$", max_length=MAX_CHANNEL_LENGTH,
                              description="`private-chat.conversation.<id>`; for agents also `private-agent.site.<key>`")


class LastMessage(_Answer):
    seq: int = Field(ge=1)
    sender: Sender
    text: str = Field(description="the message's first 200 characters")
    created_at: str
    sender_name: str | None = None


class ConversationSummary(_Answer):
    conversation_id: str
    site_key: str
    status: ConversationStatus
    assignee: Assignee | None
    last_seq: int = Field(ge=0)
    agent_read_seq: int = Field(ge=0)
    unread: int = Field(ge=0)
    last_message: LastMessage | None
    status_since: str | None
    created_at: str | None
    updated_at: str | None
    visitor: dict[str, str] | None
    locale: str | None
    page: str | None
    user_agent: str | None
    contact: Contact | None


class PresenceAnswer(_Answer):
    """The agent counts as online on the site until then (POST: send it again every 30 s; DELETE: ``{}``)."""

    online_until: str | None = None
    ttl_seconds: int | None = None


class Webhook(_Answer):
    id: str
    url: str
    events: list[Literal["conversation.created", "conversation.handoff", "conversation.resolved",
                         "message.created"]]
    created_at: str
    secret_hint: str = Field(description="the secret's last characters (the secret itself is shown once, by the site CLI)")


class WebhooksAnswer(_Answer):
    webhooks: list[Webhook]


class WebhookDelivery(_Answer):
    """One attempt to deliver one event to one webhook."""

    id: str
    webhook_id: str
    url: str
    event: str
    event_id: str
    attempt: int = Field(ge=1)
    status: int | None = Field(description="the endpoint's HTTP status; null when it gave none (refused, timed out)")
    ok: bool
    error: str | None
    latency_ms: int = Field(ge=0)
    at: str
    next_retry_at: str | None = Field(description="when it is tried again; null after a success or the last attempt")


class DeliveriesAnswer(_Answer):
    deliveries: list[WebhookDelivery] = Field(description="newest first")


class AgentIdentity(_Answer):
    id: str
    email: str
    name: str


class AgentSite(_Answer):
    site_key: str
    name: str
    role: Role


class MeAnswer(_Answer):
    agent: AgentIdentity
    sites: list[AgentSite]


class InboxAnswer(_Answer):
    conversations: list[ConversationSummary]
    next_cursor: str | None = Field(description="null on the last page")


class MemberInfo(_Answer):
    id: str
    name: str
    email: str
    role: Role


class MembersAnswer(_Answer):
    members: list[MemberInfo]


class ConversationView(_Answer):
    conversation: ConversationSummary
    messages: list[Message]
    last_seq: int = Field(ge=0)
    has_more: bool


class ReplyAnswer(_Answer):
    message: Message
    last_seq: int = Field(ge=1)
    duplicate: bool


class ActionAnswer(_Answer):
    conversation: ConversationSummary
    message: Message | None = Field(description="the system message stored, or null when nothing changed")


class ReadAnswer(_Answer):
    conversation: ConversationSummary


class ActionBody(_Answer):
    """An action that takes no fields: send `{}` (or nothing)."""


class ErrorDetail(_Answer):
    code: str
    message: str


class ErrorAnswer(_Answer):
    error: ErrorDetail


# What the request models' validators enforce beyond their types, for the document.
_VALIDATED: dict[str, dict[str, dict[str, Any]]] = {
    "SendRequest": {"text": {"minLength": 1, "maxLength": MAX_TEXT,
                             "description": "not only whitespace or invisible characters; "
                                            "no control characters but newline and tab"}},
    "ReplyRequest": {"text": {"minLength": 1, "maxLength": MAX_TEXT}},
}


# -- the route table ------------------------------------------------------------

Auth = Literal["public", "site", "visitor", "agent"]


@dataclass(frozen=True)
class Op:
    """One route of app.py: what it takes, what it answers, which errors it documents."""

    method: str
    path: str
    operation_id: str
    summary: str
    auth: Auth
    answer: type[BaseModel] | None       # None: any JSON object (the document itself)
    status: int = 200
    body: type[BaseModel] | None = None  # a JSON body
    body_required: bool = True
    form: bool = False                   # the body is form-encoded (as pusher-js sends it), JSON also taken
    query: type[BaseModel] | None = None
    query_omit: tuple[str, ...] = ()     # query model fields that are path parameters here
    params: tuple[dict[str, Any], ...] = ()
    errors: tuple[int, ...] = ()
    links: dict[str, Any] = field(default_factory=dict)
    also: tuple[int, ...] = ()           # more success statuses with the same answer
    text: bool = False                   # the success answer may come as text/plain instead (a download)
    tag: str = "visitor"


_site_key_q = {"name": "site_key", "in": "query", "required": True,
               "schema": {"type": "string", "pattern": SITE_KEY}, "description": "the site's public key"}
_site_key_p = {"name": "site_key", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": SITE_KEY}}
_conversation_p = {"name": "conversation_id", "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": CONVERSATION_ID}}

_BEARER = "Bearer {$response.body#/token}"
_FROM_INIT = {
    "SendMessage": {"operationId": "send", "parameters": {"header.Authorization": _BEARER},
                    "requestBody": {"conversation_id": "$response.body#/conversation_id"}},
    "PollMessages": {"operationId": "messages", "parameters": {
        "query.conversation_id": "$response.body#/conversation_id", "header.Authorization": _BEARER}},
    "AskForAPerson": {"operationId": "handoff", "parameters": {"header.Authorization": _BEARER},
                      "requestBody": {"conversation_id": "$response.body#/conversation_id"}},
    "Contact": {"operationId": "contact", "parameters": {"header.Authorization": _BEARER},
                "requestBody": {"conversation_id": "$response.body#/conversation_id"}},
    "Typing": {"operationId": "typing", "parameters": {"header.Authorization": _BEARER},
               "requestBody": {"conversation_id": "$response.body#/conversation_id"}},
    "PusherAuth": {"operationId": "pusher_auth", "parameters": {"header.Authorization": _BEARER}},
    "Transcript": {"operationId": "transcript", "parameters": {
        "query.conversation_id": "$response.body#/conversation_id", "header.Authorization": _BEARER}},
    "Delete": {"operationId": "delete_conversation", "parameters": {
        "query.conversation_id": "$response.body#/conversation_id", "header.Authorization": _BEARER}},
    "Resume": {"operationId": "init", "requestBody": {
        "site_key": "$request.body#/site_key", "conversation_id": "$response.body#/conversation_id",
        "token": "$response.body#/token"}},
}
_FROM_INBOX = {"OpenFirst": {"operationId": "agent_conversation", "parameters": {
    "path.site_key": "$request.path.site_key",
    "path.conversation_id": "$response.body#/conversations/0/conversation_id"}}}

_VISITOR_ERRORS = (400, 401, 403, 404, 429, 503)
_AGENT_ERRORS = (400, 401, 403, 404, 503)
_C = "/api/agent/sites/{site_key}/conversations/{conversation_id}"
_AGENT_CONV = (_site_key_p, _conversation_p)

ROUTES: tuple[Op, ...] = (
    Op("GET", "/api/chatbot/config", "config", "The widget's realtime config for a site", "site", ConfigAnswer,
       params=(_site_key_q,), errors=(400, 403, 404, 429, 503)),
    Op("POST", "/api/chatbot/init", "init", "Start a conversation (201), or resume one with its token (200)",
       "site", InitAnswer, status=201, also=(200,), body=InitRequest, errors=(400, 401, 403, 404, 415, 429, 503),
       links=_FROM_INIT),
    Op("POST", "/api/chatbot/send", "send", "Store a visitor message and get (or start) the bot's reply", "visitor",
       SendAnswer, status=201, body=SendRequest, errors=(*_VISITOR_ERRORS, 409, 415)),
    Op("GET", "/api/chatbot/messages", "messages", "Messages after (or before) a seq: the polling path",
       "visitor", MessagesPage, query=MessagesQuery, errors=_VISITOR_ERRORS),
    Op("POST", "/api/chatbot/pusher/auth", "pusher_auth", "Sign the token's own Pusher conversation channel",
       "visitor", PusherAuthAnswer, body=PusherAuthForm, form=True, errors=(*_VISITOR_ERRORS, 415)),
    Op("POST", "/api/chatbot/handoff", "handoff", "Ask for a person", "visitor", HandoffAnswer,
       body=ConversationRef, errors=(*_VISITOR_ERRORS, 409, 415)),
    Op("POST", "/api/chatbot/contact", "contact",
       "Leave (or change) an email address and name for the team; ask for the transcript", "visitor",
       ContactAnswer, body=ContactRequest, errors=(*_VISITOR_ERRORS, 415)),
    Op("POST", "/api/chatbot/typing", "typing", "The visitor is typing (relayed to the agent console)", "visitor",
       Empty, status=202, body=ConversationRef, errors=(*_VISITOR_ERRORS, 415)),
    Op("DELETE", "/api/chatbot/conversation", "delete_conversation",
       "Delete the conversation and all its messages; revokes its tokens", "visitor", DeleteAnswer,
       also=(202,), query=ConversationRef, errors=_VISITOR_ERRORS),
    Op("GET", "/api/chatbot/transcript", "transcript",
       "Download the conversation's transcript (format=text: text/plain; format=json)", "visitor",
       TranscriptAnswer, query=TranscriptQuery, errors=_VISITOR_ERRORS, text=True),
    Op("GET", "/api/agent/me", "agent_me", "The signed-in agent and their sites", "agent", MeAnswer,
       errors=_AGENT_ERRORS, tag="agent"),
    Op("GET", "/api/agent/sites/{site_key}/inbox", "agent_inbox", "A site's conversations by status", "agent",
       InboxAnswer, query=InboxQuery, params=(_site_key_p,), errors=_AGENT_ERRORS, links=_FROM_INBOX, tag="agent"),
    Op("GET", "/api/agent/sites/{site_key}/members", "agent_members", "The site's agents (for assign)", "agent",
       MembersAnswer, params=(_site_key_p,), errors=_AGENT_ERRORS, tag="agent"),
    Op("POST", "/api/agent/sites/{site_key}/presence", "agent_presence",
       "The console's heartbeat: this agent is online on the site for 90 s", "agent", PresenceAnswer,
       params=(_site_key_p,), errors=(*_AGENT_ERRORS, 415, 429), tag="agent"),
    Op("DELETE", "/api/agent/sites/{site_key}/presence", "agent_presence_leave",
       "The agent leaves: no longer online on the site", "agent", PresenceAnswer,
       params=(_site_key_p,), errors=(*_AGENT_ERRORS, 429), tag="agent"),
    Op("GET", "/api/agent/sites/{site_key}/webhooks", "agent_webhooks",
       "The site's webhooks (registered with the site CLI; admins only)", "agent", WebhooksAnswer,
       params=(_site_key_p,), errors=_AGENT_ERRORS, tag="agent"),
    Op("GET", "/api/agent/sites/{site_key}/webhooks/deliveries", "agent_webhook_deliveries",
       "The site's last webhook delivery attempts (admins only)", "agent", DeliveriesAnswer, query=DeliveriesQuery,
       params=(_site_key_p,), errors=_AGENT_ERRORS, tag="agent"),
    Op("GET", _C, "agent_conversation", "A conversation with its newest 50 messages", "agent", ConversationView,
       params=_AGENT_CONV, errors=_AGENT_ERRORS, tag="agent"),
    Op("GET", _C + "/messages", "agent_messages", "A page of messages by seq", "agent", MessagesPage,
       query=MessagesQuery, query_omit=("conversation_id",), params=_AGENT_CONV, errors=_AGENT_ERRORS, tag="agent"),
    Op("POST", _C + "/messages", "agent_reply", "Reply as the agent (claims a waiting conversation first)", "agent",
       ReplyAnswer, status=201, body=ReplyRequest, params=_AGENT_CONV, errors=(*_AGENT_ERRORS, 409, 415), tag="agent"),
    *(Op("POST", f"{_C}/{action}", f"agent_{action}", summary, "agent", ActionAnswer, body=ActionBody,
         body_required=False, params=_AGENT_CONV, errors=(*_AGENT_ERRORS, 409, 415), tag="agent")
      for action, summary in (("claim", "Claim: open, assigned to me"), ("unassign", "Back to pending, nobody's"),
                              ("resolve", "Resolve"), ("reopen", "Reopen a resolved conversation, assigned to me"),
                              ("handback", "Hand back to the bot"))),
    Op("POST", _C + "/assign", "agent_assign", "Assign to a member of the site", "agent", ActionAnswer,
       body=AssignRequest, params=_AGENT_CONV, errors=(*_AGENT_ERRORS, 409, 415), tag="agent"),
    Op("POST", _C + "/read", "agent_read", "Move the agent side's read mark up to seq", "agent", ReadAnswer,
       body=ReadRequest, params=_AGENT_CONV, errors=(*_AGENT_ERRORS, 415), tag="agent"),
    Op("POST", _C + "/typing", "agent_typing", "The agent is typing", "agent", Empty, status=202, body=ActionBody,
       body_required=False, params=_AGENT_CONV, errors=(*_AGENT_ERRORS, 415), tag="agent"),
    Op("POST", "/api/agent/pusher/auth", "agent_pusher_auth", "Sign a site's feed or one of its conversations",
       "agent", PusherAuthAnswer, body=PusherAuthForm, form=True, errors=(*_AGENT_ERRORS, 415), tag="agent"),
    Op("GET", OPENAPI_PATH, "openapi", "This document", "public", None, errors=(), tag="meta"),
)


# -- the document -----------------------------------------------------------------

def _error_response(status: int) -> dict[str, Any]:
    codes = sorted(code for code, s in ERRORS.items() if s == status)
    response: dict[str, Any] = {
        "description": ", ".join(f"`{c}`" for c in codes),
        "content": {"application/json": {"schema": {"allOf": [
            {"$ref": REF.format(model="ErrorAnswer")},
            {"properties": {"error": {"properties": {"code": {"enum": codes}}}}}]}}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _query_params(op: Op, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    schema = schemas[op.query.__name__]
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)}
            for name, prop in schema["properties"].items() if name not in op.query_omit]


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query field is simply left out: its model's ``X | None = None`` is no ``null`` to send."""
    branches = [b for b in prop.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) != 1 or prop.get("default", ...) is not None:
        return prop
    return {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **branches[0]}


def _operation(op: Op, schemas: dict[str, Any]) -> dict[str, Any]:
    answer = {"$ref": REF.format(model=op.answer.__name__)} if op.answer else {"type": "object"}
    ok: dict[str, Any] = {"description": (op.answer.__doc__ or op.answer.__name__).strip().splitlines()[0]
                          if op.answer else "the OpenAPI document",
                          "content": {"application/json": {"schema": answer}}}
    if op.text:
        ok["content"]["text/plain"] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {str(s): ok for s in (op.status, *op.also)}
    if op.links:
        for s in (op.status, *op.also):
            responses[str(s)] = {**ok, "links": op.links}
    responses.update({str(s): {"$ref": f"#/components/responses/Error{s}"} for s in op.errors})
    operation: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "security": {"visitor": [{"visitorToken": []}], "agent": [{"agentToken": []}]}.get(op.auth, []),
        "responses": responses,
    }
    if op.auth == "site":
        operation["description"] = ("Called from a page of the site: the browser's `Origin` must be one the site "
                                    "lists (a request without `Origin`, from a server, is not refused for it).")
    params = [*op.params, *_query_params(op, schemas)]
    if params:
        operation["parameters"] = params
    if op.body is not None:
        body = {"schema": {"$ref": REF.format(model=op.body.__name__)}}
        content = ({"application/x-www-form-urlencoded": body, "application/json": body} if op.form
                   else {"application/json": body})
        operation["requestBody"] = {"required": op.body_required, "content": content}
    return operation


def _schemas() -> dict[str, Any]:
    models = {op.body for op in ROUTES if op.body} | {op.query for op in ROUTES if op.query}
    answers = {op.answer for op in ROUTES if op.answer} | {ErrorAnswer}
    pairs = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    pairs += [(m, "serialization") for m in sorted(answers, key=lambda m: m.__name__)]
    _, top = models_json_schema(pairs, ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    for model, fields in _VALIDATED.items():
        for name, extra in fields.items():
            schemas[model]["properties"][name].update(extra)
    return schemas


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: a copy of the one built once per process, so a caller that
    changes it (Schemathesis resolves links in place) changes nobody else's."""
    return json.loads(document_json())


def _build() -> dict[str, Any]:
    schemas = _schemas()
    paths: dict[str, Any] = {}
    for op in ROUTES:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    statuses = sorted({s for op in ROUTES for s in op.errors})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley HTTP API",
            "version": "1",
            "description": (
                "The visitor API (the widget) and the agent API (the console) of Parley. Every body is JSON; "
                "every error is `{\"error\": {\"code\", \"message\"}}`, each code with one status. A 5xx is a "
                "bug, except 503 `unavailable`/`busy`: retry. A 429 `rate_limited` carries `Retry-After`. "
                "README.md (HTTP API) and docs/agent-api.md are the prose."),
        },
        "servers": [{"url": "/", "description": "the API's base URL (chalice local's root, or the stage's URL)"}],
        "tags": [{"name": "visitor", "description": "the widget's routes"},
                 {"name": "agent", "description": "the agent console's routes (docs/agent-api.md)"},
                 {"name": "meta"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {f"Error{s}": _error_response(s) for s in statuses},
            "headers": {"RetryAfter": {"description": "seconds until the limit's window ends", "required": True,
                                       "schema": {"type": "integer", "minimum": 0}}},
            "securitySchemes": {
                "visitorToken": {"type": "http", "scheme": "bearer",
                                 "description": "the visitor token from init (`v1.<payload>.<signature>`)"},
                "agentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "the agent's Amazon Cognito ID token"},
            },
        },
    }


@lru_cache(maxsize=1)
def document_json() -> str:
    return json.dumps(_build(), separators=(",", ":"), ensure_ascii=False)


def response() -> "Response":
    """The document as ``GET /api/openapi.json`` answers it: public, any origin may read it, cacheable."""
    from chalice.app import Response

    return Response(body=document_json(), status_code=200, headers={
        "Content-Type": "application/json; charset=utf-8", "Cache-Control": "public, max-age=300",
        "Access-Control-Allow-Origin": "*"})
