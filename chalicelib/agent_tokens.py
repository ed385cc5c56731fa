"""Agents' identity: Amazon Cognito ID tokens, verified against the user pool's keys.

An agent signs in with the pool (the console calls Cognito itself) and sends
the ID token as ``Authorization: Bearer``. Parley accepts it only if PyJWT
finds it signed with RS256 by one of the pool's keys (its JWKS), issued by
that pool (``iss``) for Parley's app client (``aud``), an *ID* token
(``token_use``; an access token has no ``aud`` and must not pass as one) and
not expired. Nothing here reads the table: membership is the access policy's.

The JWKS is fetched once and kept; a token naming a key id we do not hold
fetches it again (Cognito rotates keys that way), but at most once every
``REFETCH_SECONDS``, so a stream of forged key ids cannot make us hammer the
pool's endpoint.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ParleyError

log = logging.getLogger("parley.agents")

# Cognito ID tokens are 1-2 KB; a custom-attribute-heavy one stays far below this.
MAX_TOKEN_LENGTH = 8192
JWKS_TIMEOUT_SECONDS = 2.0
JWKS_MAX_AGE_SECONDS = 3600.0
REFETCH_SECONDS = 60.0
# Clocks of the pool and of Lambda drift a little.
LEEWAY_SECONDS = 5


@dataclass(frozen=True)
class AgentIdentity:
    agent_id: str          # the Cognito user's sub
    email: str
    name: str              # the token's name, or the email's local part


def _fetch_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310 - a settings URL
        return json.loads(response.read(1_000_000))


class AgentTokens:
    """Verifies agents' ID tokens. ``fetch`` (url -> parsed JSON) is injectable for tests."""

    def __init__(self, issuer: str, client_id: str, jwks_url: str, *,
                 fetch: Callable[[str], Any] = _fetch_json,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_url = jwks_url
        self._fetch = fetch
        self._monotonic = monotonic
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> AgentIdentity:
        import jwt  # loaded by the first agent request, not by a visitor's cold start

        if not token:
            raise ParleyError("missing_token", "Sign in: send your ID token as Authorization: Bearer <token>.")
        if len(token) > MAX_TOKEN_LENGTH:
            raise ParleyError("invalid_token", "This is not an ID token of ours.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise ParleyError("invalid_token", "This is not an ID token of ours.") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise ParleyError("invalid_token", "The token is not signed by the agents' user pool.")
        key = self._key(kid)
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=self.client_id, issuer=self.issuer,
                                leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]})
        except jwt.ExpiredSignatureError:
            raise ParleyError("token_expired", "Your sign-in has expired; sign in again.") from None
        except jwt.InvalidTokenError as exc:
            raise ParleyError("invalid_token", f"The ID token is not valid here ({type(exc).__name__}).") from None
        if claims.get("token_use") != "id" or not isinstance(claims.get("sub"), str):
            raise ParleyError("invalid_token", "Send the ID token, not the access token.")
        email = claims.get("email") if isinstance(claims.get("email"), str) else ""
        name = claims.get("name") if isinstance(claims.get("name"), str) else ""
        return AgentIdentity(agent_id=claims["sub"], email=email,
                             name=name or (email.split("@", 1)[0] if email else ""))

    def _key(self, kid: str) -> Any:
        with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > JWKS_MAX_AGE_SECONDS
            may_refetch = self._fetched_at is None or now - self._fetched_at > REFETCH_SECONDS
            if stale or (kid not in self._keys and may_refetch):
                self._load(now)
            key = self._keys.get(kid)
        if key is None:
            raise ParleyError("invalid_token", "The token is not signed by the agents' user pool.")
        return key

    def _load(self, now: float) -> None:
        import jwt

        try:
            document = self._fetch(self.jwks_url)
            keys = {}
            for jwk in jwt.PyJWKSet.from_dict(document).keys:
                if jwk.key_id:
                    keys[jwk.key_id] = jwk.key
        except ParleyError:
            raise
        except Exception as exc:  # noqa: BLE001 - the pool's keys cannot be had: try again later
            log.warning("could not load the agents' JWKS from %s: %s", self.jwks_url, exc)
            if not self._keys:
                raise ParleyError("unavailable", "Sign-in cannot be checked right now; please retry.") from exc
            # Keep the keys we have, and ask again in REFETCH_SECONDS rather than on every
            # request: a hung endpoint must not cost each agent request its timeout.
            self._fetched_at = now - JWKS_MAX_AGE_SECONDS + REFETCH_SECONDS
            return
        self._keys, self._fetched_at = keys, now
