"""Realtime through the app on moto: Pusher auth, broadcasts on send, and the WebSocket handlers.

The Pusher and API Gateway clients are fakes that record what they were asked
(no network here); the e2e suite runs the real clients against the stand-ins.
"""
from __future__ import annotations

import json
import time
from typing import Any

import pusher
import pytest

from chalicelib import tokens
from chalicelib.typing_relay import TYPING_INTERVAL_SECONDS

from ..fakes import PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET, FakeClock, FakeManagement, FakePusher
from .conftest import ORIGIN, OTHER_ORIGIN

SECRET = "test-secret-test-secret-test-secret-0123"
REALTIME_ENV = {"PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling",
                "PARLEY_WEBSOCKET_URL": "ws://127.0.0.1:8001", "PARLEY_WEBSOCKET_ENDPOINT": "http://127.0.0.1:8001",
                "PUSHER_APP_ID": PUSHER_APP_ID, "PUSHER_KEY": PUSHER_KEY, "PUSHER_SECRET": PUSHER_SECRET}


class Fakes:
    """Every provider on, each with a recording fake client; a fake clock for the typing throttle."""

    def __init__(self, make_root) -> None:
        self.pusher = FakePusher()
        self.management = FakeManagement()
        self.clock = FakeClock()
        self.root = make_root(REALTIME_ENV, pusher=self.pusher, management=self.management,
                              monotonic=self.clock)


@pytest.fixture
def fakes(http, make_root):
    return Fakes(make_root)  # after http: the graph the app uses from here on


def auth(http, session, form: str, token: str | None = None, content_type="application/x-www-form-urlencoded"):
    return http.c.http.post("/api/chatbot/pusher/auth", body=form, headers={
        "Content-Type": content_type, "Origin": ORIGIN,
        "Authorization": f"Bearer {token or session['token']}"})


def err(resp) -> tuple[int, str]:
    return resp.status_code, resp.json_body["error"]["code"]


# -- Pusher channel auth --------------------------------------------------------------


def test_auth_signs_the_own_channel_exactly_as_the_official_library(fakes, http):
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    resp = auth(http, session, f"socket_id=1234.5678&channel_name={channel}")
    assert resp.status_code == 200, resp.body
    official = pusher.Pusher(app_id=PUSHER_APP_ID, key=PUSHER_KEY, secret=PUSHER_SECRET)
    assert resp.json_body == official.authenticate(channel=channel, socket_id="1234.5678")
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_auth_takes_json_too(fakes, http):
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    resp = auth(http, session, json.dumps({"socket_id": "1.2", "channel_name": channel}),
                content_type="application/json")
    assert resp.status_code == 200 and resp.json_body["auth"].startswith("parley-key:")


@pytest.mark.parametrize("channel", [
    "private-chat.conversation.someone-else", "presence-chat.conversation.{c}", "chat.conversation.{c}",
    "private-encrypted-chat.conversation.{c}"])
def test_auth_refuses_any_channel_but_the_token_own_private_one(fakes, http, channel):
    session = http.session()
    resp = auth(http, session, f"socket_id=1.2&channel_name={channel.format(c=session['conversation_id'])}")
    assert err(resp) == (403, "channel_forbidden")


@pytest.mark.parametrize("socket_id", ["", "abc", "1.2.3", "1", ".2", "1.", "1.2x", "-1.2", "1 .2", "1.2%0A",
                                       "1" * 5000 + ".2", "%D9%A1.2"])
def test_auth_refuses_a_malformed_socket_id(fakes, http, socket_id):
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    resp = auth(http, session, f"socket_id={socket_id}&channel_name={channel}")
    assert err(resp) == (400, "invalid_socket_id")


@pytest.mark.parametrize("channel", ["", "private-a b", "private-%E2%82%AC", "private-" + "a" * 157,
                                     "private-chat.conversation.{c}%0A"])
def test_auth_refuses_an_invalid_or_too_long_channel_name(fakes, http, channel):
    session = http.session()
    channel = channel.format(c=session["conversation_id"])
    assert err(auth(http, session, f"socket_id=1.2&channel_name={channel}")) == (400, "invalid_channel")


def test_a_channel_of_164_characters_is_still_a_valid_name(fakes, http):
    session = http.session()
    resp = auth(http, session, "socket_id=1.2&channel_name=private-" + "a" * 156)
    assert err(resp) == (403, "channel_forbidden"), "valid name, but not this token's channel"


def test_auth_refuses_a_field_given_twice(fakes, http):
    session = http.session()
    channel = f"private-chat.conversation.{session['conversation_id']}"
    resp = auth(http, session, f"socket_id=1.2&socket_id=3.4&channel_name={channel}")
    assert err(resp) == (400, "invalid_request")


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
def test_auth_refuses_a_bad_token(fakes, http, kind):
    session = http.session()
    token = {"missing": None, "forged": session["token"][:-2] + "xx",
             "expired": tokens.issue(SECRET, session["conversation_id"], "demo", 60, now=time.time() - 120)}[kind]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    resp = http.c.http.post("/api/chatbot/pusher/auth", headers=headers,
                            body=f"socket_id=1.2&channel_name=private-chat.conversation.{session['conversation_id']}")
    expected = {"missing": "missing_token", "forged": "invalid_token", "expired": "token_expired"}[kind]
    assert err(resp) == (401, expected)


def test_auth_refuses_an_unlisted_origin(fakes, http):
    session = http.session()
    resp = http.c.http.post("/api/chatbot/pusher/auth", body="socket_id=1.2&channel_name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": OTHER_ORIGIN,
        "Authorization": f"Bearer {session['token']}"})
    assert err(resp) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_auth_is_404_when_pusher_is_not_a_provider(http):
    session = http.session()
    resp = auth(http, session, f"socket_id=1.2&channel_name=private-chat.conversation.{session['conversation_id']}")
    assert err(resp) == (404, "pusher_disabled")


def test_auth_answers_a_preflight_for_listed_origins(fakes, http):
    resp = http.c.http.request("OPTIONS", "/api/chatbot/pusher/auth?site_key=demo", headers={"Origin": ORIGIN})
    assert resp.status_code == 204 and resp.headers["Access-Control-Allow-Origin"] == ORIGIN


# -- broadcasts on send ---------------------------------------------------------------


def test_send_broadcasts_the_message_and_the_reply_through_every_provider(fakes, http, data):
    session = http.session()
    conv = session["conversation_id"]
    data.connections.add(conv, "connA", 600)
    data.connections.add(conv, "connB", 600)
    resp = http.send(session, socket_id="111.222")
    assert resp.status_code == 201
    sent = [resp.json_body["message"], resp.json_body["reply"]]
    messages = [t for t in fakes.pusher.triggered if t[1] == "ChatMessageReceived"]
    assert messages == [(channel, "ChatMessageReceived", m, "111.222") for m in sent
                        for channel in (f"private-chat.conversation.{conv}", "private-agent.site.demo")], (
        "each message goes to its conversation's channel and to the site's agent feed, in one trigger each")
    (created,) = [t for t in fakes.pusher.triggered if t[1] == "ConversationCreated"]
    assert created[0] == "private-agent.site.demo" and created[2]["conversation"]["conversation_id"] == conv
    for connection in ("connA", "connB"):
        assert fakes.management.posted[connection] == [
            {"event": "ChatMessageReceived", "data": m} for m in sent]


def test_pusher_down_does_not_fail_the_send_nor_stop_the_websocket(fakes, http, data):
    fakes.pusher.fail = True
    session = http.session()
    data.connections.add(session["conversation_id"], "connA", 600)
    resp = http.send(session)
    assert resp.status_code == 201, "the message is stored: a failed broadcast is no failed send"
    assert len(fakes.management.posted["connA"]) == 2
    assert [m["seq"] for m in http.poll(session).json_body["messages"]] == [1, 2]


def age_connection(data, conversation_id: str, connection_id: str, seconds: int = 3600) -> None:
    """Backdates a connection row, as if it had connected an hour ago."""
    for key in (data.table.key(f"CONV#{conversation_id}", f"CONN#{connection_id}"),
                data.table.key(f"CONN#{connection_id}", "META")):
        data.table.client.update_item(TableName=data.table.name, Key=key, UpdateExpression="SET since = :s",
                                 ExpressionAttributeValues={":s": {"N": str(int(time.time()) - seconds)}})


def test_a_stale_connection_is_removed_on_gone_and_the_others_still_receive(fakes, http, data):
    session = http.session()
    conv = session["conversation_id"]
    for c in ("live1", "stale", "live2"):
        data.connections.add(conv, c, 600)
    age_connection(data, conv, "stale")
    fakes.management.gone.add("stale")
    assert http.send(session).status_code == 201
    assert sorted(data.connections.ids(conv)) == ["live1", "live2"]
    assert data.connections.conversation_of("stale") is None
    assert len(fakes.management.posted["live1"]) == len(fakes.management.posted["live2"]) == 2


def test_a_malformed_socket_id_on_send_is_a_400_and_stores_nothing(fakes, http, data):
    session = http.session()
    resp = http.send(session, socket_id="not-a-socket")
    assert resp.status_code == 400 and resp.json_body["error"]["code"] == "invalid_request"
    assert http.poll(session).json_body["messages"] == []


# -- WebSocket handlers ---------------------------------------------------------------


def ws_event(route: str, connection_id: str, token: str | None = None, body: str | None = None,
             origin: str | None = ORIGIN) -> dict[str, Any]:
    event_type = {"$connect": "CONNECT", "$default": "MESSAGE", "$disconnect": "DISCONNECT"}[route]
    event: dict[str, Any] = {"requestContext": {
        "routeKey": route, "eventType": event_type, "connectionId": connection_id,
        "domainName": "127.0.0.1:8001", "stage": "local", "apiId": "local", "requestId": "r1",
        "connectedAt": 0, "requestTimeEpoch": 0, "messageDirection": "IN",
        "identity": {"sourceIp": "127.0.0.1"}}, "isBase64Encoded": False}
    if route == "$connect":
        event["headers"] = {"Origin": origin} if origin else {}
        event["queryStringParameters"] = {"token": token} if token else None
    if body is not None:
        event["body"] = body
    return event


def invoke(client, name: str, event: dict[str, Any]) -> dict[str, Any]:
    return client.lambda_.invoke(name, event).payload


def test_connect_with_a_valid_token_registers_the_connection(fakes, http, client, data):
    session = http.session()
    assert invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))["statusCode"] == 200
    assert data.connections.ids(session["conversation_id"]) == ["conn1"]
    assert data.connections.conversation_of("conn1") == session["conversation_id"]


@pytest.mark.parametrize("kind,code", [("missing", "missing_token"), ("forged", "invalid_token"),
                                       ("expired", "token_expired")])
def test_connect_refuses_a_bad_token_and_registers_nothing(fakes, http, client, data, kind, code):
    session = http.session()
    token = {"missing": None, "forged": session["token"][:-2] + "xx",
             "expired": tokens.issue(SECRET, session["conversation_id"], "demo", 60, now=time.time() - 120)}[kind]
    resp = invoke(client, "ws_connect", ws_event("$connect", "conn1", token))
    assert resp["statusCode"] == 401
    assert json.loads(resp["body"])["error"]["code"] == code
    assert data.connections.ids(session["conversation_id"]) == []
    assert data.connections.conversation_of("conn1") is None


def test_connect_refuses_an_unlisted_origin(fakes, http, client, data):
    session = http.session()
    resp = invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"], origin=OTHER_ORIGIN))
    assert resp["statusCode"] == 403 and data.connections.ids(session["conversation_id"]) == []


def test_ping_is_answered_with_pong_and_the_connection_id(fakes, http, client):
    session = http.session()
    invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))
    invoke(client, "ws_message", ws_event("$default", "conn1", body='{"action":"ping"}'))
    assert fakes.management.posted["conn1"] == [{"event": "pong", "data": {"connection_id": "conn1"}}]


def test_typing_is_relayed_to_the_other_connections_only(fakes, http, client):
    session = http.session()
    for c in ("me", "tab2", "tab3"):
        invoke(client, "ws_connect", ws_event("$connect", c, session["token"]))
    invoke(client, "ws_message", ws_event("$default", "me", body='{"action":"typing"}'))
    expected = {"event": "ClientTyping", "data": {"conversation_id": session["conversation_id"], "sender": "visitor"}}
    assert fakes.management.posted.get("me") is None, "the typist is not told it types"
    assert fakes.management.posted["tab2"] == [expected] and fakes.management.posted["tab3"] == [expected]


@pytest.mark.parametrize("body,code", [("not json", "invalid_json"), ('{"action":"dance"}', "unknown_action"),
                                       ("[" * 1500 + "]" * 1500, "invalid_json"),
                                       ('{"action":"ping","x":[[[[[1]]]]]}', "invalid_json"),
                                       ("[1,2]", "unknown_action"), ('{"a":"' + "x" * 5000 + '"}', "frame_too_large")])
def test_a_bad_frame_gets_an_error_event_back(fakes, http, client, body, code):
    session = http.session()
    invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))
    assert invoke(client, "ws_message", ws_event("$default", "conn1", body=body))["statusCode"] == 200
    (reply,) = fakes.management.posted["conn1"]
    assert reply["event"] == "error" and reply["data"]["code"] == code


def test_disconnect_forgets_the_connection(fakes, http, client, data):
    session = http.session()
    invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))
    assert invoke(client, "ws_disconnect", ws_event("$disconnect", "conn1"))["statusCode"] == 200
    assert data.connections.ids(session["conversation_id"]) == []
    assert invoke(client, "ws_disconnect", ws_event("$disconnect", "never-seen"))["statusCode"] == 200


def test_expired_connection_rows_are_ignored_though_no_emulator_deletes_them(fakes, http, data):
    session = http.session()
    data.connections.add(session["conversation_id"], "old", ttl_seconds=-1)
    data.connections.add(session["conversation_id"], "new", ttl_seconds=600)
    assert data.connections.ids(session["conversation_id"]) == ["new"]
    assert data.connections.conversation_of("old") is None


def test_connect_is_refused_when_websocket_is_not_a_provider(http, client, data):
    session = http.session()  # the default test settings: polling only
    resp = invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))
    assert resp["statusCode"] == 404 and json.loads(resp["body"])["error"]["code"] == "websocket_disabled"
    assert data.connections.ids(session["conversation_id"]) == []


def test_a_hung_websocket_endpoint_does_not_hold_the_send(fakes, http, data, monkeypatch):
    from chalicelib.realtime import apigw_websocket

    release = __import__("threading").Event()

    def hang(ConnectionId, Data):
        release.wait(10)

    monkeypatch.setattr(apigw_websocket, "FANOUT_DEADLINE_SECONDS", 0.3)
    monkeypatch.setattr(fakes.management, "post_to_connection", hang)
    session = http.session()
    data.connections.add(session["conversation_id"], "connA", 600)
    began = time.monotonic()
    try:
        resp = http.send(session)
    finally:
        release.set()
    assert resp.status_code == 201 and resp.json_body["reply"] is not None
    assert time.monotonic() - began < 5, "two publishes, each cut at the fan-out deadline"


def test_a_410_right_after_connect_leaves_the_new_connection_registered(fakes, http, data):
    session = http.session()
    data.connections.add(session["conversation_id"], "just-connecting", 600)
    fakes.management.gone.add("just-connecting")  # API Gateway: its $connect has not finished
    assert http.send(session).status_code == 201
    assert data.connections.ids(session["conversation_id"]) == ["just-connecting"]


def test_typing_is_relayed_at_most_once_per_interval_per_conversation(fakes, http, client):
    session = http.session()
    for c in ("me", "tab2", "tab3"):
        invoke(client, "ws_connect", ws_event("$connect", c, session["token"]))
    for _ in range(5):  # a burst of keystrokes, from two tabs of the same visitor
        invoke(client, "ws_message", ws_event("$default", "me", body='{"action":"typing"}'))
        invoke(client, "ws_message", ws_event("$default", "tab3", body='{"action":"typing"}'))
    assert len(fakes.management.posted["tab2"]) == 1, "one relay for a burst, however many tabs type"
    fakes.clock.advance(TYPING_INTERVAL_SECONDS - 0.01)
    invoke(client, "ws_message", ws_event("$default", "me", body='{"action":"typing"}'))
    assert len(fakes.management.posted["tab2"]) == 1, "still inside the interval"
    fakes.clock.advance(0.01)
    invoke(client, "ws_message", ws_event("$default", "me", body='{"action":"typing"}'))
    assert len(fakes.management.posted["tab2"]) == 2, "and another once the interval has passed"
