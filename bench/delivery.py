"""Delivery latency (Pusher, WebSocket, polling) and WebSocket fan-out, on the local stack.

    python -m bench.delivery [--messages 200] [--connections 100] [--rounds 15]

Latency: from just before ``POST /api/chatbot/send`` to the moment a client
holds the visitor's message. One stack with every provider on, three clients
listening to one conversation side by side: a Pusher subscriber (auth through
our route), an API Gateway WebSocket client, and a poller asking
``messages?after=`` at the default interval. Realtime messages are sent one
at a time (the next after both realtime clients have the last). Polling is
measured on its own run of messages sent at random moments, so its figure is
the interval's natural spread rather than an artefact of lock-step sending.

Fan-out: one WebSocket broadcast to 100 connections of one conversation
(the Query for connections plus 100 posts through the management API,
bounded by fanout_workers), against one single post; medians over rounds.

Prints figures; asserts nothing about time. Servers listen on 127.0.0.1 on
free ports and are stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from typing import Any

from chalicelib.limits import UNLIMITED

from . import common

TARGET_P50_MS, TARGET_P99_MS, FANOUT_TARGET = 25.0, 60.0, 10.0
MODELLED_RTT_MS = 5.0


async def _latency(local: dict[str, Any], messages: int, polling_messages: int) -> dict[str, Any]:
    import aiohttp

    from infra.local.clients import ApiGatewayClient, PusherChannelClient

    api = local["api"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/api/chatbot/init", json={"site_key": "demo"},
                             headers={"Origin": common.ORIGIN}) as r:
            session = await r.json()
        auth = {"Authorization": f"Bearer {session['token']}", "Origin": common.ORIGIN}
        interval = session["realtime"]["polling"]["interval_ms"] / 1000
        channel = f"private-chat.conversation.{session['conversation_id']}"
        pusher = PusherChannelClient(
            http, f"ws://{common.HOST}:{local['pusher_port']}/app/{local['pusher_key']}?protocol=7",
            f"{api}/api/chatbot/pusher/auth", session["token"], channel, origin=common.ORIGIN)
        ws = ApiGatewayClient(http, local["websocket"], session["token"], origin=common.ORIGIN)
        await pusher.connect()
        await ws.connect()

        sent_at: dict[int, float] = {}

        async def send(text: str) -> int:
            began = time.perf_counter()
            async with http.post(f"{api}/api/chatbot/send", headers=auth, json={
                    "conversation_id": session["conversation_id"], "text": text,
                    "client_message_id": uuid.uuid4().hex}) as r:
                body = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"send answered {r.status}: {body}")
            seq = body["message"]["seq"]
            sent_at[seq] = began
            return seq

        # -- realtime: one message at a time, both clients listening --------------------
        for i in range(3):  # warm-up, not measured
            await send(f"How much does it cost? (warm-up {i})")
        await ws.wait_for(lambda c: len(c.seqs()) >= 6, 10)
        measured: list[int] = []
        deadline = time.monotonic() + 240
        for i in range(messages):
            # A question the bot answers: two answers in a row that did not help hand off,
            # and then no reply would follow.
            seq = await send(f"How much does it cost? ({i})")
            measured.append(seq)
            # The reply follows; wait for both so the next send starts on a quiet system.
            await pusher.wait_for(lambda c, s=seq: s + 1 in c.seqs(), 10)
            await ws.wait_for(lambda c, s=seq: s + 1 in c.seqs(), 10)
            if time.monotonic() > deadline:
                break
        seen = {name: {r.data["seq"]: r.at for r in client.received if "seq" in r.data}
                for name, client in (("pusher", pusher), ("websocket", ws))}
        lat = {name: [seen[name][s] - sent_at[s] for s in measured if s in seen[name]] for name in seen}
        lost = {name: len(measured) - len(v) for name, v in lat.items()}

        # -- polling at the default interval, messages at random moments ------------------
        poll_seen: dict[int, float] = {}
        cursor = max(sent_at) + 1

        async def poller(stop: asyncio.Event) -> None:
            after = cursor
            while not stop.is_set():
                async with http.get(f"{api}/api/chatbot/messages", headers=auth, params={
                        "conversation_id": session["conversation_id"], "after": str(after)}) as r:
                    body = await r.json()
                now = time.perf_counter()
                for m in body["messages"]:
                    poll_seen.setdefault(m["seq"], now)
                    after = max(after, m["seq"])
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except asyncio.TimeoutError:
                    pass

        stop = asyncio.Event()
        task = asyncio.create_task(poller(stop))
        poll_sent: list[int] = []
        for i in range(polling_messages):
            await asyncio.sleep(random.uniform(0, 0.2))
            poll_sent.append(await send(f"How much does it cost? (polled {i})"))
        finish = time.monotonic() + interval * 2 + 5
        while any(s not in poll_seen for s in poll_sent) and time.monotonic() < finish:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        lat["polling"] = [poll_seen[s] - sent_at[s] for s in poll_sent if s in poll_seen]
        lost["polling"] = len(poll_sent) - len(lat["polling"])
        await pusher.close()
        await ws.close()
    return {"interval_ms": interval * 1000, "latency_s": lat, "lost": lost}


async def _fanout(local: dict[str, Any], env: dict[str, str], connections: int, rounds: int) -> dict[str, Any]:
    import aiohttp
    import boto3

    from chalicelib.realtime.apigw_websocket import WebSocketBroadcaster
    from chalicelib.settings import load_settings
    from chalicelib.data import Data
    from infra.local.clients import ApiGatewayClient

    # The broadcaster builds its own boto3 client, as in Lambda, from this process's environment.
    os.environ.update({k: env[k] for k in ("AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    settings = load_settings(env)
    data = Data(settings.table_name, client=boto3.client(
        "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id="local", aws_secret_access_key="local"))
    broadcaster = WebSocketBroadcaster(settings, data.connections)

    async def conversation(http: aiohttp.ClientSession, n: int) -> tuple[str, list[ApiGatewayClient]]:
        async with http.post(f"{local['api']}/api/chatbot/init", json={"site_key": "demo"},
                             headers={"Origin": common.ORIGIN}) as r:
            session = await r.json()
        clients = [ApiGatewayClient(http, local["websocket"], session["token"], origin=common.ORIGIN)
                   for _ in range(n)]
        for c in clients:
            await c.connect()
        return session["conversation_id"], clients

    async def broadcast(conv: str, clients: list[ApiGatewayClient], seq: int) -> tuple[float, float]:
        began = time.perf_counter()
        delivered = await asyncio.to_thread(lambda: broadcaster.send_event("ChatMessageReceived", {"seq": seq},
                                                                           conversation_id=conv))
        took = time.perf_counter() - began
        if delivered != len(clients):
            raise RuntimeError(f"fan-out reached {delivered} of {len(clients)}")
        ok = await asyncio.gather(*(c.wait_for(lambda c, s=seq: s in c.seqs(), 10) for c in clients))
        if not all(ok):
            raise RuntimeError("a connection never got the fan-out")
        last = max(next(x.at for x in c.received if x.data.get("seq") == seq) for c in clients)
        return took, last - began

    # limit=0: every WebSocket holds a connection, and aiohttp's default pool stops at 100.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        many_conv, many = await conversation(http, connections)
        one_conv, one = await conversation(http, 1)
        payload = b'{"event":"ChatMessageReceived","data":{"seq":0}}'
        await asyncio.to_thread(broadcaster.post, f"CONV#{one_conv}", one[0].connection_id, payload)  # warm up
        singles, ones, fans, all_received = [], [], [], []
        for r in range(rounds):
            began = time.perf_counter()
            await asyncio.to_thread(broadcaster.post, f"CONV#{one_conv}", one[0].connection_id, payload)
            singles.append(time.perf_counter() - began)
            ones.append((await broadcast(one_conv, one, 10_000 + r))[0])
            took, received = await broadcast(many_conv, many, 20_000 + r)
            fans.append(took)
            all_received.append(received)
        for c in many + one:
            await c.close()
    return {"connections": connections, "single_post_s": singles, "one_connection_s": ones,
            "fanout_s": fans, "fanout_all_received_s": all_received, "workers": settings.fanout_workers}


def run(messages: int = 200, polling_messages: int = 200, connections: int = 100,
        rounds: int = 15) -> dict[str, Any]:
    from infra.local.devstack import Ports, Stack

    names = ("api", "websocket", "pusher", "dynamodb", "demo")
    ports = Ports(**dict(zip(names, common.free_ports(len(names)))))
    stack = Stack(ports, quiet=True, env={**os.environ, "PARLEY_RATE_LIMITS": UNLIMITED,
                                          "PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48),
                                          "PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling"})
    local = {"api": f"http://{common.HOST}:{ports.api}", "websocket": f"ws://{common.HOST}:{ports.websocket}",
             "pusher_port": ports.pusher, "pusher_key": stack.env["PUSHER_KEY"]}
    try:
        stack.start()
        latency = asyncio.run(_latency(local, messages, polling_messages))
        fanout = {"loopback": asyncio.run(_fanout(local, stack.env, connections, rounds))}
        # The same again with a modelled in-region round trip on every management call.
        stack.stop_service("websocket")
        stack.start_service("websocket", "--management-latency-ms", str(MODELLED_RTT_MS))
        fanout["modelled"] = asyncio.run(_fanout(local, stack.env, connections, rounds))
    finally:
        stack.stop()
    return {"latency": latency, "fanout": fanout}


def report(result: dict[str, Any]) -> dict[str, Any]:
    lat, fan = result["latency"], result["fanout"]
    summaries = {name: common.summary(values) for name, values in lat["latency_s"].items() if values}
    polling_p50 = summaries["polling"]["p50"]
    rows = []
    for name in ("pusher", "websocket", "polling"):
        s = summaries[name]
        realtime = name != "polling"
        met = (s["p50"] <= TARGET_P50_MS and s["p99"] <= TARGET_P99_MS) if realtime else None
        rows.append([name, s["n"], lat["lost"][name], f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['p99']:.1f}",
                     f"{s['max']:.1f}", f"{s['p50'] / polling_p50:.3f}x",
                     {True: "yes", False: "NOT met", None: "-"}[met]])
    common.heading("delivery latency: POST send -> the visitor's message at a listening client (ms)")
    print(f"polling interval {lat['interval_ms']:.0f} ms (the default); realtime targets: "
          f"p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms")
    print(common.table(["provider", "n", "lost", "p50", "p95", "p99", "max", "p50 / polling p50",
                        "target met?"], rows, right=range(1, 8)))
    fan_figures = {}
    for regime, f in fan.items():
        med = {k: common.ms(statistics.median(f[k])) for k in
               ("single_post_s", "one_connection_s", "fanout_s", "fanout_all_received_s")}
        ratio, ratio_one = med["fanout_s"] / med["single_post_s"], med["fanout_s"] / med["one_connection_s"]
        fan_figures[regime] = {**med, "ratio_to_post": ratio, "ratio_to_one_connection": ratio_one}
        what = ("loopback: management calls cost only CPU" if regime == "loopback" else
                f"modelled: +{MODELLED_RTT_MS:.0f} ms per management call (an in-region round trip)")
        common.heading(f"fan-out to {f['connections']} WebSocket connections ({f['workers']} workers), "
                       f"medians of {len(f['fanout_s'])} rounds; {what}")

        def verdict(x: float) -> str:
            return f"{x:.1f}x (target <= {FANOUT_TARGET:.0f}x: {'met' if x <= FANOUT_TARGET else 'NOT met'})"

        print(common.table(["measure", "ms"], [
            ["one post_to_connection", f"{med['single_post_s']:.1f}"],
            ["broadcast to 1 connection (Query + 1 post)", f"{med['one_connection_s']:.1f}"],
            [f"broadcast to {f['connections']} (Query + {f['connections']} posts)", f"{med['fanout_s']:.1f}"],
            [f"until all {f['connections']} clients hold it", f"{med['fanout_all_received_s']:.1f}"],
            ["broadcast to all / one post", verdict(ratio)],
            ["broadcast to all / broadcast to 1", verdict(ratio_one)],
        ], right=[1]))
    return {"latency_ms": summaries, "lost": lat["lost"], "fanout_ms": fan_figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--polling-messages", type=int, default=200)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    result = run(args.messages, args.polling_messages, args.connections, args.rounds)
    figures = report(result)
    path = common.write_results("delivery", {"machine": common.machine(), **figures})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
