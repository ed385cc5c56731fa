"""Parley's one error vocabulary: every code a client can see, each with its one status.

A ``ParleyError`` names its code; its HTTP status comes from ``ERRORS``, so a
code means the same status on every route, in a preflight and in a WebSocket
``$connect`` refusal. ``web`` is the one place that turns an error into
``{"error": {"code", "message"}}``.

It derives from Chalice's ``ChaliceUnhandledError`` for one reason: Chalice
turns any other exception raised in a view into its own 500 body before
middleware sees it, while this one is re-raised to the middleware.
"""
from __future__ import annotations

from typing import Any

from chalice.app import ChaliceUnhandledError

# code -> HTTP status. A code not listed here cannot be raised (see ParleyError).
ERRORS: dict[str, int] = {
    # 400: the request itself is wrong
    "bad_request": 400,
    "invalid_json": 400,
    "invalid_request": 400,
    "missing_origin": 400,
    "invalid_socket_id": 400,
    "invalid_channel": 400,
    "unknown_action": 400,
    "frame_too_large": 400,
    "invalid_email": 400,
    "email_required": 400,
    "invalid_webhook_url": 400,
    # 401: who is asking is not proven
    "missing_token": 401,
    "invalid_token": 401,
    "token_expired": 401,
    # a resume (another tab) or a delete made this token stale; the conversation's newer token still works
    "token_revoked": 401,
    # 403: who is asking may not do this
    "origin_not_allowed": 403,
    "conversation_mismatch": 403,
    "site_mismatch": 403,
    "channel_forbidden": 403,
    "not_a_member": 403,
    # webhook URLs can carry secrets of their own (a Slack hook's path): only admins see them
    "admin_only": 403,
    # 404: no such thing (a site that does not exist, or no longer does, included)
    "unknown_site": 404,
    "conversation_not_found": 404,
    "route_not_found": 404,
    "not_found": 404,
    "pusher_disabled": 404,
    "websocket_disabled": 404,
    "unknown_connection": 404,
    "agents_disabled": 404,
    "webhook_not_found": 404,
    # 405, 409, 415
    "method_not_allowed": 405,
    "idempotency_conflict": 409,
    "already_claimed": 409,
    "invalid_transition": 409,
    "site_exists": 409,
    "too_many_webhooks": 409,
    "unsupported_media_type": 415,
    # 429: slow down (with Retry-After)
    "rate_limited": 429,
    # 503: try again (the store is busy, down, or a conversation is contended)
    "unavailable": 503,
    "busy": 503,
}


class ParleyError(ChaliceUnhandledError):
    """An error that reaches a client: a code from ``ERRORS`` and a human message.

    ``cors_origin`` is set by the access policy's decision when the request's
    origin was already allowed before the error arose, so the browser may
    read the error.
    """

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}: add it to chalicelib.errors.ERRORS")
        super().__init__(message)
        self.code = code
        self.status = ERRORS[code]
        self.message = message
        self.headers = headers or {}
        self.cors_origin: str | None = None

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    def __repr__(self) -> str:
        return f"ParleyError({self.code!r}, {self.message!r})"
