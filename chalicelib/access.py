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

Agents (``for_agent``, ``for_agent_identity``) prove who they are with a
Cognito ID token (``agent_tokens``) and may act only on sites they are
members of, checked on every request and every channel authorization; their
browsers may call from the console's origins only (``PARLEY_CONSOLE_ORIGINS``).
A member of one site asking about another gets 403 ``not_a_member``, whether
that other site exists or not.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from . import tokens
from .agent_tokens import AgentIdentity, AgentTokens
from .cache import Cache
from .data.agents import AgentStore
from .data.sites import SiteStore
from .errors import ParleyError
from .lifecycle import Agent
from .models import SITE_KEY, Member, Site, normalize_origin
from .secretstore import Secrets

# scheme://host:port; a DNS name is at most 253 characters.
MAX_ORIGIN_LENGTH = 300
# A site that does not exist (or an origin no site lists) is remembered more
# briefly than one that does, so a newly created site shows up soon.
NEGATIVE_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class AgentPrincipal:
    """A signed-in agent acting on one site they are a member of."""

    id: str
    name: str
    email: str
    site_key: str
    role: str

    def actor(self) -> Agent:
        return Agent(self.id, self.name, admin=self.role == "admin")


@dataclass(frozen=True)
class Decision:
    """Who may proceed, and CORS: the site (site-keyed routes), the visitor's claims (token
    routes), or the agent (agent routes; ``identity`` alone for routes about no one site)."""

    cors_origin: str | None
    site: Site | None = None
    claims: tokens.VisitorClaims | None = None
    agent: AgentPrincipal | None = None
    identity: AgentIdentity | None = None

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
    def __init__(self, sites: SiteDirectory, secrets: Secrets, *, agent_tokens: AgentTokens | None = None,
                 agents: AgentStore | None = None, console_origins: tuple[str, ...] = (),
                 membership_ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.sites = sites
        self.secrets = secrets
        self.agent_tokens = agent_tokens
        self.agents = agents
        self.console_origins = frozenset(normalize_origin(o) for o in console_origins)
        self._members: Cache[tuple[str, str], Member | None] = Cache(4096, ttl=membership_ttl, clock=clock)

    # -- agents -----------------------------------------------------------------

    def for_agent_identity(self, token: str | None, origin: str | None) -> Decision:
        """An agent request about no one site (who am I, a channel's auth): a valid ID token."""
        cors = self._console_origin(origin)
        if self.agent_tokens is None:
            raise ParleyError("agents_disabled", "The agent side is not configured here.")
        try:
            identity = self.agent_tokens.verify(token)
        except ParleyError as error:
            error.cors_origin = cors  # the console must read a 401 to sign in again
            raise
        return Decision(cors, identity=identity)

    def for_agent(self, token: str | None, site_key: object, origin: str | None) -> Decision:
        """An agent request about one site: a valid ID token of a member of that site."""
        decision = self.for_agent_identity(token, origin)
        identity = decision.identity
        assert identity is not None
        with decision.answering():
            if not isinstance(site_key, str) or not re.fullmatch(SITE_KEY, site_key):
                raise ParleyError("invalid_request", "site_key: is required (letters, digits, _ and -, up to 64).")
            member = self.member_or_refuse(identity.agent_id, site_key)
        name = member.name or identity.name or member.display_name
        return Decision(decision.cors_origin, identity=identity,
                        agent=AgentPrincipal(identity.agent_id, name, identity.email or member.email,
                                             site_key, member.role))

    def member_or_refuse(self, agent_id: str, site_key: str) -> Member:
        """The agent's membership of the site (cached briefly), or 403 not_a_member."""
        assert self.agents is not None
        member = self._members.get((agent_id, site_key), lambda key: self.agents.membership(*key))
        if member is None:
            raise ParleyError("not_a_member", "You are not a member of this site.")
        return member

    def for_console_preflight(self, origin: str | None) -> Decision:
        if not origin:
            raise ParleyError("missing_origin", "A preflight needs an Origin header.")
        cors = self._console_origin(origin)
        return Decision(cors)

    def console_cors(self, origin: str | None) -> str | None:
        """The origin an agent route's error may be shown to (never raises)."""
        if origin and normalize_origin(origin) in self.console_origins:
            return origin
        return None

    def _console_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None  # not a browser: the token alone decides
        if normalize_origin(origin) not in self.console_origins:
            raise _refused(origin)
        return origin

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
