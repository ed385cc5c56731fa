"""What a stored change sets off besides its realtime push: webhooks, team notifications, transcripts.

The write paths (chat, the agent service, lifecycle transitions, the bot's
turn) call it once a message or a change is stored, and only the first time
(``created``): a repeated send sets off nothing again. Like a broadcast, none
of it may fail the request that caused it (the change is stored; an SQS hiccup
must not turn a sent message into an error the visitor retries), so every
failure is logged here and swallowed.

The cost on the request path: nothing for a site without webhooks whose
conversation nobody is waiting in; one SQS SendMessage per subscribed webhook
per event; one conditional UpdateItem (and a SendMessage when it opens a quiet
period) for a visitor message that waits for a person.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from .models import Conversation, Message

log = logging.getLogger("parley.outbox")

EVENT_CREATED = "conversation.created"
EVENT_HANDOFF = "conversation.handoff"
EVENT_RESOLVED = "conversation.resolved"
EVENT_MESSAGE = "message.created"


def _conversation_data(conversation_id: str, site_key: str, status: str | None, last_seq: int,
                       conversation: Conversation | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"conversation_id": conversation_id, "site_key": site_key, "last_seq": last_seq}
    if status is not None:
        data["status"] = status
    if conversation is not None:
        data["assignee"] = conversation.assignee_json()
    return data


class Outbox:
    """``webhooks`` is a getter: the webhook service (and its HTTP and TLS modules) is made only when
    a site that has webhooks for an event first sees one; which events a site's webhooks want is in
    the site record (``Site.webhook_events``), which the site cache holds anyway."""

    def __init__(self, sites: Any, webhooks: Callable[[], Any] | None = None, notices: Any = None) -> None:
        self.sites = sites
        self._webhooks = webhooks
        self.notices = notices

    def _emit(self, site_key: str, event_type: str, data: dict[str, Any], event_id: str, created_at: str) -> None:
        if self._webhooks is None:
            return
        try:
            site = self.sites.get(site_key)
            if site is None or event_type not in site.webhook_events:
                return
            self._webhooks().emit(site_key, event_type, data, event_id=event_id, created_at=created_at)
        except Exception:  # noqa: BLE001 - the change is stored; its webhook is what is lost
            log.exception("webhook event %s (%s) of site %s not queued", event_id, event_type, site_key)

    def message_created(self, site_key: str, message: Message, status: str | None = None,
                        conversation: Conversation | None = None) -> None:
        """A message was stored for the first time (any sender)."""
        data = {"conversation": _conversation_data(message.conversation_id, site_key, status, message.seq,
                                                   conversation),
                "message": message.to_json()}
        self._emit(site_key, EVENT_MESSAGE, data, f"msg_{message.id}", message.created_at)

    def conversation_created(self, site_key: str, message: Message) -> None:
        """The conversation's first message was stored: from now on it matters to the team."""
        data = {"conversation": _conversation_data(message.conversation_id, site_key, "bot", message.seq)}
        self._emit(site_key, EVENT_CREATED, data, f"conv_{message.conversation_id}", message.created_at)

    def status_changed(self, site_key: str, message: Message, status: str,
                       conversation: Conversation | None = None) -> None:
        """A lifecycle change was stored (its system message): handoffs and resolves set things off."""
        self.message_created(site_key, message, status, conversation)
        if status == "pending":
            self._emit(site_key, EVENT_HANDOFF, {"conversation": _conversation_data(
                message.conversation_id, site_key, status, message.seq, conversation)},
                f"handoff_{message.id}", message.created_at)
            self.visitor_waiting(site_key, message.conversation_id)
        elif status == "resolved":
            self._emit(site_key, EVENT_RESOLVED, {"conversation": _conversation_data(
                message.conversation_id, site_key, status, message.seq, conversation)},
                f"resolved_{message.id}", message.created_at)
            if conversation is not None:
                self._transcript(site_key, conversation)

    def visitor_waiting(self, site_key: str, conversation_id: str) -> None:
        """A person is awaited (a handoff, or the visitor wrote while one is): the team may need an email."""
        if self.notices is None or not self.notices.enabled:
            return
        try:
            site = self.sites.get(site_key)
            if site is not None:
                self.notices.schedule(site, conversation_id)
        except Exception:  # noqa: BLE001
            log.exception("notification for conversation %s not scheduled", conversation_id)

    def _transcript(self, site_key: str, conversation: Conversation) -> None:
        if self.notices is None or not self.notices.enabled or not (conversation.contact or {}).get("transcript"):
            return
        try:
            site = self.sites.get(site_key)
            if site is not None:
                self.notices.transcript_requested(site, conversation)
        except Exception:  # noqa: BLE001
            log.exception("transcript of conversation %s not queued", conversation.conversation_id)


NO_OUTBOX = Outbox(sites=None)
