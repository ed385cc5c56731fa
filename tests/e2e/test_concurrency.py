"""Concurrent sends against the running stack: seq stays gapless, idempotency holds."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from .conftest import LocalStack


def _session(stack: LocalStack) -> dict:
    r = requests.post(f"{stack.api}/api/chatbot/init", json={"site_key": "demo"}, timeout=10,
                      headers={"Origin": stack.demo_origin})
    assert r.status_code == 201, r.text
    return r.json()


def _send(stack: LocalStack, session: dict, text: str, cmid: str) -> requests.Response:
    return requests.post(f"{stack.api}/api/chatbot/send", timeout=60, json={
        "conversation_id": session["conversation_id"], "text": text, "client_message_id": cmid},
        headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})


def _all_messages(stack: LocalStack, session: dict) -> list[dict]:
    messages, after = [], 0
    for _ in range(20):  # bounded paging
        r = requests.get(f"{stack.api}/api/chatbot/messages", timeout=10,
                         params={"conversation_id": session["conversation_id"], "after": after},
                         headers={"Authorization": f"Bearer {session['token']}"})
        assert r.status_code == 200, r.text
        body = r.json()
        messages += body["messages"]
        if not body["has_more"]:
            return messages
        after = body["messages"][-1]["seq"]
    raise AssertionError("paging did not end")


def test_fifty_concurrent_sends_get_gapless_unique_seqs(stack):
    session = _session(stack)
    with ThreadPoolExecutor(max_workers=50) as pool:
        # A question the bot can answer: two answers in a row that did not help would hand off.
        responses = list(pool.map(lambda i: _send(stack, session, f"How much does it cost? ({i})", f"cm-{i}"),
                                  range(50)))
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201]
    stored = _all_messages(stack, session)
    seqs = [m["seq"] for m in stored]
    # 50 visitor messages and 50 bot replies.
    assert seqs == list(range(1, 101)), f"expected seq 1..100 gapless and unique, got {seqs}"
    visitor_texts = sorted(m["text"] for m in stored if m["sender"] == "visitor")
    assert visitor_texts == sorted(f"How much does it cost? ({i})" for i in range(50)), "every visitor message stored once"
    answered = {r.json()["message"]["seq"] for r in responses}
    assert len(answered) == 50, "each send must be answered with its own seq"


def test_ten_concurrent_sends_with_one_client_message_id_store_one_message(stack):
    session = _session(stack)
    cmid = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: _send(stack, session, "same text", cmid), range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    ids = {r.json()["message"]["id"] for r in responses}
    assert len(ids) == 1, f"every answer must carry the one stored message, got {ids}"
    assert sum(not r.json()["duplicate"] for r in responses) == 1, "exactly one send creates the message"
    stored = _all_messages(stack, session)
    visitor = [m for m in stored if m["sender"] == "visitor"]
    bot = [m for m in stored if m["sender"] == "bot"]
    assert len(visitor) == 1 and visitor[0]["client_message_id"] == cmid, f"expected one message, got {visitor}"
    assert len(bot) == 1, f"expected one bot reply for one message, got {len(bot)}"
    assert [m["seq"] for m in stored] == [1, 2]
