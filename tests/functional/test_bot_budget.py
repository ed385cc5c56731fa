"""The Bedrock engine's per-site daily budget, on moto's DynamoDB (the table from infra/table.json)."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.bot import BotContext
from chalicelib.bot.bedrock import BedrockBot
from chalicelib.data import Data
from chalicelib.data.budgets import DAY_SECONDS, BudgetStore, Grant

from ..unit.test_bedrock_engine import SETTINGS, FakeBedrock, FakeKnowledge, HOURS

NOON = 1_767_225_600 + 12 * 3600  # 2026-01-01 12:00 UTC


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def budgets(data: Data, clock: Clock) -> BudgetStore:
    return BudgetStore(data.table, clock=clock)


def row(data: Data, site_key: str, day: str) -> dict[str, Any] | None:
    item = data.table.client.get_item(TableName=data.table.name,
                                      Key=data.table.key(f"SITE#{site_key}", f"BOTBUDGET#{day}")).get("Item")
    return data.table.plain(item) if item else None


def test_data_has_the_budget_store(data: Data):
    assert isinstance(data.budgets, BudgetStore)


def test_calls_and_tokens_are_counted_per_site_and_day(data: Data, budgets: BudgetStore):
    grants = [budgets.take("demo", 10, 1000) for _ in range(3)]
    assert grants == [Grant("demo", "2026-01-01")] * 3
    budgets.spend(grants[0], 120)
    budgets.spend(grants[1], 80)
    assert budgets.usage("demo").calls == 3 and budgets.usage("demo").tokens == 200
    assert budgets.usage("other").calls == 0, "another site's budget is its own"
    stored = row(data, "demo", "2026-01-01")
    assert stored is not None and stored["ttl"] > NOON + DAY_SECONDS, f"expected a ttl past the day: {stored}"


def test_the_call_over_the_limit_is_refused_and_counts_nothing(budgets: BudgetStore):
    assert budgets.take("demo", 2, 1000) and budgets.take("demo", 2, 1000)
    assert budgets.take("demo", 2, 1000) is None, "the third call of a 2-call day must be refused"
    assert budgets.take("demo", 2, 1000) is None
    assert budgets.usage("demo").calls == 2, "a refused call must not be counted"


def test_spent_tokens_refuse_the_next_call(budgets: BudgetStore):
    grant = budgets.take("demo", 100, 500)
    budgets.spend(grant, 499)
    assert budgets.take("demo", 100, 500) is not None, "below the token limit a call is allowed"
    budgets.spend(grant, 1)
    assert budgets.take("demo", 100, 500) is None, "at the token limit no call is made"


def test_each_utc_day_has_its_own_budget(data: Data, budgets: BudgetStore, clock: Clock):
    late = budgets.take("demo", 1, 1000)
    assert budgets.take("demo", 1, 1000) is None
    clock.now = NOON + 12 * 3600  # midnight: a new day
    assert budgets.take("demo", 1, 1000) == Grant("demo", "2026-01-02")
    budgets.spend(late, 50)  # a call counted before midnight pays into its own day
    assert budgets.usage("demo", "2026-01-01").tokens == 50
    assert budgets.usage("demo", "2026-01-02").tokens == 0
    assert row(data, "demo", "2026-01-02")["calls"] == 1


class AtomicClient:
    """moto's client with each call made one at a time, as DynamoDB applies each write to an item
    atomically; the threads still race between their calls, as containers do."""

    def __init__(self, client: Any) -> None:
        self._client, self._lock = client, threading.Lock()
        self.exceptions = client.exceptions
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.calls.append(name)
                return method(**kwargs)

        return call


def test_racing_containers_cannot_overshoot_the_limit(data: Data, clock: Clock):
    client = AtomicClient(data.table.client)
    containers = [BudgetStore(Data(data.table.name, client=client).table, clock=clock) for _ in range(8)]
    start = threading.Barrier(len(containers))
    granted: list[Grant] = []

    def run(store: BudgetStore) -> None:
        start.wait(timeout=10)
        for _ in range(5):
            grant = store.take("demo", 12, 10**6)
            if grant is not None:
                granted.append(grant)

    threads = [threading.Thread(target=run, args=(store,)) for store in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(granted) == 12, f"expected exactly the 12 allowed calls among 40 tries, got {len(granted)}"
    assert containers[0].usage("demo").calls == 12
    # The check and the count are one conditional write: no read comes before it.
    assert set(client.calls) == {"update_item", "get_item"} and client.calls.count("update_item") == 40


def test_the_engine_counts_its_calls_in_the_table(data: Data):
    client = FakeBedrock()
    bot = BedrockBot({**SETTINGS, "daily_calls": 2}, FakeKnowledge([HOURS]), client=client)
    context = BotContext("demo", data.budgets)
    replies = [bot.reply("When are you open?", [], context) for _ in range(3)]
    assert [r.engine for r in replies] == ["bedrock", "bedrock", "knowledge"]
    assert replies[-1].fallback_reason == "over_budget"
    assert len(client.calls) == 2, "the call over the budget must not be made"
    usage = data.budgets.usage("demo")
    assert (usage.calls, usage.tokens) == (2, 84), "expected both calls and their totalTokens counted"
