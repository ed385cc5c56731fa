"""The chat service: sites, conversations and messages, tied together.

It knows nothing of HTTP; ``api`` turns requests into calls here and the
results into responses.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any, Callable

from . import tokens
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .models import InitRequest, MessagesQuery, SendRequest
from .realtime import Realtime, build as build_realtime, public_config
from .secrets import Secrets
from .settings import Settings
from .store import Store

log = logging.getLogger("parley.chat")


# scheme://host:port; a DNS name is at most 253 characters.
MAX_ORIGIN_LENGTH = 300


def normalize_origin(origin: str) -> str:
    """``HTTP://Example.com/`` and ``http://example.com`` are one origin."""
    return origin.strip().rstrip("/").lower()


class TtlCache:
    """Values by key for a short while: every request needs its site, few change it.

    A negative answer (no such site, an origin no site lists) is remembered
    more briefly, so a newly created site shows up soon.
    """

    def __init__(self, load: Callable[[str], Any], ttl_seconds: float, size: int = 1024) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._size = size
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> tuple[bool, Any]:
        """(known, value) from the cache alone; known=False means ask the table."""
        with self._lock:
            hit = self._data.get(key)
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def put(self, key: str, value: Any) -> None:
        ttl = self._ttl if value else min(self._ttl, 5.0)
        with self._lock:
            if len(self._data) >= self._size:
                self._data.clear()
            self._data[key] = (time.monotonic() + ttl, value)

    def get(self, key: str) -> Any:
        known, value = self.peek(key)
        if not known:
            value = self._load(key)
            self.put(key, value)
        return value


class ChatService:
    def __init__(self, settings: Settings, store: Store, realtime: Realtime | None = None,
                 secrets: Secrets | None = None) -> None:
        self.settings = settings
        self.store = store
        self.secrets = secrets if secrets is not None else Secrets(settings)
        self.sites = TtlCache(store.get_site, settings.site_cache_seconds)
        self.listed_origins = TtlCache(store.origin_is_listed, settings.site_cache_seconds)
        self.realtime = realtime if realtime is not None else build_realtime(settings, store, self.secrets)

    # -- sites and origins --------------------------------------------------------

    def site(self, site_key: str) -> dict[str, Any]:
        site = self.sites.get(site_key)
        if site is None:
            raise NotFound(f"Unknown site key {site_key!r}.", code="unknown_site")
        return site

    def site_allows(self, site: dict[str, Any], origin: str | None) -> bool:
        """Whether a request from ``origin`` may use this site.

        No Origin header means no browser is asking (curl, a server): CORS
        protects browsers only, and a header anyone can forge guards nothing
        for other clients, so those pass and rely on the token.
        """
        if origin is None:
            return True
        return normalize_origin(origin) in {normalize_origin(o) for o in site["origins"]}

    def origin_is_tokens(self, claims: tokens.VisitorClaims, origin: str | None) -> bool:
        """Whether a request comes from where its token was issued (or from no browser).

        init checked that origin against the site's list before it signed the
        token, so such a request needs no read of the site. (A site that drops
        an origin thus lets that origin's existing tokens run out rather than
        cutting their conversations off mid-way.)
        """
        if origin is None:
            return True
        return claims.origin is not None and normalize_origin(origin) == normalize_origin(claims.origin)

    def require_origin(self, site: dict[str, Any], origin: str | None) -> None:
        if not self.site_allows(site, origin):
            raise Forbidden(f"Origin {origin!r} is not allowed for this site.",
                            code="origin_not_allowed")

    def origin_is_listed(self, origin: str) -> bool:
        """Whether any site lists this origin (for preflights that name no site)."""
        if len(origin) > MAX_ORIGIN_LENGTH:
            return False  # no site lists one; and DynamoDB keys stop at 2 KB
        return bool(self.listed_origins.get(normalize_origin(origin)))

    def claims(self, token: str | None) -> tokens.VisitorClaims:
        return tokens.verify(self.secrets.token_secret(), token)

    def _issue(self, conversation_id: str, site_key: str, origin: str | None) -> str:
        return tokens.issue(self.secrets.token_secret(), conversation_id, site_key,
                            self.settings.token_ttl_seconds, origin=origin)

    # -- routes -----------------------------------------------------------------------

    def config(self, site: dict[str, Any]) -> dict[str, Any]:
        return {"site_key": site["site_key"], "realtime": public_config(self.settings),
                "widget": site.get("widget") or {}}

    def init(self, req: InitRequest, site: dict[str, Any],
             origin: str | None) -> tuple[bool, dict[str, Any]]:
        """Starts a conversation (created=True), or resumes one the token opens.

        ``origin`` has been checked against the site's list; the token carries it.
        """
        if req.conversation_id is not None or req.token is not None:
            if req.conversation_id is None or req.token is None:
                raise ValidationFailed("conversation_id and token must come together to resume.")
            claims = self.claims(req.token)
            if claims.site_key != site["site_key"]:
                raise Forbidden("The token belongs to another site.", code="site_mismatch")
            tokens.require_conversation(claims, req.conversation_id)
            page = self.store.latest_messages(req.conversation_id, self.settings.history_limit)
            return False, self._session(req.conversation_id, site, origin, page.messages,
                                      page.last_seq, page.has_more, resumed=True)
        conversation_id = secrets.token_hex(16)
        visitor = dict(req.visitor) if req.visitor else None
        self.store.create_conversation(conversation_id, site["site_key"], visitor, req.locale)
        return True, self._session(conversation_id, site, origin, [], 0, False, resumed=False)

    def _session(self, conversation_id: str, site: dict[str, Any], origin: str | None,
                 messages: list[dict[str, Any]], last_seq: int, has_more: bool,
                 resumed: bool) -> dict[str, Any]:
        return {
            "conversation_id": conversation_id,
            "token": self._issue(conversation_id, site["site_key"], origin),
            "messages": messages,
            "last_seq": last_seq,
            "has_more": has_more,
            "resumed": resumed,
            "realtime": public_config(self.settings),
        }

    def send(self, req: SendRequest, claims: tokens.VisitorClaims) -> dict[str, Any]:
        """Stores the visitor's message and the bot's reply, each exactly once, and pushes both.

        Each is broadcast as soon as it is stored (other tabs see the
        visitor's message before the bot has thought), leaving out the
        sender's own Pusher socket: the sender gets both in this answer. A
        repeated send broadcasts again; clients drop what they have by seq,
        and a first try that died before its broadcast is made good.
        """
        tokens.require_conversation(claims, req.conversation_id)
        site = self._site_and_counter(claims)
        message, created = self.store.append_message(
            req.conversation_id, "visitor", req.text,
            idempotency_key=f"v#{req.client_message_id}", client_message_id=req.client_message_id)
        if not created and message["text"] != req.text:
            # Same key, other words: a client bug, not a retry. Say so rather
            # than answer for a message that was never stored.
            raise Conflict("This client_message_id was already used for another message.",
                           code="idempotency_conflict")
        self.realtime.publish(req.conversation_id, message, message["seq"], exclude=req.socket_id)
        reply = self._bot_reply(req.conversation_id, req.client_message_id, message["text"], site)
        if reply is not None:
            self.realtime.publish(req.conversation_id, reply, reply["seq"], exclude=req.socket_id)
        last_seq = max(message["seq"], reply["seq"] if reply else 0)
        return {"message": message, "reply": reply, "last_seq": last_seq, "duplicate": not created}

    def _site_and_counter(self, claims: tokens.VisitorClaims) -> dict[str, Any]:
        """The site (for its bot), and the conversation's counter as the append's first guess.

        Whatever this process does not know yet — the site, or where the
        counter stands — comes in one BatchGetItem. Guessing the counter
        instead would cost a failed transaction, which is dearer than a read.
        """
        known_site, site = self.sites.peek(claims.site_key)
        known_seq = self.store.hints.known(claims.conversation_id)
        if not (known_site and known_seq):
            fetched_site, _ = self.store.site_and_counter(
                None if known_site else claims.site_key,
                None if known_seq else claims.conversation_id)
            if not known_site:
                site = fetched_site
                self.sites.put(claims.site_key, site)
        if site is None:
            raise Forbidden("The site of this token no longer exists.", code="unknown_site")
        return site

    def _bot_reply(self, conversation_id: str, client_message_id: str, text: str,
                   site: dict[str, Any]) -> dict[str, Any] | None:
        """The bot's answer, idempotent under ``b#<the visitor's client_message_id>``.

        Keyed that way, a repeated send gets the very reply it got the first
        time, and a send whose first try died between the two writes gets its
        missing reply now. A failing engine never fails the send (the
        visitor's message is stored; the answer has no reply). A reply that
        cannot be *stored* does: the send answers 503, and retrying it with
        the same client_message_id stores the reply, not the message again.
        """
        from .bot import get_engine  # engines load on first use, not at cold start

        try:
            answer = get_engine(site.get("bot")).reply(text, [])
        except Exception:  # noqa: BLE001 - any engine failure is logged, not shown
            log.exception("bot engine failed for site %s", site["site_key"])
            return None
        reply, _ = self.store.append_message(
            conversation_id, "bot", answer.text, idempotency_key=f"b#{client_message_id}")
        return reply

    def messages(self, query: MessagesQuery, claims: tokens.VisitorClaims) -> dict[str, Any]:
        tokens.require_conversation(claims, query.conversation_id)
        if query.before is not None:
            if query.after is not None:
                raise ValidationFailed("Give either after or before, not both.")
            page = self.store.messages_before(query.conversation_id, query.before, query.limit)
        else:
            page = self.store.messages_after(query.conversation_id, query.after or 0, query.limit)
        return {"messages": page.messages, "last_seq": page.last_seq, "has_more": page.has_more}
