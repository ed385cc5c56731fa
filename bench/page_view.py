"""What a page view of the widget costs, measured in Chromium against the local stack.

    python -m bench.page_view

Starts the `make dev` stack (infra/local/devstack.py, default rate limits) on
free ports and drives Debian's chromium (Playwright, /usr/bin/chromium) through
four steps of one visitor, printing for each: the API calls made, the widget's
scripts fetched (bytes as served and gzipped at level 9, as a static host or
CDN would serve them), the WebSocket connections opened, and the table items
stored (a Scan of the local moto table, counted before and after: a bench may
scan its own throwaway table; the app never scans).

  1. page view: the page loads and the visitor never touches the chat
  2. open: the visitor opens the chat (nothing written yet)
  3. first message: the visitor writes "hello" and the bot answers
  4. return: the same browser loads the page again (a stored conversation)

Writes bench/results/page_view.json. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import gzip
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import common

CHROMIUM = os.environ.get("PARLEY_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SETTLE_S = 2.5  # after each step: long enough for anything the widget would start on its own


def gz_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


@dataclass
class Step:
    """What one step of a visit cost."""

    api_calls: list[str] = field(default_factory=list)  # "METHOD /path"
    scripts: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> {bytes, gzip_bytes}
    sockets: list[str] = field(default_factory=list)
    stored_items: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"api_calls": self.api_calls, "scripts": self.scripts, "sockets": self.sockets,
                "stored_items": self.stored_items}


class Probe:
    """Watches one Playwright page: its API calls, widget scripts and WebSockets, step by step.

    ``count_items()`` gives the table's item count (stored items are its difference).
    CORS preflights are not reported by Chromium as requests, so they are not counted.
    """

    def __init__(self, page: Any, api: str, count_items: Any) -> None:
        self.api = api.rstrip("/")
        self.count_items = count_items
        self.step = Step()
        self._items = count_items()
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("websocket", lambda ws: self.step.sockets.append(ws.url.split("?")[0]))

    def _request(self, request: Any) -> None:
        if request.url.startswith(self.api + "/"):
            self.step.api_calls.append(f"{request.method} {urlsplit(request.url).path}")

    def _response(self, response: Any) -> None:
        name = urlsplit(response.url).path.rsplit("/", 1)[-1]
        if name.startswith("parley") and name.endswith(".js"):
            try:
                body = response.body()
            except Exception:  # noqa: BLE001 - a response without a body (redirect) is not a script
                return
            self.step.scripts[name] = {"bytes": len(body), "gzip_bytes": gz_size(body)}

    def take(self) -> Step:
        """The step so far (stored items counted now); the next step starts empty."""
        step, self.step = self.step, Step()
        items = self.count_items()
        step.stored_items, self._items = items - self._items, items
        return step


def table_counter(env: dict[str, str]) -> Any:
    import boto3

    table = boto3.resource("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
                           region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(env["PARLEY_TABLE"])

    def count() -> int:
        total, kwargs = 0, {"Select": "COUNT"}
        while True:
            page = table.scan(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return count


def visit(page: Any, probe: Probe, demo: str, settle_s: float = SETTLE_S) -> dict[str, Step]:
    """The four steps of the module docstring; returns each one's cost."""
    root = "#parley-root"
    steps: dict[str, Step] = {}
    page.goto(f"{demo}/")
    page.locator(f'{root} [data-part="bubble"]').wait_for(timeout=10_000)
    page.wait_for_timeout(settle_s * 1000)
    steps["page view"] = probe.take()

    page.locator(f'{root} [data-part="bubble"]').click()
    page.locator(f'{root} [data-part="panel"]').wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(settle_s * 1000)
    steps["open"] = probe.take()

    page.locator(f'{root} [data-part="input"]').fill("hello")
    page.locator(f'{root} [data-part="input"]').press("Enter")
    page.locator(f'{root} [data-part="message"][data-sender="bot"]').first.wait_for(timeout=15_000)
    page.wait_for_function("() => window.Parley.state().connected", timeout=15_000)
    page.wait_for_timeout(settle_s * 1000)
    steps["first message"] = probe.take()

    page.reload()
    page.wait_for_function("() => window.Parley.state().connected", timeout=15_000)
    page.wait_for_timeout(settle_s * 1000)
    steps["return"] = probe.take()
    return steps


def run(settle_s: float = SETTLE_S) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from infra.local.devstack import Ports, Stack

    names = ("api", "websocket", "pusher", "dynamodb", "demo")
    ports = Ports(**dict(zip(names, common.free_ports(len(names)))))
    # A secret of its own, so the developer's .dev/local-secrets.json is neither read nor written.
    stack = Stack(ports, quiet=True, env={**os.environ, "PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48)})
    try:
        stack.start()
        api, demo = f"http://{common.HOST}:{ports.api}", f"http://{common.HOST}:{ports.demo}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context().new_page()
                probe = Probe(page, api, table_counter(stack.env))
                steps = visit(page, probe, demo, settle_s)
            finally:
                browser.close()
    finally:
        stack.stop()
    return {"steps": {name: step.as_dict() for name, step in steps.items()}}


def report(result: dict[str, Any]) -> None:
    common.heading("widget page-view cost (Chromium, local stack)")
    rows = []
    for name, step in result["steps"].items():
        scripts = ", ".join(f"{s} {v['gzip_bytes'] / 1024:.1f} KB gz" for s, v in step["scripts"].items()) or "-"
        rows.append([name, str(len(step["api_calls"])), ", ".join(step["api_calls"]) or "-", scripts,
                     str(len(step["sockets"])), str(step["stored_items"])])
    print(common.table(["step", "API calls", "which", "scripts fetched", "sockets", "items stored"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds to wait after each step")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(args.settle)
    report(result)
    common.write_results("page_view", {**result, "seconds": round(time.monotonic() - started, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
