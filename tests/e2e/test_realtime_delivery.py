"""Realtime end to end on the `make dev` stack: real sockets, the official clients.

A message sent through POST /api/chatbot/send reaches a Pusher subscriber
(authorized by our auth route) and an API Gateway WebSocket client; the
`pusher` library and boto3's apigatewaymanagementapi client work against the
stand-ins unchanged; pusher-js under node subscribes with its own
channelAuthorization settings.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import boto3
import pusher
import pytest
import requests

from infra.local.clients import ApiGatewayClient, PusherChannelClient

from .conftest import ROOT, LocalStack

NODE = shutil.which("node")
NODE_SCRIPT = Path(__file__).resolve().parent / "node" / "pusher_subscribe.js"
TIMEOUT = 10


def start(stack: LocalStack) -> dict:
    r = requests.post(f"{stack.api}/api/chatbot/init", json={"site_key": "demo"},
                      headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def send(stack: LocalStack, session: dict, text: str = "How much does it cost?", **extra) -> dict:
    r = requests.post(f"{stack.api}/api/chatbot/send", timeout=30, json={
        "conversation_id": session["conversation_id"], "text": text,
        "client_message_id": str(uuid.uuid4()), **extra},
        headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    assert r.status_code == 201, r.text
    return r.json()


def channel(session: dict) -> str:
    return f"private-chat.conversation.{session['conversation_id']}"


def pusher_client(http: aiohttp.ClientSession, stack: LocalStack, session: dict,
                  token: str | None = None) -> PusherChannelClient:
    return PusherChannelClient(
        http, f"ws://127.0.0.1:{stack.pusher_port}/app/{stack.pusher_key}?protocol=7&client=py&version=1",
        f"{stack.api}/api/chatbot/pusher/auth", token or session["token"], channel(session),
        origin=stack.demo_origin)


def ws_client(http: aiohttp.ClientSession, stack: LocalStack, session: dict,
              token: str | None = None) -> ApiGatewayClient:
    return ApiGatewayClient(http, stack.websocket, token or session["token"], origin=stack.demo_origin)


def test_the_pusher_library_triggers_through_the_stand_in(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            sub = pusher_client(http, stack, session)
            await sub.connect()
            official = pusher.Pusher(app_id=stack.pusher_app_id, key=stack.pusher_key,
                                     secret=stack.pusher_secret, host="127.0.0.1",
                                     port=stack.pusher_port, ssl=False)
            await asyncio.to_thread(official.trigger, channel(session), "ChatMessageReceived",
                                    {"seq": 99, "text": "from the library"})
            assert await sub.wait_for(lambda c: c.seqs() == [99], TIMEOUT)
            await sub.close()

    asyncio.run(scenario())


def test_a_subscriber_authorized_by_our_route_receives_what_send_stores(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            sub = pusher_client(http, stack, session)
            await sub.connect()
            answer = await asyncio.to_thread(send, stack, session)
            assert await sub.wait_for(lambda c: len(c.seqs()) == 2, TIMEOUT), sub.events
            assert [r.data for r in sub.received] == [answer["message"], answer["reply"]]
            await sub.close()

    asyncio.run(scenario())


def test_the_sender_socket_is_left_out_of_the_pusher_broadcast(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            me, other = pusher_client(http, stack, session), pusher_client(http, stack, session)
            await me.connect()
            await other.connect()
            await asyncio.to_thread(send, stack, session, socket_id=me.socket_id)
            assert await other.wait_for(lambda c: len(c.seqs()) == 2, TIMEOUT)
            await asyncio.sleep(0.3)  # long past the other's delivery
            assert me.received == [], "the sender has both messages in its answer already"
            await me.close()
            await other.close()

    asyncio.run(scenario())


def test_a_websocket_client_receives_what_send_stores(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            client = ws_client(http, stack, session)
            await client.connect()
            answer = await asyncio.to_thread(send, stack, session)
            assert await client.wait_for(lambda c: len(c.seqs()) == 2, TIMEOUT), client.events
            assert [r.data for r in client.received] == [answer["message"], answer["reply"]]
            await client.close()

    asyncio.run(scenario())


def test_typing_on_one_websocket_reaches_the_other_tab(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            a, b = ws_client(http, stack, session), ws_client(http, stack, session)
            await a.connect()
            await b.connect()
            await a.send({"action": "typing"})
            deadline = time.monotonic() + TIMEOUT
            while not any(e.get("event") == "ClientTyping" for e in b.events) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert any(e.get("event") == "ClientTyping" for e in b.events), b.events
            await asyncio.sleep(0.3)  # an echo to the typist would have come by now
            assert not any(e.get("event") == "ClientTyping" for e in a.events)
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_boto3_management_client_works_against_the_websocket_stand_in(stack):
    session = start(stack)
    management = boto3.client("apigatewaymanagementapi", endpoint_url=stack.websocket.replace("ws://", "http://"),
                              region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")

    async def scenario():
        async with aiohttp.ClientSession() as http:
            client = ws_client(http, stack, session)
            await client.connect()
            cid = client.connection_id
            await asyncio.to_thread(management.post_to_connection, ConnectionId=cid,
                                    Data=json.dumps({"event": "ChatMessageReceived", "data": {"seq": 7}}).encode())
            assert await client.wait_for(lambda c: c.seqs() == [7], TIMEOUT)
            info = await asyncio.to_thread(management.get_connection, ConnectionId=cid)
            assert "ConnectedAt" in info
            await asyncio.to_thread(management.delete_connection, ConnectionId=cid)
            deadline = time.monotonic() + TIMEOUT
            while not client.closed and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert client.closed, "delete_connection closes the socket"
            with pytest.raises(management.exceptions.GoneException):
                await asyncio.to_thread(management.post_to_connection, ConnectionId=cid, Data=b"{}")

    asyncio.run(scenario())


@pytest.mark.skipif(not NODE, reason="node is not on PATH")
def test_pusher_js_under_node_subscribes_through_our_auth_route_and_receives(stack):
    session = start(stack)
    proc = subprocess.Popen(
        [NODE, str(NODE_SCRIPT), "--key", stack.pusher_key, "--host", "127.0.0.1",
         "--port", str(stack.pusher_port), "--auth-endpoint", f"{stack.api}/api/chatbot/pusher/auth",
         "--token", session["token"], "--channel", channel(session), "--events", "2", "--timeout", "15"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the script's own --timeout
            if json.loads(line)["type"] in ("subscribed", "subscription_error", "timeout"):
                assert json.loads(line)["type"] == "subscribed", line
                break
        answer = send(stack, session)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"pusher-js did not get both events: {out} {err}"
    events = [json.loads(line) for line in out.splitlines() if json.loads(line)["type"] == "event"]
    assert [(e["event"], e["data"]["seq"]) for e in events] == [
        ("ChatMessageReceived", answer["message"]["seq"]), ("ChatMessageReceived", answer["reply"]["seq"])]


@pytest.mark.skipif(not NODE, reason="node is not on PATH")
def test_pusher_js_is_refused_another_conversations_channel(stack):
    mine, theirs = start(stack), start(stack)
    done = subprocess.run(
        [NODE, str(NODE_SCRIPT), "--key", stack.pusher_key, "--host", "127.0.0.1",
         "--port", str(stack.pusher_port), "--auth-endpoint", f"{stack.api}/api/chatbot/pusher/auth",
         "--token", mine["token"], "--channel", channel(theirs), "--timeout", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, f"expected a subscription error: {done.stdout} {done.stderr}"
    assert '"subscription_error"' in done.stdout


def test_another_conversations_channel_cannot_be_authorized_or_read(stack):
    mine, theirs = start(stack), start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            spy = pusher_client(http, stack, mine)
            spy.channel = channel(theirs)
            with pytest.raises(PermissionError, match="403"):
                await spy.connect()

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["forged", "expired"])
def test_a_bad_token_is_refused_at_connect_and_at_the_auth_route(stack, kind):
    from chalicelib import tokens

    session = start(stack)
    bad = (session["token"][:-3] + "abc" if kind == "forged"
           else tokens.issue(stack.token_secret, session["conversation_id"], "demo", 60, now=time.time() - 120))

    async def scenario():
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await ws_client(http, stack, session, token=bad).connect()
            assert refused.value.status == 401
            with pytest.raises(PermissionError, match="401"):
                await pusher_client(http, stack, session, token=bad).connect()

    asyncio.run(scenario())


def test_two_clients_in_one_conversation_each_get_every_message_exactly_once(stack):
    session = start(stack)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            on_pusher, on_ws = pusher_client(http, stack, session), ws_client(http, stack, session)
            both = (pusher_client(http, stack, session), ws_client(http, stack, session))
            for c in (on_pusher, on_ws, *both):
                await c.connect()
            for i in range(5):
                # Questions the bot answers: two answers in a row that did not help would hand off.
                await asyncio.to_thread(send, stack, session, f"How much does it cost? ({i})")
            expected = list(range(1, 11))
            for c in (on_pusher, on_ws, *both):
                assert await c.wait_for(lambda c: sorted(set(c.seqs())) == expected, TIMEOUT), c.seqs()
            assert on_pusher.seqs() == expected and on_ws.seqs() == expected, "each transport delivers each once"
            # A tab on both transports hears everything twice; by seq it keeps each once.
            merged = sorted(set(both[0].seqs()) | set(both[1].seqs()))
            assert merged == expected
            for c in (on_pusher, on_ws, *both):
                await c.close()

    asyncio.run(scenario())
