"""Visitor tokens: HMAC-SHA256 signed, expiring, bound to one conversation.

Format: ``v1.<base64url(payload json)>.<base64url(signature)>`` where the
signature covers ``v1.<payload>``. The payload holds the conversation id
(``c``), the site key (``s``), the expiry in epoch seconds (``e``) and the
origin that init checked against the site's list (``o``, absent for clients
that sent none) and the conversation's token version (``v``). The signature
and expiry are checked with the key alone, never with a database read, so
every route can afford to check them; and a request from the token's own
origin needs no read of the site either.

Revocation is the one thing the key cannot tell: a resume (init with the
token) or a delete moves the conversation's ``token_version`` on, and each
token-guarded route compares ``v`` with it, as part of a read or write it
makes anyway where it can (README, "Token revocation", has the cost per
route). Tokens issued before versions existed carry no ``v``: they count as
version 0, the version every conversation starts with, so they keep working
until their conversation is next resumed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from .errors import ParleyError

_VERSION = "v1"
# A token is small; anything much longer is not one of ours, and refusing it
# early keeps a hostile header from costing us a big base64 decode.
_MAX_LENGTH = 1024


@dataclass(frozen=True)
class VisitorClaims:
    conversation_id: str
    site_key: str
    expires_at: int
    origin: str | None = None
    version: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signed_part: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), signed_part.encode("utf-8", "replace"), hashlib.sha256)
    return _b64(mac.digest())


def issue(secret: str, conversation_id: str, site_key: str, ttl_seconds: int,
          now: float | None = None, origin: str | None = None, version: int = 0) -> str:
    """Returns a token for one conversation of one site (and the origin init approved), at ``version``."""
    now = time.time() if now is None else now
    payload: dict[str, object] = {"c": conversation_id, "s": site_key, "e": int(now) + int(ttl_seconds),
                                  "v": int(version)}
    if origin:
        payload["o"] = origin
    signed_part = f"{_VERSION}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed_part}.{_sign(secret, signed_part)}"


def verify(secret: str, token: str | None, now: float | None = None) -> VisitorClaims:
    """Checks a token's signature and expiry; a 401 ``ParleyError`` if either fails."""
    if not token:
        raise ParleyError("missing_token", "A visitor token is required.")
    if len(token) > _MAX_LENGTH or token.count(".") != 2:
        raise ParleyError("invalid_token", "The visitor token is malformed.")
    version, payload_part, signature = token.split(".")
    if version != _VERSION:
        raise ParleyError("invalid_token", "The visitor token is malformed.")
    expected = _sign(secret, f"{version}.{payload_part}")
    # compare_digest: a plain == leaks how many leading characters matched.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise ParleyError("invalid_token", "The visitor token is not valid.")
    try:
        payload = json.loads(_unb64(payload_part))
        if not isinstance(payload, dict):
            raise TypeError("payload is not an object")
        origin = payload.get("o")
        token_version = payload.get("v", 0)  # absent: a token from before versions, version 0
        if (isinstance(token_version, bool) or not isinstance(token_version, int)
                or not 0 <= token_version < 2 ** 53):
            raise ValueError("v is not a version")
        claims = VisitorClaims(str(payload["c"]), str(payload["s"]), int(payload["e"]),
                               str(origin) if origin else None, token_version)
    except (ValueError, KeyError, TypeError, OverflowError):  # OverflowError: "e": Infinity
        raise ParleyError("invalid_token", "The visitor token is malformed.") from None
    now = time.time() if now is None else now
    if claims.expires_at <= now:
        raise ParleyError("token_expired", "The visitor token has expired.")
    return claims


def bearer(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer <token>`` header, if any."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require_conversation(claims: VisitorClaims, conversation_id: str) -> None:
    """Refuses a token that names another conversation than the request does."""
    if not hmac.compare_digest(claims.conversation_id.encode(), conversation_id.encode()):
        raise ParleyError("conversation_mismatch", "The token does not belong to this conversation.")
