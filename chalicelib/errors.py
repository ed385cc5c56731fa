"""Parley's one error vocabulary.

A domain error carries its HTTP status and a snake_case code; ``web`` is the
one place that turns it into ``{"error": {"code", "message"}}``.

They derive from Chalice's ``ChaliceUnhandledError`` for one reason: Chalice
turns any other exception raised in a view into its own 500 body before
middleware sees it, while this one is re-raised to the middleware.
"""
from __future__ import annotations

from typing import Any

from chalice.app import ChaliceUnhandledError


class ParleyError(ChaliceUnhandledError):
    """Base of all errors that reach a client."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(ParleyError):
    status, code = 400, "bad_request"


class InvalidJson(ParleyError):
    status, code = 400, "invalid_json"


class ValidationFailed(ParleyError):
    status, code = 400, "invalid_request"


class Unauthorized(ParleyError):
    status, code = 401, "unauthorized"


class Forbidden(ParleyError):
    status, code = 403, "forbidden"


class NotFound(ParleyError):
    status, code = 404, "not_found"


class MethodNotAllowed(ParleyError):
    status, code = 405, "method_not_allowed"


class Conflict(ParleyError):
    status, code = 409, "conflict"


class UnsupportedMediaType(ParleyError):
    status, code = 415, "unsupported_media_type"


class Unavailable(ParleyError):
    """The store stayed busy through every retry; the client may try again."""

    status, code = 503, "unavailable"
