"""A DynamoDB that cannot be reached, on a fresh process (no site cached): readable 503s, not CORS failures."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from .conftest import ORIGIN


class Unreachable:
    """A DynamoDB client whose every call fails as a dead endpoint does (the real client's exceptions)."""

    def __init__(self) -> None:
        self.exceptions = boto3.client("dynamodb", region_name="us-east-1").exceptions
        self.calls = 0

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            self.calls += 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return call


@pytest.fixture
def down(make_root, http):
    client = Unreachable()
    make_root(dynamodb=client)  # after http: the graph the app uses from here on
    return client


def test_config_and_init_answer_503_the_widget_can_read(down, http):
    for resp in (http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}),
                 http.post("/api/chatbot/init", {"site_key": "demo"}, {"Origin": ORIGIN})):
        assert resp.status_code == 503 and resp.json_body["error"]["code"] == "unavailable"
        assert resp.headers.get("Access-Control-Allow-Origin") == ORIGIN, (
            "without CORS the browser reports a CORS failure instead of a 503 to retry")
    assert down.calls > 0, "the store was really asked"


def test_a_preflight_is_let_through_briefly_while_the_origin_cannot_be_checked(down, http):
    resp = http.c.http.request("OPTIONS", "/api/chatbot/init?site_key=demo", headers={"Origin": ORIGIN})
    assert resp.status_code == 204 and resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Max-Age"] == "5", "not cached past the outage"


def test_a_preflight_without_an_origin_is_still_refused_in_an_outage(down, http):
    resp = http.c.http.request("OPTIONS", "/api/chatbot/init?site_key=demo", headers={})
    assert resp.status_code == 400 and resp.json_body["error"]["code"] == "missing_origin"
