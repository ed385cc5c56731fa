"""The chat service: conversations and messages, tied to the bot and to realtime.

It knows nothing of HTTP and decides no access: the access policy has
already said who is asking (a site, or a visitor's claims) before a call
arrives here, and ``routes`` turns the results into responses.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any

from . import tokens
from .access import AccessPolicy, SiteDirectory
from .bot import BotRegistry
from .data import Data
from .errors import ParleyError
from .models import InitRequest, Message, MessagesQuery, Page, SendRequest, Site
from .realtime import Realtime, public_config
from .secretstore import Secrets
from .settings import Settings

log = logging.getLogger("parley.chat")


class ChatService:
    def __init__(self, settings: Settings, data: Data, sites: SiteDirectory, access: AccessPolicy,
                 realtime: Realtime, bots: BotRegistry, secrets: Secrets) -> None:
        self.settings = settings
        self.data = data
        self.sites = sites
        self.access = access
        self.realtime = realtime
        self.bots = bots
        self.secrets = secrets

    def config(self, site: Site) -> dict[str, Any]:
        return {"site_key": site.site_key, "realtime": public_config(self.settings), "widget": site.widget}

    def init(self, req: InitRequest, site: Site, origin: str | None) -> tuple[bool, dict[str, Any]]:
        """Starts a conversation (created=True), or resumes one the token opens.

        ``origin`` has been checked against the site's list; the token carries it.
        """
        if req.conversation_id is not None or req.token is not None:
            if req.conversation_id is None or req.token is None:
                raise ParleyError("invalid_request", "conversation_id and token must come together to resume.")
            self.access.for_resume(req.token, req.conversation_id, site)
            page = self.data.messages.latest_messages(req.conversation_id, self.settings.history_limit)
            return False, self._session(req.conversation_id, site, origin, page, resumed=True)
        conversation_id = secrets.token_hex(16)
        self.data.messages.create_conversation(conversation_id, site.site_key, req.visitor, req.locale)
        return True, self._session(conversation_id, site, origin, Page([], 0, False), resumed=False)

    def _session(self, conversation_id: str, site: Site, origin: str | None, page: Page,
                 resumed: bool) -> dict[str, Any]:
        token = tokens.issue(self.secrets.token_secret(), conversation_id, site.site_key,
                             self.settings.token_ttl_seconds, origin=origin)
        return {"conversation_id": conversation_id, "token": token, **page.to_json(),
                "resumed": resumed, "realtime": public_config(self.settings)}

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
        message, created = self.data.messages.append_message(
            req.conversation_id, "visitor", req.text,
            idempotency_key=f"v#{req.client_message_id}", client_message_id=req.client_message_id)
        if not created and message.text != req.text:
            # Same key, other words: a client bug, not a retry. Say so rather
            # than answer for a message that was never stored.
            raise ParleyError("idempotency_conflict", "This client_message_id was already used for another message.")
        self.realtime.publish(req.conversation_id, message, message.seq, exclude=req.socket_id)
        reply = self._bot_reply(req.conversation_id, req.client_message_id, message.text, site)
        if reply is not None:
            self.realtime.publish(req.conversation_id, reply, reply.seq, exclude=req.socket_id)
        last_seq = max(message.seq, reply.seq if reply else 0)
        return {"message": message.to_json(), "reply": reply.to_json() if reply else None,
                "last_seq": last_seq, "duplicate": not created}

    def _site_and_counter(self, claims: tokens.VisitorClaims) -> Site:
        """The site (for its bot), and the conversation's counter as the append's first guess.

        Whatever this process does not know yet — the site, or where the
        counter stands — comes in one BatchGetItem. Guessing the counter
        instead would cost a failed transaction, which is dearer than a read.
        """
        known_site, site = self.sites.peek(claims.site_key)
        known_seq = self.data.messages.hints.known(claims.conversation_id)
        if not (known_site and known_seq):
            fetched_site, _ = self.data.site_and_counter(None if known_site else claims.site_key,
                                                         None if known_seq else claims.conversation_id)
            if not known_site:
                site = fetched_site
                self.sites.remember(claims.site_key, site)
        if site is None:
            raise ParleyError("unknown_site", "The site of this token no longer exists.")
        return site

    def _bot_reply(self, conversation_id: str, client_message_id: str, text: str, site: Site) -> Message | None:
        """The bot's answer, idempotent under ``b#<the visitor's client_message_id>``.

        Keyed that way, a repeated send gets the very reply it got the first
        time, and a send whose first try died between the two writes gets its
        missing reply now. A failing engine never fails the send (the
        visitor's message is stored; the answer has no reply). A reply that
        cannot be *stored* does: the send answers 503, and retrying it with
        the same client_message_id stores the reply, not the message again.
        """
        try:
            answer = self.bots.engine_for(site.bot).reply(text, [])
        except Exception:  # noqa: BLE001 - any engine failure is logged, not shown
            log.exception("bot engine failed for site %s", site.site_key)
            return None
        reply, _ = self.data.messages.append_message(conversation_id, "bot", answer.text,
                                                     idempotency_key=f"b#{client_message_id}")
        return reply

    def messages(self, query: MessagesQuery, claims: tokens.VisitorClaims) -> dict[str, Any]:
        tokens.require_conversation(claims, query.conversation_id)
        if query.before is not None:
            if query.after is not None:
                raise ParleyError("invalid_request", "Give either after or before, not both.")
            page = self.data.messages.messages_before(query.conversation_id, query.before, query.limit)
        else:
            page = self.data.messages.messages_after(query.conversation_id, query.after or 0, query.limit)
        return page.to_json()
