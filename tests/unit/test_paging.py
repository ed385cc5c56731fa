"""messages_after never hands a client a cursor that skips a message."""
from __future__ import annotations

from chalicelib.data import Data
from chalicelib.data.table import STATE_SK, msg_sk


def msg(seq: int) -> dict:
    return {"PK": {"S": "CONV#c1"}, "SK": {"S": msg_sk(seq)}, "id": {"S": f"m{seq}"},
            "conversation_id": {"S": "c1"}, "seq": {"N": str(seq)}, "sender": {"S": "bot"},
            "text": {"S": "t"}, "created_at": {"S": "x"}}


def state(last_seq: int) -> dict:
    return {"PK": {"S": "CONV#c1"}, "SK": {"S": STATE_SK}, "last_seq": {"N": str(last_seq)}}


class CannedQuery:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def query(self, **_: object) -> dict:
        return {"Items": self.items}


def page(items: list[dict], after: int = 0, limit: int = 100):
    return Data("t", client=CannedQuery(items)).messages.messages_after("c1", after, limit)


def test_an_ordinary_answer_reaches_last_seq_and_has_no_more():
    p = page([msg(1), msg(2), state(2)])
    assert ([m.seq for m in p.messages], p.last_seq, p.has_more) == ([1, 2], 2, False)


def test_a_counter_ahead_of_the_messages_read_means_ask_again():
    # The Query read past slot 3 before its transaction committed, then read STATE after.
    p = page([msg(1), msg(2), state(3)])
    assert ([m.seq for m in p.messages], p.last_seq, p.has_more) == ([1, 2], 3, True)


def test_the_answer_stops_at_a_gap():
    p = page([msg(1), msg(3), state(3)])
    assert [m.seq for m in p.messages] == [1] and p.has_more


def test_the_answer_starts_right_after_the_cursor_or_returns_nothing():
    p = page([msg(6), state(6)], after=4)
    assert p.messages == [] and p.has_more and p.last_seq == 6


def test_a_page_cut_by_the_limit_says_there_is_more():
    p = page([msg(1), msg(2), msg(3)], limit=2)
    assert ([m.seq for m in p.messages], p.last_seq, p.has_more) == ([1, 2], 2, True)


def test_an_empty_poll_reports_the_counter():
    p = page([state(7)], after=7)
    assert (p.messages, p.last_seq, p.has_more) == ([], 7, False)


def aged(seq: int, *, ttl: int | None = None, created_at: str = "2020-01-01T00:00:00.000Z") -> dict:
    item = {**msg(seq), "created_at": {"S": created_at}}
    if ttl is not None:
        item["ttl"] = {"N": str(ttl)}
    return item


def test_expired_messages_still_stored_are_stepped_over():
    p = page([aged(1, ttl=1), aged(2, ttl=1), aged(3), state(3)])
    assert ([m.seq for m in p.messages], p.last_seq, p.has_more) == ([3], 3, False)


def test_a_gap_before_an_old_message_is_expired_history_not_an_append_in_flight():
    p = page([aged(3), aged(4), state(4)])
    assert ([m.seq for m in p.messages], p.has_more) == ([3, 4], False)


def test_a_gap_after_the_first_message_is_still_waited_at():
    p = page([aged(1), aged(3), state(3)])
    assert ([m.seq for m in p.messages], p.has_more) == ([1], True)
