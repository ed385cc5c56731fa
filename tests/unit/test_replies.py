"""The reply path's pure parts: job bodies, reply ids, delta pacing and size, the settings that wire it."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from chalicelib.models import MAX_SOURCE_CHARS, MAX_SOURCES, Message, bounded_sources
from chalicelib.realtime import DELTA_MAX_BYTES, REPLY_DELTA_EVENT, Budget, Realtime, reply_delta
from chalicelib.replies import DELTA_BUDGET_SECONDS, BadJob, Deltas, ReplyJob, ReplyQueue, reply_id_for
from chalicelib.settings import SettingsError, load_settings
from infra.local.sqs_events import lambda_event

from ..fakes import FakeClock

BASE = {"PARLEY_TABLE": "parley-test", "PARLEY_TOKEN_SECRET": "x" * 40}
JOB = ReplyJob("conv1", "cmid-1", 7, reply_id_for("conv1", "cmid-1"), "demo")


class RecordingRealtime:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any], str | None]] = []
        self.fail = fail

    def event(self, event: str, data: Any, *, conversation_id: str | None = None, **_: Any) -> None:
        self.events.append((event, data, conversation_id))
        if self.fail:
            raise ConnectionError("every provider is down")

    @contextmanager
    def budgeted(self, budget: Budget | None = None) -> Iterator[Budget]:
        self.budgets = getattr(self, "budgets", []) + [budget or Budget(4)]
        yield self.budgets[-1]


class SlowPusher:
    """A provider whose every push takes ``seconds`` on the fake clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.name, self.clock, self.seconds, self.pushed = "pusher", clock, seconds, []

    def send_event(self, event: str, data: Any, **_: Any) -> None:
        self.clock.advance(self.seconds)
        self.pushed.append(data["n"])


def test_the_reply_id_is_the_contract_hash_and_stable():
    import hashlib

    expected = "r_" + hashlib.sha256(b"conv1:cmid-1").hexdigest()[:20]
    assert reply_id_for("conv1", "cmid-1") == expected == reply_id_for("conv1", "cmid-1")
    assert reply_id_for("conv1", "cmid-2") != expected and reply_id_for("conv2", "cmid-1") != expected


def test_a_job_body_round_trips_with_exactly_the_contract_fields():
    body = json.loads(JOB.body())
    assert body == {"conversation_id": "conv1", "client_message_id": "cmid-1", "reply_to_seq": 7,
                    "reply_id": JOB.reply_id, "site_key": "demo"}
    assert ReplyJob.parse(JOB.body()) == JOB


def _with(**change: Any) -> str:
    return json.dumps({**json.loads(JOB.body()), **change})


@pytest.mark.parametrize("body", [None, "", "nope", "[1]", "{}", _with(reply_to_seq="7"), _with(reply_to_seq=True),
                                  _with(reply_to_seq=0), _with(site_key=""), _with(reply_id="r_" + "0" * 20)])
def test_anything_but_a_whole_job_is_a_bad_job(body):
    with pytest.raises(BadJob):
        ReplyJob.parse(body)


def test_a_fifo_queue_gets_the_conversation_as_group_and_the_reply_id_as_deduplication_id():
    class Client:
        sent: list[dict[str, Any]] = []

        def send_message(self, **kwargs: Any) -> None:
            self.sent.append(kwargs)

    fifo, standard = Client(), Client()
    ReplyQueue("https://sqs.eu-west-1.amazonaws.com/1/q.fifo", client=fifo).enqueue(JOB)
    assert fifo.sent[-1] == {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q.fifo", "MessageBody": JOB.body(),
                             "MessageGroupId": "conv1", "MessageDeduplicationId": JOB.reply_id}
    Client.sent = []
    ReplyQueue("https://sqs.eu-west-1.amazonaws.com/1/q", client=standard).enqueue(JOB)
    assert standard.sent[-1] == {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "MessageBody": JOB.body()}
    assert not ReplyQueue(None).configured


def test_deltas_go_at_most_once_per_interval_with_the_whole_text_and_n_counting_up():
    clock, realtime = FakeClock(), RecordingRealtime()
    deltas = Deltas(realtime, JOB, clock=clock, interval=0.1)  # type: ignore[arg-type]
    for chunk in ["a", "b", "c", "d", "e", "f"]:
        deltas.add(chunk)
        clock.advance(0.04)
    sent = [data for _, data, _ in realtime.events]
    assert [(d["n"], d["text"]) for d in sent] == [(1, "a"), (2, "abcd")], "t=0, then t=0.12 (0.04 and 0.08 wait)"
    assert all(e == REPLY_DELTA_EVENT and c == "conv1" for e, _, c in realtime.events)
    assert sent[0] == {"conversation_id": "conv1", "reply_id": JOB.reply_id, "reply_to_seq": 7, "n": 1, "text": "a"}


def test_whitespace_alone_is_no_delta_and_a_failing_push_never_raises():
    clock, realtime = FakeClock(), RecordingRealtime(fail=True)
    deltas = Deltas(realtime, JOB, clock=clock)  # type: ignore[arg-type]
    deltas.add("  ")
    assert realtime.events == []
    deltas.add("Hi")
    assert len(realtime.events) == 1 and deltas.n == 1


def test_a_long_answer_keeps_streaming_when_every_push_takes_its_time():
    # 60 deltas of 0.15 s each are 9 s of healthy pushes: more than a send's whole broadcast
    # budget (4 s), which must not run out on them (each delta has a small budget of its own).
    clock = FakeClock()
    pusher = SlowPusher(clock, 0.15)
    realtime = Realtime([pusher], clock=clock)  # type: ignore[list-item]
    deltas = Deltas(realtime, JOB, clock=clock, interval=0.1)
    with realtime.budgeted():  # the worker's whole job runs inside one, as a send does
        for i in range(60):
            deltas.add(f"w{i} ")
            clock.advance(0.1)
    assert pusher.pushed == list(range(1, 61)), f"every delta pushed, got {len(pusher.pushed)}"


def test_a_provider_that_overruns_a_deltas_budget_is_skipped_for_the_rest_of_the_reply():
    clock, realtime = FakeClock(), RecordingRealtime()
    deltas = Deltas(realtime, JOB, clock=clock)  # type: ignore[arg-type]
    realtime.event = lambda *a, **k: realtime.budgets[-1].spend("pusher", DELTA_BUDGET_SECONDS + 1)  # hangs
    deltas.add("a")
    clock.advance(1)
    deltas.add("b")
    later = realtime.budgets[1]
    assert later.left("pusher") <= 0 and later.left("websocket") == DELTA_BUDGET_SECONDS, (
        "the hung provider is skipped from then on; the other keeps its budget")


def test_a_delta_stays_under_pushers_limit_or_is_not_made():
    small = reply_delta("c" * 32, JOB.reply_id, 1, 1, "x" * 100)
    assert small is not None and small["text"] == "x" * 100
    frame = lambda text: len(json.dumps({"event": REPLY_DELTA_EVENT, "data": {  # noqa: E731
        "conversation_id": "c" * 32, "reply_id": JOB.reply_id, "reply_to_seq": 1, "n": 1, "text": text}},
        separators=(",", ":"), ensure_ascii=False).encode())
    overhead = frame("")
    assert reply_delta("c" * 32, JOB.reply_id, 1, 1, "x" * (DELTA_MAX_BYTES - overhead - 1)) is not None
    assert reply_delta("c" * 32, JOB.reply_id, 1, 1, "x" * (DELTA_MAX_BYTES - overhead)) is None, "under, not at"
    assert reply_delta("c" * 32, JOB.reply_id, 1, 1, "é" * 6000) is None, "bytes count, not characters"


def test_once_too_big_no_more_deltas_for_that_reply():
    clock, realtime = FakeClock(), RecordingRealtime()
    deltas = Deltas(realtime, JOB, clock=clock)  # type: ignore[arg-type]
    for chunk in ["€" * 1500, "€" * 1500, "€" * 1500, "x"]:
        deltas.add(chunk)
        clock.advance(1)
    assert [len(d["text"]) for _, d, _ in realtime.events] == [1500, 3000], "4500 € are 13.5 KB"
    assert deltas.full


def test_a_bot_message_shows_reply_id_and_sources_only_when_set():
    plain = Message("m1", "c", 1, "visitor", "hi", "2026-01-01T00:00:00.000Z", "cmid")
    assert "reply_id" not in plain.to_json() and "sources" not in plain.to_json()
    bot = Message("m2", "c", 2, "bot", "ok", "2026-01-01T00:00:00.000Z", reply_id="r_1", sources=())
    assert bot.to_json()["reply_id"] == "r_1" and bot.to_json()["sources"] == []


def test_sources_are_bounded_text_without_repeats():
    many = [f"Entry {i}" for i in range(10)]
    assert bounded_sources(many) == tuple(many[:MAX_SOURCES])
    assert bounded_sources(["A", "A", "", "  ", None, 3, "B"]) == ("A", "B")
    assert bounded_sources(["x" * 500]) == ("x" * MAX_SOURCE_CHARS,)
    assert bounded_sources(None) == ()


def test_the_queue_url_and_extra_engines_are_checked_settings():
    url = "https://sqs.eu-west-1.amazonaws.com/123/parley-prod-replies.fifo"
    s = load_settings({**BASE, "PARLEY_REPLY_QUEUE_URL": url,
                       "PARLEY_BOT_ENGINES": "mine=my_package.bots:MyBot, other=x:Y"})
    assert s.reply_queue_name == "parley-prod-replies.fifo"
    assert s.extra_engines == {"mine": "my_package.bots:MyBot", "other": "x:Y"}
    assert load_settings(BASE).reply_queue_name == "parley-test-replies.fifo" and load_settings(BASE).extra_engines == {}
    with pytest.raises(SettingsError, match="PARLEY_REPLY_QUEUE_URL"):
        load_settings({**BASE, "PARLEY_REPLY_QUEUE_URL": "parley-replies.fifo"})
    with pytest.raises(SettingsError, match="PARLEY_BOT_ENGINES"):
        load_settings({**BASE, "PARLEY_BOT_ENGINES": "mine=not a path"})


def test_the_local_event_source_builds_lambdas_sqs_event():
    message = {"MessageId": "id-1", "ReceiptHandle": "rh-1", "Body": JOB.body(), "MD5OfBody": "md5",
               "Attributes": {"ApproximateReceiveCount": "2", "MessageGroupId": "conv1"},
               "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "reply"}}}
    event = lambda_event([message], "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    assert event == {"Records": [{
        "messageId": "id-1", "receiptHandle": "rh-1", "body": JOB.body(),
        "attributes": {"ApproximateReceiveCount": "2", "MessageGroupId": "conv1"},
        "messageAttributes": {"kind": {"stringValue": "reply", "stringListValues": [], "binaryListValues": [],
                                       "dataType": "String"}},
        "md5OfBody": "md5", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo",
        "awsRegion": "us-east-1"}]}
    from chalice.app import SQSEvent

    (record,) = list(SQSEvent(event, None))
    assert record.body == JOB.body() and record.receipt_handle == "rh-1", "Chalice reads it as Lambda's"
