"""DynamoDB's own failures: transient ones become a retryable 503, others stay bugs."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.errors import Unavailable
from chalicelib.store import Store


class FailingClient:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def query(self, **_: object) -> dict:
        raise self.exc

    get_item = put_item = query


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Query")


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "InternalServerError"])
def test_throttling_and_service_errors_become_unavailable(code):
    with pytest.raises(Unavailable) as err:
        Store("t", client=FailingClient(client_error(code))).messages_after("c1", 0)
    assert err.value.status == 503 and isinstance(err.value.__cause__, ClientError)


def test_an_unreachable_endpoint_becomes_unavailable():
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    with pytest.raises(Unavailable):
        Store("t", client=FailingClient(exc)).get_site("demo")


def test_other_client_errors_are_not_hidden():
    with pytest.raises(ClientError):
        Store("t", client=FailingClient(client_error("ValidationException"))).messages_after("c1", 0)
