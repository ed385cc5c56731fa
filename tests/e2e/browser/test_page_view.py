"""A page view costs nothing: counted in Chromium against the `make dev` stack.

A reader who never opens the chat gets parley.js (under 12 KB gzipped) and
nothing else: no API call, no socket, nothing stored. Opening the chat fetches
the chat bundle and config; the first message creates the conversation and
connects (and only then is pusher-js fetched); a returning visitor resumes
and connects at once. The probe is bench/page_view.py's, which prints the
same figures.
"""
from __future__ import annotations

from bench.page_view import Probe, table_counter, visit
from infra.local.devstack import TABLE

from ..conftest import LocalStack

CRITICAL_PATH_BUDGET = 12 * 1024  # gzipped, issue 11


def counter(stack: LocalStack):
    return table_counter({"AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb, "PARLEY_TABLE": TABLE})


def test_a_page_view_costs_nothing_and_the_first_message_starts_the_conversation(page, stack):
    probe = Probe(page, stack.api, counter(stack))
    steps = visit(page, probe, stack.demo, settle_s=1.5)

    view = steps["page view"]
    assert view.api_calls == [], f"a page view makes no API call: {view.api_calls}"
    assert view.sockets == [], f"a page view opens no socket: {view.sockets}"
    assert view.stored_items == 0, f"a page view stores nothing: {view.stored_items} items"
    assert list(view.scripts) == ["parley.js"], f"only parley.js is on the critical path: {view.scripts}"
    assert view.scripts["parley.js"]["gzip_bytes"] <= CRITICAL_PATH_BUDGET, view.scripts

    opened = steps["open"]
    assert opened.api_calls == ["GET /api/chatbot/config"], opened.api_calls
    assert list(opened.scripts) == ["parley-app.js"] and opened.sockets == [] and opened.stored_items == 0, \
        f"opening the chat fetches the chat and config, and stores nothing: {opened.as_dict()}"

    first = steps["first message"]
    assert first.api_calls[:2] == ["POST /api/chatbot/init", "POST /api/chatbot/send"], first.api_calls
    assert len(first.sockets) == 1 and "parley-pusher.js" in first.scripts, first.as_dict()
    assert first.stored_items > 0

    back = steps["return"]
    assert "POST /api/chatbot/init" in back.api_calls and len(back.sockets) == 1, \
        f"a returning visitor resumes and connects without touching the chat: {back.as_dict()}"


def test_nothing_is_kept_in_the_browser_until_the_first_message(page, stack):
    page.goto(f"{stack.demo}/")
    page.locator('#parley-root [data-part="bubble"]').click()
    page.locator('#parley-root [data-part="panel"]').wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(1_000)
    kept = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('parley:'))")
    assert kept == [], f"no conversation saved before the visitor writes: {kept}"
    state = page.evaluate("() => window.Parley.state()")
    assert state["status"] == "bot" and state["provider"] is None and not state["connected"], state
