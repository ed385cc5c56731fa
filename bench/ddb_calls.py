"""DynamoDB calls per operation, counted with botocore event hooks on the table's client.

    python -m bench.ddb_calls

Requests go through the real app (app.py, middleware, routes, the chat service,
the data layer) with chalice.test.Client; app.py's object graph is a
``chalicelib.root.Root`` whose DynamoDB client points at a moto server started here. ``before-call.dynamodb``
counts API calls; ``before-send.dynamodb`` counts HTTP attempts, so a botocore
retry would show up as attempts > calls. A send is split in two: the visitor
message's own calls (everything outside ``ChatService._bot_turn``) and the bot
reply's calls. The agent operations (inbox page, claim, reply) run as a
signed-in agent (an ID token of a test user pool, verified as in production).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import common

ENV_KEYS = ("PARLEY_TABLE", "PARLEY_TOKEN_SECRET", "PARLEY_REALTIME_PROVIDERS", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_DYNAMODB")


@dataclass
class Window:
    calls: list[tuple[str, str]] = field(default_factory=list)  # (phase, operation)
    attempts: int = 0

    def ops(self, phase: str | None = None) -> list[str]:
        return [op for ph, op in self.calls if phase is None or ph == phase]


class CallCounter:
    """Counts the DynamoDB API calls (and HTTP attempts) one boto3 client makes."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, str]] = []
        self.attempts = 0
        self._phase = "request"
        client.meta.events.register("before-call.dynamodb", self._on_call)
        client.meta.events.register("before-send.dynamodb", self._on_send)

    # Both handlers must return None: a value from either would short-circuit the call.
    def _on_call(self, event_name: str = "", **_: Any) -> None:
        self.calls.append((self._phase, event_name.rsplit(".", 1)[-1]))

    def _on_send(self, **_: Any) -> None:
        self.attempts += 1

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        previous, self._phase = self._phase, name
        try:
            yield
        finally:
            self._phase = previous

    @contextlib.contextmanager
    def window(self) -> Iterator[Window]:
        start, attempts = len(self.calls), self.attempts
        win = Window()
        try:
            yield win
        finally:
            win.calls = self.calls[start:]
            win.attempts = self.attempts - attempts


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Sets the app's settings variables for the block (app.py reads them at import), then restores."""
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update({k: values[k] for k in ENV_KEYS if k in values})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ops_text(ops: list[str]) -> str:
    if not ops:
        return "-"
    counts = Counter(ops)
    return " + ".join(f"{n}x{op}" if n > 1 else op for op, n in counts.items())


def run() -> dict[str, Any]:
    with common.moto_dynamodb() as (env, _port), _environment({**env, "PARLEY_REALTIME_PROVIDERS": "polling"}):
        return _measure(env)


def _measure(env: dict[str, str]) -> dict[str, Any]:
    import boto3
    from chalice.test import Client

    from chalicelib.data import Data
    from chalicelib.root import Root
    from chalicelib.settings import load_settings

    def make_client() -> Any:
        return boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
                            region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="local",
                            aws_secret_access_key="local")

    client = make_client()
    counter = CallCounter(client)

    settings = load_settings()  # the environment _environment() set: polling only
    import app  # after the environment is set: app.py loads settings at import

    def fresh_service() -> None:
        """The app's graph as a new process (a new Lambda container) has it: no site cache, no seq hints.

        Only the bot reply's calls are marked as such; everything else is the real service.
        """
        root = Root(settings, dynamodb=client)
        chat = root.chat
        reply = chat._bot_turn

        def traced(*args: Any) -> Any:
            with counter.phase("bot"):
                return reply(*args)

        chat._bot_turn = traced  # type: ignore[method-assign]
        app.root = root

    rows: list[dict[str, Any]] = []

    def record(operation: str, win: Window, phase: str | None, target: int | None,
               exact: bool = False, note: str = "") -> None:
        ops = win.ops(phase)
        met = None if target is None else (len(ops) == target if exact else len(ops) <= target)
        rows.append({"operation": operation, "calls": len(ops), "ops": ops,
                     "http_attempts": win.attempts if phase is None else None,
                     "target": None if target is None else (f"= {target}" if exact else f"<= {target}"),
                     "met": met, "note": note})

    try:
        with Client(app.app, stage_name="local", project_dir=str(common.ROOT)) as c:
            http = c.http

            def call(method: str, path: str, expect: int, body: Any = None,
                     token: str | None = None) -> dict[str, Any]:
                headers = {"Origin": common.ORIGIN, "Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                if method == "POST":
                    resp = http.post(path, body=json.dumps(body), headers=headers)
                else:
                    resp = http.get(path, headers=headers)
                if resp.status_code != expect:
                    raise RuntimeError(f"{method} {path} answered {resp.status_code}, expected {expect}: "
                                       f"{resp.body!r}")
                return json.loads(resp.body)

            def init(**extra: Any) -> dict[str, Any]:
                expect = 200 if "token" in extra else 201
                return call("POST", "/api/chatbot/init", expect, {"site_key": common.SITE_KEY, **extra})

            def send(session: dict[str, Any], cmid: str, text: str = "How much does it cost?") -> dict[str, Any]:
                return call("POST", "/api/chatbot/send", 201,
                            {"conversation_id": session["conversation_id"], "text": text,
                             "client_message_id": cmid}, session["token"])

            def poll(session: dict[str, Any], after: int) -> dict[str, Any]:
                return call("GET", f"/api/chatbot/messages?conversation_id={session['conversation_id']}"
                                   f"&after={after}", 200, token=session["token"])

            # A send's own calls: the rate-limit count, at most one read, the append (issue 11: at most 3).
            def measured_send(label: str, session: dict[str, Any], cmid: str, target: int | None = 3,
                              note: str = "") -> tuple[dict[str, Any], Window]:
                with counter.window() as win:
                    body = send(session, cmid)
                record(f"{label}: visitor message", win, "request", target, note=note)
                record(f"{label}: bot reply", win, "bot", None)
                return body, win

            # -- one warm process ------------------------------------------------
            fresh_service()
            with counter.window() as win:
                session = init()
            record("new init, site cache cold", win, None, 3)
            with counter.window() as win:
                init()
            record("new init, site cache warm", win, None, 3)
            with counter.window() as win:
                # A resume revokes the token it was given: go on with the new one.
                session["token"] = init(conversation_id=session["conversation_id"], token=session["token"])["token"]
            record("resume init, site cache warm", win, None, None)

            first, _ = measured_send("send #1, no realtime", session, "c-1")
            _, warm = measured_send("send #2, seq hint current", session, "c-2")

            # Another process appends meanwhile: its own data layer (own client, own hints).
            other = Data(settings.table_name, client=make_client()).messages
            other.append_message(session["conversation_id"], "agent", "An agent says hello.")
            _, stale = measured_send("send #3, seq hint stale", session, "c-3",
                                     note="another process appended first")
            extra = len(stale.ops("request")) - len(warm.ops("request"))
            rows.append({"operation": "  conflict path: extra calls (stale - current)", "calls": extra,
                         "ops": [], "http_attempts": None, "target": "= 1", "met": extra == 1, "note": ""})

            with counter.window() as win:
                again = send(session, "c-2")
            if not again.get("duplicate"):
                raise RuntimeError(f"a repeated client_message_id was not reported as duplicate: {again}")
            record("duplicate send (repeat of #2): visitor message", win, "request", 3)
            record("duplicate send (repeat of #2): bot reply", win, "bot", None)

            last = poll(session, 0)["last_seq"]
            with counter.window() as win:
                empty = poll(session, last)
            if empty["messages"]:
                raise RuntimeError(f"poll after last_seq {last} was not empty: {empty}")
            record("empty poll, site cache warm", win, None, 2, note="the rate-limit count, then one Query")
            with counter.window() as win:
                full = poll(session, 0)
            record(f"poll with messages ({len(full['messages'])}), site cache warm", win, None, None)

            # -- a new process per operation (as a request landing on a new Lambda container)
            fresh_service()
            with counter.window() as win:
                init()
            record("fresh process: new init", win, None, 3)
            fresh_service()
            with counter.window() as win:
                session["token"] = init(conversation_id=session["conversation_id"], token=session["token"])["token"]
            record("fresh process: resume init", win, None, None)
            fresh_service()
            measured_send("fresh process: send", session, "c-4",
                          note="site and counter in one read, then one transaction")
            fresh_service()
            with counter.window() as win:
                again = send(session, "c-1")
            if not again.get("duplicate"):
                raise RuntimeError(f"a repeated client_message_id was not reported as duplicate: {again}")
            record("fresh process: duplicate send (#1): visitor message", win, "request", 3,
                   note="site and counter in one read; the failed put returns the stored message")
            record("fresh process: duplicate send (#1): bot reply", win, "bot", None)
            last = poll(session, 0)["last_seq"]
            fresh_service()
            with counter.window() as win:
                poll(session, last)
            record("fresh process: empty poll", win, None, 3,
                   note="the site once (its rate limits; then cached), the count, one Query")

            # -- the agent side (a warm process: the membership and the pool's keys cached)
            _agent_rows(http, call, init, send, client, counter, settings, record)
    finally:
        app.root = Root()

    return {"rows": rows, "first_send": {"message_seq": first["message"]["seq"],
                                         "reply_seq": (first.get("reply") or {}).get("seq")}}


def _agent_rows(http: Any, call: Any, init: Any, send: Any, client: Any, counter: CallCounter,
                settings: Any, record: Any) -> None:
    import app
    from chalicelib.models import Member
    from chalicelib.root import Root
    from chalicelib.settings import load_settings
    from tests.cognito import AGENT_ENV, FakePool

    pool = FakePool()
    root = Root(load_settings({**os.environ, **AGENT_ENV}), dynamodb=client, jwks=pool.fetch)
    app.root = root
    root.data.agents.put_member(Member("bench-agent", common.SITE_KEY, "agent", "Bench"))
    token = pool.id_token("bench-agent", "bench@example.com")
    console = AGENT_ENV["PARLEY_CONSOLE_ORIGINS"]

    def agent(method: str, path: str, expect: int, body: Any = None) -> dict[str, Any]:
        headers = {"Origin": console, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        resp = (http.post(f"/api/agent{path}", body=json.dumps(body or {}), headers=headers) if method == "POST"
                else http.get(f"/api/agent{path}", headers=headers))
        if resp.status_code != expect:
            raise RuntimeError(f"{method} {path} answered {resp.status_code}: {resp.body!r}")
        return json.loads(resp.body)

    sessions = []
    for i in range(3):
        session = init()
        send(session, f"a-{i}", "Hello")
        call("POST", "/api/chatbot/handoff", 200, {"conversation_id": session["conversation_id"]}, session["token"])
        sessions.append(session)
    agent("GET", f"/sites/{common.SITE_KEY}/inbox", 200)  # warms the membership and key caches
    with counter.window() as win:
        page = agent("GET", f"/sites/{common.SITE_KEY}/inbox?status=pending&limit=25", 200)
    record(f"agent: inbox page ({len(page['conversations'])} conversations)", win, None, 1,
           note="one Query on GSI2 (membership cached)")
    conv = f"/sites/{common.SITE_KEY}/conversations/{sessions[0]['conversation_id']}"
    with counter.window() as win:
        agent("GET", conv, 200)
    record("agent: open a conversation", win, None, 2, note="the site check, then messages and state in one Query")
    with counter.window() as win:
        agent("POST", conv + "/claim", 200)
    record("agent: claim", win, None, 2, note="read the state, then one conditional transaction")
    with counter.window() as win:
        agent("POST", conv + "/messages", 201, {"text": "Hi from the team", "client_message_id": "b-1"})
    record("agent: reply (conversation already theirs)", win, None, 1,
           note="one transaction, conditioned on open + theirs + their site")
    conv2 = f"/sites/{common.SITE_KEY}/conversations/{sessions[1]['conversation_id']}"
    with counter.window() as win:
        agent("POST", conv2 + "/messages", 201, {"text": "Hi from the team", "client_message_id": "b-2"})
    record("agent: reply to a waiting conversation (claims it first)", win, None, 3,
           note="the refused reply hands back the state: claim, then the reply")
    with counter.window() as win:
        agent("POST", conv + "/read", 200, {"seq": 1})
    record("agent: mark read", win, None, 2)


def report(result: dict[str, Any]) -> None:
    rows = []
    for r in result["rows"]:
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        rows.append([r["operation"], r["calls"], _ops_text(r["ops"]) if r["ops"] or r["calls"] else "-",
                     r["target"] or "-", met, r["note"]])
    print(common.table(["operation", "calls", "DynamoDB operations", "target", "met?", "note"],
                       rows, right=(1,)))
    retried = [r for r in result["rows"] if r["http_attempts"] not in (None, r["calls"])]
    print(f"\nHTTP attempts equal API calls in every whole-request row: {'no' if retried else 'yes'} "
          "(no botocore retries hid a call)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    common.heading("DynamoDB calls per operation (through app.py, counted on the table's client)")
    result = run()
    report(result)
    print(f"\nresults: {common.write_results('ddb_calls', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
