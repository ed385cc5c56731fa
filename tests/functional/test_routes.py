"""Every route's happy path, exactly as DESIGN.md's HTTP contract promises it.

The app runs in-process (chalice.test.Client) on a moto table; what a test
reads back from the table it reads through ``stored_messages``, never through
the API it is testing.
"""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from chalicelib import tokens

from tests.functional.conftest import KNOWLEDGE, ORIGIN, OTHER_ORIGIN, stored_messages

LOCALHOST_ORIGIN = "http://localhost:8080"
ROUTES = ("config", "init", "send", "messages")
PRICING_ANSWER = next(e["answer"] for e in KNOWLEDGE["entries"] if e["id"] == "pricing")


def _header(resp: Any, name: str) -> str | None:
    """A response header, looked up case-insensitively."""
    for key, value in resp.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


def _assert_realtime_section(realtime: dict[str, Any]) -> None:
    assert set(realtime) >= {"providers", "pusher", "websocket", "polling"}, (
        f"realtime should name providers, pusher, websocket and polling; got {sorted(realtime)}")
    assert realtime["providers"], "realtime.providers should list at least one provider"
    assert set(realtime["providers"]) <= {"pusher", "websocket", "polling"}, realtime["providers"]
    assert isinstance(realtime["polling"]["interval_ms"], int), realtime["polling"]


# -- config ---------------------------------------------------------------------------


def test_config_returns_realtime_and_widget_settings_to_a_listed_origin(http, root):
    resp = http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN})

    assert resp.status_code == 200, resp.body
    body = resp.json_body
    assert body["site_key"] == "demo"
    _assert_realtime_section(body["realtime"])
    # The test environment configures polling only: the other sections say so with null.
    assert body["realtime"]["providers"] == ["polling"]
    assert body["realtime"]["pusher"] is None and body["realtime"]["websocket"] is None
    assert body["realtime"]["polling"] == {"interval_ms": root.settings.polling_interval_ms}
    assert body["widget"] == {"title": "Parley demo"}, "config should hand the widget its site's settings"
    assert _header(resp, "Access-Control-Allow-Origin") == ORIGIN
    assert _header(resp, "Vary") == "Origin"


def test_config_may_be_cached_a_minute_by_browsers_and_a_cdn_but_an_error_may_not(http):
    # The one call the chat makes when it first loads: a CDN in front of the API can answer it.
    resp = http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN})
    assert resp.status_code == 200, resp.body
    assert _header(resp, "Cache-Control") == "public, max-age=60"
    assert _header(resp, "Vary") == "Origin", "one cached copy per origin, so CORS stays per site"
    refused = http.get("/api/chatbot/config?site_key=demo", {"Origin": OTHER_ORIGIN})
    assert refused.status_code == 403 and _header(refused, "Cache-Control") is None, refused.headers


def test_config_body_never_contains_the_token_secret(http):
    resp = http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN})

    assert resp.status_code == 200, resp.body
    secret = os.environ["PARLEY_TOKEN_SECRET"]
    assert secret not in resp.body.decode(), "the token secret leaked into the config body"
    assert all(secret not in v for v in resp.headers.values()), "the token secret leaked into a header"


@pytest.fixture
def all_providers_http(http, make_root):
    """The app configured with Pusher and WebSocket too (its graph as ``.root``)."""
    http.root = make_root({"PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling",
               "PARLEY_WEBSOCKET_URL": "wss://ws.example.test/api",
               "PARLEY_WEBSOCKET_ENDPOINT": "http://127.0.0.1:8001",
               "PUSHER_APP_ID": "4242", "PUSHER_KEY": "public-pusher-key",
               "PUSHER_SECRET": "pusher-secret-must-never-leave-the-server",
               "PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": "6001", "PUSHER_USE_TLS": "false"})
    return http


def test_config_with_every_provider_lists_them_in_order_without_any_secret(all_providers_http):
    resp = all_providers_http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN})

    assert resp.status_code == 200, resp.body
    realtime = resp.json_body["realtime"]
    _assert_realtime_section(realtime)
    assert realtime["providers"] == ["pusher", "websocket", "polling"]
    pusher = realtime["pusher"]
    assert pusher["key"] == "public-pusher-key"
    assert (pusher["host"], pusher["port"], pusher["use_tls"]) == ("127.0.0.1", 6001, False)
    assert pusher["cluster"] and pusher["auth_endpoint"] == "/api/chatbot/pusher/auth"
    assert realtime["websocket"] == {"url": "wss://ws.example.test/api", "event": "ChatMessageReceived",
                                     "typing_event": "ClientTyping", "delta_event": "ChatReplyDelta"}
    text = resp.body.decode()
    for name in ("pusher_secret", "token_secret"):
        value = getattr(all_providers_http.root.settings, name)
        assert value and value not in text, f"{name}'s value leaked into the config body"


def test_config_without_origin_header_is_answered_for_server_side_clients(http):
    # ChatService.site_allows: no Origin means no browser is asking; CORS guards browsers only.
    resp = http.get("/api/chatbot/config?site_key=demo")

    assert resp.status_code == 200, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") is None, "no Origin asked, none should be allowed"


# -- init -----------------------------------------------------------------------------


def test_init_starts_a_new_conversation(http, data, root):
    resp = http.init()

    assert resp.status_code == 201, resp.body
    body = resp.json_body
    assert isinstance(body["conversation_id"], str) and body["conversation_id"]
    assert isinstance(body["token"], str) and body["token"]
    assert body["messages"] == []
    assert body["last_seq"] == 0
    assert body["resumed"] is False
    _assert_realtime_section(body["realtime"])
    claims = tokens.verify(root.settings.token_secret, body["token"])
    assert (claims.conversation_id, claims.site_key) == (body["conversation_id"], "demo"), (
        "the token should be bound to the new conversation of site demo")
    assert data.messages.messages_after(body["conversation_id"], 0).last_seq == 0, "the conversation should be stored"
    assert _header(resp, "Access-Control-Allow-Origin") == ORIGIN


def test_init_realtime_section_matches_config(http):
    config = http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}).json_body

    assert http.session()["realtime"] == config["realtime"]


def test_init_without_origin_header_is_allowed_for_server_side_clients(http):
    resp = http.init(origin=None)

    assert resp.status_code == 201, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") is None


def test_init_from_a_second_listed_origin_is_allowed(http):
    resp = http.init(origin=LOCALHOST_ORIGIN)

    assert resp.status_code == 201, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") == LOCALHOST_ORIGIN


def test_init_with_conversation_and_token_resumes_it_with_history(http):
    session = http.session()
    sent = http.send(session).json_body

    resp = http.init(conversation_id=session["conversation_id"], token=session["token"])

    assert resp.status_code == 200, resp.body
    body = resp.json_body
    assert body["resumed"] is True
    assert body["conversation_id"] == session["conversation_id"]
    assert body["messages"] == [sent["message"], sent["reply"]], "resume should return the stored history"
    assert body["last_seq"] == 2
    assert body["has_more"] is False
    _assert_realtime_section(body["realtime"])
    # The fresh token opens the same conversation.
    again = http.send(session, text="Is there a free plan?", cmid="c-2", token=body["token"])
    assert again.status_code == 201, again.body
    assert again.json_body["message"]["seq"] == 3


def test_resume_returns_the_latest_history_limit_messages_and_pages_back_to_seq_1(http, data, root):
    session = http.session()
    cid = session["conversation_id"]
    total = 170
    for n in range(1, total + 1):  # set up through the data: this test is about reading
        data.messages.append_message(cid, "visitor" if n % 2 else "bot", f"message {n}")
    limit = root.settings.history_limit
    assert limit == 50, "the contract's default history_limit is 50"

    resumed = http.init(conversation_id=cid, token=session["token"]).json_body

    assert _seqs(resumed["messages"]) == list(range(total - limit + 1, total + 1)), (
        "resume should return the latest 50 messages, oldest first")
    assert resumed["last_seq"] == total
    assert resumed["has_more"] is True
    assert resumed["messages"][0]["text"] == f"message {total - limit + 1}"

    history = list(resumed["messages"])
    pages = 0
    while history[0]["seq"] > 1:
        pages += 1
        assert pages < 10, "paging back never reached seq 1"
        resp = http.poll(resumed, f"before={history[0]['seq']}", token=resumed["token"])
        assert resp.status_code == 200, resp.body
        page = resp.json_body
        assert page["messages"], f"a page before seq {history[0]['seq']} should not be empty"
        assert _seqs(page["messages"]) == sorted(_seqs(page["messages"])), "pages are oldest first"
        assert page["messages"][-1]["seq"] == history[0]["seq"] - 1, "a page should end right before the cursor"
        assert page["last_seq"] == total
        assert page["has_more"] is (page["messages"][0]["seq"] > 1)
        history = page["messages"] + history

    assert _seqs(history) == list(range(1, total + 1)), "paging back should yield every seq exactly once"
    assert pages == 2, f"120 older messages at the default page size of 100 take 2 pages, took {pages}"


# -- send -----------------------------------------------------------------------------


def test_send_stores_the_visitor_message_and_the_bots_reply(http, data):
    session = http.session()

    resp = http.send(session, text="How much does Parley cost?", cmid="c-1")

    assert resp.status_code == 201, resp.body
    body = resp.json_body
    message, reply = body["message"], body["reply"]
    assert message["seq"] == 1 and message["sender"] == "visitor"
    assert message["text"] == "How much does Parley cost?"
    assert message["client_message_id"] == "c-1"
    assert message["conversation_id"] == session["conversation_id"]
    assert reply["seq"] == 2 and reply["sender"] == "bot"
    assert reply["text"] == PRICING_ANSWER, "the bot should answer from the knowledge file's pricing entry"
    assert body["last_seq"] == 2
    assert body["duplicate"] is False
    for m in (message, reply):
        assert set(m) >= {"id", "conversation_id", "seq", "sender", "text", "created_at"}, sorted(m)
    assert stored_messages(data, session["conversation_id"]) == [message, reply]
    assert _header(resp, "Access-Control-Allow-Origin") == ORIGIN


def test_send_twice_with_the_same_client_message_id_stores_one_message_and_one_reply(http, data):
    session = http.session()

    first = http.send(session, cmid="same-id")
    second = http.send(session, cmid="same-id")

    assert (first.status_code, second.status_code) == (201, 201), (first.body, second.body)
    a, b = first.json_body, second.json_body
    assert a["duplicate"] is False and b["duplicate"] is True
    assert b["message"]["id"] == a["message"]["id"] and b["reply"]["id"] == a["reply"]["id"], (
        "a repeated send should return the very messages of the first")
    assert b["message"] == a["message"] and b["reply"] == a["reply"]
    assert b["last_seq"] == 2
    stored = stored_messages(data, session["conversation_id"])
    assert [(m["seq"], m["sender"]) for m in stored] == [(1, "visitor"), (2, "bot")], (
        f"expected exactly one visitor message and one reply in the table, found {stored}")


def test_send_of_an_unknown_question_gets_the_bots_honest_fallback(http):
    session = http.session()

    resp = http.send(session, text="What is the airspeed velocity of an unladen swallow?")

    assert resp.status_code == 201, resp.body
    assert resp.json_body["reply"]["sender"] == "bot"
    assert resp.json_body["reply"]["text"] == KNOWLEDGE["fallback"], (
        "a question the knowledge file cannot answer should get its fallback")


def test_send_of_a_near_miss_offers_the_entries_that_came_close_stored_and_polled(http, data):
    session = http.session()

    resp = http.send(session, text="what does it cost to install", cmid="c-1")

    assert resp.status_code == 201, resp.body
    reply = resp.json_body["reply"]
    assert reply["text"] == KNOWLEDGE["fallback"]
    assert reply["suggestions"] == ["How do I install the widget?", "How much does Parley cost?"], reply
    assert stored_messages(data, session["conversation_id"])[-1] == reply, "stored with its suggestions"
    assert http.poll(session, "after=0").json_body["messages"][-1] == reply, "polling clients get them too"

    tapped = http.send(session, text=reply["suggestions"][1], cmid="c-2").json_body["reply"]
    assert tapped["text"] == PRICING_ANSWER, "a suggestion sent back gets its entry's answer"
    assert "suggestions" not in tapped, "an answer offers none"


def test_send_without_origin_header_is_allowed_for_server_side_clients(http):
    session = http.session()
    body = {"conversation_id": session["conversation_id"], "text": "hello there", "client_message_id": "srv-1"}

    resp = http.post("/api/chatbot/send", body, {"Authorization": f"Bearer {session['token']}"})

    assert resp.status_code == 201, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") is None


# -- messages (polling) ---------------------------------------------------------------


def test_messages_after_n_returns_only_newer_messages_oldest_first(http):
    session = http.session()
    http.send(session, cmid="c-1")
    http.send(session, text="How do I install the widget?", cmid="c-2")

    resp = http.poll(session, "after=2")

    assert resp.status_code == 200, resp.body
    body = resp.json_body
    assert _seqs(body["messages"]) == [3, 4], "after=2 should return seq 3 and 4, oldest first"
    assert [m["sender"] for m in body["messages"]] == ["visitor", "bot"]
    assert body["last_seq"] == 4
    assert _header(resp, "Access-Control-Allow-Origin") == ORIGIN


def test_messages_after_zero_returns_the_whole_conversation(http, data):
    session = http.session()
    http.send(session)

    body = http.poll(session, "after=0").json_body

    assert body["messages"] == stored_messages(data, session["conversation_id"])
    assert body["last_seq"] == 2


def test_messages_poll_with_nothing_new_returns_empty_list_and_last_seq(http):
    session = http.session()
    http.send(session)

    resp = http.poll(session, "after=2")

    assert resp.status_code == 200, resp.body
    assert resp.json_body["messages"] == []
    assert resp.json_body["last_seq"] == 2


def test_messages_poll_of_a_new_conversation_is_empty_with_last_seq_0(http):
    session = http.session()

    resp = http.poll(session, "after=0")

    assert resp.status_code == 200, resp.body
    assert (resp.json_body["messages"], resp.json_body["last_seq"]) == ([], 0)


def test_messages_without_after_means_from_the_start(http):
    session = http.session()
    http.send(session)

    resp = http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}",
                    {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})

    assert resp.status_code == 200, resp.body
    assert _seqs(resp.json_body["messages"]) == [1, 2]


# -- CORS -----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?site_key=demo"], ids=["no_site_key", "site_key_demo"])
@pytest.mark.parametrize("origin", [ORIGIN, LOCALHOST_ORIGIN])
@pytest.mark.parametrize("route", ROUTES)
def test_preflight_answers_listed_origin_with_204_and_cors_headers(client, route, origin, query):
    resp = client.http.request("OPTIONS", f"/api/chatbot/{route}{query}", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})

    assert resp.status_code == 204, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") == origin
    methods = {m.strip() for m in (_header(resp, "Access-Control-Allow-Methods") or "").split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods, f"Allow-Methods should cover GET, POST, OPTIONS: {methods}"
    allowed_headers = {h.strip().lower() for h in (_header(resp, "Access-Control-Allow-Headers") or "").split(",")}
    assert {"authorization", "content-type"} <= allowed_headers, allowed_headers
    assert _header(resp, "Vary") == "Origin"


def test_preflight_answers_the_origin_of_another_site_for_that_site(client):
    resp = client.http.request("OPTIONS", "/api/chatbot/init?site_key=other", headers={"Origin": OTHER_ORIGIN})

    assert resp.status_code == 204, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") == OTHER_ORIGIN


def test_origin_is_compared_case_and_trailing_slash_insensitively(http):
    resp = http.get("/api/chatbot/config?site_key=demo", {"Origin": "HTTP://127.0.0.1:8080/"})

    assert resp.status_code == 200, resp.body


def _send_bad_body(http):
    session = http.session()
    return http.post("/api/chatbot/send", "{not json", raw=True, headers={
        "Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})


def _poll_bad_after(http):
    return http.poll(http.session(), "after=abc")


def _init_bad_body(http):
    return http.post("/api/chatbot/init", "{not json", raw=True, headers={"Origin": ORIGIN})


def _init_bad_body_with_site_key_query(http):
    return http.post("/api/chatbot/init?site_key=demo", "{not json", raw=True, headers={"Origin": ORIGIN})


def _init_bad_locale(http):
    return http.init(locale="not a locale!")


def _init_site_key_wrong_type(http):
    return http.post("/api/chatbot/init", {"site_key": 7}, {"Origin": ORIGIN})


@pytest.mark.parametrize("make_request", [
    _send_bad_body, _poll_bad_after, _init_bad_locale, _init_bad_body_with_site_key_query,
    _init_bad_body, _init_site_key_wrong_type,
], ids=lambda f: f.__name__.lstrip("_"))
def test_error_to_a_listed_origin_carries_allow_origin_so_the_widget_can_read_it(http, make_request):
    resp = make_request(http)

    assert resp.status_code == 400, resp.body
    assert "error" in resp.json_body, resp.body
    assert _header(resp, "Access-Control-Allow-Origin") == ORIGIN, (
        f"a 400 to the listed origin {ORIGIN} should carry Access-Control-Allow-Origin; "
        f"headers were {dict(resp.headers)}")
    assert _header(resp, "Vary") == "Origin"


@pytest.mark.parametrize("make_request", [
    lambda http: http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}),
    lambda http: http.init(),
    lambda http: http.get("/api/chatbot/config?site_key=demo", {"Origin": OTHER_ORIGIN}),
    lambda http: http.get("/nope", {"Origin": ORIGIN}),
    lambda http: http.get("/api/chatbot/config?site_key=demo"),
], ids=["success", "created", "forbidden", "not_found", "no_origin"])
def test_every_answer_varies_on_origin(http, make_request):
    resp = make_request(http)

    assert _header(resp, "Vary") == "Origin", f"expected Vary: Origin, headers were {dict(resp.headers)}"


def test_json_responses_declare_json_content_type(http):
    resp = http.init()

    assert (_header(resp, "Content-Type") or "").startswith("application/json")
    json.loads(resp.body)
