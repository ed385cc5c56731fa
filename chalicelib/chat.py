"""The chat service: conversations and messages, tied to the bot and to realtime.

It knows nothing of HTTP and decides no access: the access policy has
already said who is asking (a site, or a visitor's claims) before a call
arrives here, and ``routes`` turns the results into responses.
"""
from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable

from . import desk, tokens
from .access import AccessPolicy, SiteDirectory
from .bot import BotContext, BotRegistry, BotReply
from .data import Data
from .data.messages import Guard
from .errors import ParleyError
from .desk import Presence
from .models import (ContactRequest, Conversation, InitRequest, Message, MessagesQuery, Page, SendRequest, Site,
                     TranscriptQuery, contact_json)
from .outbox import NO_OUTBOX, Outbox
from .realtime import CONVERSATION_DELETED_EVENT, CONVERSATION_EVENT, Realtime, public_config
from .secretstore import Secrets
from .settings import Settings
from .limits import RateLimiter
from .replies import BotTurns, ReplyJob, ReplyQueue, reply_id_for
from .transitions import Transitions
from .typing_relay import TypingRelay

MAX_USER_AGENT = 512
# A transcript holds at most this many messages, read in pages (transcript.py
# also bounds its size in bytes, to stay within what a Lambda may answer).
MAX_TRANSCRIPT_MESSAGES = 2000

log = logging.getLogger("parley.chat")


class ChatService:
    def __init__(self, settings: Settings, data: Data, sites: SiteDirectory, access: AccessPolicy,
                 realtime: Realtime, bots: BotRegistry, secrets: Secrets, transitions: Transitions,
                 typing: TypingRelay, limits: RateLimiter, turns: BotTurns, reply_queue: ReplyQueue,
                 outbox: Outbox = NO_OUTBOX, presence: Presence | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.data = data
        self.sites = sites
        self.access = access
        self.realtime = realtime
        self.bots = bots
        self.secrets = secrets
        self.transitions = transitions
        self.typing = typing
        self.limits = limits
        self.turns = turns
        self.reply_queue = reply_queue
        self.outbox = outbox
        self.presence = presence
        self._clock = clock

    def config(self, site: Site) -> dict[str, Any]:
        return {"site_key": site.site_key, "realtime": public_config(self.settings), "widget": site.widget,
                "availability": self.availability(site), **desk.public(site.desk)}

    def availability(self, site: Site) -> dict[str, Any]:
        """Whether a person can answer now, and if not when the team will (chalicelib/desk.py)."""
        try:
            online = self.presence.online(site.site_key) if self.presence is not None else 0
        except ParleyError:
            online = 0  # the store is busy: say what is true without it (the team replies within N hours)
        return desk.availability(site.desk, online, self._clock())

    def contact(self, req: ContactRequest, claims: tokens.VisitorClaims, client_ip: str = "unknown") -> dict[str, Any]:
        """The visitor leaves (or changes, or removes) an email address and name for the team to answer."""
        conversation = self.current(claims, req.conversation_id)
        self.limits.hit("contacts", f"{claims.site_key}#{client_ip}", self.sites.get(claims.site_key))
        stored = self.data.desk.set_contact(req.conversation_id, claims.site_key, conversation.contact,
                                            req.changes())
        return {"contact": contact_json(stored) or {"email": None, "name": None, "transcript": False}}

    def init(self, req: InitRequest, site: Site, origin: str | None,
             user_agent: str | None = None, client_ip: str = "unknown") -> tuple[bool, dict[str, Any]]:
        """Starts a conversation (created=True), or resumes one the token opens.

        ``origin`` has been checked against the site's list; the token carries it.
        """
        if req.conversation_id is not None or req.token is not None:
            if req.conversation_id is None or req.token is None:
                raise ParleyError("invalid_request", "conversation_id and token must come together to resume.")
            claims = self.access.for_resume(req.token, req.conversation_id, site)
            # Resuming revokes every earlier token of the conversation (other tabs
            # take the new one from storage); a token already stale is 401 token_revoked.
            version = self.data.messages.resume(req.conversation_id, claims.version)
            if version is not None:
                page, conversation = self.data.messages.latest(req.conversation_id, self.settings.history_limit)
                return False, self._session(conversation, site, origin, page, resumed=True, version=version)
            # Expired or deleted: the token was good, the conversation is gone. The
            # visitor gets a new one, as if they had come without a token.
        self.limits.hit("conversations", f"{site.site_key}#{client_ip}", site)
        conversation = self.data.messages.create_conversation(
            secrets.token_hex(16), site.site_key, req.visitor, req.locale, page=req.page,
            user_agent=(user_agent or "")[:MAX_USER_AGENT] or None, retention_days=site.retention_days)
        return True, self._session(conversation, site, origin, Page([], 0, False), resumed=False)

    def _session(self, conversation: Conversation, site: Site, origin: str | None, page: Page,
                 resumed: bool, version: int = 0) -> dict[str, Any]:
        token = tokens.issue(self.secrets.token_secret(), conversation.conversation_id, site.site_key,
                             self.settings.token_ttl_seconds, origin=origin, version=version)
        return {"conversation_id": conversation.conversation_id, "token": token, **page.to_json(),
                "resumed": resumed, "status": conversation.status, "assignee": conversation.assignee_json(),
                "realtime": public_config(self.settings), "contact": contact_json(conversation.contact)}

    def handoff(self, conversation_id: str, claims: tokens.VisitorClaims) -> dict[str, Any]:
        """The visitor asks for a person: ``bot`` or ``resolved`` becomes ``pending``."""
        conversation = self.current(claims, conversation_id)  # the read it needs anyway checks the token
        conversation, message = self.transitions.apply(conversation, "request_human")
        site = self.sites.get(claims.site_key)
        return {"status": conversation.status, "assignee": conversation.assignee_json(),
                "message": message.to_json() if message else None, "last_seq": conversation.last_seq,
                "availability": self.availability(site) if site is not None else None,
                "contact": contact_json(conversation.contact)}

    def visitor_typing(self, conversation_id: str, claims: tokens.VisitorClaims) -> dict[str, Any]:
        self.current(claims, conversation_id)  # one GetItem: is the token still the current one?
        self.typing.relay(conversation_id, "visitor", None)
        return {}

    def current(self, claims: tokens.VisitorClaims, conversation_id: str | None = None) -> Conversation:
        """The token's conversation, if the token is its current one: 403 for another conversation,
        404 if it is gone (expired, deleted), 401 token_revoked if resumed or deleted since. One GetItem."""
        conversation_id = claims.conversation_id if conversation_id is None else conversation_id
        tokens.require_conversation(claims, conversation_id)
        conversation = self.data.messages.visitor_conversation(conversation_id, claims.version)
        if conversation.site_key != claims.site_key:
            raise ParleyError("conversation_not_found", "No such conversation.")
        return conversation

    def delete(self, conversation_id: str, claims: tokens.VisitorClaims, client_ip: str = "unknown") -> dict[str, Any]:
        """The visitor deletes their conversation: every item of it, their tokens revoked.

        Agents watching the site's feed (and the visitor's other tabs) get a
        ``ConversationDeleted`` event. ``deleted`` is False when the delete ran
        out of time (a very long conversation): it is hidden and revoked
        already, and the same request again finishes it.
        """
        tokens.require_conversation(claims, conversation_id)
        self.limits.hit("deletes", f"{claims.site_key}#{client_ip}", self.sites.get(claims.site_key))
        finished, _, site_key = self.data.messages.delete_conversation(conversation_id, claims.version)
        if finished:
            self.realtime.event(CONVERSATION_DELETED_EVENT, {"conversation_id": conversation_id,
                                                             "site_key": site_key or claims.site_key},
                                conversation_id=conversation_id, site_key=site_key or claims.site_key)
        return {"deleted": finished, "conversation_id": conversation_id}

    def transcript(self, query: TranscriptQuery, claims: tokens.VisitorClaims) -> tuple[Conversation, list[Message], bool]:
        """The conversation's whole history for the visitor to keep (at most MAX_TRANSCRIPT_MESSAGES)."""
        tokens.require_conversation(claims, query.conversation_id)
        self.limits.hit("transcripts", query.conversation_id, self.sites.get(claims.site_key))
        conversation, messages, truncated = self.data.messages.history(
            query.conversation_id, MAX_TRANSCRIPT_MESSAGES, visitor_version=claims.version)
        if conversation.site_key != claims.site_key:
            raise ParleyError("conversation_not_found", "No such conversation.")
        return conversation, messages, truncated

    def send(self, req: SendRequest, claims: tokens.VisitorClaims, client_ip: str = "unknown") -> dict[str, Any]:
        # One broadcast budget per provider for the whole send (the message, the new
        # conversation's event, the reply, a handoff): a hung provider costs it that once.
        with self.realtime.budgeted():
            return self._send(req, claims, client_ip)

    def _send(self, req: SendRequest, claims: tokens.VisitorClaims, client_ip: str) -> dict[str, Any]:
        """Stores the visitor's message and the bot's reply, each exactly once, and pushes both.

        Each is broadcast as soon as it is stored (other tabs see the
        visitor's message before the bot has thought), leaving out the
        sender's own Pusher socket: the sender gets both in this answer. A
        repeated send broadcasts again; clients drop what they have by seq,
        and a first try that died before its broadcast is made good. A
        streaming engine's reply comes later instead (``reply_pending``: its
        deltas, then the stored message, over realtime and polling).
        """
        tokens.require_conversation(claims, req.conversation_id)
        site = self._site_and_counter(claims)
        message, created = self.data.messages.append_message(
            req.conversation_id, "visitor", req.text,
            idempotency_key=f"v#{req.client_message_id}", client_message_id=req.client_message_id,
            # The token's version is one more condition of the transaction: revocation costs no call.
            guard=Guard(rate=self.limits.counted("messages", f"{claims.site_key}#{client_ip}", site),
                        token_version=claims.version),
            retention_days=site.retention_days)
        if not created and message.text != req.text:
            # Same key, other words: a client bug, not a retry. Say so rather
            # than answer for a message that was never stored.
            raise ParleyError("idempotency_conflict", "This client_message_id was already used for another message.")
        self.realtime.publish(req.conversation_id, message, message.seq, exclude=req.socket_id,
                              site_key=site.site_key)
        if created and message.seq == 1:
            # The first message is when a conversation starts to matter to the
            # team (a page view that never writes creates nothing for them).
            self.realtime.event(CONVERSATION_EVENT, {"conversation": {
                "conversation_id": req.conversation_id, "site_key": site.site_key, "status": "bot",
                "last_seq": 1, "created_at": message.created_at}}, site_key=site.site_key)
            self.outbox.conversation_created(site.site_key, message)
        if created:
            self.outbox.message_created(site.site_key, message)
        reply, pending = self._bot_turn(req.conversation_id, req.client_message_id, message, site, req.socket_id,
                                        created)
        if reply is None and pending is None:
            # Nobody answered: a person is awaited or holds the conversation (or the site has no bot).
            # A repeat too: its first try may have died before this, and opening a period is
            # idempotent (the job works out what is still owed).
            self.outbox.visitor_waiting(site.site_key, req.conversation_id)
        last_seq = max(message.seq, reply.seq if reply else 0)
        return {"message": message.to_json(), "reply": reply.to_json() if reply else None,
                "reply_pending": pending, "last_seq": last_seq, "duplicate": not created}

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

    def _bot_turn(self, conversation_id: str, client_message_id: str, message: Message, site: Site,
                  socket_id: str | None, created: bool) -> tuple[Message | None, dict[str, Any] | None]:
        """The bot's answer (inline), or the job that will produce it (``reply_pending``); at most one.

        An inline engine answers here and the reply is stored like any other
        (replies.BotTurns.post). A streaming engine's reply is produced off the
        request path: its job goes on the reply queue and the answer says
        ``reply_pending``. A repeated send whose reply is stored gets that
        reply, and no second job; one whose reply is not (yet) stored enqueues
        again, which the FIFO queue drops within five minutes of the first and
        the worker would answer at most once anyway (b#<client_message_id>).
        """
        engine = self._engine(site)
        if engine is None:
            return None, None
        reply_id = reply_id_for(conversation_id, client_message_id)
        if getattr(engine, "streams", False):
            if not created:
                stored = self.data.messages.stored_reply(conversation_id, client_message_id)
                if stored is not None:
                    # As an inline repeat: pushed again, for a first try that died before its push.
                    self.realtime.publish(conversation_id, stored, stored.seq, exclude=socket_id,
                                          site_key=site.site_key)
                    return stored, None
            if self.reply_queue.configured:
                # One read, on this path only: a job (and a reply_pending promise) for a
                # conversation a person holds or is awaited in would come to nothing.
                # The worker checks again when it runs (and reopens a resolved one).
                try:
                    current = self.data.messages.get_conversation(conversation_id)
                except ParleyError:
                    current = None  # unknown (the store is busy): the job goes, the worker decides
                if current is not None and current.status in ("pending", "open"):
                    return None, None
                job = ReplyJob(conversation_id, client_message_id, message.seq, reply_id, site.site_key)
                try:
                    self.reply_queue.enqueue(job)
                    return None, {"reply_id": reply_id, "reply_to_seq": message.seq}
                except Exception:  # noqa: BLE001 - the visitor's message is stored: answer it another way
                    # Not a 503: the message is stored and broadcast, and a widget shows a
                    # failed send as failed, waiting for the visitor to try again. The
                    # offline engine answers now instead, as the streaming engine itself
                    # does when its model fails; a job that did reach the queue after all
                    # finds this reply stored and does nothing more.
                    log.exception("reply job for %s not enqueued; the offline engine answers inline",
                                  conversation_id)
                    offline = getattr(engine, "knowledge", None) or self._offline_engine(site)
                    answer = self._answer(offline, message.text, site)
            else:
                # No queue configured (a bare `chalice local`): the engine answers inside the send.
                answer = self._answer(engine, message.text, site, BotContext(site.site_key, self.data.budgets))
        else:
            answer = self._answer(engine, message.text, site)
        if answer is None:
            return None, None
        return self.turns.post(conversation_id, client_message_id, answer, site, reply_id, exclude=socket_id), None

    def _engine(self, site: Site) -> Any:
        """The site's engine; None (logged) when its settings name no usable one."""
        try:
            return self.bots.engine_for(site.bot)
        except Exception:  # noqa: BLE001 - a misconfigured bot never fails the send
            log.exception("no bot engine for site %s", site.site_key)
            return None

    def _offline_engine(self, site: Site) -> Any:
        """The knowledge bot on the site's own knowledge document: what a streaming engine falls back to."""
        try:
            return self.bots.engine_for({"engine": "knowledge", "knowledge": (site.bot or {}).get("knowledge")})
        except Exception:  # noqa: BLE001
            log.exception("no offline engine for site %s", site.site_key)
            return None

    def _answer(self, engine: Any, text: str, site: Site, context: BotContext | None = None) -> BotReply | None:
        """A failing engine never fails the send (the visitor's message is stored; it gets no reply)."""
        if engine is None:
            return None
        try:
            return engine.reply(text, [], context=context)
        except Exception:  # noqa: BLE001 - any engine failure is logged, not shown
            log.exception("bot engine failed for site %s", site.site_key)
            return None

    def messages(self, query: MessagesQuery, claims: tokens.VisitorClaims) -> dict[str, Any]:
        tokens.require_conversation(claims, query.conversation_id)
        if query.before is not None and query.after is not None:
            raise ParleyError("invalid_request", "Give either after or before, not both.")
        # A bad request is refused before it counts. The site (for its own limits) is the
        # cached one: a warm container reads nothing for it.
        self.limits.hit("polls", query.conversation_id, self.sites.get(claims.site_key))
        # The token's version is checked against STATE, which the page's own Query brings.
        if query.before is not None:
            page = self.data.messages.messages_before(query.conversation_id, query.before, query.limit,
                                                      visitor_version=claims.version)
        else:
            page = self.data.messages.messages_after(query.conversation_id, query.after or 0, query.limit,
                                                     visitor_version=claims.version)
        return page.to_json()
