"""The conversation lifecycle: which status may follow which, and what each change says.

    bot --(a person is asked for)--> pending --(claim)--> open --(resolve)--> resolved
     ^                                  ^  \\______(unassign)__/                 |
     |______(hand back)_________________|____________________________(reopen)--> open
    resolved --(the visitor writes: < 24 h after)--> pending,  (later) --> bot

Pure rules, no I/O: the chat and agent services read the conversation, ask
``plan`` what an action does to it, and store the answer (a ``Change``) as a
system message in the same transaction as the new status, conditioned on the
conversation's ``state_rev`` being the one they read. So two agents claiming
at once get one owner: the second write finds the revision moved, and
re-planned against the new state, its claim is ``already_claimed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import ParleyError

Status = Literal["bot", "pending", "open", "resolved"]
Action = Literal["request_human", "bot_handoff", "claim", "assign", "unassign", "resolve", "reopen",
                 "handback", "visitor_returned"]

# A visitor who writes again within this long after "resolved" wants the
# team back; later it is a new question, and the bot takes it first.
REOPEN_TO_PENDING_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Agent:
    """Who acts (an agent) or who holds the conversation: the id is the Cognito sub."""

    id: str
    name: str
    admin: bool = False

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class State:
    """What the lifecycle needs of a stored conversation."""

    status: Status
    assignee: Agent | None
    rev: int
    resolved_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class Change:
    """A planned change: the new status and assignee, and the system message that records it."""

    status: Status
    previous: Status
    assignee: Agent | None
    text: str

    def event(self) -> dict[str, Any]:
        return {"type": "status", "status": self.status, "previous": self.previous,
                "assignee": self.assignee.to_json() if self.assignee else None}


def _invalid(state: State, action: str) -> ParleyError:
    return ParleyError("invalid_transition", f"A conversation that is {state.status} cannot be {action}.")


def _held_by_other(state: State, by: Agent | None) -> bool:
    return state.assignee is not None and (by is None or state.assignee.id != by.id)


def _held(state: State) -> ParleyError:
    name = state.assignee.name if state.assignee else "another agent"
    return ParleyError("already_claimed", f"{name} holds this conversation.")


def plan(state: State, action: Action, *, by: Agent | None = None, to: Agent | None = None,
         now: float = 0.0) -> Change | None:
    """The change ``action`` makes, None if it changes nothing, or a 409 if it is not allowed.

    ``by`` is the acting agent (None for the visitor or the bot); ``to`` the
    agent an ``assign`` hands the conversation to.
    """
    s = state.status
    if action in ("request_human", "bot_handoff"):
        if s in ("pending", "open"):
            return None  # a person is already asked for, or here
        text = ("The visitor asked for a person. Someone from the team will join soon."
                if action == "request_human" else "Handing over to the team. Someone will join soon.")
        return Change("pending", s, None, text)
    if action == "visitor_returned":
        if s != "resolved":
            return None
        recent = state.resolved_at is not None and now - state.resolved_at < REOPEN_TO_PENDING_SECONDS
        if recent:
            return Change("pending", s, None, "The visitor wrote again; the conversation is waiting for the team.")
        return Change("bot", s, None, "The visitor wrote again.")
    assert by is not None, "agent actions name the agent"
    if action == "claim":
        if s == "open" and state.assignee and state.assignee.id == by.id:
            return None
        if s == "resolved":
            raise _invalid(state, "claimed (reopen it)")
        if _held_by_other(state, by):
            raise _held(state)
        return Change("open", s, by, f"{by.name} joined the conversation")
    if action == "assign":
        assert to is not None
        if s == "resolved":
            raise _invalid(state, "assigned (reopen it)")
        if s == "open" and state.assignee and state.assignee.id == to.id:
            return None
        if _held_by_other(state, by) and not by.admin:
            raise _held(state)
        text = (f"{to.name} joined the conversation" if to.id == by.id
                else f"{by.name} assigned the conversation to {to.name}")
        return Change("open", s, to, text)
    if action == "unassign":
        if s != "open":
            raise _invalid(state, "unassigned")
        if _held_by_other(state, by) and not by.admin:
            raise _held(state)
        holder = state.assignee.name if state.assignee else by.name
        return Change("pending", s, None, f"{holder} left the conversation; it is waiting for the team.")
    if action == "resolve":
        if s == "resolved":
            return None
        if _held_by_other(state, by) and not by.admin:
            raise _held(state)
        return Change("resolved", s, None, f"{by.name} resolved the conversation")
    if action == "reopen":
        if s != "resolved":
            raise _invalid(state, "reopened")
        return Change("open", s, by, f"{by.name} reopened the conversation")
    if action == "handback":
        if s not in ("pending", "open"):
            raise _invalid(state, "handed back to the bot")
        if _held_by_other(state, by) and not by.admin:
            raise _held(state)
        return Change("bot", s, None, f"{by.name} handed the conversation back to the bot")
    raise ValueError(f"unknown action {action!r}")
