"""Agent-side delivery latency on the local stack: visitor -> agent console, agent -> widget.

    python -m bench.agent_delivery [--messages 100]

One `make dev` stack (every provider on, moto's Cognito as the pool). The demo
agent signs in (Cognito ``InitiateAuth``), a visitor asks for a person and the
agent claims the conversation. Then, per provider, the clients the console
and the widget run:

* visitor -> console: from just before the visitor's ``POST /api/chatbot/send``
  to the moment the console's clients hold that message: Pusher clients
  subscribed to ``private-agent.site.demo`` and to the open conversation's
  channel (both authorized by ``/api/agent/pusher/auth`` with the ID token),
  and a WebSocket connection made with ``agent_token`` (the site feed) that
  watches the open conversation, as the console's does;
* agent -> widget: from just before the agent's ``POST …/messages`` to the
  moment the visitor's clients (Pusher on the conversation channel, the
  WebSocket with the visitor token) hold the reply.

Messages go one at a time (the next once every client has the last), the two
directions taking turns. "(the POST's own answer)" is how long the send or the
reply took to answer (it waits for its broadcasts, and a send for the bot). The
clients are the protocol clients in infra/local/clients.py, not a browser: the
figure is the realtime path up to the page's JavaScript, without rendering.
Prints p50 / p99 (ms) against the widget's realtime budget (p50 <= 25,
p99 <= 60); asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
import uuid
from typing import Any

from chalicelib.limits import UNLIMITED

from . import common

TARGET_P50_MS, TARGET_P99_MS = 25.0, 60.0


def _sign_in(local: dict[str, Any]) -> str:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    from infra.local.cognito import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD

    client = boto3.client("cognito-idp", endpoint_url=local["cognito_endpoint"], region_name=local["region"],
                          config=Config(signature_version=UNSIGNED))
    answer = client.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=local["client_id"],
                                  AuthParameters={"USERNAME": DEMO_AGENT_EMAIL, "PASSWORD": DEMO_AGENT_PASSWORD})
    return answer["AuthenticationResult"]["IdToken"]


async def _measure(local: dict[str, Any], messages: int) -> dict[str, Any]:
    import aiohttp

    from infra.local.clients import ApiGatewayClient, PusherChannelClient

    api, console = local["api"], local["console_origin"]
    id_token = await asyncio.to_thread(_sign_in, local)
    agent_headers = {"Authorization": f"Bearer {id_token}", "Origin": console}
    pusher_ws = f"ws://{common.HOST}:{local['pusher_port']}/app/{local['pusher_key']}?protocol=7"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/api/chatbot/init", json={"site_key": "demo"},
                             headers={"Origin": common.ORIGIN}) as r:
            session = await r.json()
        cid, token = session["conversation_id"], session["token"]
        visitor_headers = {"Authorization": f"Bearer {token}", "Origin": common.ORIGIN}
        async with http.post(f"{api}/api/chatbot/handoff", json={"conversation_id": cid},
                             headers=visitor_headers) as r:
            assert r.status == 200, await r.text()
        conv = f"{api}/api/agent/sites/demo/conversations/{cid}"
        async with http.post(f"{conv}/claim", headers=agent_headers, json={}) as r:
            assert r.status == 200, await r.text()

        agent_clients = {
            "pusher": PusherChannelClient(http, pusher_ws, f"{api}/api/agent/pusher/auth", id_token,
                                          "private-agent.site.demo", origin=console),
            "websocket": ApiGatewayClient(http, local["websocket"], id_token, origin=console,
                                          params={"agent_token": id_token, "site_key": "demo"}),
        }
        visitor_clients = {
            "pusher": PusherChannelClient(http, pusher_ws, f"{api}/api/chatbot/pusher/auth", token,
                                          f"private-chat.conversation.{cid}", origin=common.ORIGIN),
            "websocket": ApiGatewayClient(http, local["websocket"], token, origin=common.ORIGIN),
        }
        for c in (*agent_clients.values(), *visitor_clients.values()):
            await c.connect()
        # The console holds the open conversation too: its own channel, or a watch on the socket.
        agent_clients["pusher (feed + conversation)"] = PusherChannelClient(
            http, pusher_ws, f"{api}/api/agent/pusher/auth", id_token, f"private-chat.conversation.{cid}",
            origin=console)
        await agent_clients["pusher (feed + conversation)"].connect()
        await agent_clients["websocket"].send({"action": "watch", "conversation_id": cid})

        sent_at: dict[int, float] = {}
        answered_in: dict[int, float] = {}

        async def post(url: str, headers: dict[str, str], body: dict[str, Any]) -> int:
            began = time.perf_counter()
            async with http.post(url, headers=headers, json=body) as r:
                answer = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"{url} answered {r.status}: {answer}")
            seq = answer["message"]["seq"]
            sent_at[seq] = began
            answered_in[seq] = time.perf_counter() - began
            return seq

        async def visitor_says(i: int) -> int:
            return await post(f"{api}/api/chatbot/send", visitor_headers,
                              {"conversation_id": cid, "text": f"visitor message {i}",
                               "client_message_id": uuid.uuid4().hex})

        async def agent_says(i: int) -> int:
            return await post(f"{conv}/messages", agent_headers,
                              {"text": f"agent reply {i}", "client_message_id": uuid.uuid4().hex})

        directions = {"visitor -> console": (visitor_says, agent_clients),
                      "agent -> widget": (agent_says, visitor_clients)}
        measured: dict[str, list[int]] = {name: [] for name in directions}
        deadline = time.monotonic() + 300
        # The directions take turns, message by message: moto's Query slows down as the table
        # grows, and taking turns gives both the same table.
        for i in range(3 + messages):  # three warm-up messages each way, not counted
            for name, (say, clients) in directions.items():
                seq = await say(i)
                for c in clients.values():
                    await c.wait_for(lambda c, s=seq: s in c.seqs(), 10)
                if i >= 3:
                    measured[name].append(seq)
            if time.monotonic() > deadline:
                break
        latency: dict[str, dict[str, list[float]]] = {}
        lost: dict[str, dict[str, int]] = {}
        for name, (_, clients) in directions.items():
            latency[name], lost[name] = {"(the POST's own answer)": [answered_in[s] for s in measured[name]]}, {
                "(the POST's own answer)": 0}
            for provider, client in clients.items():
                seen = {r.data["seq"]: r.at for r in client.received if isinstance(r.data, dict) and "seq" in r.data}
                values = [seen[s] - sent_at[s] for s in measured[name] if s in seen]
                latency[name][provider] = values
                lost[name][provider] = len(measured[name]) - len(values)
        for c in (*agent_clients.values(), *visitor_clients.values()):
            await c.close()
    return {"latency_s": latency, "lost": lost}


def run(messages: int = 100) -> dict[str, Any]:
    from infra.local.devstack import Ports, Stack

    names = ("api", "websocket", "pusher", "dynamodb", "demo")
    ports = Ports(**dict(zip(names, common.free_ports(len(names)))))
    stack = Stack(ports, quiet=True, env={**os.environ, "PARLEY_RATE_LIMITS": UNLIMITED,
                                          "PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48),
                                          "PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling"})
    try:
        stack.start()
        assert stack.cognito is not None
        local = {"api": f"http://{common.HOST}:{ports.api}", "websocket": f"ws://{common.HOST}:{ports.websocket}",
                 "pusher_port": ports.pusher, "pusher_key": stack.env["PUSHER_KEY"],
                 "console_origin": f"http://{common.HOST}:{stack.console_port}",
                 "cognito_endpoint": stack.cognito.endpoint, "region": stack.cognito.region,
                 "client_id": stack.cognito.client_id}
        return asyncio.run(_measure(local, messages))
    finally:
        stack.stop()


def report(result: dict[str, Any]) -> dict[str, Any]:
    rows, figures = [], {}
    for direction, by_provider in result["latency_s"].items():
        for provider, values in by_provider.items():
            s = common.summary(values)
            figures[f"{direction} / {provider}"] = s
            met = s["p50"] <= TARGET_P50_MS and s["p99"] <= TARGET_P99_MS
            verdict = "-" if provider.startswith("(") else ("yes" if met else "NOT met")
            rows.append([direction, provider, s["n"], result["lost"][direction][provider], f"{s['p50']:.1f}",
                         f"{s['p99']:.1f}", f"{s['max']:.1f}", verdict])
    common.heading("agent-side delivery latency on the local stack (ms; protocol clients, no rendering)")
    print(f"targets: p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms (the widget's realtime budget)")
    print(common.table(["direction", "provider", "n", "lost", "p50", "p99", "max", "target met?"], rows,
                       right=range(2, 7)))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args(argv)
    result = run(args.messages)
    figures = report(result)
    print(f"\nresults: {common.write_results('agent_delivery', {'figures': figures, 'lost': result['lost']})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
