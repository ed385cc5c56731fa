"""A visitor in the widget and an agent in the console, two browser contexts, one `make dev` stack.

The visitor asks for a person; the agent sees it arrive without reloading,
claims it, and the two talk in real time while the bot stays silent. Then the
agent's network is cut while the visitor writes, and once it is back every
message is in the console once, in order.
"""
from __future__ import annotations

import os

from infra.local.cognito import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD

from ..conftest import LocalStack
from .conftest import ROOT, Widget

# The README's picture of the console; PARLEY_UPDATE_SCREENSHOT=1 writes it over docs/console.png.
SCREENSHOT = ROOT / "docs" / "console.png"


def sign_in(page, local: LocalStack) -> None:
    page.goto(local.console)
    page.get_by_test_id("signin-email").fill(DEMO_AGENT_EMAIL)
    page.get_by_test_id("signin-password").fill(DEMO_AGENT_PASSWORD)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("tab-pending").wait_for(timeout=15_000)


def console_seqs(page) -> list[int]:
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="message"][data-seq]')]
        .map(m => Number(m.dataset.seq))""")


def wait_console_seq(page, seq: int, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(
        """(seq) => [...document.querySelectorAll('[data-testid="message"][data-seq]')]
            .some(m => Number(m.dataset.seq) === seq)""", arg=seq, timeout=timeout_ms)


def test_a_visitor_and_an_agent_talk_in_real_time_and_a_network_cut_loses_nothing(browser, stack, tmp_path):
    conversation(browser, stack, tmp_path, provider="pusher", screenshot=True)


def test_the_same_over_the_websocket_api_when_pusher_is_down(browser, live, tmp_path):
    service, local = live
    service.stop_service("pusher")
    try:
        conversation(browser, local, tmp_path, provider="websocket", screenshot=False)
    finally:
        service.start_service("pusher")


def test_the_same_by_polling_when_both_push_services_are_down(browser, live, tmp_path):
    service, local = live
    service.stop_service("pusher")
    service.stop_service("websocket")
    try:
        conversation(browser, local, tmp_path, provider="polling", screenshot=False)
    finally:
        service.start_service("pusher")
        service.start_service("websocket")


def conversation(browser, stack: LocalStack, tmp_path, provider: str, screenshot: bool) -> None:
    agent_context, visitor_context = browser.new_context(), browser.new_context()
    try:
        agent = agent_context.new_page()
        sign_in(agent, stack)
        agent.locator(f'[data-testid="realtime-status"][data-provider="{provider}"][data-connected="true"]').wait_for(
            timeout=90_000)

        visitor_page = visitor_context.new_page()
        visitor_page.goto(f"{stack.demo}/")
        visitor = Widget(visitor_page)
        visitor.open()
        visitor.wait_state("s.status === 'bot'", 10_000)
        # No conversation until the visitor asks for something: here, a person.
        visitor.part("handoff").click()
        visitor.wait_state("s.status === 'pending'", 10_000)
        # The widget counts polling as "not connected" (nothing is pushed to it).
        connected = "" if provider == "polling" else "s.connected && "
        visitor.wait_state(f"{connected}s.provider === '{provider}'", 90_000)
        conversation_id = visitor.session()["conversation_id"]

        # The handoff reaches the agent's inbox without a reload.
        row = agent.locator(f'[data-testid="inbox-row"][data-conversation-id="{conversation_id}"]')
        row.wait_for(timeout=15_000)
        assert row.get_attribute("data-status") == "pending"
        row.click()
        agent.get_by_test_id("action-claim").click()
        agent.locator('[data-testid="conversation-status"][data-status="open"]').wait_for(timeout=10_000)
        visitor.wait_state("s.status === 'open' && !!s.agentName", 10_000)

        # Agent -> visitor, in real time, with the agent's name.
        agent.get_by_test_id("composer-input").fill("Hi, I'm from the team. How can I help?")
        agent.get_by_test_id("composer-send").click()
        from_agent = visitor_page.locator('#parley-root [data-part="message"][data-sender="agent"]')
        from_agent.first.wait_for(timeout=10_000)
        assert "How can I help?" in from_agent.first.inner_text()

        # Visitor -> agent, and the bot stays silent while the agent holds the conversation.
        bots_before = visitor_page.locator('#parley-root [data-part="message"][data-sender="bot"]').count()
        visitor.say("How much does it cost?")
        agent.locator('[data-testid="message"][data-sender="visitor"]:has-text("How much does it cost?")').wait_for(
            timeout=10_000)
        visitor_page.wait_for_timeout(1_000)
        assert visitor_page.locator('#parley-root [data-part="message"][data-sender="bot"]').count() == bots_before, (
            "the bot must not answer while an agent holds the conversation")

        # The agent's network goes away while the visitor writes three messages.
        agent_context.set_offline(True)
        for i in range(3):
            visitor.say(f"offline message {i}")
        visitor.page.wait_for_function(
            """() => [...document.querySelector('#parley-root').shadowRoot
                .querySelectorAll('[data-part="message"][data-sender="visitor"]')]
                .filter(m => m.textContent.includes('offline message 2') && m.dataset.seq).length === 1""",
            timeout=10_000)
        last = max(visitor.seqs())
        agent_context.set_offline(False)
        wait_console_seq(agent, last, timeout_ms=30_000)
        seqs = console_seqs(agent)
        assert seqs == list(range(1, last + 1)), f"expected every message once and in order, got {seqs}"

        if not screenshot:
            return
        target = SCREENSHOT if os.environ.get("PARLEY_UPDATE_SCREENSHOT") == "1" else tmp_path / "console.png"
        agent.screenshot(path=str(target))
        assert target.stat().st_size > 10_000
    finally:
        agent_context.close()
        visitor_context.close()
