"""Streamed replies: send -> first streamed text in the widget -> final stored message; send's own latency.

    python -m bench.streaming [--replies 20] [--sends 20] [--first-token-ms 300] [--tokens-per-second 40]

Runs the `make dev` stack in-process on free ports (Stack), with the Bedrock
Runtime stand-in at the stated first-token delay and token rate (3 words per
event), and the `demo-llm` site (the Bedrock engine, the reply worker behind
SQS).

widget  Debian's chromium on the demo page (?site=demo-llm): for each of R
        questions, typed into the widget one after the other, a MutationObserver
        in the page takes performance.now() when the visitor's bubble appears
        (the send starts in the same task), when the reply's first streamed text
        is shown, and when the stored reply replaces it. p50/p99 of both.
send    the HTTP send's own latency (POST /api/chatbot/send, keep-alive), S
        sends, each after the previous reply is stored: `demo-llm` with the
        reply off the request path (SQS), then the same engine answering
        inside the send (the API restarted without the queue, as before this
        change), and `demo` (the offline engine, inline) for reference.

Prints figures; asserts nothing. Every wait is bounded. Writes bench/results/streaming.json.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid
from typing import Any

import requests

from chalicelib.limits import UNLIMITED

from . import common

QUESTIONS = ("How much does it cost?", "How do I install the widget?", "What is Parley?",
             "Where is my data stored?", "Do you speak German?")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT = 30.0

OBSERVE = """() => {
  const root = document.querySelector('#parley-root').shadowRoot;
  window.__marks = {visitors: [], first: {}, final: {}};
  const seenVisitors = new Set();
  const note = () => {
    const now = performance.now();
    for (const el of root.querySelectorAll('[data-part="message"]')) {
      if (el.dataset.sender === 'visitor' && !seenVisitors.has(el)) {
        seenVisitors.add(el); window.__marks.visitors.push(now);
      }
      const id = el.dataset.replyId;
      if (!id || el.dataset.sender !== 'bot') continue;
      if (el.classList.contains('streaming') && el.textContent.trim() && !(id in window.__marks.first)) {
        window.__marks.first[id] = now;
      }
      if (el.dataset.seq && !(id in window.__marks.final)) window.__marks.final[id] = now;
    }
  };
  new MutationObserver(note).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def widget_phase(demo: str, replies: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{demo}/?site=demo-llm")
            page.locator('#parley-root [data-part="bubble"]').click()
            page.locator('#parley-root [data-part="panel"]').wait_for(state="visible", timeout=15_000)
            page.evaluate(OBSERVE)
            rows = []
            for i in range(replies):
                page.locator('#parley-root [data-part="input"]').fill(QUESTIONS[i % len(QUESTIONS)])
                page.locator('#parley-root [data-part="input"]').press("Enter")
                # Bounded: the stored reply of this send, or give up on this one.
                try:
                    page.wait_for_function(f"() => Object.keys(window.__marks.final).length >= {i + 1}",
                                           timeout=TIMEOUT * 1000)
                except Exception:  # noqa: BLE001 - a lost reply is reported, not fatal
                    rows.append(None)
                    continue
                rows.append(i)
            marks = page.evaluate("() => window.__marks")
        finally:
            browser.close()
    first, final, streamed = [], [], 0
    order = sorted(marks["final"], key=marks["final"].get)
    for n, reply_id in enumerate(order):
        if n >= len(marks["visitors"]):
            break
        sent = marks["visitors"][n]
        final.append((marks["final"][reply_id] - sent) / 1000)
        if reply_id in marks["first"]:
            streamed += 1
            first.append((marks["first"][reply_id] - sent) / 1000)
    return {"replies": len(order), "lost": rows.count(None), "streamed": streamed,
            "first_text": common.summary(first), "final": common.summary(final)}


def send_phase(api: str, origin: str, site: str, sends: int) -> dict[str, Any]:
    http = requests.Session()
    headers = {"Origin": origin}
    r = http.post(f"{api}/api/chatbot/init", json={"site_key": site}, headers=headers, timeout=TIMEOUT)
    r.raise_for_status()
    session = r.json()
    auth = {**headers, "Authorization": f"Bearer {session['token']}"}
    latencies, last_seq = [], 0
    for i in range(sends):
        began = time.perf_counter()
        r = http.post(f"{api}/api/chatbot/send", headers=auth, timeout=TIMEOUT, json={
            "conversation_id": session["conversation_id"], "text": QUESTIONS[i % len(QUESTIONS)],
            "client_message_id": str(uuid.uuid4())})
        latencies.append(time.perf_counter() - began)
        r.raise_for_status()
        body = r.json()
        last_seq = body["last_seq"]
        if body.get("reply") is None:  # wait for the stored reply before the next send (bounded)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                page = http.get(f"{api}/api/chatbot/messages", headers=auth, timeout=TIMEOUT, params={
                    "conversation_id": session["conversation_id"], "after": last_seq}).json()
                if any(m["sender"] == "bot" for m in page["messages"]):
                    break
                time.sleep(0.05)
    return common.summary(latencies)


def run(replies: int, sends: int, first_token_ms: int, tokens_per_second: int) -> dict[str, Any]:
    from infra.local.devstack import Ports, Stack

    names = ("api", "websocket", "pusher", "dynamodb", "demo", "bedrock")
    ports = Ports(**dict(zip(names, common.free_ports(len(names)))))
    env = {**os.environ, "PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48), "PARLEY_RATE_LIMITS": UNLIMITED,
           "PARLEY_BEDROCK_FIRST_TOKEN_MS": str(first_token_ms),
           "PARLEY_BEDROCK_TOKENS_PER_SECOND": str(tokens_per_second), "PARLEY_BEDROCK_WORDS_PER_DELTA": "3"}
    stack = Stack(ports, quiet=True, env=env)
    api, demo = f"http://{common.HOST}:{ports.api}", f"http://{common.HOST}:{ports.demo}"
    try:
        stack.start()
        result: dict[str, Any] = {"first_token_ms": first_token_ms, "tokens_per_second": tokens_per_second}
        result["widget"] = widget_phase(demo, replies)
        result["send_async"] = send_phase(api, demo, "demo-llm", sends)
        result["send_offline"] = send_phase(api, demo, "demo", sends)
        # Before: the same engine inside the send (no queue: the API answers inline).
        queue = stack.env.pop("PARLEY_REPLY_QUEUE_URL", None)
        stack.stop_service("api")
        stack.start_service("api")
        try:
            result["send_inline"] = send_phase(api, demo, "demo-llm", sends)
        finally:
            if queue:
                stack.env["PARLEY_REPLY_QUEUE_URL"] = queue
    finally:
        stack.stop()
    return result


def report(result: dict[str, Any]) -> None:
    common.heading(f"streamed replies (Bedrock stand-in: first token {result['first_token_ms']} ms, "
                   f"{result['tokens_per_second']} tokens/s, 3 words per event)")
    w = result["widget"]
    print(f"widget: {w['replies']} replies stored, {w['streamed']} of them streamed, {w['lost']} lost")
    rows = [[name, w[key].get("n", 0), w[key].get("p50", "-"), w[key].get("p99", "-")]
            for name, key in (("send -> first streamed text visible", "first_text"),
                              ("send -> final stored message visible", "final"))]
    print(common.table(["widget (ms)", "n", "p50", "p99"], rows))
    rows = [[name, result[key]["n"], result[key]["p50"], result[key]["p99"]]
            for name, key in (("demo-llm, reply off the request path (SQS)", "send_async"),
                              ("demo-llm, reply inside the send (before)", "send_inline"),
                              ("demo, offline engine inline", "send_offline"))]
    print(common.table(["send latency (ms)", "n", "p50", "p99"], rows))
    before, after = result["send_inline"].get("p50"), result["send_async"].get("p50")
    if before and after:
        print(f"send p50, before / after: {before / after:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=20, help="questions typed into the widget")
    parser.add_argument("--sends", type=int, default=20, help="HTTP sends per case")
    parser.add_argument("--first-token-ms", type=int, default=300)
    parser.add_argument("--tokens-per-second", type=int, default=40)
    args = parser.parse_args(argv)
    result = run(args.replies, args.sends, args.first_token_ms, args.tokens_per_second)
    report(result)
    common.write_results("streaming", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
