"""Presence end to end, two browser contexts on one `make dev` stack: an agent signs in to the console,
and a visitor's widget says "We're online" (and asks for no email when they ask for a person);
the agent signs out, and the next visitor is told when the team replies instead, and asked for an
address.
"""
from __future__ import annotations

import time

import requests

from ..conftest import LocalStack
from .conftest import Widget
from .test_agent_console import sign_in


def online(stack: LocalStack) -> bool:
    r = requests.get(f"{stack.api}/api/chatbot/config", params={"site_key": "demo"},
                     headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["availability"]["online"]


def wait_online(stack: LocalStack, wanted: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while online(stack) is not wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    assert online(stack) is wanted, f"the demo site should be {'online' if wanted else 'offline'}"


def visitor_asks_for_a_person(browser, stack: LocalStack) -> tuple[object, Widget]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stack.demo}/")
    widget = Widget(page)
    widget.open()
    widget.wait_state("s.status === 'bot'", 10_000)
    widget.part("availability").wait_for(state="visible", timeout=10_000)
    widget.part("handoff").click()
    widget.wait_state("s.status === 'pending'", 10_000)
    return context, widget


def test_an_agent_in_the_console_makes_the_site_online_for_visitors_until_they_sign_out(browser, stack):
    agent_context = browser.new_context()
    try:
        agent = agent_context.new_page()
        sign_in(agent, stack)
        agent.locator('[data-testid="presence-status"][data-state="online"]').wait_for(timeout=15_000)
        wait_online(stack, True)

        context, widget = visitor_asks_for_a_person(browser, stack)
        try:
            assert widget.part("availability").inner_text().startswith("We’re online")
            time.sleep(1)  # the form would show at once after the handoff's answer
            assert widget.part("contact-form").count() == 0 or widget.part("contact-form").is_hidden(), \
                "somebody is online: no email form"
        finally:
            context.close()

        agent.get_by_test_id("signout").click()
        wait_online(stack, False)  # the console's keepalive DELETE took the presence row away

        context, widget = visitor_asks_for_a_person(browser, stack)
        try:
            assert widget.part("availability").inner_text().startswith("We reply within")
            widget.part("contact-form").wait_for(state="visible", timeout=10_000)
        finally:
            context.close()
    finally:
        agent_context.close()
