"""Send under failure and misuse: the bot failing, the store failing, a reused key, odd input."""
from __future__ import annotations

import json

import pytest

from chalicelib.errors import ParleyError

from .conftest import ORIGIN


def seqs(http, session) -> list[tuple[int, str]]:
    return [(m["seq"], m["sender"]) for m in http.poll(session).json_body["messages"]]


def test_a_failing_bot_engine_still_stores_and_answers_the_message(http, monkeypatch):
    from chalicelib.bot.knowledge import KnowledgeBot

    def broken(self, text, history):
        raise RuntimeError("engine down")

    monkeypatch.setattr(KnowledgeBot, "reply", broken)
    session = http.session()
    resp = http.send(session)
    assert resp.status_code == 201 and resp.json_body["reply"] is None
    assert seqs(http, session) == [(1, "visitor")]


def test_a_reply_that_cannot_be_stored_is_a_503_and_a_retry_stores_it_once(http, root, monkeypatch):
    session = http.session()
    messages = root.data.messages
    real = messages._append

    def flaky(conversation_id, sender, text, *rest):
        if sender == "bot":
            raise ParleyError("unavailable", "The message store is busy; please retry.")
        return real(conversation_id, sender, text, *rest)

    monkeypatch.setattr(messages, "_append", flaky)
    first = http.send(session, cmid="c-1")
    assert first.status_code == 503 and first.json_body["error"]["code"] == "unavailable"
    assert seqs(http, session) == [(1, "visitor")], "the visitor's message is stored once"
    monkeypatch.setattr(messages, "_append", real)
    again = http.send(session, cmid="c-1")
    assert again.status_code == 201 and again.json_body["duplicate"] is True
    stored_first = http.poll(session).json_body["messages"][0]
    assert again.json_body["message"]["id"] == stored_first["id"], "the retry answers the stored message"
    assert seqs(http, session) == [(1, "visitor"), (2, "bot")], "the retry adds the reply, not the message"


def test_a_client_message_id_reused_for_other_text_is_a_409_and_changes_nothing(http):
    session = http.session()
    assert http.send(session, text="How much does it cost?", cmid="c-1").status_code == 201
    resp = http.send(session, text="Something else", cmid="c-1")
    assert resp.status_code == 409 and resp.json_body["error"]["code"] == "idempotency_conflict"
    assert [t for _, t in seqs(http, session)] == ["visitor", "bot"]


def test_deeply_nested_json_is_a_400_not_a_500(http):
    # Deep enough to exhaust any CPython json parser (3.13 parses 5,000 levels; 3.11 does not).
    resp = http.post("/api/chatbot/init", "[" * 100_000 + "]" * 100_000, {"Origin": ORIGIN}, raw=True)
    assert resp.status_code == 400 and resp.json_body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("field", ["text", "client_message_id"])
def test_a_lone_surrogate_is_a_400_and_stores_nothing(http, field):
    session = http.session()
    body = {"conversation_id": session["conversation_id"], "text": "hi", "client_message_id": "c-1"}
    raw = json.dumps(body).replace('"hi"' if field == "text" else '"c-1"',
                                   '"hi \\ud800"' if field == "text" else '"c-\\ud800"')
    resp = http.post("/api/chatbot/send", raw, {"Authorization": f"Bearer {session['token']}",
                                                 "Origin": ORIGIN}, raw=True)
    assert resp.status_code == 400 and resp.json_body["error"]["code"] == "invalid_request"
    assert seqs(http, session) == []


@pytest.mark.parametrize("visitor", [{"name": {"nested": "x"}}, {"n": 1}, {"k" * 65: "v"},
                                     {"a": "x" * 257}, {f"k{i}": "v" for i in range(21)}, ["list"]])
def test_visitor_must_be_a_small_flat_object_of_text(http, visitor):
    resp = http.init(visitor=visitor)
    assert resp.status_code == 400 and resp.json_body["error"]["code"] == "invalid_request"


def test_a_flat_visitor_is_accepted(http):
    assert http.init(visitor={"name": "Ada", "page": "/pricing"}).status_code == 201


def test_an_absurdly_long_origin_is_refused_without_a_lookup(http):
    resp = http.c.http.request("OPTIONS", "/api/chatbot/send", headers={"Origin": "http://" + "a" * 3000})
    assert resp.status_code == 403 and resp.json_body["error"]["code"] == "origin_not_allowed"


def test_unicode_digits_are_not_numbers(http):
    session = http.session()
    resp = http.poll(session, "after=\u0661")
    assert resp.status_code == 400
