"""HTTP route handlers: a Chalice request in, a Response out.

Each handler asks, in order: the access policy who is asking (token, or site
and origin), then checks what they ask (the body or query), then hands off
to the chat service. The order matters for CORS: once the origin is allowed,
even a 400 about the body reaches the widget readable (``Decision.answering``).
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Request, Response

from . import tokens, web
from . import transcript as transcripts
from .access import AccessPolicy, Decision
from .chat import ChatService
from .errors import ParleyError
from .data.table import now_iso
from .models import ContactRequest, ConversationRef, InitRequest, MessagesQuery, SendRequest, TranscriptQuery, parse
from .realtime import Realtime


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


def client_ip(request: Request) -> str:
    """The caller's address as API Gateway saw it (``sourceIp``), never a header a client can set."""
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def query_ints(query: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Query values are strings; only plain integers become numbers, so "abc",
    "1.5" or "" fail validation with the field's name."""
    for name in names:
        if name in query and re.fullmatch(r"-?[0-9]{1,12}", query[name]):
            query[name] = int(query[name])
    return query


# config holds public values only and changes when a site's settings do: browsers and a CDN may
# keep it a minute (with Vary: Origin, set on every answer, a cache keeps one copy per origin).
CONFIG_CACHE = {"Cache-Control": "public, max-age=60"}


class HttpRoutes:
    def __init__(self, access: AccessPolicy, chat: ChatService, realtime: Realtime) -> None:
        self.access = access
        self.chat = chat
        self.realtime = realtime

    def _visitor(self, request: Request) -> Decision:
        return self.access.for_token(tokens.bearer(request.headers.get("authorization")),
                                     web.origin_of(request))

    def config(self, request: Request) -> Response:
        origin = web.origin_of(request)
        if self.access.console_cors(origin):
            # The agent console reads a site's realtime config too (public values only).
            decision = self.access.for_site(_query(request).get("site_key"), None)
            return web.json_response(200, self.chat.config(decision.site), CONFIG_CACHE, cors_origin=origin)
        decision = self.access.for_site(_query(request).get("site_key"), origin)
        return web.json_response(200, self.chat.config(decision.site), CONFIG_CACHE, cors_origin=decision.cors_origin)

    def init(self, request: Request) -> Response:
        body = web.json_body(request)
        if not isinstance(body, dict):
            raise ParleyError("invalid_request", "The request body must be a JSON object.")
        origin = web.origin_of(request)
        decision = self.access.for_site(body.get("site_key"), origin)
        with decision.answering():
            created, result = self.chat.init(parse(InitRequest, body), decision.site, origin,
                                             user_agent=request.headers.get("user-agent"),
                                             client_ip=client_ip(request))
            return web.json_response(201 if created else 200, result, cors_origin=decision.cors_origin)

    def send(self, request: Request) -> Response:
        decision = self._visitor(request)
        with decision.answering():
            req = parse(SendRequest, web.json_body(request))
            answer = self.chat.send(req, decision.claims, client_ip=client_ip(request))  # type: ignore[arg-type]
            return web.json_response(201, answer, cors_origin=decision.cors_origin)

    def messages(self, request: Request) -> Response:
        decision = self._visitor(request)
        with decision.answering():
            query = query_ints(_query(request), ("after", "before", "limit"))
            answer = self.chat.messages(parse(MessagesQuery, query), decision.claims)
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def handoff(self, request: Request) -> Response:
        """The visitor asks for a person ("Talk to a person")."""
        decision = self._visitor(request)
        with decision.answering():
            req = parse(ConversationRef, web.json_body(request))
            answer = self.chat.handoff(req.conversation_id, decision.claims)  # type: ignore[arg-type]
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def contact(self, request: Request) -> Response:
        """The visitor leaves an email address (and name) for the team, and may ask for the transcript."""
        decision = self._visitor(request)
        with decision.answering():
            req = parse(ContactRequest, web.json_body(request))
            answer = self.chat.contact(req, decision.claims, client_ip=client_ip(request))  # type: ignore[arg-type]
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def typing(self, request: Request) -> Response:
        """The visitor is typing: relayed to the agent console (Pusher clients cannot send it themselves)."""
        decision = self._visitor(request)
        with decision.answering():
            req = parse(ConversationRef, web.json_body(request))
            answer = self.chat.visitor_typing(req.conversation_id, decision.claims)  # type: ignore[arg-type]
            return web.json_response(202, answer, cors_origin=decision.cors_origin)

    def delete_conversation(self, request: Request) -> Response:
        """The visitor deletes their conversation (the widget's menu): 200 ``{deleted, conversation_id}``."""
        decision = self._visitor(request)
        with decision.answering():
            req = parse(ConversationRef, _query(request))
            answer = self.chat.delete(req.conversation_id, decision.claims,  # type: ignore[arg-type]
                                      client_ip=client_ip(request))
            return web.json_response(200 if answer["deleted"] else 202, answer, cors_origin=decision.cors_origin)

    def transcript(self, request: Request) -> Response:
        """The conversation's history to download: ``format=text`` (default) or ``json``, as an attachment."""
        decision = self._visitor(request)
        with decision.answering():
            query = parse(TranscriptQuery, _query(request))
            conversation, messages, truncated = self.chat.transcript(query, decision.claims)  # type: ignore[arg-type]
            site = self.access.sites.get(conversation.site_key)
            name = site.name if site is not None else conversation.site_key
            stamp = now_iso()
            headers = {"Access-Control-Expose-Headers": "Content-Disposition",
                       "Cache-Control": "no-store"}
            if query.format == "json":
                headers["Content-Disposition"] = f'attachment; filename="{transcripts.filename(conversation, "json")}"'
                return web.json_response(200, transcripts.as_json(conversation, name, messages, truncated, stamp),
                                         headers, cors_origin=decision.cors_origin)
            headers["Content-Disposition"] = f'attachment; filename="{transcripts.filename(conversation, "txt")}"'
            headers["Content-Type"] = "text/plain; charset=utf-8"
            if decision.cors_origin:
                headers["Access-Control-Allow-Origin"] = decision.cors_origin
            return Response(body=transcripts.as_text(conversation, name, messages, truncated, stamp),
                            status_code=200, headers=headers)

    def pusher_auth(self, request: Request) -> Response:
        """Pusher private-channel auth, for the token's own conversation channel only.

        Takes the form body pusher-js sends (``socket_id``, ``channel_name``);
        JSON is accepted too.
        """
        decision = self._visitor(request)
        with decision.answering():
            form = _form(request)
            pusher = self.realtime.get("pusher")
            if pusher is None:
                raise ParleyError("pusher_disabled", "Pusher is not enabled here.")
            claims = decision.claims
            assert claims is not None
            # The site's own limits, from the site cache (a warm container reads nothing).
            self.chat.limits.hit("pusher_auth", claims.conversation_id, self.access.sites.get(claims.site_key))
            self.chat.current(claims)  # one GetItem: a revoked token subscribes to nothing
            signed = pusher.authorize(decision.claims.conversation_id,  # type: ignore[attr-defined]
                                      form.get("socket_id"), form.get("channel_name"))
            return web.json_response(200, signed, cors_origin=decision.cors_origin)

    def preflight(self, request: Request) -> Response:
        origin = web.origin_of(request)
        try:
            decision = self.access.for_preflight(_query(request).get("site_key"), origin)
        except ParleyError as error:
            if error.code != "unavailable" or not origin:
                raise
            # The store is down: the origin cannot be checked now. A preflight grants
            # nothing by itself (the request that follows is checked on its own, and will
            # answer a readable 503 now), so let it through, briefly, rather than make
            # the browser report a CORS failure.
            return web.preflight_response(origin, max_age=web.OUTAGE_PREFLIGHT_MAX_AGE)
        return web.preflight_response(decision.cors_origin)  # type: ignore[arg-type]

    def not_found(self, request: Request) -> Response:
        raise ParleyError("route_not_found", f"No route {request.method} {request.context.get('path', '')}.")

    def cors_for_error(self, request: Request) -> str | None:
        """For web.middleware: the origin an error raised before any decision may be shown to."""
        path = (request.context or {}).get("resourcePath") or (request.context or {}).get("path") or ""
        if path.startswith("/api/agent/"):
            return self.access.console_cors(web.origin_of(request))
        return self.access.cors_for_error(_query(request).get("site_key"), web.origin_of(request))


def _form(request: Request) -> dict[str, Any]:
    raw = request.raw_body or b""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = web.json_body(request)
        if not isinstance(body, dict):
            raise ParleyError("invalid_request", "The request body must be a JSON object.")
        return body
    try:
        pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                         max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ParleyError("invalid_request", "The request body must be a URL-encoded form.") from None
    # A field given twice is ambiguous: refuse rather than pick one.
    if any(len(v) > 1 for v in pairs.values()):
        raise ParleyError("invalid_request", "Each form field may be given once.")
    return {k: v[0] for k, v in pairs.items()}
