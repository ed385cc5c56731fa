"""The lifecycle's rules alone (chalicelib/lifecycle.py): which change each action makes, or refuses."""
from __future__ import annotations

import pytest

from chalicelib.errors import ParleyError
from chalicelib.lifecycle import REOPEN_TO_PENDING_SECONDS, Agent, State, plan

ANA, BO = Agent("ana", "Ana"), Agent("bo", "Bo")
BOSS = Agent("boss", "Boss", admin=True)


def state(status: str, assignee: Agent | None = None, resolved_at: float | None = None) -> State:
    return State(status, assignee, rev=3, resolved_at=resolved_at)  # type: ignore[arg-type]


def refused(code: str, *args, **kwargs) -> None:
    with pytest.raises(ParleyError) as caught:
        plan(*args, **kwargs)
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}"


@pytest.mark.parametrize("status", ["bot", "resolved"])
def test_asking_for_a_person_makes_the_conversation_pending(status):
    change = plan(state(status), "request_human")
    assert (change.status, change.previous, change.assignee) == ("pending", status, None)
    assert change.event() == {"type": "status", "status": "pending", "previous": status, "assignee": None}


@pytest.mark.parametrize("status", ["pending", "open"])
def test_asking_again_while_a_person_is_awaited_or_here_changes_nothing(status):
    assert plan(state(status, ANA if status == "open" else None), "request_human") is None


def test_claim_opens_with_the_claimant_and_says_so():
    change = plan(state("pending"), "claim", by=ANA)
    assert (change.status, change.assignee, change.text) == ("open", ANA, "Ana joined the conversation")


def test_claiming_ones_own_changes_nothing_and_anothers_is_refused_even_for_an_admin():
    assert plan(state("open", ANA), "claim", by=ANA) is None
    refused("already_claimed", state("open", ANA), "claim", by=BO)
    refused("already_claimed", state("open", ANA), "claim", by=BOSS)
    refused("invalid_transition", state("resolved"), "claim", by=ANA)


def test_assign_away_needs_to_hold_it_or_be_an_admin():
    assert plan(state("open", ANA), "assign", by=ANA, to=BO).assignee == BO
    refused("already_claimed", state("open", ANA), "assign", by=BO, to=BO)
    assert plan(state("open", ANA), "assign", by=BOSS, to=BO).text == "Boss assigned the conversation to Bo"
    assert plan(state("open", BO), "assign", by=BOSS, to=BO) is None, "already held by the one assigned"


@pytest.mark.parametrize("action", ["unassign", "resolve", "handback"])
def test_acting_on_anothers_conversation_needs_an_admin(action):
    refused("already_claimed", state("open", ANA), action, by=BO)
    assert plan(state("open", ANA), action, by=BOSS) is not None


def test_unassign_resolve_reopen_handback_move_where_they_should():
    assert plan(state("open", ANA), "unassign", by=ANA).status == "pending"
    assert plan(state("open", ANA), "resolve", by=ANA).status == "resolved"
    assert plan(state("resolved"), "resolve", by=ANA) is None
    reopened = plan(state("resolved"), "reopen", by=BO)
    assert (reopened.status, reopened.assignee) == ("open", BO)
    assert plan(state("pending"), "handback", by=ANA).status == "bot"
    refused("invalid_transition", state("bot"), "handback", by=ANA)
    refused("invalid_transition", state("pending"), "unassign", by=ANA)
    refused("invalid_transition", state("open", ANA), "reopen", by=ANA)


def test_a_visitor_returning_within_a_day_waits_for_the_team_and_later_gets_the_bot():
    resolved = state("resolved", resolved_at=1_000.0)
    soon = plan(resolved, "visitor_returned", now=1_000.0 + REOPEN_TO_PENDING_SECONDS - 1)
    later = plan(resolved, "visitor_returned", now=1_000.0 + REOPEN_TO_PENDING_SECONDS + 1)
    assert (soon.status, later.status) == ("pending", "bot")
    assert plan(state("open", ANA), "visitor_returned", now=5.0) is None
