"""Replies off the request path: the send enqueues, the worker streams deltas and stores one reply.

moto's SQS holds the reply queue (made from infra/table.json, FIFO with its
dead-letter queue), moto's DynamoDB the table. The engine is a fake
streaming one (tests/streaming_engine.py) that moves a fake clock between
chunks, so the delta pacing is checked on that clock, not on real time. A
job is delivered the way the local event source does it
(infra/local/sqs_events.py's ``lambda_event``), through app.py's
``reply_worker`` handler (chalice.test.Client's Lambda client); the Pusher
and API Gateway clients are recording fakes.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from chalicelib.bot import ENGINES, BotContext, BotRegistry
from chalicelib.lifecycle import Agent
from chalicelib.models import Site
from chalicelib.realtime import DELTA_MAX_BYTES, MESSAGE_EVENT, REPLY_DELTA_EVENT, channel_name
from chalicelib.replies import DELTA_INTERVAL_SECONDS, reply_id_for
from infra.local.sqs_events import lambda_event
from infra.table import create_reply_queue

from ..fakes import FakeClock, FakeManagement, FakePusher
from ..streaming_engine import ENGINE, FALLBACK_TEXT, PATH
from .conftest import KNOWLEDGE, ORIGIN, stored_messages
from .test_realtime import REALTIME_ENV, invoke, ws_event

SITE = "stream"
HOURS = ["We are open ", "Monday to Friday, ", "nine to five, ", "and on Saturday ", "mornings."]


class ClockedPusher(FakePusher):
    """Records when (on the fake clock) each event was triggered, and the bytes sent."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[tuple[str, float, int]] = []

    def trigger(self, channel, event, data, socket_id=None):  # type: ignore[override]
        self.at.append((event, self.clock(), len(data.encode("utf-8"))))
        super().trigger(channel, event, data, socket_id)


class Streamed:
    """The app with every provider on, the reply queue, and a fake streaming engine for site ``stream``."""

    def __init__(self, make_root, data, sqs: Any = None, queue: bool = True) -> None:
        self.data = data
        self.sqs = boto3.client("sqs")
        self.queue_url = create_reply_queue(self.sqs, data.table.name)
        self.clock = FakeClock()
        self.calls: list[dict[str, Any]] = []
        self.pusher = ClockedPusher(self.clock)
        self.management = FakeManagement()
        bots = BotRegistry({**ENGINES, ENGINE: PATH},
                           options={ENGINE: {"advance": self.clock.advance, "calls": self.calls}})
        env = {**REALTIME_ENV, **({"PARLEY_REPLY_QUEUE_URL": self.queue_url} if queue else {})}
        self.root = make_root(env, pusher=self.pusher, management=self.management, bots=bots, monotonic=self.clock,
                              sqs=sqs or self.sqs)

    def site(self, key: str = SITE, **engine: Any) -> None:
        engine.setdefault("chunks", HOURS)
        engine.setdefault("seconds_per_chunk", 0.04)
        engine.setdefault("sources", ["Opening hours"])
        self.data.sites.put(Site(key, (ORIGIN,), bot={"engine": ENGINE, ENGINE: engine, "knowledge": KNOWLEDGE}))

    def received(self) -> list[dict[str, Any]]:
        """Every job on the queue now (each then in flight: deliver() or settle() before looking again)."""
        got: list[dict[str, Any]] = []
        for _ in range(10):
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages")
            if not batch:
                break
            got += batch
        return got

    def deliver(self, client, messages: list[dict[str, Any]] | None = None) -> int:
        """What the event source does: the queue's jobs to reply_worker, one batch each; deleted if it returns."""
        messages = self.received() if messages is None else messages
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        for message in messages:
            invoke(client, "reply_worker", lambda_event([message], arn, "us-east-1"))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def deltas(self, conversation_id: str) -> list[dict[str, Any]]:
        return [d for ch, ev, d, _ in self.pusher.triggered if ev == REPLY_DELTA_EVENT
                and ch == channel_name(conversation_id)]

    def pushed_messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return [d for ch, ev, d, _ in self.pusher.triggered if ev == MESSAGE_EVENT
                and ch == channel_name(conversation_id)]


@pytest.fixture
def streamed(http, make_root, data) -> Streamed:
    s = Streamed(make_root, data)  # after http: the graph the app uses from here on
    s.site()
    return s


def start(http, site: str = SITE) -> dict[str, Any]:
    resp = http.init(site_key=site)
    assert resp.status_code == 201, resp.body
    return resp.json_body


def send(http, session, text: str = "When are you open?", cmid: str = "c-1"):
    resp = http.send(session, text=text, cmid=cmid)
    assert resp.status_code == 201, resp.body
    return resp.json_body


# -- the send -------------------------------------------------------------------------


def test_a_send_with_a_streaming_engine_answers_reply_pending_and_puts_one_job_on_the_queue(streamed, http, data):
    session = start(http)
    cid = session["conversation_id"]
    body = send(http, session)
    reply_id = reply_id_for(cid, "c-1")
    assert body["reply"] is None and body["duplicate"] is False and body["last_seq"] == 1
    assert body["reply_pending"] == {"reply_id": reply_id, "reply_to_seq": 1}
    assert streamed.calls == [], "no engine call on the request path"
    assert [m["sender"] for m in stored_messages(data, cid)] == ["visitor"], "no reply yet"
    assert [m["seq"] for m in streamed.pushed_messages(cid)] == [1], "the visitor's message is broadcast at once"
    (job,) = streamed.received()
    assert json.loads(job["Body"]) == {"conversation_id": cid, "client_message_id": "c-1", "reply_to_seq": 1,
                                       "reply_id": reply_id, "site_key": SITE}
    assert job["Attributes"]["MessageGroupId"] == cid, "one conversation's replies in order"
    assert job["Attributes"]["MessageDeduplicationId"] == reply_id


def test_a_send_repeated_before_the_reply_exists_leaves_one_job_and_after_it_none(streamed, http, client, data):
    session = start(http)
    first = send(http, session)
    again = send(http, session)
    assert again["duplicate"] is True and again["reply"] is None
    assert again["reply_pending"] == first["reply_pending"], "the same reply is still on its way"
    jobs = streamed.received()
    assert len(jobs) == 1, "the FIFO queue drops the job enqueued again (deduplication id = reply id)"
    streamed.deliver(client, jobs)
    late = send(http, session)
    assert late["duplicate"] is True and late["reply_pending"] is None
    assert late["reply"] == stored_messages(data, session["conversation_id"])[1], "the stored reply, as inline"
    assert streamed.received() == [], "no second job once the reply exists"
    assert len([c for c in streamed.calls if c["kind"] == "stream"]) == 1


def test_a_failed_enqueue_keeps_the_message_and_the_offline_engine_answers_inline(http, make_root, data, caplog):
    class DownQueue:
        def send_message(self, **_: Any) -> None:
            raise ConnectionError("sqs is unreachable")

    streamed = Streamed(make_root, data, sqs=DownQueue())
    streamed.site()
    session = start(http)
    with caplog.at_level(logging.ERROR, logger="parley.chat"):
        body = send(http, session, text="How much does it cost?")
    assert body["reply_pending"] is None
    assert body["reply"]["sender"] == "bot" and "19 EUR" in body["reply"]["text"], "the knowledge bot's answer"
    assert body["reply"]["reply_id"] == reply_id_for(session["conversation_id"], "c-1")
    assert body["reply"]["sources"] == ["How much does Parley cost?"]
    assert [m["sender"] for m in stored_messages(data, session["conversation_id"])] == ["visitor", "bot"]
    assert streamed.calls == [] and "not enqueued" in caplog.text


def test_without_a_queue_a_streaming_engine_answers_inside_the_send(http, make_root, data):
    streamed = Streamed(make_root, data, queue=False)
    streamed.site()
    session = start(http)
    body = send(http, session)
    assert body["reply_pending"] is None and body["reply"]["text"] == "".join(HOURS)
    assert body["reply"]["sources"] == ["Opening hours"]
    (call,) = streamed.calls
    assert call["kind"] == "reply", "the engine's whole answer, inside the send"
    assert call["context"] == BotContext(SITE, streamed.root.data.budgets), "with the site's budget"


def test_an_inline_engine_reply_carries_its_reply_id_and_sources(streamed, http):
    session = http.session()  # the demo site: the offline knowledge bot answers inline
    body = http.send(session, text="How much does it cost?").json_body
    assert body["reply_pending"] is None
    assert body["reply"]["reply_id"] == reply_id_for(session["conversation_id"], "c-1")
    assert body["reply"]["sources"] == ["How much does Parley cost?"]
    assert http.poll(session).json_body["messages"][1] == body["reply"], "stored with them"


# -- the worker -----------------------------------------------------------------------


def test_the_worker_stores_exactly_one_reply_with_its_reply_id_and_sources_and_pushes_it(streamed, http, client,
                                                                                          data):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    assert streamed.deliver(client) == 1
    messages = stored_messages(data, cid)
    assert [(m["seq"], m["sender"]) for m in messages] == [(1, "visitor"), (2, "bot")]
    reply = messages[1]
    assert reply["text"] == "".join(HOURS)
    assert reply["reply_id"] == reply_id_for(cid, "c-1") and reply["sources"] == ["Opening hours"]
    assert streamed.pushed_messages(cid)[-1] == reply, "broadcast as usual once stored"
    assert http.poll(session).json_body["messages"] == messages, "a polling client sees the final message only"
    (call,) = streamed.calls
    assert call["text"] == "When are you open?" and call["history"] == [], "the current message is not history"
    assert call["context"] == BotContext(SITE, streamed.root.data.budgets), "the site and its budget"
    assert streamed.received() == [], "the job is gone once handled"


def test_deltas_are_coalesced_numbered_whole_and_small_through_both_providers(streamed, http, client):
    chunks = [f"word{i} " for i in range(30)]
    streamed.site(chunks=chunks, seconds_per_chunk=0.03)
    session = start(http)
    cid = session["conversation_id"]
    assert invoke(client, "ws_connect", ws_event("$connect", "tab1", session["token"]))["statusCode"] == 200
    send(http, session)
    streamed.deliver(client)
    deltas = streamed.deltas(cid)
    final = "".join(chunks)
    assert 5 <= len(deltas) <= 10, f"30 chunks over 0.9 s make about 9 deltas, not {len(deltas)}"
    assert [d["n"] for d in deltas] == list(range(1, len(deltas) + 1))
    for delta in deltas:
        assert set(delta) == {"conversation_id", "reply_id", "reply_to_seq", "n", "text"}
        assert delta["conversation_id"] == cid and delta["reply_id"] == reply_id_for(cid, "c-1")
        assert delta["reply_to_seq"] == 1 and final.startswith(delta["text"]), "the whole text so far"
    assert deltas[0]["text"] == chunks[0], "the first chunk goes out at once"
    times = [t for event, t, _ in streamed.pusher.at if event == REPLY_DELTA_EVENT]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= DELTA_INTERVAL_SECONDS - 1e-9, f"at most one delta per 100 ms: {gaps}"
    assert all(size < DELTA_MAX_BYTES for event, _, size in streamed.pusher.at if event == REPLY_DELTA_EVENT)
    posted = [p for p in streamed.management.posted["tab1"] if p["event"] == REPLY_DELTA_EVENT]
    assert [p["data"] for p in posted] == deltas, "the WebSocket API gets the same deltas"
    assert all(len(json.dumps(p).encode()) < DELTA_MAX_BYTES for p in posted)
    stored = [p["data"] for p in streamed.management.posted["tab1"] if p["event"] == MESSAGE_EVENT]
    assert stored[-1]["reply_id"] == deltas[0]["reply_id"] and stored[-1]["text"] == final


def test_deltas_stop_before_pushers_limit_and_the_final_message_comes_anyway(streamed, http, client, data):
    chunks = ["€" * 1000] * 8  # 3 bytes each in UTF-8: past 10 KB with the fourth chunk
    streamed.site(chunks=chunks, seconds_per_chunk=0.2)
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    streamed.deliver(client)
    deltas = streamed.deltas(cid)
    assert [len(d["text"]) for d in deltas] == [1000, 2000, 3000], "none once the text would not fit"
    assert all(size < DELTA_MAX_BYTES for event, _, size in streamed.pusher.at if event == REPLY_DELTA_EVENT)
    reply = stored_messages(data, cid)[1]
    assert reply["reply_id"] == deltas[0]["reply_id"] and reply["text"] == "€" * 4000, \
        "stored, within a message's length cap"


def test_a_redelivered_job_stores_nothing_more_and_hands_off_once(streamed, http, client, data):
    streamed.site(handoff=True)
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    (job,) = streamed.received()
    arn = streamed.sqs.get_queue_attributes(QueueUrl=streamed.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    event = lambda_event([job], arn, "us-east-1")
    invoke(client, "reply_worker", event)
    before = stored_messages(data, cid)
    assert [m["sender"] for m in before] == ["visitor", "bot", "system"], "the reply, then the handoff"
    assert data.messages.get_conversation(cid).status == "pending"
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    invoke(client, "reply_worker", event)  # delivered again: the first delete was lost, say
    assert stored_messages(data, cid) == before, "no second reply, no second handoff"
    assert len(streamed.calls) == 1, "and no second engine call"


def test_a_stream_that_fails_midway_leaves_one_fallback_reply_and_no_half_message(streamed, http, client, data):
    streamed.site(fail_after=3)
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    streamed.deliver(client)
    messages = stored_messages(data, cid)
    assert [m["sender"] for m in messages] == ["visitor", "bot"], "exactly one reply"
    assert messages[1]["text"] == FALLBACK_TEXT and messages[1]["sources"] == []
    assert "".join(HOURS[:3]) not in json.dumps(messages), "nothing of the half-written answer is stored"
    assert streamed.deltas(cid), "what was streamed before the failure went out as deltas (never stored)"


def test_an_engine_that_raises_fails_the_job_so_sqs_delivers_it_again(streamed, http, client, data):
    streamed.site(raise_after=2)
    session = start(http)
    send(http, session)
    (job,) = streamed.received()
    with pytest.raises(RuntimeError, match="broke mid-stream"):
        streamed.deliver(client, [job])
    assert [m["sender"] for m in stored_messages(data, session["conversation_id"])] == ["visitor"]


def test_the_bot_never_replies_while_an_agent_holds_the_conversation(streamed, http, client, data):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    streamed.root.transitions.apply(data.messages.get_conversation(cid), "claim", by=Agent("ana-sub", "Ana"))
    streamed.deliver(client)
    assert [m["sender"] for m in stored_messages(data, cid)] == ["visitor", "system"], "no reply"
    assert streamed.calls == [] and streamed.deltas(cid) == [], "no engine call, no deltas"


def test_a_person_awaited_gets_no_reply_either(streamed, http, client, data):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    handoff = http.post("/api/chatbot/handoff", {"conversation_id": cid},
                        {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})
    assert handoff.status_code == 200 and handoff.json_body["status"] == "pending"
    streamed.deliver(client)
    assert [m["sender"] for m in stored_messages(data, cid)] == ["visitor", "system"]
    assert streamed.calls == []


def test_the_engine_sees_the_recent_history_and_answers_in_order(streamed, http, client, data):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session, text="Hello", cmid="c-1")
    streamed.deliver(client)
    send(http, session, text="When are you open?", cmid="c-2")
    send(http, session, text="And on Sunday?", cmid="c-3")
    streamed.deliver(client)
    streamed.deliver(client)  # in one batch or two: a FIFO group hands its jobs out in order
    assert [c["text"] for c in streamed.calls] == ["Hello", "When are you open?", "And on Sunday?"]
    assert streamed.calls[1]["history"] == [{"sender": "visitor", "text": "Hello"},
                                            {"sender": "bot", "text": "".join(HOURS)}]
    assert streamed.calls[2]["history"][-1] == {"sender": "visitor", "text": "When are you open?"}, \
        "a message written after c-3 is not in its history, and c-3 itself is not"
    assert [m["sender"] for m in stored_messages(data, cid)] == ["visitor", "bot", "visitor", "visitor", "bot", "bot"]


@pytest.mark.parametrize("body", ["not json", "[]", "{}", json.dumps({
    "conversation_id": "c", "client_message_id": "m", "reply_to_seq": 1, "reply_id": "r_00000000000000000000",
    "site_key": SITE})])
def test_a_bad_sqs_body_is_logged_and_dropped_not_retried_forever(streamed, http, client, data, caplog, body):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session)
    (job,) = streamed.received()
    event = lambda_event([job], "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    bad = dict(event["Records"][0], body=body, messageId="bad-1")
    with caplog.at_level(logging.ERROR, logger="parley.replies"):
        invoke(client, "reply_worker", {"Records": [bad, event["Records"][0]]})  # returns: the batch is deleted
    assert "dropping SQS message bad-1" in caplog.text
    assert [m["sender"] for m in stored_messages(data, cid)] == ["visitor", "bot"], "the good job still answered"


def test_a_job_for_a_deleted_conversation_is_dropped(streamed, http, client, data):
    session = start(http)
    send(http, session)
    deleted = http.c.http.delete(f"/api/chatbot/conversation?conversation_id={session['conversation_id']}",
                                 headers={"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})
    assert deleted.status_code == 200, deleted.body
    assert streamed.deliver(client) == 1, "handled without an error: nothing to retry"
    assert streamed.calls == []


def test_an_engine_named_in_the_settings_is_one_a_site_can_choose(http, make_root, data):
    root = make_root({"PARLEY_BOT_ENGINES": f"{ENGINE}={PATH}"})  # no registry handed in: the settings'
    assert root.bots.engines[ENGINE] == PATH and "knowledge" in root.bots.engines and "bedrock" in root.bots.engines
    data.sites.put(Site(SITE, (ORIGIN,), bot={"engine": ENGINE, ENGINE: {"chunks": ["Hi", "!"]}}))
    session = start(http)
    body = send(http, session)  # no queue configured: the streaming engine answers inside the send
    assert body["reply"]["text"] == "Hi!"


def test_a_send_while_an_agent_holds_the_conversation_promises_no_reply_and_enqueues_nothing(streamed, http, data):
    session = start(http)
    cid = session["conversation_id"]
    send(http, session, cmid="c-1")
    streamed.received()  # the first job, in flight
    streamed.root.transitions.apply(data.messages.get_conversation(cid), "claim", by=Agent("ana-sub", "Ana"))
    body = send(http, session, text="Are you there?", cmid="c-2")
    assert body["reply"] is None and body["reply_pending"] is None, "the agent answers, not the bot"
    assert streamed.received() == []
