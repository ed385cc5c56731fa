"""DynamoDB's own failures, on a real boto3 client with botocore's Stubber (no network).

Transient ones become a retryable 503 inside the data layer; others stay bugs.
A site that could not be read is never taken for a site that does not exist.
"""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from chalicelib.access import SiteDirectory
from chalicelib.data import BATCH_ROUNDS, Data
from chalicelib.errors import ParleyError
from chalicelib.models import Site

from ..fakes import FakeClock

TABLE = "parley-t"
SITE_KEY = {"PK": {"S": "SITE#demo"}, "SK": {"S": "META"}}
STATE_KEY = {"PK": {"S": "CONV#c1"}, "SK": {"S": "STATE"}}
SITE_ITEM = {**SITE_KEY, "site_key": {"S": "demo"}, "origins": {"L": [{"S": "https://a.example"}]},
             "bot": {"S": "{}"}, "widget": {"S": "{}"}}


@pytest.fixture
def stubbed():
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def data_on(client, clock: FakeClock | None = None) -> Data:
    clock = clock or FakeClock()
    return Data(TABLE, client=client, monotonic=clock, sleep=clock.sleep)


def unavailable(call) -> ParleyError:
    with pytest.raises(ParleyError) as err:
        call()
    assert (err.value.status, err.value.code) == (503, "unavailable"), f"expected a 503, got {err.value!r}"
    return err.value


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "InternalServerError", "RequestLimitExceeded"])
def test_throttling_and_service_errors_become_unavailable(stubbed, code):
    client, stubber = stubbed
    stubber.add_client_error("query", service_error_code=code, http_status_code=400)
    error = unavailable(lambda: data_on(client).messages.messages_after("c1", 0))
    assert isinstance(error.__cause__, ClientError)


@pytest.mark.parametrize("exc", [EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
                                 ReadTimeoutError(endpoint_url="http://127.0.0.1:1")])
def test_an_unreachable_or_hung_endpoint_becomes_unavailable(exc):
    class Failing:
        def get_item(self, **_):
            raise exc

    unavailable(lambda: data_on(Failing()).sites.get("demo"))


def test_other_client_errors_are_not_hidden(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("query", service_error_code="ValidationException", http_status_code=400)
    with pytest.raises(ClientError):
        data_on(client).messages.messages_after("c1", 0)


def test_a_batch_read_that_keeps_unprocessed_keys_is_unavailable_not_a_missing_site(stubbed):
    client, stubber = stubbed
    request = {TABLE: {"Keys": [SITE_KEY, STATE_KEY], "ConsistentRead": True}}
    for _ in range(BATCH_ROUNDS):
        stubber.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": request},
                             {"RequestItems": request})
    clock = FakeClock()
    unavailable(lambda: data_on(client, clock).site_and_counter("demo", "c1"))
    assert len(clock.slept) == BATCH_ROUNDS - 1 and clock.slept == sorted(clock.slept), \
        "it backs off between rounds, longer each time"


def test_a_batch_read_finishes_what_was_unprocessed(stubbed):
    client, stubber = stubbed
    both = {TABLE: {"Keys": [SITE_KEY, STATE_KEY], "ConsistentRead": True}}
    rest = {TABLE: {"Keys": [SITE_KEY], "ConsistentRead": True}}
    stubber.add_response("batch_get_item", {"Responses": {TABLE: [{**STATE_KEY, "last_seq": {"N": "7"}}]},
                                            "UnprocessedKeys": rest}, {"RequestItems": both})
    stubber.add_response("batch_get_item", {"Responses": {TABLE: [SITE_ITEM]}}, {"RequestItems": rest})
    data = data_on(client)
    site, last_seq = data.site_and_counter("demo", "c1")
    assert (site.site_key, site.origins, last_seq) == ("demo", ("https://a.example",), 7)
    assert data.messages.hints.get("c1") == 7, "the counter read feeds the append's first guess"


def test_a_throttled_site_read_is_not_cached_as_site_gone(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_response("get_item", {"Item": SITE_ITEM}, {"TableName": TABLE, "Key": SITE_KEY})
    directory = SiteDirectory(data_on(client).sites, ttl_seconds=30, clock=FakeClock())
    unavailable(lambda: directory.get("demo"))
    assert directory.peek("demo") == (False, None), "a failed read leaves nothing in the cache"
    assert isinstance(directory.get("demo"), Site), "the next request reads the site again and finds it"


def test_a_send_whose_site_read_is_throttled_answers_503_and_the_next_one_works(stubbed):
    """Through the app's graph: throttling on the first read of a process is a 503, then it recovers."""
    from chalicelib import tokens
    from chalicelib.models import SendRequest
    from chalicelib.root import Root
    from chalicelib.settings import load_settings

    client, stubber = stubbed
    request = {TABLE: {"Keys": [SITE_KEY, STATE_KEY], "ConsistentRead": True}}
    for _ in range(BATCH_ROUNDS):
        stubber.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": request})
    clock = FakeClock()
    root = Root(load_settings({"PARLEY_TABLE": TABLE, "PARLEY_TOKEN_SECRET": "k" * 32}), dynamodb=client,
                monotonic=clock, sleep=clock.sleep)
    claims = tokens.VisitorClaims("c1", "demo", 2 ** 40)
    send = SendRequest(conversation_id="c1", text="hi", client_message_id="m1")
    unavailable(lambda: root.chat.send(send, claims))
    assert root.sites.peek("demo") == (False, None), "no 'site gone' remembered"
    stubber.add_response("batch_get_item", {"Responses": {TABLE: [SITE_ITEM, {**STATE_KEY, "last_seq": {"N": "0"}}]}})
    stubber.add_response("transact_write_items", {})
    stubber.add_response("transact_write_items", {})
    answer = root.chat.send(send, claims)
    assert answer["message"]["seq"] == 1 and answer["reply"]["seq"] == 2
