"""The local DynamoDB stand-in (infra/local/dynamodb.py) keeps DynamoDB's promises.

It runs as its own process, spoken to by boto3 over real HTTP, as `make dev` runs it.
"""
from __future__ import annotations

import threading
from typing import Iterator

import boto3
import pytest

from chalicelib.data import Data
from chalicelib.models import Site
from infra.table import create_table


@pytest.fixture(scope="module")
def ddb(moto_server: str) -> Iterator[object]:
    client = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    create_table(client, "t")
    yield client


def item(client, pk: str, sk: str):
    return client.get_item(TableName="t", Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(ddb):
    store = Data("t", client=ddb).messages
    store.create_conversation("roll", "demo", None, None)
    store.append_message("roll", "visitor", "first", "v#dup", "dup")
    # The counter update and the message put would succeed; the idempotency put fails.
    items = [
        {"Update": {"TableName": "t", "Key": {"PK": {"S": "CONV#roll"}, "SK": {"S": "STATE"}},
                    "UpdateExpression": "SET last_seq = :n", "ExpressionAttributeValues": {":n": {"N": "2"}}}},
        {"Put": {"TableName": "t", "Item": {"PK": {"S": "CONV#roll"}, "SK": {"S": "MSG#0000000002"}}}},
        {"Put": {"TableName": "t", "Item": {"PK": {"S": "CONV#roll"}, "SK": {"S": "CMID#v#dup"}},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
    ]
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=items)
    assert item(ddb, "CONV#roll", "STATE")["last_seq"] == {"N": "1"}, "the counter update must be rolled back"
    assert item(ddb, "CONV#roll", "MSG#0000000002") is None, "the message put must be rolled back"
    assert item(ddb, "CONV#roll", "CMID#v#dup")["text"] == {"S": "first"}, "the old record must stay"


def test_writers_with_separate_stores_contend_through_conditions_and_stay_gapless(ddb):
    # Separate Store objects share no in-process lock: like Lambda containers,
    # they meet only in DynamoDB's conditions.
    Data("t", client=ddb).messages.create_conversation("race", "demo", None, None)
    got: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store = Data("t", client=ddb).messages
        for j in range(8):
            message, _ = store.append_message("race", "visitor", f"{n}.{j}", f"v#{n}.{j}", f"{n}.{j}")
            with lock:
                got.append(message.seq)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == list(range(1, 49)), f"expected seqs 1..48 once each, got {sorted(got)}"
    page = Data("t", client=ddb).messages.messages_after("race", 0, 100)
    assert [m.seq for m in page.messages] == list(range(1, 49)) and page.last_seq == 48


def test_queries_read_their_partition_in_key_order_and_indexes_still_work(ddb):
    store = Data("t", client=ddb).messages
    for conv in ("qa", "qb"):
        store.create_conversation(conv, "demo", None, None)
        for i in range(5):
            store.append_message(conv, "visitor", f"{conv}{i}")
    page = store.messages_after("qa", 1, limit=2)
    assert [m.text for m in page.messages] == ["qa1", "qa2"] and page.has_more
    latest = store.latest_messages("qb", 3)
    assert [m.seq for m in latest.messages] == [3, 4, 5] and latest.last_seq == 5
    Data("t", client=ddb).sites.put(Site("s1", ("https://a.example",)), create=True)
    assert [s.site_key for s in Data("t", client=ddb).sites.list()] == ["s1"], "the GSI query is untouched"


def test_a_long_poll_on_the_reply_queue_holds_no_dynamodb_call(ddb):
    """SQS calls skip the lock that serializes DynamoDB's: the reply worker long-polls all the time."""
    import time

    from infra.table import create_reply_queue

    sqs = boto3.client("sqs", endpoint_url=ddb.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    url = create_reply_queue(sqs, "t")
    polled: dict[str, float] = {}

    def long_poll() -> None:
        began = time.monotonic()
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3).get("Messages") or []
        polled["took"], polled["got"] = time.monotonic() - began, len(got)

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.3)  # the poll is waiting inside moto now
    began = time.monotonic()
    ddb.describe_table(TableName="t")
    answered = time.monotonic() - began
    sqs.send_message(QueueUrl=url, MessageBody="job", MessageGroupId="g", MessageDeduplicationId="d")
    poller.join(timeout=10)
    assert answered < 1.5, f"DynamoDB waited {answered:.1f} s behind the long poll"
    assert polled["got"] == 1 and polled["took"] < 2.5, "the waiting poll got the message when it came"
