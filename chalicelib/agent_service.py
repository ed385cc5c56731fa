"""What agents do: read a site's inbox, open a conversation, reply, and move it through its lifecycle.

Like the chat service it decides no access: the access policy has checked
the agent's token and membership of the site before a call arrives here,
and every call names that site. A conversation of another site is "not
found" here, whatever its id.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable

from .access import AgentPrincipal, SiteDirectory
from .agent_tokens import AgentIdentity
from .data import Data
from .data.messages import Guard, StateRefused, inbox_pk, mine_pk
from .errors import ParleyError
from .lifecycle import Action, Agent
from .desk import PRESENCE_TTL_SECONDS, Presence
from .outbox import NO_OUTBOX, Outbox
from .models import (AssignRequest, Conversation, InboxQuery, Message, MessagesQuery, ReadRequest,
                     ReplyRequest)
from .realtime import CHANNEL_PREFIX, FEED_PREFIX, Realtime
from .transitions import Transitions
from .typing_relay import TypingRelay

CONVERSATION_HISTORY = 50
# An agent's reply races at most a claim, a reassignment or a resolve.
MAX_REPLY_ROUNDS = 3


class AgentService:
    def __init__(self, data: Data, sites: SiteDirectory, realtime: Realtime, transitions: Transitions,
                 typing: TypingRelay, outbox: Outbox = NO_OUTBOX, presence: Presence | None = None,
                 webhooks: Callable[[], Any] | None = None) -> None:
        self.data = data
        self.sites = sites
        self.realtime = realtime
        self.transitions = transitions
        self._typing = typing
        self.outbox = outbox
        self.presence = presence
        self.webhooks = webhooks

    # -- who and where ------------------------------------------------------------

    def me(self, identity: AgentIdentity) -> dict[str, Any]:
        memberships = self.data.agents.sites_of(identity.agent_id)
        sites = []
        for m in sorted(memberships, key=lambda m: m.site_key):
            site = self.sites.get(m.site_key)
            if site is not None:  # a deleted site's membership leads nowhere
                sites.append({"site_key": m.site_key, "name": site.name, "role": m.role})
        name = next((m.name for m in memberships if m.name), "") or identity.name
        return {"agent": {"id": identity.agent_id, "email": identity.email, "name": name}, "sites": sites}

    def members(self, agent: AgentPrincipal) -> dict[str, Any]:
        return {"members": [{"id": m.agent_id, "name": m.display_name, "email": m.email, "role": m.role}
                            for m in sorted(self.data.agents.members_of(agent.site_key),
                                            key=lambda m: m.display_name.lower())]}

    # -- at the desk ----------------------------------------------------------------

    def beat(self, agent: AgentPrincipal) -> dict[str, Any]:
        """The agent's console is open on the site (a heartbeat every 30 s): they count as online."""
        until = self.data.desk.beat(agent.site_key, agent.id)
        if self.presence is not None:
            self.presence.arrived(agent.site_key)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        return {"online_until": stamp, "ttl_seconds": PRESENCE_TTL_SECONDS}

    def leave(self, agent: AgentPrincipal) -> dict[str, Any]:
        self.data.desk.leave(agent.site_key, agent.id)
        if self.presence is not None:
            self.presence.left(agent.site_key)
        return {}

    @staticmethod
    def _admin(agent: AgentPrincipal) -> None:
        if agent.role != "admin":
            raise ParleyError("admin_only", "Only the site's admins see its webhooks.")

    def webhook_list(self, agent: AgentPrincipal) -> dict[str, Any]:
        self._admin(agent)
        if self.webhooks is None:
            return {"webhooks": []}
        return {"webhooks": [hook.to_json() for hook in self.webhooks().list(agent.site_key)]}

    def webhook_deliveries(self, agent: AgentPrincipal, limit: int) -> dict[str, Any]:
        self._admin(agent)
        if self.webhooks is None:
            return {"deliveries": []}
        return {"deliveries": self.webhooks().deliveries(agent.site_key, limit)}

    # -- reading ------------------------------------------------------------------

    def inbox(self, agent: AgentPrincipal, query: InboxQuery) -> dict[str, Any]:
        mine = query.status == "mine"
        status = "open" if mine else query.status
        partition = mine_pk(agent.site_key, agent.id) if mine else inbox_pk(agent.site_key, status)
        start = _decode_cursor(query.cursor, "GSI3" if mine else "GSI2", partition) if query.cursor else None
        conversations, last = self.data.messages.inbox(agent.site_key, status, query.limit, start,
                                                       agent_id=agent.id if mine else None)
        return {"conversations": [c.summary() for c in conversations],
                "next_cursor": _encode_cursor(last) if last else None}

    def conversation(self, agent: AgentPrincipal, conversation_id: str) -> dict[str, Any]:
        self._conversation(agent, conversation_id)  # the site check, before any message is read
        page, conversation = self.data.messages.latest(conversation_id, CONVERSATION_HISTORY)
        return {"conversation": conversation.summary(), **page.to_json()}

    def messages(self, agent: AgentPrincipal, conversation_id: str, query: MessagesQuery) -> dict[str, Any]:
        self._conversation(agent, conversation_id)
        if query.before is not None:
            if query.after is not None:
                raise ParleyError("invalid_request", "Give either after or before, not both.")
            page = self.data.messages.messages_before(conversation_id, query.before, query.limit)
        else:
            page = self.data.messages.messages_after(conversation_id, query.after or 0, query.limit)
        return page.to_json()

    # -- writing ------------------------------------------------------------------

    def reply(self, agent: AgentPrincipal, conversation_id: str, req: ReplyRequest) -> dict[str, Any]:
        """Stores the agent's reply under the conversation's next seq, exactly once per client_message_id.

        An agent answers a conversation they hold. The reply's transaction
        itself requires that (open, held by this agent, of this agent's
        site), so the usual reply is one write and no read, and a reply never
        lands after someone else took the conversation or resolved it. When
        the condition fails, the state it found decides: a conversation
        waiting for a person (or still with the bot) is claimed first, a
        system message before the reply; another site's is not found.
        """
        actor = agent.actor()
        for _ in range(MAX_REPLY_ROUNDS):
            try:
                message, created = self.data.messages.append_message(
                    conversation_id, "agent", req.text, idempotency_key=f"a#{req.client_message_id}",
                    client_message_id=req.client_message_id, sender_name=agent.name,
                    guard=Guard(when_status="open", when_assignee=agent.id, when_site=agent.site_key,
                                read_mark=True))
            except StateRefused as refused:
                conversation = refused.current
                if conversation.site_key != agent.site_key:
                    raise ParleyError("conversation_not_found", "No such conversation on this site.") from None
                if conversation.status in ("pending", "bot"):
                    self.transitions.apply(conversation, "claim", by=actor)  # 409 if another got it first
                    continue
                if conversation.status == "resolved":
                    raise ParleyError("invalid_transition", "This conversation is resolved; reopen it to reply.") from None
                raise ParleyError("already_claimed",
                                  f"{conversation.assignee_name or 'Another agent'} holds this conversation.") from None
            except ParleyError as error:
                if error.code == "conversation_not_found":
                    raise ParleyError("conversation_not_found", "No such conversation on this site.") from None
                raise
            if not created:
                # A repeat is answered from the stored copy before any condition is
                # looked at: check the site now, so a repeat never shows another site's message.
                self._conversation(agent, conversation_id)
            if not created and (message.text != req.text or message.sender != "agent"):
                raise ParleyError("idempotency_conflict",
                                  "This client_message_id was already used for another message.")
            self.realtime.publish(conversation_id, message, message.seq, exclude=req.socket_id,
                                  site_key=agent.site_key)
            if created:
                self.outbox.message_created(agent.site_key, message, "open")
            return {"message": message.to_json(), "last_seq": message.seq, "duplicate": not created}
        raise ParleyError("busy", "The conversation is changing too fast; please retry.")

    def act(self, agent: AgentPrincipal, conversation_id: str, action: Action,
            body: AssignRequest | None = None) -> dict[str, Any]:
        """claim, assign, unassign, resolve, reopen, handback: a lifecycle change, stored as a system message."""
        conversation = self._conversation(agent, conversation_id)
        to: Agent | None = None
        if action == "assign":
            assert body is not None
            member = self.data.agents.membership(body.agent_id, agent.site_key)
            if member is None:
                raise ParleyError("invalid_request", "agent_id: is not a member of this site.")
            to = Agent(member.agent_id, member.display_name)
        conversation, message = self.transitions.apply(conversation, action, by=agent.actor(), to=to)
        return {"conversation": conversation.summary(), "message": message.to_json() if message else None}

    def read(self, agent: AgentPrincipal, conversation_id: str, req: ReadRequest) -> dict[str, Any]:
        self._conversation(agent, conversation_id)
        return {"conversation": self.data.messages.mark_read(conversation_id, req.seq).summary()}

    def typing(self, agent: AgentPrincipal, conversation_id: str) -> dict[str, Any]:
        self._conversation(agent, conversation_id)
        self._typing.relay(conversation_id, "agent", agent.name)
        return {}

    # -- realtime -----------------------------------------------------------------

    def channel_site(self, channel: str) -> str | None:
        """The site a channel an agent asks for belongs to (None: no channel of a site)."""
        if channel.startswith(FEED_PREFIX):
            return channel.removeprefix(FEED_PREFIX)
        if channel.startswith(CHANNEL_PREFIX):
            conversation = self.data.messages.get_conversation(channel.removeprefix(CHANNEL_PREFIX))
            return conversation.site_key if conversation else None
        return None

    # -- parts --------------------------------------------------------------------

    def _conversation(self, agent: AgentPrincipal, conversation_id: str) -> Conversation:
        conversation = self.data.messages.get_conversation(conversation_id)
        # Another site's conversation is as good as none: its existence is not the agent's to learn.
        if conversation is None or conversation.site_key != agent.site_key:
            raise ParleyError("conversation_not_found", "No such conversation on this site.")
        return conversation


def _encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, index: str, partition: str) -> dict[str, Any]:
    """A cursor from an earlier page of the same list, or 400: it must name the partition asked for."""
    bad = ParleyError("invalid_request", "cursor: is not a cursor of this list.")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad from None
    names = {"PK", "SK", f"{index}PK", f"{index}SK"}
    if (not isinstance(key, dict) or set(key) != names or not all(isinstance(v, str) for v in key.values())
            or key[f"{index}PK"] != partition or not key["PK"].startswith("CONV#") or key["SK"] != "STATE"
            or any(len(v) > 300 for v in key.values())):
        raise bad
    return key
