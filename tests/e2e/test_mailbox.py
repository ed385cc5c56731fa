"""The local mailbox: mails sent through the moto server's SES, read back over HTTP and by the CLI.

The server runs as its own process (python -m infra.local.dynamodb), spoken to by
boto3's sesv2 client over real HTTP, as `make dev` runs it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import boto3
import pytest

from chalicelib.errors import ParleyError
from chalicelib.mailer import Mailer
from infra.local.mailbox import verify_sender

from .conftest import ROOT, free_port

SENDER = "team@parley.example"


def sesv2_client(endpoint: str, region: str = "us-east-1"):
    return boto3.client("sesv2", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="local", aws_secret_access_key="local")


def get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.headers.get("Content-Type", ""), answer.read().decode("utf-8")


@pytest.fixture(scope="module")
def two_mails(moto_server: str) -> tuple[str, str]:
    client = sesv2_client(moto_server)
    verify_sender(client, SENDER)
    verify_sender(client, SENDER)  # the devstack may call it on every start
    mailer = Mailer(lambda: client, SENDER)
    first = mailer.send(["ada@x.example"], "<script>alert(1)</script> is waiting", "Hello <b>team</b>\nline two")
    # Another region of the same server: the mailbox lists every account and region.
    other = sesv2_client(moto_server, "eu-west-1")
    verify_sender(other, SENDER)
    second = Mailer(lambda: other, SENDER).send(["bob@x.example", "ada@x.example"], "Your conversation", "Bye")
    assert first and second
    return first, second


def test_sent_mails_are_listed_as_json_oldest_first_with_their_time(moto_server, two_mails):
    kind, body = get(f"{moto_server}/_parley/mail")
    mails = json.loads(body)["mails"]
    assert kind.startswith("application/json")
    assert [m["id"] for m in mails] == list(two_mails), mails
    assert mails[0]["from"] == SENDER and mails[0]["to"] == ["ada@x.example"]
    assert mails[0]["subject"] == "<script>alert(1)</script> is waiting", "the JSON carries the text as sent"
    assert mails[0]["text"] == "Hello <b>team</b>\nline two"
    assert mails[0]["at"] <= mails[1]["at"] and mails[0]["at"].endswith("Z")


def test_the_list_filters_by_recipient(moto_server, two_mails):
    _, body = get(f"{moto_server}/_parley/mail?to=BOB%40x.example")
    assert [m["id"] for m in json.loads(body)["mails"]] == [two_mails[1]]
    _, body = get(f"{moto_server}/_parley/mail?to=nobody%40x.example")
    assert json.loads(body)["mails"] == []


def test_the_page_shows_the_mails_newest_first_escaped(moto_server, two_mails):
    kind, body = get(f"{moto_server}/_parley/mailbox")
    assert kind.startswith("text/html")
    assert "<script>alert(1)</script>" not in body and "<b>team</b>" not in body, "visitor text must be escaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "Hello &lt;b&gt;team&lt;/b&gt;" in body
    assert body.index(two_mails[1]) < body.index(two_mails[0]), "newest first"


def test_the_cli_prints_the_mails(moto_server, two_mails):
    run = subprocess.run([sys.executable, "-m", "infra.local.mailbox", "--endpoint", moto_server],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "Subject: <script>alert(1)</script> is waiting" in run.stdout and "Subject: Your conversation" in run.stdout
    assert run.stdout.index(two_mails[0]) < run.stdout.index(two_mails[1]), "oldest first"
    as_json = subprocess.run([sys.executable, "-m", "infra.local.mailbox", "--endpoint", moto_server, "--json",
                              "--to", "bob@x.example"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert as_json.returncode == 0, as_json.stderr
    assert [m["id"] for m in json.loads(as_json.stdout)["mails"]] == [two_mails[1]]


def test_the_cli_says_when_no_stack_runs():
    run = subprocess.run([sys.executable, "-m", "infra.local.mailbox", "--endpoint", f"http://127.0.0.1:{free_port()}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "is the local stack running?" in run.stderr, run.stderr


def test_an_unverified_sender_is_refused_by_the_server(moto_server):
    client = sesv2_client(moto_server)
    with pytest.raises(ParleyError) as refused:
        Mailer(lambda: client, "stranger@parley.example").send(["ada@x.example"], "Hi", "Body")
    assert refused.value.code == "unavailable"


def test_dynamodb_on_the_same_server_is_untouched(moto_server):
    ddb = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    assert "TableNames" in ddb.list_tables()
