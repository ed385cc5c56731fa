"""How many DynamoDB calls each operation makes: the access patterns, pinned down.

Counted with botocore's event hooks on the table's own client; the object
graph is rebuilt where a test needs a new process's view (no site cache, no
seq hints).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from chalicelib.data import Data


@pytest.fixture
def calls(data: Data) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_call(event_name: str = "", **_: object) -> None:
        seen.append(event_name.rsplit(".", 1)[-1])

    data.table.client.meta.events.register("before-call.dynamodb", on_call)
    yield seen
    data.table.client.meta.events.unregister("before-call.dynamodb", on_call)


@contextlib.contextmanager
def counting(calls: list[str]) -> Iterator[list[str]]:
    calls.clear()
    window: list[str] = []
    yield window
    window.extend(calls)


@pytest.fixture
def new_process(make_root):
    """Makes the app's graph anew, as a fresh Lambda container has it: nothing cached."""
    return lambda: make_root()


def test_a_new_init_reads_the_site_and_writes_the_conversation(http, data, calls, new_process):
    new_process()
    with counting(calls) as made:
        http.session()
    # The rate-limit count (one conditional UpdateItem) before the conversation is made. No count
    # of agents online: config (which the widget reads first anyway) and handoff answer that.
    assert made == ["GetItem", "UpdateItem", "PutItem"]
    with counting(calls) as made:
        http.session()
    assert made == ["UpdateItem", "PutItem"], "a warm process has the site cached"


def test_a_send_in_a_new_process_reads_once_then_writes_each_message_in_one_transaction(http, data, calls, new_process):
    session = http.session()
    http.send(session, cmid="c-0")
    new_process()
    with counting(calls) as made:
        assert http.send(session, cmid="c-1").status_code == 201
    # Site and counter in one read; the visitor message and the bot reply one transaction each.
    # The rate-limit count rides in the visitor message's transaction: no call of its own.
    assert made == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]


def test_a_send_in_a_warm_process_is_two_transactions(http, data, calls):
    session = http.session()
    http.send(session, cmid="c-0")
    with counting(calls) as made:
        http.send(session, cmid="c-1")
    assert made == ["TransactWriteItems", "TransactWriteItems"]


def test_a_stale_counter_costs_one_more_transaction_and_no_read(http, data, calls):
    session = http.session()
    http.send(session, cmid="c-0")
    # Another process appends meanwhile: this process's hint is now behind.
    Data(data.table.name, client=data.table.client).messages.append_message(session["conversation_id"], "agent", "hi")
    with counting(calls) as made:
        body = http.send(session, cmid="c-1").json_body
    assert body["message"]["seq"] == 4
    assert made == ["TransactWriteItems"] * 3, "visitor: conflict + retry; bot: one"


def test_a_repeated_send_is_answered_from_the_failed_transactions(http, data, calls):
    session = http.session()
    http.send(session, cmid="c-1")
    with counting(calls) as made:
        assert http.send(session, cmid="c-1").json_body["duplicate"] is True
    assert made == ["TransactWriteItems", "TransactWriteItems"]


@pytest.mark.parametrize("fresh", [False, True], ids=["warm", "new-process"])
def test_an_empty_poll_is_one_query(http, data, calls, new_process, fresh):
    session = http.session()
    if fresh:
        new_process()
    with counting(calls) as made:
        assert http.poll(session, "after=0").json_body["messages"] == []
    # A new process reads the site once (its own rate limits; cached from then on).
    assert made == (["GetItem"] if fresh else []) + ["UpdateItem", "Query"]
    with counting(calls) as made:
        http.poll(session, "after=0")
    assert made == ["UpdateItem", "Query"], "the count, then one Query"


def test_a_resume_is_one_update_and_one_query_when_the_site_is_cached(http, data, calls):
    session = http.session()
    with counting(calls) as made:
        resp = http.init(conversation_id=session["conversation_id"], token=session["token"])
    assert resp.status_code == 200
    # The token version's check-and-step (revoking earlier tokens), then the history.
    assert made == ["UpdateItem", "Query"], "a resume creates nothing: no rate-limit count either"
