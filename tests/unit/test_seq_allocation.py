"""MessageStore.append_message: gapless seq, retries on conflict, idempotency — on a fake table.

The retry backoff sleeps through an injected ``sleep`` (a fake clock here), so
no test waits and none patches ``time``.
"""
from __future__ import annotations

import threading

import pytest

from chalicelib.data import Data, messages as messages_module
from chalicelib.data.messages import APPEND_BUDGET_SECONDS, MessageStore
from chalicelib.errors import ParleyError

from ..fakes import FakeClock
from .fake_dynamodb import FakeDynamoDB


def Store(table: str, client: FakeDynamoDB, clock: FakeClock | None = None, **parts) -> MessageStore:
    """A process's message store on the fake table; its backoff sleeps on a fake clock."""
    clock = clock or FakeClock()
    return Data(table, client=client, monotonic=clock, sleep=clock.sleep, **parts).messages


@pytest.fixture
def fake() -> FakeDynamoDB:
    fake = FakeDynamoDB()
    Store("t", client=fake).create_conversation("c1", "demo", None, None)
    fake.calls.clear()
    return fake


def seqs(fake: FakeDynamoDB) -> list[int]:
    return sorted(int(i["seq"]["N"]) for (pk, sk), i in fake.items.items() if sk.startswith("MSG#"))


def test_first_messages_get_seq_one_two_three_in_one_call_each(fake):
    s = Store("t", client=fake)
    got = [s.append_message("c1", "visitor", f"m{i}")[0].seq for i in range(3)]
    assert got == [1, 2, 3], f"expected seq 1,2,3, got {got}"
    assert fake.calls == ["TransactWriteItems"] * 3, f"expected one transaction per append, got {fake.calls}"
    assert fake.items[("CONV#c1", "STATE")]["last_seq"] == {"N": "3"}


def test_a_stale_hint_costs_exactly_one_retry_and_takes_the_counter_from_the_failure(fake):
    writer, stale = Store("t", client=fake), Store("t", client=fake)
    for i in range(4):
        writer.append_message("c1", "visitor", f"w{i}")
    fake.calls.clear()
    message, created = stale.append_message("c1", "visitor", "late")   # its hint still says 0
    assert (message.seq, created) == (5, True), f"expected seq 5, got {message['seq']}"
    assert fake.calls == ["TransactWriteItems"] * 2, f"expected 2 calls (conflict + retry), got {fake.calls}"
    assert seqs(fake) == [1, 2, 3, 4, 5]


def test_transaction_conflicts_are_retried_until_the_write_goes_through(fake):
    fake.conflicts_to_inject = 3
    message, created = Store("t", client=fake).append_message("c1", "visitor", "hi")
    assert message.seq == 1 and created
    assert len(fake.calls) == 4, f"expected 3 conflicts then success, got {fake.calls}"


def test_endless_conflicts_end_in_unavailable_without_writing(fake, monkeypatch):
    monkeypatch.setattr(messages_module, "MAX_APPEND_ATTEMPTS", 5)
    fake.conflicts_to_inject = 100
    with pytest.raises(ParleyError) as err:
        Store("t", client=fake).append_message("c1", "visitor", "hi")
    assert (err.value.status, err.value.code) == (503, "busy")
    assert len(fake.calls) == 5, f"expected exactly 5 attempts, got {len(fake.calls)}"
    assert seqs(fake) == [], "nothing may be written when every attempt failed"


def test_the_same_idempotency_key_stores_one_message_and_returns_it_again(fake):
    s = Store("t", client=fake)
    first, created1 = s.append_message("c1", "visitor", "hello", "v#abc", "abc")
    again, created2 = Store("t", client=fake).append_message("c1", "visitor", "hello", "v#abc", "abc")
    assert created1 and not created2, "second append with the same key must report created=False"
    assert again == first, f"expected the stored message back, got {again} vs {first}"
    assert seqs(fake) == [1], f"expected one stored message, got seqs {seqs(fake)}"


def test_appending_to_a_missing_conversation_is_not_found_and_writes_nothing(fake):
    with pytest.raises(ParleyError) as err:
        Store("t", client=fake).append_message("nope", "visitor", "hi")
    assert (err.value.status, err.value.code) == (404, "conversation_not_found")
    assert ("CONV#nope", "STATE") not in fake.items
    assert seqs(fake) == []


def test_concurrent_appenders_with_their_own_hints_produce_gapless_unique_seqs(fake):
    stores = [Store("t", client=fake) for _ in range(4)]
    results: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(10):
            msg, _ = stores[i % 4].append_message("c1", "visitor", f"{i}-{j}", f"v#{i}-{j}", f"{i}-{j}")
            with lock:
                results.append(msg.seq)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == list(range(1, 81)), "seqs must be exactly 1..80, each once"
    assert seqs(fake) == list(range(1, 81))


def test_the_backoff_grows_and_the_retry_budget_ends_the_attempts_on_the_clock(fake):
    clock = FakeClock()
    fake.conflicts_to_inject = 10_000
    with pytest.raises(ParleyError) as err:
        # The jitter at its ceiling, so the backoff is the longest it can be: deterministic.
        Store("t", client=fake, clock=clock, jitter=lambda low, high: high).append_message("c1", "visitor", "hi")
    assert err.value.code == "busy"
    assert sum(clock.slept) > APPEND_BUDGET_SECONDS, "it gave up only once the budget was spent"
    assert len(fake.calls) < messages_module.MAX_APPEND_ATTEMPTS, "the budget, not the attempt cap, ended it"
    assert clock.slept == sorted(clock.slept) and clock.slept[-1] == messages_module.BACKOFF_CAP_SECONDS, \
        "exponential, then capped"
    assert seqs(fake) == []
