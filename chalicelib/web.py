"""HTTP plumbing: the one place errors become ``{"error": ...}``, and per-site CORS.

Chalice's ``CORSConfig`` allows one static origin; Parley answers each site's
own allowlist, so CORS is done here: a view that has checked the request's
origin against its site calls ``allow_origin``, and the middleware adds the
headers to whatever the view answers, errors included.
"""
from __future__ import annotations

import contextvars
import json
import logging
from typing import Any, Callable

from chalice.app import Request, Response

from .errors import InvalidJson, MethodNotAllowed, NotFound, ParleyError, UnsupportedMediaType

log = logging.getLogger("parley.web")

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"

# The origin this request may be answered to, once a view has checked it.
# A contextvar, because `chalice local` serves requests on threads.
_allowed_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parley_allowed_origin", default=None)

# Chalice answers some errors itself, before or around our views; these
# codes put them in our shape.
_CHALICE_ERRORS = {
    "MethodNotAllowedError": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
    "NotFoundError": NotFound,
}


# Set when a view refused the request's origin: such an answer never carries CORS headers.
_refused_origin: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "parley_refused_origin", default=False)


def origin_of(request: Request) -> str | None:
    return request.headers.get("origin") or None


def allow_origin(origin: str | None) -> None:
    """Marks the request's origin as allowed by its site: CORS headers follow."""
    if origin:
        _allowed_origin.set(origin)


def refuse_origin() -> None:
    """Marks the request's origin as refused by its site: no CORS headers, whatever else."""
    _refused_origin.set(True)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                    status_code=status,
                    headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def error_response(error: ParleyError) -> Response:
    return json_response(error.status, error.body(), error.headers)


def json_body(request: Request) -> Any:
    """The request body parsed as JSON, or InvalidJson (never Chalice's own 400)."""
    raw = request.raw_body
    if not raw:
        raise InvalidJson("The request body must be JSON; it was empty.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        # `[[[[…]]]]` a few thousand deep exhausts the parser's stack: a 400, not a 500.
        raise InvalidJson("The request body is nested too deeply.") from None


def middleware(request: Request, get_response: Callable[[Request], Response],
               late_origin_check: Callable[[Request], bool]) -> Response:
    """Runs a view; maps errors to our shape and adds CORS headers.

    ``late_origin_check`` decides CORS for requests whose view failed before
    it could check the origin (a body that is not JSON, say), so the browser
    still lets the widget read the error. An origin a view refused gets no
    CORS headers at all, whatever the request claims in its query string.
    """
    token = _allowed_origin.set(None)
    refused_token = _refused_origin.set(False)
    try:
        try:
            response = get_response(request)
        except ParleyError as exc:
            response = error_response(exc)
        response = _in_our_shape(response)
        origin = origin_of(request)
        allowed = _allowed_origin.get()
        if _refused_origin.get():
            allowed = None
        elif origin and allowed is None and response.status_code >= 400:
            try:
                if late_origin_check(request):
                    allowed = origin
            except Exception:  # noqa: BLE001 - CORS on an error must not cause a 500
                log.warning("late origin check failed", exc_info=True)
        _add_cors(response, allowed)
        return response
    finally:
        _allowed_origin.reset(token)
        _refused_origin.reset(refused_token)


def _in_our_shape(response: Response) -> Response:
    """Rewrites Chalice's ``{"Code", "Message"}`` errors as ``{"error": ...}``."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, (dict, str, bytes)):
        if isinstance(body, (str, bytes)):
            try:
                body = json.loads(body)
            except ValueError:
                return response
        if isinstance(body, dict) and "Code" in body:
            kind = _CHALICE_ERRORS.get(body["Code"])
            if kind is None:
                # Anything else Chalice says on its own is a bug of ours: a 5xx.
                log.error("unexpected framework error %s: %s", response.status_code, body)
                return json_response(500, {"error": {"code": "internal_error",
                                                     "message": "Something went wrong on our side."}})
            headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
            return json_response(kind.status, kind(str(body.get("Message", ""))).body(), headers)
    return response


def _add_cors(response: Response, origin: str | None) -> None:
    # Vary: Origin on every answer, so no cache hands one site's CORS reply to another.
    response.headers["Vary"] = "Origin"
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin


def preflight_response(origin: str) -> Response:
    allow_origin(origin)
    return Response(body="", status_code=204, headers={
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    })
