"""The Chalice app on moto: chalice.test.Client in, a mocked DynamoDB table out.

Each test builds its own object graph (``chalicelib.root.Root``) on a moto
client and fakes, and hands it to app.py's views for the length of the test;
``make_root`` builds one with other settings or parts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.data import Data
from chalicelib.models import Site
from chalicelib.root import Root
from chalicelib.settings import load_settings
from infra.table import TEMPLATE

from ..fakes import fake_settings_env

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:8080"
OTHER_ORIGIN = "https://evil.example"
KNOWLEDGE = json.loads((ROOT / "infra/local/demo-knowledge.json").read_text())


def deploy_table_stack(table_name: str) -> str:
    """Deploys infra/table.json into moto's CloudFormation; returns the table its stack made.

    The functional tests run on this table, so the key schema in the template
    and the one the code uses cannot drift apart.
    """
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=f"{table_name}-table", TemplateBody=TEMPLATE.read_text(),
                                Parameters=[{"ParameterKey": "Stage", "ParameterValue": "dev"},
                                            {"ParameterKey": "TableName", "ParameterValue": table_name}])
    stack = cloudformation.describe_stacks(StackName=f"{table_name}-table")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "TableName")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def data(aws: None) -> Data:
    """The table, deployed from infra/table.json, with the sites ``demo`` and ``other``."""
    table_name = fake_settings_env()["PARLEY_TABLE"]
    assert deploy_table_stack(table_name) == table_name
    data = Data(table_name, client=boto3.client("dynamodb"))
    data.sites.put(Site("demo", (ORIGIN, "http://localhost:8080"),
                        bot={"engine": "knowledge", "knowledge": KNOWLEDGE},
                        widget={"title": "Parley demo"}), create=True)
    data.sites.put(Site("other", (OTHER_ORIGIN,), bot={"engine": "knowledge", "knowledge": KNOWLEDGE}),
                   create=True)
    return data


@pytest.fixture
def make_root(data: Data, monkeypatch: pytest.MonkeyPatch):
    """``make_root(env=..., **parts)``: a new graph on the test's table, used by app.py from then on.

    A new graph is what a fresh Lambda container has: no site cache, no seq
    hints. ``env`` adds to the tests' environment; ``parts`` go to Root.
    """
    import app

    def make(env: dict[str, str] | None = None, **parts: Any) -> Root:
        parts.setdefault("dynamodb", data.table.client)
        root = Root(load_settings(fake_settings_env(**(env or {}))), **parts)
        monkeypatch.setattr(app, "root", root)
        return root

    return make


@pytest.fixture
def root(make_root) -> Root:
    return make_root()


@pytest.fixture
def client(root: Root) -> Iterator[Client]:
    import app

    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as c:
        yield c


class Api:
    """Small helpers so each test reads as the request it makes."""

    def __init__(self, client: Client) -> None:
        self.c = client

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, raw: bool = False):
        payload = body if raw else json.dumps(body)
        return self.c.http.post(path, body=payload,
                                headers={"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str, headers: dict[str, str] | None = None):
        return self.c.http.get(path, headers=headers or {})

    def init(self, site_key: str = "demo", origin: str | None = ORIGIN, **extra: Any):
        headers = {"Origin": origin} if origin else {}
        return self.post("/api/chatbot/init", {"site_key": site_key, **extra}, headers)

    def session(self) -> dict[str, Any]:
        resp = self.init()
        assert resp.status_code == 201, f"init should create a conversation, got {resp.status_code} {resp.body!r}"
        return resp.json_body

    def send(self, session: dict[str, Any], text: str = "How much does it cost?",
             cmid: str = "c-1", token: str | None = None, **override: Any):
        body = {"conversation_id": session["conversation_id"], "text": text,
                "client_message_id": cmid, **override}
        return self.post("/api/chatbot/send", body, {"Authorization": f"Bearer {token or session['token']}",
                                                      "Origin": ORIGIN})

    def poll(self, session: dict[str, Any], query: str = "after=0", token: str | None = None):
        return self.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}&{query}",
                        {"Authorization": f"Bearer {token or session['token']}", "Origin": ORIGIN})


@pytest.fixture
def http(client: Client) -> Api:
    return Api(client)


def stored_messages(data: Data, conversation_id: str) -> list[dict[str, Any]]:
    """Every message of a conversation, read straight from the table, in the API's shape."""
    return [m.to_json() for m in data.messages.messages_after(conversation_id, 0, 100).messages]
