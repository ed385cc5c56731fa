"""When nobody is at the desk, on the local stack (`make dev` itself): the email to the team arrives in
the local mailbox after the site's (shortened) delay, exactly once, unless an agent reads in time.

Real parts throughout: the HTTP API (`chalice local`), the job queue on moto's SQS with its
DelaySeconds, the event source stand-in running app.py's job worker, moto's SES, and the mailbox
page's JSON (infra/local/mailbox.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config

from chalicelib.data import Data
from chalicelib.models import Member, Site
from chalicelib.webhooks import verify

from .conftest import ROOT, LocalStack

DELAY = 5  # the site's notify_delay_seconds (the shortest a site may set)


def dynamodb(stack: LocalStack) -> Any:
    return boto3.client("dynamodb", endpoint_url=stack.dynamodb, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def agent_token(stack: LocalStack) -> str:
    client = boto3.client("cognito-idp", endpoint_url=stack.cognito_endpoint, region_name=stack.cognito_region,
                          config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    answer = client.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=stack.cognito_client_id,
                                  AuthParameters={"USERNAME": stack.agent_email, "PASSWORD": stack.agent_password})
    return answer["AuthenticationResult"]["IdToken"]


class Desk:
    """A site of its own (nobody else's tests touch it), whose one agent is the demo agent."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.site_key = f"desk-{uuid.uuid4().hex[:8]}"
        self.token = agent_token(stack)
        self.agent = requests.get(f"{stack.api}/api/agent/me", headers=self.agent_headers(), timeout=10).json()
        data = Data("parley-local", client=dynamodb(stack))
        data.sites.put(Site(self.site_key, (stack.demo_origin,), name="Desk test",
                            bot={"engine": "knowledge", "knowledge": {"entries": [
                                {"id": "hours", "questions": ["When are you open?"], "keywords": ["open"],
                                 "answer": "Always."}]}},
                            desk={"notify_delay_seconds": DELAY}), create=True)
        self.email = f"agent-{uuid.uuid4().hex[:6]}@example.com"
        self.data = data
        data.agents.put_member(Member(self.agent["agent"]["id"], self.site_key, "admin", "Ana", self.email))

    def close(self) -> None:
        """The demo agent leaves the site again: with two sites, the console would open on its site
        picker instead of the inbox, which the console's own browser test expects."""
        self.data.agents.remove_member(self.site_key, self.agent["agent"]["id"])

    def agent_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Origin": self.stack.console_origin}

    def visitor(self) -> dict[str, Any]:
        r = requests.post(f"{self.stack.api}/api/chatbot/init", json={"site_key": self.site_key},
                          headers={"Origin": self.stack.demo_origin}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()

    def post(self, who: dict[str, Any], path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.stack.api}/api/chatbot/{path}",
                             json={"conversation_id": who["conversation_id"], **body},
                             headers={"Authorization": f"Bearer {who['token']}", "Origin": self.stack.demo_origin},
                             timeout=10)

    def handoff(self) -> dict[str, Any]:
        who = self.visitor()
        assert self.post(who, "send", {"text": "I need help with my order", "client_message_id": "c-1"}).ok
        return self.handoff_of(who)

    def handoff_of(self, who: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(who, "handoff", {})
        assert answer.status_code == 200 and answer.json()["status"] == "pending", answer.text
        assert answer.json()["availability"]["online"] is False, "nobody is at this site's desk"
        return who

    def mails(self) -> list[dict[str, Any]]:
        r = requests.get(f"{self.stack.dynamodb}/_parley/mail", params={"to": self.email}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["mails"]


@pytest.fixture
def new_desk(stack) -> Iterator[Any]:
    """``new_desk()``: a site of its own with the demo agent on it, who leaves it after the test."""
    made: list[Desk] = []

    def make() -> Desk:
        made.append(Desk(stack))
        return made[-1]

    yield make
    for desk in made:
        desk.close()


def wait_for(check, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    return check()


def test_a_handoff_nobody_reads_emails_the_team_exactly_once_after_the_delay(stack, new_desk):
    desk = new_desk()
    started = time.monotonic()
    who = desk.handoff()
    desk.post(who, "send", {"text": "Hello? Anyone?", "client_message_id": "c-2"})
    mails = wait_for(desk.mails, DELAY + 20)
    waited = time.monotonic() - started
    assert len(mails) == 1, mails
    assert waited >= DELAY - 0.5, f"the email came after {waited:.1f} s, before the site's {DELAY} s delay"
    mail = mails[0]
    assert mail["subject"].startswith("[Desk test]") and "Hello? Anyone?" in mail["text"]
    assert f"site={desk.site_key}&conversation={who['conversation_id']}" in mail["text"]
    time.sleep(DELAY + 2)
    assert len(desk.mails()) == 1, "one email per conversation per quiet period, however many messages"


def test_an_agent_who_reads_in_time_prevents_the_email(stack, new_desk):
    desk = new_desk()
    who = desk.handoff()
    cid = who["conversation_id"]
    base = f"{stack.api}/api/agent/sites/{desk.site_key}/conversations/{cid}"
    last_seq = requests.get(base, headers=desk.agent_headers(), timeout=10).json()["last_seq"]
    r = requests.post(f"{base}/read", json={"seq": last_seq}, headers=desk.agent_headers(), timeout=10)
    assert r.status_code == 200, r.text
    time.sleep(DELAY + 4)
    assert desk.mails() == [], "the agent read it within the delay: no email"


# -- webhooks ------------------------------------------------------------------------------------


class Receiver:
    """An HTTP endpoint on 127.0.0.1 (the local stage alone allows loopback): records each POST, and
    answers 500 to the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append({"headers": dict(self.headers), "body": body})
                failing = len(receiver.posts) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/parley"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def site_cli(stack: LocalStack, *argv: str) -> tuple[int, Any, str]:
    env = {**os.environ, "PARLEY_TABLE": "parley-local", "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
           "PARLEY_WEBHOOK_ALLOW_LOOPBACK": "true"}
    done = subprocess.run([sys.executable, "-m", "infra.sites", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_webhook_gets_each_event_once_signed_and_a_forged_signature_fails_verification(stack, new_desk, receiver):
    desk = new_desk()
    code, added, err = site_cli(stack, "webhook-add", desk.site_key, receiver.url)
    assert code == 0, err
    secret = added["secret"]
    who = desk.visitor()
    assert desk.post(who, "send", {"text": "When are you open?", "client_message_id": "c-1"}).ok
    desk.post(who, "send", {"text": "When are you open?", "client_message_id": "c-1"})  # a retry: nothing new
    desk.handoff_of(who)
    base = f"{stack.api}/api/agent/sites/{desk.site_key}/conversations/{who['conversation_id']}"
    assert requests.post(f"{base}/claim", json={}, headers=desk.agent_headers(), timeout=10).ok
    assert requests.post(f"{base}/resolve", json={}, headers=desk.agent_headers(), timeout=10).ok
    # visitor, bot, handoff, claim, resolve: five messages; created, handoff, resolved: three more.
    assert wait_for(lambda: len(receiver.posts) >= 8, 20), receiver.posts
    time.sleep(1.5)
    events = [json.loads(p["body"]) for p in receiver.posts]
    assert len(events) == 8 and len({e["id"] for e in events}) == 8, "each event once"
    assert sorted(e["type"] for e in events) == sorted(
        ["conversation.created", "conversation.handoff", "conversation.resolved"] + ["message.created"] * 5)
    senders = [e["data"]["message"]["sender"] for e in events if e["type"] == "message.created"]
    assert sorted(senders) == ["bot", "system", "system", "system", "visitor"]
    now = int(time.time())
    for post in receiver.posts:
        headers = post["headers"]
        assert headers["Parley-Event"] == json.loads(post["body"])["type"]
        assert verify(secret, headers["Parley-Signature"], post["body"], now=now), headers
        forged = "t=%d,v1=%s" % (now, "0" * 64)
        assert not verify(secret, forged, post["body"], now=now)
        assert not verify("whsec_" + "1" * 64, headers["Parley-Signature"], post["body"], now=now)
        assert not verify(secret, headers["Parley-Signature"], post["body"] + b" ", now=now)
        assert not verify(secret, headers["Parley-Signature"], post["body"], now=now + 301), "replay window"
    log = site_cli(stack, "webhook-log", desk.site_key)[1]["deliveries"]
    assert len(log) == 8 and all(d["ok"] and d["status"] == 204 and d["attempt"] == 1 for d in log)


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(stack, new_desk):
    failing = Receiver(failures=2)
    try:
        desk = new_desk()
        code, _, err = site_cli(stack, "webhook-add", desk.site_key, failing.url, "--event", "conversation.created")
        assert code == 0, err
        who = desk.visitor()
        assert desk.post(who, "send", {"text": "Hi", "client_message_id": "c-1"}).ok
        assert wait_for(lambda: len(failing.posts) >= 3, 20), failing.posts
        time.sleep(2.5)
        assert len(failing.posts) == 3, "delivered on the third attempt, and then no more"
        ids = {p["headers"]["Parley-Delivery"] for p in failing.posts}
        assert len(ids) == 1, "the same event each time"
        log = site_cli(stack, "webhook-log", desk.site_key)[1]["deliveries"]
        assert [(d["attempt"], d["status"], d["ok"]) for d in reversed(log)] == [
            (1, 500, False), (2, 500, False), (3, 204, True)]
        assert log[-1]["next_retry_at"] is not None and log[0]["next_retry_at"] is None
    finally:
        failing.close()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "https://10.0.0.7/hook",
                                 "http://[::ffff:192.168.1.1]/", "https://0x7f000001.example.invalid/",
                                 "ftp://127.0.0.1/", "https://user:pw@127.0.0.1/"])
def test_hostile_webhook_urls_are_refused_and_nothing_is_stored(stack, new_desk, url):
    desk = new_desk()
    code, out, err = site_cli(stack, "webhook-add", desk.site_key, url)
    assert code == 2 and err.strip(), (code, out, err)
    assert site_cli(stack, "webhook-list", desk.site_key)[1]["webhooks"] == []


def test_a_webhook_added_to_a_site_in_use_takes_effect_within_the_local_site_cache(stack, new_desk, receiver):
    desk = new_desk()
    first = desk.visitor()  # the app now holds the site (with no webhooks) in its cache
    assert desk.post(first, "send", {"text": "Hi", "client_message_id": "c-1"}).ok
    code, _, err = site_cli(stack, "webhook-add", desk.site_key, receiver.url, "--event", "conversation.created")
    assert code == 0, err
    time.sleep(2.5)  # make dev's PARLEY_SITE_CACHE_SECONDS is 2
    second = desk.visitor()
    assert desk.post(second, "send", {"text": "Hi", "client_message_id": "c-1"}).ok
    assert wait_for(lambda: receiver.posts, 10), "the new webhook gets the next conversation"
    (post,) = receiver.posts
    assert json.loads(post["body"])["data"]["conversation"]["conversation_id"] == second["conversation_id"]
