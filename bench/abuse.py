"""Abuse: the attacks of issue 11 against the local stack with the default rate limits.

    python -m bench.abuse

One stack (`make dev`'s services on free ports, every provider on) runs with
the *default* rate limits (chalicelib/limits.py; not the UNLIMITED the other
benches use), and each attack runs for at most 10 s:

1. one client creating conversations as fast as it can, 1 worker and 16 workers
2. 200 sends into one conversation in 10 s
3. one token opening 300 WebSocket connections
4. 50 sockets on one token sending typing frames for 4 s: relays delivered
5. init with a 396,002- and a 450,002-character locale (400 expected)
6. a WebSocket frame nested 1,500 deep (invalid_json expected)
7. polls and Pusher auths of one conversation, as fast as they go

For each: requests tried, accepted, refused (429), other statuses, and what the
table holds afterwards (conversations, messages, connections, rate-limit rows).
Every request comes from 127.0.0.1, so the limits keyed per site and address
are one bucket per site here: each attack runs on a site of its own (created
here) and, for a 10 s attack, starts early enough in a minute not to straddle
two fixed windows. Prints figures and writes bench/results/abuse.json; asserts
nothing about time.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
import uuid
from collections import Counter
from typing import Any, Awaitable, Callable

from . import common

ATTACK_SECONDS = 10.0
TYPING_SECONDS = 4.0
TYPING_FRAME_INTERVAL = 0.1  # each typing socket: ten frames a second
WINDOW_SECONDS = 60  # the default limits' windows (chalicelib/limits.py)
ATTACK_SITES = ("abuse-conv-1", "abuse-conv-16", "abuse-send", "abuse-ws", "abuse-typing", "abuse-locale",
                "abuse-frame", "abuse-poll")


def page_view_cost() -> dict[str, Any]:
    """What a page view costs (API calls, scripts, sockets, stored items), step by step, in
    Chromium: bench/page_view.py, on a stack of its own."""
    from . import page_view

    return page_view.run()


# -- the stack and its table ------------------------------------------------------------------


def _seed_sites(env: dict[str, str]) -> None:
    """One site per attack, each listing the bench's origin (the demo site's bot)."""
    from chalicelib.data import Data
    from infra.local.devstack import _dynamodb

    sites = Data(env["PARLEY_TABLE"], client=_dynamodb(env)).sites
    demo = sites.get(common.SITE_KEY)
    assert demo is not None
    for key in ATTACK_SITES:
        sites.put(demo.changed(site_key=key, name=key, origins=(common.ORIGIN,)))


def census(env: dict[str, str]) -> dict[str, Counter]:
    """What the table holds, per site: conversations, messages, connections, rate-limit rows.

    A Scan of the *local* moto table, between attacks: a bench may count that way
    (chalicelib never scans; the app reads by key and through the site's index).
    """
    from infra.local.devstack import _dynamodb

    client = _dynamodb(env)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": env["PARLEY_TABLE"],
                              "ProjectionExpression": "PK, SK, site_key"}
    for _ in range(10_000):  # bounded paging
        page = client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    site_of = {i["PK"]["S"]: i["site_key"]["S"] for i in items
               if i["SK"]["S"] == "STATE" and "site_key" in i}
    counts: dict[str, Counter] = {}
    for i in items:
        pk, sk = i["PK"]["S"], i["SK"]["S"]
        if pk.startswith("RATE#"):
            # RATE#<limit>#<key>; the key starts with the site for the per-site-and-address limits,
            # and is a conversation for the per-conversation ones.
            _, name, key = pk.split("#", 2)
            site = site_of.get(f"CONV#{key}") or key.split("#", 1)[0]
            counts.setdefault(site, Counter())["rate_rows"] += 1
            continue
        site = site_of.get(pk)
        if site is None:
            continue
        kind = ("conversations" if sk == "STATE" else "messages" if sk.startswith("MSG#") else
                "connections" if sk.startswith("CONN#") else "other")
        counts.setdefault(site, Counter())[kind] += 1
    return counts


def stored(before: dict[str, Counter], after: dict[str, Counter], site: str) -> dict[str, int]:
    diff = after.get(site, Counter()).copy()
    diff.subtract(before.get(site, Counter()))
    return {k: v for k, v in sorted(diff.items()) if v}


def wait_for_fresh_window(duration: float) -> float:
    """Sleeps into the next minute if this one has less than ``duration`` left; returns the sleep."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left >= duration + 0.5:
        return 0.0
    time.sleep(left + 0.1)
    return left + 0.1


# -- requests ---------------------------------------------------------------------------------


class Tally:
    """Statuses of one attack's requests, and the first Retry-After a refusal carried."""

    def __init__(self, accepted: tuple[int, ...]) -> None:
        self.accepted_statuses = accepted
        self.statuses: Counter = Counter()
        self.codes: Counter = Counter()
        self.retry_after: str | None = None
        self.began = time.monotonic()
        self.seconds = 0.0

    def add(self, status: int | str, code: str | None = None, retry_after: str | None = None) -> None:
        """``status``: the HTTP status (-1: no answer), or a label for what is no HTTP answer."""
        self.statuses[status] += 1
        if code:
            self.codes[code] += 1
        if status == 429 and self.retry_after is None:
            self.retry_after = retry_after

    def done(self) -> "Tally":
        self.seconds = time.monotonic() - self.began
        return self

    def figures(self) -> dict[str, Any]:
        accepted = sum(n for s, n in self.statuses.items() if s in self.accepted_statuses)
        refused = self.statuses.get(429, 0)
        other = {str(s): n for s, n in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))
                 if s not in self.accepted_statuses and s != 429}
        return {"tried": sum(self.statuses.values()), "accepted": accepted, "refused_429": refused,
                "other": other, "codes": dict(self.codes), "retry_after": self.retry_after,
                "seconds": round(self.seconds, 2)}


async def _request(http: Any, tally: Tally, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """One request, counted in ``tally``: (status, JSON body); status -1 when nothing answered."""
    import aiohttp

    try:
        async with http.request(method, url, **kwargs) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = None
            error = body.get("error") if isinstance(body, dict) else None
            tally.add(r.status, error.get("code") if isinstance(error, dict) else None,
                      r.headers.get("Retry-After"))
            return r.status, body
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        tally.add(-1, type(exc).__name__)  # no answer at all: shown under "other" as -1
        return -1, None


async def _bounded(coroutines: list[Awaitable[Any]], seconds: float) -> int:
    """Runs them together for at most ``seconds``; the unfinished are cancelled. Returns how many."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


async def _for(seconds: float, workers: int, one: Callable[[int], Awaitable[Any]]) -> None:
    """``workers`` loops each calling ``one(i)`` back to back until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds

    async def loop(w: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            await one(w * 1_000_000 + i)
            i += 1

    await asyncio.gather(*(loop(w) for w in range(workers)))


class Attacks:
    def __init__(self, local: dict[str, Any], env: dict[str, str]) -> None:
        self.local, self.env = local, env
        self.api = local["api"]
        self.results: dict[str, Any] = {}
        self._census: dict[str, Counter] | None = None

    def hold(self) -> None:
        """Takes the after-census now: an attack calls it while its sockets are still open."""
        self._census = census(self.env)

    def _http(self) -> Any:
        import aiohttp

        # limit=0: the connection attacks hold many sockets; timeouts bound every request.
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=15))

    async def _session(self, http: Any, site: str) -> dict[str, Any]:
        async with http.post(f"{self.api}/api/chatbot/init", json={"site_key": site},
                             headers={"Origin": common.ORIGIN}) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"init on {site} answered {r.status}: {body}")
            return body

    def _auth(self, session: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {session['token']}", "Origin": common.ORIGIN}

    async def _run(self, name: str, site: str, limit: str, attack: Callable[[Any], Awaitable[dict[str, Any]]],
                   duration: float = ATTACK_SECONDS) -> None:
        waited = wait_for_fresh_window(duration)
        before = census(self.env)
        window = int(time.time() // WINDOW_SECONDS)
        self._census = None
        async with self._http() as http:
            figures = await attack(http)
        figures["windows_spanned"] = int(time.time() // WINDOW_SECONDS) - window + 1
        figures["waited_for_window_s"] = round(waited, 1)
        figures["stored"] = stored(before, self._census or census(self.env), site)
        self.results[name] = {"site": site, "limit": limit, **figures}
        print(f"  {name}: done in {figures.get('seconds', 0):.1f} s", flush=True)

    # (1) -----------------------------------------------------------------------------------
    def conversations(self, site: str, workers: int) -> Callable[[Any], Awaitable[dict[str, Any]]]:
        async def attack(http: Any) -> dict[str, Any]:
            tally = Tally((201,))
            await _for(ATTACK_SECONDS, workers, lambda _i: _request(
                http, tally, "POST", f"{self.api}/api/chatbot/init", json={"site_key": site},
                headers={"Origin": common.ORIGIN}))
            return {"workers": workers, **tally.done().figures()}
        return attack

    # (2) -----------------------------------------------------------------------------------
    async def sends(self, http: Any) -> dict[str, Any]:
        session = await self._session(http, "abuse-send")
        tally = Tally((201,))
        total, began = 200, time.monotonic()

        async def one(i: int) -> None:
            # 200 sends spread over 10 s (one every 50 ms), each its own message.
            await asyncio.sleep(max(0.0, began + i * ATTACK_SECONDS / total - time.monotonic()))
            await _request(http, tally, "POST", f"{self.api}/api/chatbot/send", headers=self._auth(session),
                           json={"conversation_id": session["conversation_id"],
                                 "text": f"How much does it cost? ({i})", "client_message_id": uuid.uuid4().hex})

        unfinished = await _bounded([one(i) for i in range(total)], ATTACK_SECONDS + 2)
        return {"sends": total, "unfinished": unfinished, **tally.done().figures()}

    # (3) -----------------------------------------------------------------------------------
    async def _open(self, http: Any, session: dict[str, Any], tally: Tally) -> Any:
        import aiohttp

        from infra.local.clients import ApiGatewayClient

        client = ApiGatewayClient(http, self.local["websocket"], session["token"], origin=common.ORIGIN)
        try:
            await client.connect(timeout=5)
        except aiohttp.WSServerHandshakeError as exc:
            tally.add(exc.status)
            return None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.add(-1, type(exc).__name__)
            await client.close()
            return None
        tally.add(101)
        return client

    async def connections(self, http: Any) -> dict[str, Any]:
        from chalicelib.data import Data
        from infra.local.devstack import _dynamodb

        session = await self._session(http, "abuse-ws")
        tally, opened = Tally((101,)), []
        semaphore = asyncio.Semaphore(20)  # 20 handshakes in flight at once

        async def one(_i: int) -> None:
            async with semaphore:
                client = await self._open(http, session, tally)
                if client is not None:
                    opened.append(client)

        unfinished = await _bounded([one(i) for i in range(300)], ATTACK_SECONDS)
        figures = {"unfinished": unfinished, **tally.done().figures()}
        # Rows by known keys: the conversation's connections (a Query), not a scan.
        rows = Data(self.env["PARLEY_TABLE"], client=_dynamodb(self.env)).connections.ids(
            session["conversation_id"])
        self.hold()
        for c in opened:
            await c.close()
        return {"sockets": 300, "connection_rows": len(rows), **figures}

    # (4) -----------------------------------------------------------------------------------
    async def typing(self, http: Any) -> dict[str, Any]:
        session = await self._session(http, "abuse-typing")
        connect = Tally((101,))
        listener = await self._open(http, session, connect)  # one socket that only listens
        typers = [c for c in await asyncio.gather(*(self._open(http, session, connect) for _ in range(50))) if c]
        frames = Counter()
        began = time.monotonic()

        async def type_away(c: Any) -> None:
            while time.monotonic() - began < TYPING_SECONDS:
                try:
                    await c.send({"action": "typing"})
                    frames["sent"] += 1
                except Exception:  # noqa: BLE001 - a socket the server closed
                    frames["failed"] += 1
                    return
                await asyncio.sleep(TYPING_FRAME_INTERVAL)

        await asyncio.gather(*(type_away(c) for c in typers))
        await asyncio.sleep(1.0)  # the last relays' posts land
        seconds = time.monotonic() - began
        everyone = ([listener] if listener else []) + typers
        relayed = {id(c): sum(1 for e in c.events if e.get("event") == "ClientTyping") for c in everyone}
        errors = sum(1 for c in everyone for e in c.events if e.get("event") == "error")
        self.hold()
        for c in everyone:
            await c.close()
        return {"sockets_tried": 51, "connect": connect.figures(), "typing_sockets": len(typers),
                "frames_sent": frames["sent"], "frames_failed": frames["failed"], "error_events": errors,
                "relays_seen_by_listener": relayed.get(id(listener), 0) if listener else None,
                "typing_events_delivered": sum(relayed.values()), "seconds": round(seconds, 2),
                "tried": frames["sent"], "accepted": relayed.get(id(listener), 0) if listener else 0,
                "refused_429": 0, "other": {}}

    # (5) -----------------------------------------------------------------------------------
    async def locales(self, http: Any) -> dict[str, Any]:
        tally, each = Tally((200, 201)), []
        for size in (396_002, 450_002):
            began = time.monotonic()
            status, body = await _request(http, tally, "POST", f"{self.api}/api/chatbot/init",
                                          json={"site_key": "abuse-locale", "locale": "x" * size},
                                          headers={"Origin": common.ORIGIN})
            error = body.get("error") if isinstance(body, dict) else None
            each.append({"locale_chars": size, "status": status, "code": (error or {}).get("code"),
                         "ms": common.ms(time.monotonic() - began)})
        return {"inits": each, **tally.done().figures()}

    # (6) -----------------------------------------------------------------------------------
    async def nested_frame(self, http: Any) -> dict[str, Any]:
        session = await self._session(http, "abuse-frame")
        tally = Tally(())
        client = await self._open(http, session, Tally((101,)))
        if client is None:
            raise RuntimeError("could not open a socket for the nested frame")
        frame = "[" * 1500 + "]" * 1500
        began = time.monotonic()
        await client._ws.send_str(frame)  # not JSON a client library would make: raw text
        got = False
        while not got and time.monotonic() - began < 5:  # the answer is an event, not a message: look
            await asyncio.sleep(0.005)
            got = any(e.get("event") == "error" for e in client.events)
        answered_ms = common.ms(time.monotonic() - began)
        error = next((e["data"] for e in client.events if e.get("event") == "error"), None)
        tally.add(f"error event {(error or {}).get('code')}" if got else -1, (error or {}).get("code"))
        client._pong.clear()
        await client.send({"action": "ping"})
        alive = True
        try:
            await asyncio.wait_for(client._pong.wait(), 5)
        except asyncio.TimeoutError:
            alive = False
        await client.close()
        return {"frame_chars": len(frame), "error": error, "answered_ms": answered_ms,
                "socket_still_answers_ping": alive, **tally.done().figures()}

    # (7) -----------------------------------------------------------------------------------
    async def polls_and_auths(self, http: Any) -> dict[str, Any]:
        session = await self._session(http, "abuse-poll")
        conversation = session["conversation_id"]
        polls = Tally((200,))
        half = ATTACK_SECONDS / 2
        await _for(half, 4, lambda _i: _request(
            http, polls, "GET", f"{self.api}/api/chatbot/messages", headers=self._auth(session),
            params={"conversation_id": conversation, "after": "0"}))
        polls.done()
        auths = Tally((200,))
        channel = f"private-chat.conversation.{conversation}"
        await _for(half, 4, lambda i: _request(
            http, auths, "POST", f"{self.api}/api/chatbot/pusher/auth", headers=self._auth(session),
            data={"socket_id": f"{1000 + i % 1000}.{i}", "channel_name": channel}))
        auths.done()
        return {"polls": polls.figures(), "pusher_auth": auths.figures(),
                "seconds": round(polls.seconds + auths.seconds, 2)}


def run() -> dict[str, Any]:
    from chalicelib.limits import DEFAULT_LIMITS
    from infra.local.devstack import Ports, Stack

    names = ("api", "websocket", "pusher", "dynamodb", "demo")
    ports = Ports(**dict(zip(names, common.free_ports(len(names)))))
    # The default limits: no PARLEY_RATE_LIMITS from this process's environment either.
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_RATE_LIMITS"}
    stack = Stack(ports, quiet=True, env={**env, "PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48),
                                          "PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling"})
    local = {"api": f"http://{common.HOST}:{ports.api}", "websocket": f"ws://{common.HOST}:{ports.websocket}"}
    limits = {n: f"{l.count}/{l.window_seconds}s" for n, l in DEFAULT_LIMITS.items()}
    began = time.monotonic()
    try:
        stack.start()
        _seed_sites(stack.env)
        attacks = Attacks(local, stack.env)

        async def all_of_them() -> None:
            await attacks._run("1. conversations, 1 worker", "abuse-conv-1", limits["conversations"],
                               attacks.conversations("abuse-conv-1", 1))
            await attacks._run("1. conversations, 16 workers", "abuse-conv-16", limits["conversations"],
                               attacks.conversations("abuse-conv-16", 16))
            await attacks._run("2. 200 sends, one conversation", "abuse-send", limits["messages"], attacks.sends)
            await attacks._run("3. 300 sockets, one token", "abuse-ws", limits["connections"],
                               attacks.connections)
            await attacks._run("4. typing on 50 sockets", "abuse-typing",
                               f"{limits['connections']} connects; 1 relay/2 s per conversation+side",
                               attacks.typing, duration=TYPING_SECONDS + 2)
            await attacks._run("5. huge locales", "abuse-locale", "35-character locale", attacks.locales,
                               duration=2)
            await attacks._run("6. nested frame", "abuse-frame", "frames nest 4 deep at most",
                               attacks.nested_frame, duration=2)
            await attacks._run("7. polls, then Pusher auths", "abuse-poll",
                               f"polls {limits['polls']}, pusher_auth {limits['pusher_auth']}",
                               attacks.polls_and_auths)

        asyncio.run(all_of_them())
    finally:
        stack.stop()
    return {"limits": limits, "attacks": attacks.results, "page_view": page_view_cost(),
            "total_seconds": round(time.monotonic() - began, 1)}


def report(result: dict[str, Any]) -> None:
    common.heading("abuse: the attacks of issue 11 on the local stack, default rate limits, from one address")
    print("limits: " + ", ".join(f"{n} {v}" for n, v in result["limits"].items()))
    rows = []
    for name, a in result["attacks"].items():
        if "polls" in a:
            parts = [("polls", a["polls"]), ("pusher_auth", a["pusher_auth"])]
        else:
            parts = [("", a)]
        for label, f in parts:
            other = ", ".join(f"{s}: {n}" for s, n in f["other"].items()) or "-"
            rows.append([name + (f" ({label})" if label else ""), a["limit"] if not label else
                         a["limit"].split(", ")[0 if label == "polls" else 1], f["tried"], f["accepted"],
                         f["refused_429"], other, f.get("retry_after") or "-", f"{f.get('seconds', 0):.1f}",
                         a["windows_spanned"]])
    print(common.table(["attack", "limit", "tried", "accepted", "429", "other", "Retry-After", "s", "windows"],
                       rows, right=(2, 3, 4, 7, 8)))
    print("(socket rows: tried = handshakes, accepted = upgraded (101); typing row: tried = typing frames sent, "
          "accepted = relays that reached the listening socket; 'other' -1 = no answer)")
    common.heading("stored by each attack (table items created, per site)")
    print(common.table(["attack", "conversations", "messages", "connections", "rate rows"],
                       [[n, a["stored"].get("conversations", 0), a["stored"].get("messages", 0),
                         a["stored"].get("connections", 0), a["stored"].get("rate_rows", 0)]
                        for n, a in result["attacks"].items()], right=(1, 2, 3, 4)))
    a = result["attacks"]
    t = a.get("4. typing on 50 sockets")
    if t:
        print(f"\ntyping: {t['connect']['accepted']} of {t['sockets_tried']} sockets connected "
              f"({t['connect']['refused_429']} refused 429); {t['typing_sockets']} typed {t['frames_sent']} frames "
              f"in {TYPING_SECONDS:.0f} s -> {t['relays_seen_by_listener']} relays reached the listening socket, "
              f"{t['typing_events_delivered']} ClientTyping events delivered in all; "
              f"{t['error_events']} error events")
    loc = a.get("5. huge locales")
    if loc:
        print("locales: " + "; ".join(f"{i['locale_chars']:,} chars -> {i['status']} {i['code'] or ''} "
                                      f"in {i['ms']:.0f} ms" for i in loc["inits"]))
    fr = a.get("6. nested frame")
    if fr:
        print(f"nested frame ({fr['frame_chars']:,} chars): {fr['error']} in {fr['answered_ms']:.0f} ms; "
              f"the socket still answers a ping: {fr['socket_still_answers_ping']}")
    from . import page_view

    page_view.report(result["page_view"])
    print(f"total: {result['total_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    result = run()
    report(result)
    path = common.write_results("abuse", result)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
