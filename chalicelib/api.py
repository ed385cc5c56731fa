"""Route handlers: a Chalice request in, a Response out.

Each handler checks, in order: who is asking (token, or site and origin),
then what they ask (the body or query), then hands off to ``ChatService``.
The order matters for CORS: once the origin is known to be allowed, even a
400 about the body reaches the widget readable.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Request, Response

from . import tokens, web
from .chat import ChatService
from .errors import Forbidden, NotFound, ValidationFailed
from .lazy import Lazy
from .models import SITE_KEY, InitRequest, MessagesQuery, SendRequest, parse
from .settings import get_settings
from .store import Store

def _build_service() -> ChatService:
    settings = get_settings()
    return ChatService(settings, Store(settings.table_name))


# The process-wide ChatService, built on first use (not at import).
_service: Lazy[ChatService] = Lazy(_build_service)


def service() -> ChatService:
    return _service.get()


def set_service(svc: ChatService | None) -> None:
    """Swaps the service (tests inject one built on their own table)."""
    _service.set(svc)


def _check_origin(site: dict[str, Any], origin: str | None) -> None:
    """Lets the request on only if its site lists its origin; CORS follows the verdict."""
    try:
        service().require_origin(site, origin)
    except Forbidden:
        web.refuse_origin()
        raise
    web.allow_origin(origin)


def _site_for_origin(site_key: str | None, origin: str | None) -> dict[str, Any]:
    if site_key is None or not re.fullmatch(SITE_KEY, site_key):
        raise ValidationFailed("site_key: is required (letters, digits, _ and -, up to 64).")
    site = service().site(site_key)
    _check_origin(site, origin)
    return site


def _visitor(request: Request) -> tokens.VisitorClaims:
    """The token's claims, with the request's origin checked.

    The token's own origin passes without a read; any other origin must be
    on the token's site's list.
    """
    svc = service()
    claims = svc.claims(tokens.bearer(request.headers.get("authorization")))
    origin = web.origin_of(request)
    if svc.origin_is_tokens(claims, origin):
        web.allow_origin(origin)
        return claims
    try:
        site = svc.site(claims.site_key)
    except NotFound:
        # A valid signature on a deleted site: the token opens nothing any more.
        raise Forbidden("The site of this token no longer exists.", code="unknown_site") from None
    _check_origin(site, origin)
    return claims


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


def config(request: Request) -> Response:
    site = _site_for_origin(_query(request).get("site_key"), web.origin_of(request))
    return web.json_response(200, service().config(site))


def init(request: Request) -> Response:
    body = web.json_body(request)
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    key = body.get("site_key")
    if not isinstance(key, str):
        raise ValidationFailed("site_key: is required and must be a string.")
    origin = web.origin_of(request)
    site = _site_for_origin(key, origin)
    created, result = service().init(parse(InitRequest, body), site, origin)
    return web.json_response(201 if created else 200, result)


def send(request: Request) -> Response:
    claims = _visitor(request)
    req = parse(SendRequest, web.json_body(request))
    return web.json_response(201, service().send(req, claims))


def messages(request: Request) -> Response:
    claims = _visitor(request)
    query: dict[str, Any] = _query(request)
    for name in ("after", "before", "limit"):
        # Query values are strings; only plain integers become numbers, so
        # "abc", "1.5" or "" fail validation with the field's name.
        if name in query and re.fullmatch(r"-?[0-9]{1,12}", query[name]):
            query[name] = int(query[name])
    return web.json_response(200, service().messages(parse(MessagesQuery, query), claims))


def pusher_auth(request: Request) -> Response:
    """Pusher private-channel auth, for the token's own conversation channel only.

    Takes the form body pusher-js sends (``socket_id``, ``channel_name``);
    JSON is accepted too.
    """
    from .realtime.pusher_channels import authorize

    claims = _visitor(request)
    form = _form(request)
    svc = service()
    if "pusher" not in svc.settings.realtime_providers:
        raise NotFound("Pusher is not enabled here.", code="pusher_disabled")
    return web.json_response(200, authorize(svc.settings, svc.secrets.pusher_secret(), claims,
                                            form.get("socket_id"), form.get("channel_name")))


def _form(request: Request) -> dict[str, Any]:
    raw = request.raw_body or b""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = web.json_body(request)
        if not isinstance(body, dict):
            raise ValidationFailed("The request body must be a JSON object.")
        return body
    try:
        pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                         max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("The request body must be a URL-encoded form.") from None
    # A field given twice is ambiguous: refuse rather than pick one.
    if any(len(v) > 1 for v in pairs.values()):
        raise ValidationFailed("Each form field may be given once.")
    return {k: v[0] for k, v in pairs.items()}


def preflight(request: Request) -> Response:
    """Answers a CORS preflight for listed origins only.

    With ``?site_key=K`` (the widget always adds it) the origin must be on
    K's list; without it, on some site's list (an origin-index Query), and
    the real request is then checked against its own site.
    """
    origin = web.origin_of(request)
    if not origin:
        raise ValidationFailed("A preflight needs an Origin header.", code="missing_origin")
    key = _query(request).get("site_key")
    if key is not None:
        _site_for_origin(key, origin)
    elif not service().origin_is_listed(origin):
        raise Forbidden(f"Origin {origin!r} is not allowed.", code="origin_not_allowed")
    return web.preflight_response(origin)


def not_found(request: Request) -> Response:
    raise NotFound(f"No route {request.method} {request.context.get('path', '')}.",
                   code="route_not_found")


def late_origin_check(request: Request) -> bool:
    """Whether an error may still be shown to the request's origin (see web.middleware).

    The same rule as a preflight: with ``?site_key=K``, K must list the
    origin; without it, some site must.
    """
    origin = web.origin_of(request)
    if not origin:
        return False
    svc = service()
    key = _query(request).get("site_key")
    if key is None:
        return svc.origin_is_listed(origin)
    if not re.fullmatch(SITE_KEY, key):
        return False
    site = svc.sites.get(key)
    return site is not None and svc.site_allows(site, origin)
