"""Send -> poll latency over real HTTP against the local stack (moto DynamoDB + chalice local).

    python -m bench.latency [--messages 200] [--warmup 3] [--deadline 300] [--connections both]

One conversation per connection mode; for each of M messages: POST /api/chatbot/send, then at once
GET /api/chatbot/messages?after=<last seen> until the sent message is in the
answer. Records the send's latency, every poll's latency and send -> visible
(from just before the send to the poll answer that holds the message). The
widget's polling path, without its interval. Bounded: at most --max-polls
polls per message, and the whole run gives up at --deadline seconds.

Two connection modes, each its own conversation: ``keepalive`` (one
requests.Session, as a browser reuses its connection) and ``close`` (a new
connection per request). They differ by a local-stack artifact worth seeing:
`chalice local` writes a response's headers and body in two send() calls
without TCP_NODELAY, so on a reused connection Nagle's algorithm holds the body
until the client's delayed ACK (~40 ms on Linux). A new connection starts in
quick-ACK mode and escapes it. API Gateway has no such stall.

Also local only: moto's Query walks every item of the table and its
TransactWriteItems deep-copies the whole table, so both slow down as the table
grows over the run; the first- vs last-quarter p50 line shows how much.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from chalicelib.limits import UNLIMITED

from . import common

TEXTS = ("How much does it cost?", "How do I install the widget?", "What is Parley?",
         "Do you support Pusher?", "Where is my data stored?")  # none hands off: the bot keeps answering
TIMEOUT = 10.0


MODES = {
    "keepalive": "one requests.Session, keep-alive (as the widget's browser does)",
    "close": "a new TCP connection per request (Connection: close)",
}


def _loop(http: Any, base: str, extra_headers: dict[str, str], messages: int, warmup: int,
          deadline: float, max_polls: int) -> dict[str, Any]:
    """One conversation, warm-up + measured messages; every loop bounded by count and deadline."""
    resp = http.post(f"{base}/init", json={"site_key": common.SITE_KEY}, timeout=TIMEOUT,
                     headers={"Origin": common.ORIGIN, **extra_headers})
    if resp.status_code != 201:
        raise RuntimeError(f"init answered {resp.status_code}: {resp.text}")
    session = resp.json()
    conv = session["conversation_id"]
    headers = {"Origin": common.ORIGIN, "Authorization": f"Bearer {session['token']}", **extra_headers}
    last_seen = session["last_seq"]
    sends: list[float] = []
    polls: list[float] = []
    visible: list[float] = []
    polls_per_message: list[int] = []
    unseen = 0
    gave_up = False
    for i in range(warmup + messages):
        if time.monotonic() > deadline:
            gave_up = True
            break
        measured = i >= warmup
        t0 = time.perf_counter()
        resp = http.post(f"{base}/send", headers=headers, timeout=TIMEOUT,
                         json={"conversation_id": conv, "text": TEXTS[i % len(TEXTS)],
                               "client_message_id": f"bench-{i}"})
        t1 = time.perf_counter()
        if resp.status_code != 201:
            raise RuntimeError(f"send #{i} answered {resp.status_code}: {resp.text}")
        seq = resp.json()["message"]["seq"]
        seen_at = None
        n = 0
        while n < max_polls and time.monotonic() <= deadline:
            n += 1
            p0 = time.perf_counter()
            resp = http.get(f"{base}/messages", headers=headers, timeout=TIMEOUT,
                            params={"conversation_id": conv, "after": last_seen})
            p1 = time.perf_counter()
            if resp.status_code != 200:
                raise RuntimeError(f"poll after {last_seen} answered {resp.status_code}: {resp.text}")
            if measured:
                polls.append(p1 - p0)
            got = resp.json()["messages"]
            if got:
                last_seen = max(last_seen, max(m["seq"] for m in got))
            if any(m["seq"] == seq for m in got):
                seen_at = p1
                break
            time.sleep(0.005)  # not there yet (never expected: send stores before answering)
        if measured:
            sends.append(t1 - t0)
            polls_per_message.append(n)
            if seen_at is None:
                unseen += 1
            else:
                visible.append(seen_at - t0)
    return {
        "measured_messages": len(sends),
        "never_visible": unseen,
        "gave_up_at_deadline": gave_up,
        "polls_per_message_mean": round(statistics.fmean(polls_per_message), 3) if polls_per_message else None,
        "latency_ms": {"send": common.summary(sends), "poll": common.summary(polls),
                       "send_to_visible": common.summary(visible)},
        "p50_first_vs_last_quarter_ms": {"send": _drift(sends), "poll": _drift(polls),
                                         "send_to_visible": _drift(visible)},
    }


def _drift(values: list[float]) -> dict[str, float] | None:
    """p50 of the first and the last quarter of a run: does it slow down as the table grows?"""
    q = len(values) // 4
    if q < 1:
        return None
    return {"first": common.ms(common.percentile(values[:q], 50)),
            "last": common.ms(common.percentile(values[-q:], 50))}


def run(messages: int = 200, warmup: int = 3, deadline_s: float = 300.0, max_polls: int = 50,
        modes: tuple[str, ...] = ("keepalive", "close")) -> dict[str, Any]:
    import requests

    from infra.local.devstack import Ports, Stack

    api, websocket, pusher, dynamodb, demo = common.free_ports(5)
    # Polling only: this bench measures store and HTTP, not broadcasts (bench/delivery.py does).
    stack = Stack(Ports(api=api, websocket=websocket, pusher=pusher, dynamodb=dynamodb, demo=demo),
                  quiet=True, env={**os.environ, "PARLEY_REALTIME_PROVIDERS": "polling",
                                   "PARLEY_RATE_LIMITS": UNLIMITED})
    results: dict[str, Any] = {}
    try:
        stack.start()
        base = f"http://{common.HOST}:{stack.ports.api}/api/chatbot"
        deadline = time.monotonic() + deadline_s
        for mode in modes:
            if mode == "keepalive":
                with requests.Session() as http:
                    out = _loop(http, base, {}, messages, warmup, deadline, max_polls)
            else:
                # requests.get/post: a throwaway Session (and connection) per request. A shared
                # Session would put the closed connection back in its pool and race the FIN.
                out = _loop(requests, base, {"Connection": "close"}, messages, warmup, deadline, max_polls)
            results[mode] = {"description": MODES[mode], **out}
    finally:
        stack.stop()
    return {"params": {"messages": messages, "warmup": warmup, "deadline_s": deadline_s,
                       "max_polls": max_polls, "modes": list(modes)},
            "modes": results}


def report(result: dict[str, Any]) -> None:
    p = result["params"]
    for mode, r in result["modes"].items():
        print(f"\n[{mode}] {r['description']}")
        print(f"messages: {r['measured_messages']} of {p['messages']} measured (+{p['warmup']} warm-up); "
              f"polls per message: {r['polls_per_message_mean']}; never visible: {r['never_visible']}; "
              f"gave up at deadline ({p['deadline_s']:.0f}s): {'yes' if r['gave_up_at_deadline'] else 'no'}")
        rows = []
        for key, label in (("send", "POST send (visitor msg + bot reply)"),
                           ("poll", "GET messages?after= (each poll)"),
                           ("send_to_visible", "send -> visible in a poll")):
            s = r["latency_ms"][key]
            if not s["n"]:
                rows.append([label, 0] + ["-"] * 6)
                continue
            rows.append([label, s["n"]] + [f"{s[k]:.1f}" for k in ("mean", "p50", "p95", "p99", "min", "max")])
        print(common.table(["ms", "n", "mean", "p50", "p95", "p99", "min", "max"], rows,
                           right=(1, 2, 3, 4, 5, 6, 7)))
        drift = r["p50_first_vs_last_quarter_ms"]
        if all(drift.values()):
            print("p50, first -> last quarter of the run: " + ", ".join(
                f"{k} {d['first']:.1f} -> {d['last']:.1f}" for k, d in drift.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200, help="measured messages (default 200)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted messages first (default 3)")
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--max-polls", type=int, default=50, help="polls per message at most")
    parser.add_argument("--connections", choices=("both", *MODES), default="both",
                        help="keepalive, close (new connection per request) or both (default)")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    common.heading("send -> poll latency on the local stack (chalice local + moto DynamoDB, real HTTP)")
    modes = tuple(MODES) if args.connections == "both" else (args.connections,)
    result = run(args.messages, max(0, args.warmup), args.deadline, max(1, args.max_polls), modes)
    report(result)
    print(f"\nresults: {common.write_results('latency', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
