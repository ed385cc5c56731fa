"""A streamed reply end to end on the `make dev` stack: the send, the queue, the worker, the deltas, one message.

The `demo-llm` site's engine is the Bedrock engine against the Bedrock
Runtime stand-in (the real boto3 client and ConverseStream), its reply job
goes through moto's SQS and the local event source (infra/local/sqs_events.py
runs app.py's reply_worker), and its deltas reach a Pusher subscriber and an
API Gateway WebSocket client over real sockets, while a polling client sees
only stored messages.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import requests

from infra.local.clients import ApiGatewayClient, PusherChannelClient

from .conftest import LocalStack

SITE = "demo-llm"
DELTA = "ChatReplyDelta"
TIMEOUT = 20


def start(stack: LocalStack) -> dict[str, Any]:
    r = requests.post(f"{stack.api}/api/chatbot/init", json={"site_key": SITE},
                      headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def send(stack: LocalStack, session: dict[str, Any], text: str) -> dict[str, Any]:
    r = requests.post(f"{stack.api}/api/chatbot/send", timeout=30, json={
        "conversation_id": session["conversation_id"], "text": text, "client_message_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    assert r.status_code == 201, r.text
    return r.json()


def poll(stack: LocalStack, session: dict[str, Any]) -> list[dict[str, Any]]:
    r = requests.get(f"{stack.api}/api/chatbot/messages", timeout=10,
                     params={"conversation_id": session["conversation_id"], "after": 0},
                     headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def poll_until_reply(stack: LocalStack, session: dict[str, Any], seen: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Polls as a widget without push does (every 100 ms here), keeping every answer; the bot's message."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        messages = poll(stack, session)
        seen.append(messages)
        bots = [m for m in messages if m["sender"] == "bot"]
        if bots:
            return bots[0]
        time.sleep(0.1)
    raise AssertionError(f"no reply within {TIMEOUT} s; last poll: {seen[-1] if seen else None}")


def deltas_of(client: Any) -> list[dict[str, Any]]:
    found = []
    for frame in client.events:
        if frame.get("event") == DELTA:
            data = frame["data"]
            found.append(json.loads(data) if isinstance(data, str) else data)
    return found


def test_a_streamed_reply_arrives_as_deltas_then_as_one_stored_message_and_polling_sees_only_that(stack):
    session = start(stack)
    cid = session["conversation_id"]
    seen: list[list[dict[str, Any]]] = []

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
        async with aiohttp.ClientSession() as http:
            sub = PusherChannelClient(
                http, f"ws://127.0.0.1:{stack.pusher_port}/app/{stack.pusher_key}?protocol=7&client=py&version=1",
                f"{stack.api}/api/chatbot/pusher/auth", session["token"], f"private-chat.conversation.{cid}",
                origin=stack.demo_origin)
            ws = ApiGatewayClient(http, stack.websocket, session["token"], origin=stack.demo_origin)
            await sub.connect()
            await ws.connect()
            answer = await asyncio.to_thread(send, stack, session, "How much does it cost?")
            reply = await asyncio.to_thread(poll_until_reply, stack, session, seen)
            for client in (sub, ws):
                assert await client.wait_for(lambda c: 2 in c.seqs(), TIMEOUT), client.events
            await sub.close()
            await ws.close()
            return answer, reply, sub, ws

    answer, reply, sub, ws = asyncio.run(scenario())
    assert answer["reply"] is None and answer["message"]["seq"] == 1, "the send answers before the bot"
    pending = answer["reply_pending"]
    assert pending["reply_to_seq"] == 1 and pending["reply_id"].startswith("r_")

    assert reply["seq"] == 2 and reply["reply_id"] == pending["reply_id"] and reply["text"]
    assert reply["sources"], "the Bedrock engine says which entries it used"
    for client in (sub, ws):
        deltas = deltas_of(client)
        assert deltas, f"{type(client).__name__}: the text arrived as it was written"
        assert [d["n"] for d in deltas] == sorted({d["n"] for d in deltas}), "n only grows"
        assert {(d["reply_id"], d["reply_to_seq"], d["conversation_id"]) for d in deltas} == {
            (pending["reply_id"], 1, cid)}
        assert all(len(json.dumps(d).encode()) < 10_240 for d in deltas)
        stored = [r.data for r in client.received if r.data.get("seq") == 2]
        assert stored == [reply], "then the stored message, once"
        frames = [(f.get("event"), json.loads(f["data"]) if isinstance(f.get("data"), str) else f.get("data"))
                  for f in client.events]
        first_delta = next(i for i, (event, _) in enumerate(frames) if event == DELTA)
        final = next(i for i, (event, data) in enumerate(frames)
                     if event == "ChatMessageReceived" and (data or {}).get("seq") == 2)
        assert first_delta < final, "the text grows first, then the stored message replaces it"

    for messages in seen:
        assert [m["sender"] for m in messages] in (["visitor"], ["visitor", "bot"]), messages
        assert all(m == reply for m in messages if m["sender"] == "bot"), "a poll never sees a half message"
    assert poll(stack, session) == [answer["message"], reply]


def test_a_stream_that_fails_midway_ends_as_exactly_one_fallback_reply(stack):
    session = start(stack)
    seen: list[list[dict[str, Any]]] = []
    # The stand-in's trigger phrase: two deltas, then a modelStreamErrorException.
    send(stack, session, "How much does it cost? stand-in: fail")
    reply = poll_until_reply(stack, session, seen)
    time.sleep(0.5)  # a second reply, if there were one, would be stored by now
    messages = poll(stack, session)
    bots = [m for m in messages if m["sender"] == "bot"]
    assert bots == [reply], f"exactly one reply: {messages}"
    assert reply["reply_id"].startswith("r_") and reply["text"]
