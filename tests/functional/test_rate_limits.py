"""Rate limits (chalicelib/limits.py) through the app: 429 with Retry-After, nothing stored, windows roll over."""
from __future__ import annotations

import json

import pytest

from chalicelib.settings import SettingsError, load_settings

from ..fakes import FakeClock, FakeManagement, FakePusher, fake_settings_env
from .conftest import ORIGIN, OTHER_ORIGIN, stored_messages
from .test_realtime import REALTIME_ENV, auth, invoke, ws_event

START = 1_800_000_000.0  # a window boundary for 60 s windows


def limited(resp) -> int:
    assert resp.status_code == 429, (resp.status_code, resp.body)
    assert resp.json_body["error"]["code"] == "rate_limited"
    return int(resp.headers["Retry-After"])


@pytest.fixture
def clock():
    return FakeClock(START + 15)


def test_new_conversations_are_limited_per_site_and_address_and_the_window_rolls_over(make_root, http, data,
                                                                                       clock):
    make_root({"PARLEY_RATE_LIMITS": "conversations=3/60"}, clock=clock)
    for _ in range(3):
        assert http.init().status_code == 201
    before = data.table.client.scan(TableName=data.table.name, Select="COUNT")["Count"]  # test-only count
    resp = http.init()
    assert limited(resp) == 45, "Retry-After: until the window ends"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN, "the widget can read it"
    assert resp.headers["Access-Control-Expose-Headers"] == "Retry-After", "and its Retry-After"
    assert data.table.client.scan(TableName=data.table.name, Select="COUNT")["Count"] == before, "nothing stored"
    assert http.init("other", origin=OTHER_ORIGIN).status_code == 201, "another site has its own count"
    clock.advance(45)
    assert http.init().status_code == 201, "a new window"


def test_a_resume_is_not_a_new_conversation(make_root, http, clock):
    make_root({"PARLEY_RATE_LIMITS": "conversations=1/60"}, clock=clock)
    session = http.session()
    token = session["token"]
    for _ in range(3):
        resp = http.init(conversation_id=session["conversation_id"], token=token)
        assert resp.status_code == 200
        token = resp.json_body["token"]  # a resume revokes the token it was given


def test_messages_are_limited_and_a_limited_send_stores_nothing(make_root, http, data, clock):
    make_root({"PARLEY_RATE_LIMITS": "messages=2/60"}, clock=clock)
    session = http.session()
    assert http.send(session, cmid="a").status_code == 201
    assert http.send(session, cmid="b").status_code == 201
    assert limited(http.send(session, cmid="c")) == 45
    assert [m["client_message_id"] for m in stored_messages(data, session["conversation_id"])
            if m["sender"] == "visitor"] == ["a", "b"]
    clock.advance(45)
    assert http.send(session, cmid="c").status_code == 201, "the same message goes through after the wait"


def test_polls_are_limited_per_conversation(make_root, http, clock):
    make_root({"PARLEY_RATE_LIMITS": "polls=2/60"}, clock=clock)
    first, second = http.session(), http.session()
    assert http.poll(first).status_code == 200 and http.poll(first).status_code == 200
    limited(http.poll(first))
    assert http.poll(second).status_code == 200, "another conversation has its own count"


def test_pusher_auth_and_websocket_connects_are_limited_per_conversation(make_root, http, client, clock):
    make_root({**REALTIME_ENV, "PARLEY_RATE_LIMITS": "pusher_auth=1/60,connections=1/60"}, clock=clock,
              pusher=FakePusher(), management=FakeManagement())
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    assert auth(http, session, f"socket_id=1.2&channel_name={channel}").status_code == 200
    limited(auth(http, session, f"socket_id=1.3&channel_name={channel}"))
    assert invoke(client, "ws_connect", ws_event("$connect", "c1", session["token"]))["statusCode"] == 200
    assert invoke(client, "ws_connect", ws_event("$connect", "c2", session["token"]))["statusCode"] == 429


def test_a_bad_limit_setting_stops_the_app_with_its_name():
    with pytest.raises(SettingsError, match="PARLEY_RATE_LIMITS"):
        load_settings(fake_settings_env(PARLEY_RATE_LIMITS="messages=lots"))


def test_a_repeated_send_is_not_counted_again(make_root, http, clock):
    make_root({"PARLEY_RATE_LIMITS": "messages=2/60"}, clock=clock)
    session = http.session()
    for _ in range(4):  # the widget retrying one message: one count
        assert http.send(session, cmid="same").status_code == 201
    assert http.send(session, cmid="other").status_code == 201
    limited(http.send(session, cmid="third"))


# -- per-site overrides (a site's ``limits``, set with python -m infra.sites set-limit) -----------


def override(data, site_key: str, **limits: tuple[int, int]) -> None:
    """Gives a site its own limits, as the CLI stores them (before the graph caches the site)."""
    site = data.sites.get(site_key)
    data.sites.put(site.changed(limits={n: {"limit": c, "window": w} for n, (c, w) in limits.items()}),
                   previous_origins=site.origins)


def test_a_site_with_a_lower_override_is_limited_at_its_number_while_another_keeps_the_default(
        make_root, http, data, clock):
    override(data, "demo", conversations=(2, 60))
    make_root({"PARLEY_RATE_LIMITS": "conversations=4/60"}, clock=clock)
    assert [http.init().status_code for _ in range(3)] == [201, 201, 429], "demo: its own 2"
    assert [http.init("other", origin=OTHER_ORIGIN).status_code for _ in range(5)] == [201] * 4 + [429], \
        "other: the deployment's 4"


def test_a_site_with_a_higher_override_allows_more(make_root, http, data, clock):
    override(data, "demo", messages=(5, 60), polls=(4, 60))
    make_root({"PARLEY_RATE_LIMITS": "messages=2/60,polls=2/60"}, clock=clock)
    session = http.session()
    assert [http.send(session, cmid=f"m{i}").status_code for i in range(6)] == [201] * 5 + [429]
    assert [http.poll(session).status_code for _ in range(5)] == [200] * 4 + [429]


def test_an_override_has_its_own_window(make_root, http, data, clock):
    override(data, "demo", conversations=(1, 10))
    make_root({"PARLEY_RATE_LIMITS": "conversations=100/60"}, clock=clock)
    assert http.init().status_code == 201
    assert limited(http.init()) == 5, "a 10 s window: START+15 is 5 s before its end"
    clock.advance(5)
    assert http.init().status_code == 201, "the site's next window"


def test_overrides_apply_to_pusher_auth_and_websocket_connects_too(make_root, http, client, data, clock):
    override(data, "demo", pusher_auth=(2, 60), connections=(2, 60))
    make_root({**REALTIME_ENV, "PARLEY_RATE_LIMITS": "pusher_auth=1/60,connections=1/60"}, clock=clock,
              pusher=FakePusher(), management=FakeManagement())
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    assert [auth(http, session, f"socket_id=1.{i}&channel_name={channel}").status_code
            for i in range(3)] == [200, 200, 429]
    assert [invoke(client, "ws_connect", ws_event("$connect", f"c{i}", session["token"]))["statusCode"]
            for i in range(3)] == [200, 200, 429]


def test_a_limit_set_with_the_cli_is_applied_by_the_api(make_root, http, data, clock, capsys):
    from infra import sites

    assert sites.main(["set-limit", "demo", "conversations", "1", "60"]) == 0
    assert json.loads(capsys.readouterr().out)["limits"] == {"conversations": {"limit": 1, "window": 60}}
    assert sites.main(["update", "demo", "--title", "Still limited"]) == 0, "an update keeps the limits"
    capsys.readouterr()
    assert sites.main(["show", "demo"]) == 0
    assert json.loads(capsys.readouterr().out)["limits"] == {"conversations": {"limit": 1, "window": 60}}
    make_root(clock=clock)  # a new container: the changed site is read afresh
    assert http.init().status_code == 201
    limited(http.init())
    assert http.init("other", origin=OTHER_ORIGIN).status_code == 201, "only demo's limit changed"
    assert sites.main(["clear-limit", "demo", "conversations"]) == 0
    assert json.loads(capsys.readouterr().out)["limits"] == {}
    make_root(clock=clock)
    assert http.init().status_code == 201, "back to the default (30)"


@pytest.mark.parametrize("argv,needle", [
    (["set-limit", "demo", "bogus", "5", "60"], "unknown limit"),
    (["set-limit", "demo", "messages", "0", "60"], "from 1 to 1000000"),
    (["set-limit", "demo", "messages", "-1", "60"], "whole number"),
    (["set-limit", "demo", "messages", "five", "60"], "whole number"),
    (["set-limit", "demo", "messages", "1.5", "60"], "whole number"),
    (["set-limit", "demo", "messages", "2000000", "60"], "from 1 to 1000000"),
    (["set-limit", "demo", "messages", "5", "0"], "from 1 to 86400"),
    (["set-limit", "demo", "messages", "5", "100000"], "from 1 to 86400"),
    (["set-limit", "nope", "messages", "5", "60"], "no site"),
    (["clear-limit", "demo", "bogus"], "unknown limit"),
])
def test_bad_overrides_are_refused_by_the_cli_and_change_nothing(data, capsys, argv, needle):
    from infra import sites

    before = data.sites.get("demo")
    assert sites.main(argv) == 2
    assert needle in capsys.readouterr().err
    assert data.sites.get("demo") == before


@pytest.mark.parametrize("limits", [
    {"bogus": {"limit": 1, "window": 60}},
    {"messages": {"limit": True, "window": 60}},
    {"messages": {"limit": 1.5, "window": 60}},
    {"messages": {"limit": "5", "window": 60}},
    {"messages": {"limit": 5}},
    {"messages": {"limit": 5, "window": 60, "burst": 9}},
    {"messages": {"limit": 0, "window": 60}},
    {"messages": 5},
    ["messages"],
])
def test_the_site_model_refuses_bad_overrides(limits):
    from chalicelib.models import Site

    with pytest.raises(ValueError, match="limits"):
        Site("demo", ("https://a.example",), limits=limits)


def test_a_bad_stored_override_is_ignored_and_the_defaults_apply(make_root, http, data, clock):
    key = data.sites.key("demo")
    data.table.client.update_item(TableName=data.table.name, Key=key, UpdateExpression="SET limits = :l",
                                  ExpressionAttributeValues={":l": {"S": '{"messages": {"limit": -3}}'}})
    assert data.sites.get("demo").limits == {}
    make_root({"PARLEY_RATE_LIMITS": "conversations=1/60"}, clock=clock)
    assert http.init().status_code == 201 and http.init().status_code == 429


# -- the key is API Gateway's sourceIp --------------------------------------------------------


def from_address(monkeypatch, ip: str) -> None:
    """chalice.test.Client's requests come from ``ip`` (API Gateway's requestContext.identity.sourceIp)."""
    from chalice.local import LambdaEventConverter

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)


def test_two_source_addresses_are_counted_apart(make_root, http, clock, monkeypatch):
    make_root({"PARLEY_RATE_LIMITS": "conversations=2/60,messages=1/60"}, clock=clock)
    from_address(monkeypatch, "198.51.100.7")
    first = http.session()
    assert http.init().status_code == 201 and limited(http.init())
    assert http.send(first, cmid="a").status_code == 201 and limited(http.send(first, cmid="b"))
    from_address(monkeypatch, "203.0.113.9")
    assert http.init().status_code == 201, "another address has its own count"
    assert http.send(first, cmid="b").status_code == 201, "sends too: per site and address"


def test_a_spoofed_x_forwarded_for_does_not_change_the_bucket(make_root, http, clock, monkeypatch):
    make_root({"PARLEY_RATE_LIMITS": "conversations=2/60"}, clock=clock)
    from_address(monkeypatch, "198.51.100.7")
    for i in range(2):
        assert http.post("/api/chatbot/init", {"site_key": "demo"},
                         {"Origin": ORIGIN, "X-Forwarded-For": f"10.0.0.{i}"}).status_code == 201
    resp = http.post("/api/chatbot/init", {"site_key": "demo"},
                     {"Origin": ORIGIN, "X-Forwarded-For": "10.9.9.9, 198.51.100.8", "X-Real-IP": "10.1.1.1"})
    limited(resp)


# -- races: one conditional write, however many callers at once ---------------------------------


@pytest.fixture(scope="module")
def dynamodb_server():
    """The local DynamoDB (infra/local/dynamodb.py) in its own process, over real HTTP.

    Like DynamoDB, it applies each request atomically (one at a time); many
    threads hitting it at once are many Lambdas racing. A limiter that read
    and then wrote would overshoot here.
    """
    import subprocess
    import sys

    import boto3
    from botocore.config import Config

    from infra.local import ports
    from infra.local.devstack import stop_process, wait_for_port
    from infra.table import create_table

    from .conftest import ROOT

    port = ports.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.dynamodb", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, proc)
        client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local",
                              config=Config(max_pool_connections=RACERS, retries={"max_attempts": 1}))
        create_table(client, "races")
        yield client
    finally:
        stop_process(proc)


RACERS = 40


def race(call) -> list[object]:
    """``call(i)`` on RACERS threads released at one moment; each result, or the error raised."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Barrier(RACERS, timeout=30)

    def one(i: int) -> object:
        gate.wait()
        try:
            return call(i)
        except Exception as exc:  # noqa: BLE001 - the refusals are what is counted
            return exc

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def test_racing_requests_are_accepted_exactly_up_to_the_limit(dynamodb_server):
    from chalicelib.data import Data
    from chalicelib.errors import ParleyError
    from chalicelib.limits import Limit, RateLimiter

    data = Data("races", client=dynamodb_server)
    limiter = RateLimiter(data.table, {"conversations": Limit(7, 60)}, clock=FakeClock(START + 15))
    results = race(lambda i: limiter.hit("conversations", "demo#198.51.100.7"))
    accepted = [r for r in results if r is None]
    refused = [r for r in results if isinstance(r, ParleyError) and r.code == "rate_limited"]
    assert (len(accepted), len(refused)) == (7, RACERS - 7), results
    row = data.table.client.get_item(TableName="races", Key=data.table.key(
        "RATE#conversations#demo#198.51.100.7", str(int(START))))["Item"]
    assert row["n"] == {"N": "7"}, "a refused request counts nothing"


def test_racing_sends_store_exactly_the_limit_of_messages(dynamodb_server):
    """The send's count rides in the message's transaction: racing sends (each into its own
    conversation, one address) store ``limit`` messages, no more."""
    from chalicelib.data import Data
    from chalicelib.data.messages import Guard
    from chalicelib.errors import ParleyError
    from chalicelib.limits import Limit, RateLimiter

    data = Data("races", client=dynamodb_server)
    limiter = RateLimiter(data.table, {"messages": Limit(5, 60)}, clock=FakeClock(START + 15))
    for i in range(RACERS):
        data.messages.create_conversation(f"race-{i}", "demo", None, None)

    def send(i: int):
        return data.messages.append_message(f"race-{i}", "visitor", "hello", idempotency_key=f"v#m{i}",
                                            client_message_id=f"m{i}",
                                            guard=Guard(rate=limiter.counted("messages", "demo#198.51.100.7")))

    results = race(send)
    stored = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ParleyError) and r.code == "rate_limited"]
    assert (len(stored), len(refused)) == (5, RACERS - 5), [r for r in results if not isinstance(r, tuple)]
    held = sum(len(data.messages.messages_after(f"race-{i}", 0, 10).messages) for i in range(RACERS))
    assert held == 5, f"exactly 5 messages stored, found {held}"
