"""The local SQS event source (infra/local/sqs_events.py) on moto's SQS: delete on success, redeliver on failure.

The queue is the one infra/table.json describes (FIFO, maxReceiveCount 3
into its dead-letter queue), made by infra/table.py as `make dev` makes it.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local import sqs_events
from infra.local.sqs_events import Poller, Source
from infra.table import create_reply_queue

TABLE = "parley-test"


@pytest.fixture
def sqs() -> Any:
    with mock_aws():
        yield boto3.client("sqs")


def queue(sqs: Any) -> tuple[str, str]:
    url = create_reply_queue(sqs, TABLE)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def put(sqs: Any, url: str, body: str, group: str = "conv1", dedup: str = "r1") -> None:
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_a_handled_batch_is_deleted_and_the_handler_gets_lambdas_event_and_context(sqs):
    url, arn = queue(sqs)
    put(sqs, url, '{"job": 1}')
    seen: list[tuple[dict[str, Any], Any]] = []
    poller = Poller(sqs, Source("reply_worker", lambda event, context: seen.append((event, context)), "q", 1),
                    url, arn, "us-east-1", wait_seconds=0)
    assert poller.poll_once() == (1, True)
    ((event, context),) = seen
    (record,) = event["Records"]
    assert record["body"] == '{"job": 1}' and record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1" and record["attributes"]["MessageGroupId"] == "conv1"
    assert context.function_name == "reply_worker" and context.get_remaining_time_in_millis() > 0
    assert depth(sqs, url) == 0, "deleted once handled"
    assert poller.poll_once() == (0, True)


def test_a_failing_batch_is_delivered_again_then_moved_to_the_dead_letter_queue(sqs):
    url, arn = queue(sqs)
    put(sqs, url, '{"job": 2}')
    counts: list[str] = []

    def broken(event: dict[str, Any], context: Any) -> None:
        counts.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("the worker broke")

    # Visibility 0: delivered again at once, instead of after the queue's 120 s.
    poller = Poller(sqs, Source("reply_worker", broken, "q", 1), url, arn, "us-east-1", wait_seconds=0,
                    visibility_timeout=0)
    for _ in range(5):
        poller.poll_once()
    assert counts == ["1", "2", "3"], "maxReceiveCount 3, then no more deliveries"
    dlq = sqs.get_queue_url(QueueName=f"{TABLE}-replies-dlq.fifo")["QueueUrl"]
    (dead,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(dead["Body"]) == {"job": 2}, "kept in the dead-letter queue for a look"


def test_start_finds_the_apps_reply_worker_by_its_queue_name_and_runs_it(make_root, monkeypatch):
    import app

    sqs = boto3.client("sqs")  # on the moto that make_root's table is on
    url, _ = queue(sqs)
    root = make_root({"PARLEY_REPLY_QUEUE_URL": url})
    handled: list[dict[str, Any]] = []

    class Worker:
        handle = staticmethod(handled.append)

    root._replies.set(Worker())  # type: ignore[arg-type]
    # app.py read its queue name at import; the decorator's config is what the stand-in follows.
    (config,) = [c for c in app.app.event_sources if c.name == "reply_worker"]
    monkeypatch.setattr(config, "queue", f"{TABLE}-replies.fifo")
    # The app's other queue (jobs: notifications, webhooks) must exist too: the stand-in polls each.
    (jobs,) = [c for c in app.app.event_sources if c.name == "job_worker"]
    sqs.create_queue(QueueName=f"{TABLE}-jobs")
    monkeypatch.setattr(jobs, "queue", f"{TABLE}-jobs")
    put(sqs, url, '{"job": 3}')
    stop, threads = sqs_events.start("app:app", concurrency=2, wait_seconds=1, sqs=sqs)
    try:
        for _ in range(100):
            if handled:
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert [r["body"] for e in handled for r in e["Records"]] == ['{"job": 3}']
    assert not any(t.is_alive() for t in threads), "the pollers stop when told"
