"""Carries out lifecycle changes: plan (``lifecycle.plan``), store, broadcast.

A change is stored as a system message in one transaction with the new
status, conditioned on the revision it was planned on. When another change
landed first (two agents claiming at once), the store refuses and hands back
the state it found, and the action is planned again against it: the second
claimant then gets ``already_claimed``, never a second owner.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from .data.messages import Guard, MessageStore, StateRefused, preview_of
from .errors import ParleyError
from .lifecycle import Action, Agent, Change, State, plan
from .models import Conversation, Message
from .outbox import NO_OUTBOX, Outbox
from .realtime import Realtime

# Each round loses only to a change that did land; a handful is plenty.
MAX_ROUNDS = 5


def state_of(conversation: Conversation) -> State:
    assignee = (Agent(conversation.assignee_id, conversation.assignee_name or "")
                if conversation.assignee_id else None)
    return State(conversation.status, assignee, conversation.state_rev,
                 float(conversation.resolved_at) if conversation.resolved_at is not None else None)


def after(conversation: Conversation, change: Change, message: Message, by_agent: bool, now: float) -> Conversation:
    """The conversation as the change left it (what a re-read would show)."""
    return replace(
        conversation, status=change.status, state_rev=conversation.state_rev + 1,
        assignee_id=change.assignee.id if change.assignee else None,
        assignee_name=change.assignee.name if change.assignee else None,
        status_since=message.created_at, updated_at=message.created_at, last_seq=message.seq,
        last_message=preview_of(message), agent_read_seq=message.seq if by_agent else conversation.agent_read_seq,
        resolved_at=int(now) if change.status == "resolved" else conversation.resolved_at)


class Transitions:
    def __init__(self, messages: MessageStore, realtime: Realtime, clock: Callable[[], float] = time.time,
                 outbox: Outbox = NO_OUTBOX) -> None:
        self.messages = messages
        self.realtime = realtime
        self.outbox = outbox
        self._clock = clock

    def apply(self, conversation: Conversation, action: Action, *, by: Agent | None = None,
              to: Agent | None = None) -> tuple[Conversation, Message | None]:
        """Plans and stores ``action``; returns the conversation after it and the system message (None: no change)."""
        for _ in range(MAX_ROUNDS):
            change = plan(state_of(conversation), action, by=by, to=to, now=self._clock())
            if change is None:
                return conversation, None
            try:
                message, _ = self.messages.append_message(
                    conversation.conversation_id, "system", change.text,
                    guard=Guard(site_key=conversation.site_key, change=change, expect_rev=conversation.state_rev,
                                read_mark=by is not None))
            except StateRefused as refused:
                conversation = refused.current  # someone changed it first: plan again on what is there
                continue
            # Everyone gets a status change, the client that caused it included
            # (its answer may not carry it, and its header must follow).
            self.realtime.publish(conversation.conversation_id, message, message.seq,
                                  site_key=conversation.site_key)
            changed = after(conversation, change, message, by is not None, self._clock())
            self.outbox.status_changed(conversation.site_key, message, change.status, changed)
            return changed, message
        raise ParleyError("busy", "The conversation is changing too fast; please retry.")

    def bot_handoff(self, conversation_id: str, site_key: str, *, after_misses: int | None) -> Message | None:
        """The bot asks for a person (it was asked to, or ``after_misses`` answers in a row did not help).

        No read first: the store's condition (still ``bot``, and enough
        misses) decides, and a refusal just means no handoff.
        """
        change = Change("pending", "bot", None, "Handing over to the team. Someone will join soon.")
        try:
            message, _ = self.messages.append_message(
                conversation_id, "system", change.text,
                guard=Guard(site_key=site_key, change=change, when_status="bot", min_misses=after_misses))
        except StateRefused:
            return None
        self.realtime.publish(conversation_id, message, message.seq, site_key=site_key)
        self.outbox.status_changed(site_key, message, "pending")
        return message
