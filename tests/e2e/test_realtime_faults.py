"""Faults on a live stack: a provider down, a stale connection. Push is a hint; storage is the truth."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import boto3
import pytest
import requests

from chalicelib.data import Data

from ..functional.test_realtime import age_connection
from .conftest import LocalStack
from .test_realtime_delivery import TIMEOUT, pusher_client, send, start, ws_client


def polled(local: LocalStack, session: dict) -> list[int]:
    r = requests.get(f"{local.api}/api/chatbot/messages", timeout=10,
                     params={"conversation_id": session["conversation_id"], "after": 0},
                     headers={"Authorization": f"Bearer {session['token']}"})
    return [m["seq"] for m in r.json()["messages"]]


@pytest.mark.parametrize("down,survivor", [("pusher", "websocket"), ("websocket", "pusher")])
def test_with_one_provider_down_send_answers_201_the_other_delivers_and_polling_has_it(live, down, survivor):
    stack, local = live
    session = start(local)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            listener = (ws_client if survivor == "websocket" else pusher_client)(http, local, session)
            await listener.connect()
            stack.stop_service(down)
            try:
                began = time.monotonic()
                answer = await asyncio.to_thread(send, local, session)  # asserts 201
                took = time.monotonic() - began
                assert polled(local, session) == [1, 2], "both messages are stored and pollable"
                assert await listener.wait_for(lambda c: c.seqs() == [1, 2], TIMEOUT), listener.events
                assert answer["reply"]["seq"] == 2
                assert took < 5, f"a provider that is down must not hold the send ({took:.1f} s)"
            finally:
                stack.start_service(down)
            await listener.close()
            # Back up: the provider that was down delivers again.
            again = (ws_client if down == "websocket" else pusher_client)(http, local, session)
            await again.connect()
            await asyncio.to_thread(send, local, session, "and again")
            assert await again.wait_for(lambda c: c.seqs() == [3, 4], TIMEOUT), again.events
            await again.close()

    asyncio.run(scenario())


def test_a_stale_connection_is_removed_on_410_and_the_others_still_receive(live):
    stack, local = live
    session = start(local)
    conversation = session["conversation_id"]
    ddb = Data(stack.env["PARLEY_TABLE"], client=boto3.client(
        "dynamodb", endpoint_url=local.dynamodb, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local"))

    async def scenario():
        async with aiohttp.ClientSession() as http:
            clients = [ws_client(http, local, session) for _ in range(3)]
            for c in clients:
                await c.connect()
            # A connection API Gateway dropped an hour ago without a $disconnect reaching us.
            ddb.connections.add(conversation, "StaleConnId0000=", 600)
            age_connection(ddb, conversation, "StaleConnId0000=")
            assert len(ddb.connections.ids(conversation)) == 4
            await asyncio.to_thread(send, local, session)
            for c in clients:
                assert await c.wait_for(lambda c: c.seqs() == [1, 2], TIMEOUT), c.events
            live_ids = sorted(c.connection_id for c in clients)
            assert sorted(ddb.connections.ids(conversation)) == live_ids, "only the gone connection is removed"
            assert ddb.connections.conversation_of("StaleConnId0000=") is None
            for c in clients:
                await c.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("provider", ["websocket", "pusher"])
def test_a_provider_that_accepts_but_never_answers_costs_the_send_seconds_not_a_timeout(live, provider):
    """A black hole (connections accepted, never answered) behind one provider, with real clients."""
    import socket

    stack, local = live
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)  # never accepted: the kernel completes handshakes, nobody ever answers
    port = hole.getsockname()[1]
    setting = ({"PARLEY_WEBSOCKET_ENDPOINT": f"http://127.0.0.1:{port}/local"} if provider == "websocket"
               else {"PUSHER_PORT": str(port)})
    saved = {k: stack.env[k] for k in setting}
    session = start(local)

    async def send_while_listening() -> tuple[dict, float]:
        async with aiohttp.ClientSession() as http:
            client = ws_client(http, local, session)
            await client.connect()  # a live row, so the fan-out has someone to post to
            began = time.monotonic()
            answer = await asyncio.to_thread(send, local, session)  # asserts 201
            took = time.monotonic() - began
            await client.close()
            return answer, took

    try:
        stack.env.update(setting)
        stack.stop_service("api")
        stack.start_service("api")
        answer, took = asyncio.run(send_while_listening())
        assert answer["reply"] is not None and polled(local, session) == [1, 2]
        # Unbounded, this was 30 s (three 5 s attempts per post, two publishes).
        assert took < 9, f"each publish is bounded (one attempt, short timeouts); took {took:.1f} s"
        assert took > 1, "the black hole was really in the path (one read timeout at least)"
    finally:
        stack.env.update(saved)
        stack.stop_service("api")
        stack.start_service("api")
        hole.close()


def test_a_hung_dynamodb_answers_503_with_cors_within_seconds_and_a_retry_stores_once(live):
    """DynamoDB paused (SIGSTOP: it accepts connections and never answers), not dead."""
    import os
    import signal

    stack, local = live
    session = start(local)
    headers = {"Authorization": f"Bearer {session['token']}", "Origin": local.demo_origin}
    body = {"conversation_id": session["conversation_id"], "text": "Are you there?", "client_message_id": "hung-1"}
    dynamodb = stack.procs["dynamodb"]
    os.kill(dynamodb.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        r = requests.post(f"{local.api}/api/chatbot/send", json=body, headers=headers, timeout=60)
        took = time.monotonic() - began
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert r.headers.get("Access-Control-Allow-Origin") == local.demo_origin, "the widget can read the 503"
        assert took < 10, f"a hung DynamoDB must cost seconds, not minutes (took {took:.1f} s)"
        began = time.monotonic()
        polled_while_hung = requests.get(f"{local.api}/api/chatbot/messages", timeout=60, headers=headers,
                                         params={"conversation_id": session["conversation_id"], "after": 0})
        assert polled_while_hung.status_code == 503 and time.monotonic() - began < 10
    finally:
        os.kill(dynamodb.pid, signal.SIGCONT)
    # The widget retries with the same client_message_id: one message, whatever the hung try did.
    again = requests.post(f"{local.api}/api/chatbot/send", json=body, headers=headers, timeout=30)
    assert again.status_code == 201, again.text
    r = requests.get(f"{local.api}/api/chatbot/messages", timeout=10, headers=headers,
                     params={"conversation_id": session["conversation_id"], "after": 0})
    assert [m["text"] for m in r.json()["messages"]].count("Are you there?") == 1


def broadcast_budget(stack) -> float:
    """The per-provider broadcast budget the stack's API runs with (settings.broadcast_budget_seconds)."""
    from chalicelib.settings import Settings

    configured = stack.env.get("PARLEY_BROADCAST_BUDGET_SECONDS")
    return float(configured) if configured else Settings.model_fields["broadcast_budget_seconds"].default


@pytest.mark.parametrize("paused,survivor", [("pusher", "websocket"), ("websocket", "pusher")])
def test_a_paused_provider_costs_the_send_its_budget_at_most_and_the_stack_recovers(live, paused, survivor):
    """The Pusher or the WebSocket stand-in paused (SIGSTOP: connections accepted, nothing answered).

    The send answers 201 within the provider's broadcast budget (plus slack: the
    bound catches a send held for a timeout per broadcast, it is no timing
    assert), the other provider delivers, storage has both messages; after
    SIGCONT the paused provider delivers the next send.
    """
    import os
    import signal

    stack, local = live
    budget = broadcast_budget(stack)
    session = start(local)
    make = {"pusher": pusher_client, "websocket": ws_client}

    async def scenario():
        async with aiohttp.ClientSession() as http:
            # A listener on each: the paused provider has someone to push to (a
            # subscription, a live connection row), the survivor shows delivery goes on.
            stuck, listener = make[paused](http, local, session), make[survivor](http, local, session)
            await stuck.connect()
            await listener.connect()
            proc = stack.procs[paused]
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                began = time.monotonic()
                answer = await asyncio.to_thread(send, local, session)  # asserts 201
                took = time.monotonic() - began
                assert answer["reply"]["seq"] == 2
                assert took < budget + 3, (f"a paused {paused} may cost the send its budget ({budget:g} s) "
                                           f"once, not a timeout per broadcast: took {took:.1f} s")
                assert took > 1, f"the paused {paused} was really in the path (one client timeout at least)"
                assert polled(local, session) == [1, 2], "both messages are stored and pollable"
                assert await listener.wait_for(lambda c: c.seqs() == [1, 2], TIMEOUT), listener.events
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            await listener.close()
            await stuck.close()
            # Running again: the provider that was paused delivers the next send.
            again = make[paused](http, local, session)
            await again.connect()
            await asyncio.to_thread(send, local, session, "and again")
            assert await again.wait_for(lambda c: {3, 4} <= set(c.seqs()), TIMEOUT), again.events
            await again.close()
            assert polled(local, session) == [1, 2, 3, 4]

    asyncio.run(scenario())
