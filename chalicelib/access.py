"""The access policy: the one place that decides who may call with which token and Origin.

Every HTTP route, every CORS preflight, the CORS headers of an error, and the
WebSocket ``$connect`` ask it, and nothing else decides. It answers with a
``Decision`` (the site or the visitor's claims, and the origin CORS may echo)
or raises a ``ParleyError``:

* a site key that is malformed is 400 ``invalid_request``; one that names no
  site (or a site that no longer exists) is 404 ``unknown_site``;
* an origin the site does not list is 403 ``origin_not_allowed``, and such an
  answer never carries CORS headers;
* a token that is missing, forged or expired is 401.

Requests without an ``Origin`` header are not browsers: CORS protects browsers
only, and a header anyone can forge guards nothing for other clients, so
those pass on the token (or the site key) alone.

The agent side adds ``for_agent`` here.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from . import tokens
from .cache import Cache
from .data.sites import SiteStore
from .errors import ParleyError
from .models import SITE_KEY, Site, normalize_origin
from .secretstore import Secrets

# scheme://host:port; a DNS name is at most 253 characters.
MAX_ORIGIN_LENGTH = 300
# A site that does not exist (or an origin no site lists) is remembered more
# briefly than one that does, so a newly created site shows up soon.
NEGATIVE_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Decision:
    """Who may proceed: the site (site-keyed routes) or the claims (token routes), and CORS."""

    cors_origin: str | None
    site: Site | None = None
    claims: tokens.VisitorClaims | None = None

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Errors raised inside (a bad body, say) stay readable by the allowed origin."""
        try:
            yield
        except ParleyError as error:
            error.cors_origin = self.cors_origin
            raise


class SiteDirectory:
    """Sites and listed origins by key, cached for a short while: every request needs its site, few change it."""

    def __init__(self, sites: SiteStore, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = sites

        def lifetime(value: object) -> float:
            return ttl_seconds if value else min(ttl_seconds, NEGATIVE_CACHE_SECONDS)

        self._sites: Cache[str, Site | None] = Cache(1024, ttl=lifetime, clock=clock)
        self._origins: Cache[str, bool] = Cache(1024, ttl=lifetime, clock=clock)

    def get(self, site_key: str) -> Site | None:
        return self._sites.get(site_key, self.store.get)

    def peek(self, site_key: str) -> tuple[bool, Site | None]:
        return self._sites.peek(site_key)

    def remember(self, site_key: str, site: Site | None) -> None:
        self._sites.put(site_key, site)

    def origin_is_listed(self, origin: str) -> bool:
        """Whether any site lists this origin (for preflights that name no site)."""
        if len(origin) > MAX_ORIGIN_LENGTH:
            return False  # no site lists one; and DynamoDB keys stop at 2 KB
        return self._origins.get(normalize_origin(origin), self.store.origin_is_listed)


def _refused(origin: str | None) -> ParleyError:
    return ParleyError("origin_not_allowed", f"Origin {origin!r} is not allowed for this site.")


class AccessPolicy:
    def __init__(self, sites: SiteDirectory, secrets: Secrets) -> None:
        self.sites = sites
        self.secrets = secrets

    # -- decisions --------------------------------------------------------------

    def for_site(self, site_key: object, origin: str | None) -> Decision:
        """A site-keyed request (config, init): the site must exist and list the origin."""
        site = self._site(site_key)
        if origin is not None and not site.lists(origin):
            raise _refused(origin)
        return Decision(origin, site=site)

    def for_token(self, token: str | None, origin: str | None) -> Decision:
        """A token-bearing request (send, messages, pusher auth, $connect).

        The token's own origin passes without a read: init checked it against
        the site's list before it signed the token. (A site that drops an
        origin thus lets that origin's existing tokens run out rather than
        cutting their conversations off mid-way.) Any other origin must be on
        the token's site's list.
        """
        claims = self.claims(token)
        if origin is None or self._is_token_origin(claims, origin):
            return Decision(origin, claims=claims)
        site = self.sites.get(claims.site_key)
        if site is None:
            raise ParleyError("unknown_site", "The site of this token no longer exists.")
        if not site.lists(origin):
            raise _refused(origin)
        return Decision(origin, claims=claims)

    def for_resume(self, token: str, conversation_id: str, site: Site) -> tokens.VisitorClaims:
        """init with a token: it must be this site's, for this conversation."""
        claims = self.claims(token)
        if claims.site_key != site.site_key:
            raise ParleyError("site_mismatch", "The token belongs to another site.")
        tokens.require_conversation(claims, conversation_id)
        return claims

    def for_preflight(self, site_key: str | None, origin: str | None) -> Decision:
        """A CORS preflight, for listed origins only.

        With ``?site_key=K`` (the widget always adds it) the origin must be on
        K's list; without it, on some site's list (an origin-index Query), and
        the real request is then checked against its own site.
        """
        if not origin:
            raise ParleyError("missing_origin", "A preflight needs an Origin header.")
        if site_key is not None:
            return self.for_site(site_key, origin)
        if not self.sites.origin_is_listed(origin):
            raise _refused(origin)
        return Decision(origin)

    def cors_for_error(self, site_key: str | None, origin: str | None) -> str | None:
        """The origin an error may be shown to, when the request failed before any decision.

        The preflight's rule: with a site key, that site must list the origin;
        without one, some site must. Never raises.
        """
        if not origin:
            return None
        if site_key is None:
            return origin if self.sites.origin_is_listed(origin) else None
        if not isinstance(site_key, str) or not re.fullmatch(SITE_KEY, site_key):
            return None
        site = self.sites.get(site_key)
        return origin if site is not None and site.lists(origin) else None

    # -- parts ------------------------------------------------------------------

    def claims(self, token: str | None) -> tokens.VisitorClaims:
        return tokens.verify(self.secrets.token_secret(), token)

    def _site(self, site_key: object) -> Site:
        if not isinstance(site_key, str) or not re.fullmatch(SITE_KEY, site_key):
            raise ParleyError("invalid_request", "site_key: is required (letters, digits, _ and -, up to 64).")
        site = self.sites.get(site_key)
        if site is None:
            raise ParleyError("unknown_site", f"Unknown site key {site_key!r}.")
        return site

    @staticmethod
    def _is_token_origin(claims: tokens.VisitorClaims, origin: str) -> bool:
        return claims.origin is not None and normalize_origin(origin) == normalize_origin(claims.origin)
