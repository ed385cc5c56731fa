"""Rate limits (chalicelib/limits.py) through the app: 429 with Retry-After, nothing stored, windows roll over."""
from __future__ import annotations

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
    for _ in range(3):
        resp = http.init(conversation_id=session["conversation_id"], token=session["token"])
        assert resp.status_code == 200


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
