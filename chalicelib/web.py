"""HTTP plumbing: the one place errors become ``{"error": ...}``, and CORS headers.

Chalice's ``CORSConfig`` allows one static origin; Parley answers each site's
own allowlist. Whether an origin is allowed is the access policy's decision
(``chalicelib.access``); this module only writes it down: a route's answer
carries the decision's origin, an error raised after the decision carries it
on the error (``ParleyError.cors_origin``), and an error raised before any
decision asks the policy through the middleware's ``cors_for_error``.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from chalice.app import Request, Response

from .errors import ParleyError

log = logging.getLogger("parley.web")

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"
OUTAGE_PREFLIGHT_MAX_AGE = "5"  # a preflight let through while the store is down is not kept

# Chalice answers some errors itself, before or around our views; these
# codes put them in our shape.
_CHALICE_ERRORS = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "NotFoundError": "not_found",
}


def origin_of(request: Request) -> str | None:
    return request.headers.get("origin") or None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None,
                  cors_origin: str | None = None) -> Response:
    response = Response(body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                        status_code=status,
                        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    if cors_origin:
        response.headers["Access-Control-Allow-Origin"] = cors_origin
    return response


def error_response(error: ParleyError) -> Response:
    return json_response(error.status, error.body(), error.headers)


def json_body(request: Request) -> Any:
    """The request body parsed as JSON, or a 400 invalid_json (never Chalice's own 400)."""
    raw = request.raw_body
    if not raw:
        raise ParleyError("invalid_json", "The request body must be JSON; it was empty.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParleyError("invalid_json", f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        # `[[[[…]]]]` a few thousand deep exhausts the parser's stack: a 400, not a 500.
        raise ParleyError("invalid_json", "The request body is nested too deeply.") from None


def middleware(request: Request, get_response: Callable[[Request], Response],
               cors_for_error: Callable[[Request], str | None]) -> Response:
    """Runs a view; maps errors to our shape and sees that CORS headers are right.

    An error raised after the access policy allowed the origin carries that
    origin. One raised before any decision (a body that is not JSON, an
    unknown route) asks ``cors_for_error``, so the browser still lets the
    widget read it. A refused origin gets no CORS headers at all.
    """
    try:
        response = get_response(request)
    except ParleyError as exc:
        response = error_response(exc)
        if exc.code == "origin_not_allowed":
            pass  # a refused origin never gets CORS headers, whatever else the request claims
        elif exc.cors_origin:
            response.headers["Access-Control-Allow-Origin"] = exc.cors_origin
        elif origin_of(request):
            _late_cors(request, response, cors_for_error)
    else:
        response = _in_our_shape(response)
        if response.status_code >= 400 and "Access-Control-Allow-Origin" not in response.headers:
            _late_cors(request, response, cors_for_error)
    if "Retry-After" in response.headers and "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"  # the widget waits that long
    # Vary: Origin on every answer, so no cache hands one site's CORS reply to another.
    response.headers["Vary"] = "Origin"
    return response


def _late_cors(request: Request, response: Response,
               cors_for_error: Callable[[Request], str | None]) -> None:
    try:
        origin = cors_for_error(request)
    except Exception:  # noqa: BLE001 - CORS on an error must not cause a 500
        log.warning("CORS check for an error failed", exc_info=True)
        # The store is down, so whether the origin is listed cannot be known. A 503
        # says nothing but "retry": letting the page read it costs nothing, and the
        # widget then retries instead of reporting a CORS failure.
        origin = origin_of(request) if response.status_code == 503 else None
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin


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
            code = _CHALICE_ERRORS.get(body["Code"])
            if code is None:
                # Anything else Chalice says on its own is a bug of ours: a 5xx.
                log.error("unexpected framework error %s: %s", response.status_code, body)
                return json_response(500, {"error": {"code": "internal_error",
                                                     "message": "Something went wrong on our side."}})
            headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
            error = ParleyError(code, str(body.get("Message", "")))
            return json_response(error.status, error.body(), headers)
    return response


def preflight_response(origin: str, max_age: str = PREFLIGHT_MAX_AGE) -> Response:
    return Response(body="", status_code=204, headers={
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": max_age,
    })
