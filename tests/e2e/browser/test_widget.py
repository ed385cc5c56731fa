"""The widget in a real browser (Debian's chromium) against the `make dev` stack.

Each test gets a fresh browser context (no localStorage), opens the demo
site, and talks to the widget only as a visitor would, or through its
documented DOM contract and ``window.Parley``.
"""
from __future__ import annotations

import os
import time
import uuid

import requests

from ..conftest import LocalStack
from .conftest import ROOT, Widget

# The README's picture. Every run takes it; PARLEY_UPDATE_SCREENSHOT=1 writes it
# over docs/widget.png (otherwise it goes to pytest's temporary folder).
SCREENSHOT = ROOT / "docs" / "widget.png"
PRICING = "19 EUR"  # from infra/local/demo-knowledge.json's pricing answer


def load(page, local: LocalStack) -> Widget:
    page.goto(f"{local.demo}/")
    page.locator("#parley-root").wait_for(state="attached", timeout=10_000)
    return Widget(page)


def send_as_other_client(local: LocalStack, session: dict, text: str) -> dict:
    """Another tab of the same visitor: the same conversation, through the HTTP API."""
    r = requests.post(f"{local.api}/api/chatbot/send", timeout=30, json={
        "conversation_id": session["conversation_id"], "text": text, "client_message_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {session['token']}", "Origin": local.demo_origin})
    assert r.status_code == 201, r.text
    return r.json()


def texts(widget: Widget) -> list[str]:
    return widget.messages().all_inner_texts()


def test_the_visitor_sends_a_message_and_sees_it_then_the_bot_reply(page, stack):
    w = load(page, stack)
    w.open()
    w.say("How much does it cost?")
    visitor = w.page.locator('#parley-root [data-part="message"][data-sender="visitor"]')
    visitor.first.wait_for(timeout=5_000)
    assert "How much does it cost?" in visitor.first.inner_text()
    bot = w.page.locator(f'#parley-root [data-part="message"][data-sender="bot"]:has-text("{PRICING}")')
    bot.wait_for(timeout=10_000)
    # The first message also starts the conversation's realtime connection, so the bot's reply
    # may be pushed before send's answer confirms the visitor's own message (then still "sending").
    w.page.locator('#parley-root [data-part="message"][data-sender="visitor"][data-seq="1"]').wait_for(timeout=5_000)
    assert w.seqs() == [1, 2], f"expected seq 1 (visitor) and 2 (bot), got {w.seqs()}"
    assert w.state()["lastSeq"] == 2


def test_a_message_from_another_client_arrives_in_real_time_through_pusher(page, stack):
    w = load(page, stack)
    w.open()
    w.say("hello")  # the conversation starts with the first message, and connects then
    w.wait_state("s.provider === 'pusher' && s.connected", 15_000)
    session = w.session()
    began = time.monotonic()
    answer = send_as_other_client(stack, session, "typed in another tab")
    w.page.locator('#parley-root [data-part="message"]:has-text("typed in another tab")').wait_for(timeout=1_500)
    # Polling runs every 2 s and is off while Pusher is connected: only the push can be this fast.
    assert time.monotonic() - began < 1.9
    w.page.locator(f'#parley-root [data-part="message"][data-seq="{answer["reply"]["seq"]}"]').wait_for(timeout=2_000)
    assert w.state()["provider"] == "pusher"


def test_with_pusher_disabled_in_config_the_same_arrives_through_the_websocket(page, live):
    stack, local = live
    stack.env["PARLEY_REALTIME_PROVIDERS"] = "websocket,polling"
    stack.stop_service("api")
    stack.start_service("api")
    try:
        w = load(page, local)
        w.open()
        w.say("hello")
        w.wait_state("s.provider === 'websocket' && s.connected", 15_000)
        session = w.session()
        began = time.monotonic()
        send_as_other_client(local, session, "through the websocket")
        w.page.locator('#parley-root [data-part="message"]:has-text("through the websocket")').wait_for(timeout=1_500)
        assert time.monotonic() - began < 1.9
        assert w.state()["provider"] == "websocket"
    finally:
        stack.env["PARLEY_REALTIME_PROVIDERS"] = "pusher,websocket,polling"
        stack.stop_service("api")
        stack.start_service("api")


def test_with_realtime_down_the_widget_polls_loses_nothing_and_returns_to_realtime(page, live):
    stack, local = live
    w = load(page, local)
    w.open()
    w.say("hello")
    w.wait_state("s.connected && (s.provider === 'pusher' || s.provider === 'websocket')", 15_000)
    session = w.session()
    send_as_other_client(local, session, "before the outage")
    w.page.locator('#parley-root [data-part="message"]:has-text("before the outage")').wait_for(timeout=5_000)
    stack.stop_service("pusher")
    stack.stop_service("websocket")
    try:
        # Backoff: 5 attempts from a 1 s base (with jitter), then polling.
        w.wait_state("s.provider === 'polling'", 60_000)
        for i in range(3):
            send_as_other_client(local, session, f"during the outage {i}")
        for i in range(3):
            w.page.locator(f'#parley-root [data-part="message"]:has-text("during the outage {i}")').wait_for(timeout=10_000)
    finally:
        stack.start_service("pusher")
        stack.start_service("websocket")
    w.wait_state("s.connected && (s.provider === 'pusher' || s.provider === 'websocket')", 90_000)
    answer = send_as_other_client(local, session, "after the outage")
    w.page.locator(f'#parley-root [data-part="message"][data-seq="{answer["last_seq"]}"]').wait_for(timeout=5_000)
    seqs = w.seqs()
    assert seqs == list(range(1, answer["last_seq"] + 1)), f"every message once, in order: {seqs}"


def test_a_reload_restores_the_history(page, stack):
    w = load(page, stack)
    w.open()
    w.say("How much does it cost?")
    w.page.locator(f'#parley-root [data-part="message"]:has-text("{PRICING}")').wait_for(timeout=10_000)
    before = texts(w)
    page.reload()
    w = Widget(page)
    w.open()
    w.page.locator(f'#parley-root [data-part="message"]:has-text("{PRICING}")').wait_for(timeout=10_000)
    assert w.seqs() == [1, 2]
    assert texts(w) == before


def test_markup_in_a_message_is_shown_as_text_and_never_runs(page, stack):
    w = load(page, stack)
    w.open()
    attack = '<img src=x onerror="window.pwned=1">'
    w.say(attack)
    message = w.page.locator('#parley-root [data-part="message"][data-sender="visitor"]')
    message.first.wait_for(timeout=5_000)
    w.page.locator('#parley-root [data-part="message"][data-sender="bot"]').first.wait_for(timeout=10_000)
    assert attack in message.first.inner_text()
    assert page.evaluate("() => window.pwned") is None
    assert page.evaluate("() => document.querySelector('#parley-root').shadowRoot.querySelectorAll('img').length") == 0


def test_keyboard_only(page, stack):
    w = load(page, stack)
    bubble = w.part("bubble")
    bubble.wait_for()
    active = "() => { const r = document.querySelector('#parley-root'); " \
             "const a = r.shadowRoot.activeElement; return a ? a.dataset.part : null; }"
    bubble.focus()
    page.keyboard.press("Enter")
    w.part("panel").wait_for(state="visible")
    page.wait_for_function(f"({active})() === 'input'", timeout=2_000)
    page.keyboard.type("Which browsers are supported?")
    page.keyboard.press("Enter")
    w.page.locator('#parley-root [data-part="message"][data-sender="bot"]').first.wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    w.part("panel").wait_for(state="hidden")
    page.wait_for_function(f"({active})() === 'bubble'", timeout=2_000)
    page.keyboard.press("Space")
    w.part("panel").wait_for(state="visible")


def test_roles_and_labels_for_assistive_technology(page, stack):
    w = load(page, stack)
    w.open()
    panel, log = w.part("panel"), w.part("log")
    assert panel.get_attribute("role") == "dialog" and (panel.get_attribute("aria-label") or panel.get_attribute("aria-labelledby"))
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    for part in ("bubble", "send", "close", "input"):
        element = w.part(part)
        name = page.evaluate("""(el) => el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
            || (el.labels && el.labels.length ? el.labels[0].textContent : '') || el.textContent""",
                             element.element_handle())
        assert name and name.strip(), f"{part} needs an accessible name"


def test_a_hostile_host_stylesheet_does_not_change_the_widget(page, browser, stack):
    probe = """() => { const r = document.querySelector('#parley-root').shadowRoot;
        const pick = (el) => { const s = getComputedStyle(el);
            return [s.color, s.fontSize, s.backgroundColor, s.fontFamily, s.lineHeight]; };
        return ['bubble', 'panel', 'input', 'send', 'status'].map(
            p => pick(r.querySelector(`[data-part="${p}"]`))); }"""
    w = load(page, stack)
    w.open()
    clean = page.evaluate(probe)
    hostile = browser.new_context().new_page()
    hostile.goto(f"{stack.demo}/")
    hostile.add_style_tag(content="* { color: red !important; font-size: 40px !important; "
                                  "font-family: 'Comic Sans MS' !important; background: yellow !important }")
    hw = Widget(hostile)
    hostile.locator("#parley-root").wait_for(state="attached")
    hw.open()
    assert hostile.evaluate(probe) == clean, "the host page's CSS must not reach into the widget"
    hostile.context.close()


def test_parley_is_the_only_global_and_loading_twice_is_harmless(page, stack):
    # infra/local/demo/queue.html queues ['open'] before the script, records the page's
    # globals, then includes the script twice.
    page.goto(f"{stack.demo}/queue.html")
    w = Widget(page)
    w.part("panel").wait_for(state="visible", timeout=10_000)  # the queued 'open' ran
    w.say("hello")
    w.wait_state("s.connected", 15_000)
    added = page.evaluate("() => Object.keys(window).filter("
                          "k => !window.__globalsBeforeParley.includes(k) && k !== '__globalsBeforeParley')")
    assert added == [], f"no globals besides Parley (declared before load): {added}"
    assert page.evaluate("() => document.querySelectorAll('#parley-root').length") == 1
    assert page.evaluate("() => typeof window.Parley.state") == "function"


def test_screenshot_of_the_open_widget_for_the_readme(page, stack, tmp_path):
    page.emulate_media(reduced_motion="reduce")  # no message caught half-way through its fade-in
    w = load(page, stack)
    w.open()
    w.say("How much does it cost?")
    w.page.locator(f'#parley-root [data-part="message"]:has-text("{PRICING}")').wait_for(timeout=10_000)
    w.say("Can I talk to a human?")
    w.page.locator('#parley-root [data-part="message"][data-seq="4"]').wait_for(timeout=10_000)
    target = SCREENSHOT if os.environ.get("PARLEY_UPDATE_SCREENSHOT") == "1" else tmp_path / "widget.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000


def test_the_visitor_downloads_the_transcript_then_deletes_the_conversation(page, stack):
    w = load(page, stack)
    w.open()
    assert w.part("menu-button").is_hidden(), "no conversation yet: nothing to download or delete"
    w.say("How much does it cost?")
    w.page.locator(f'#parley-root [data-part="message"]:has-text("{PRICING}")').wait_for(timeout=10_000)
    session = w.session()

    w.part("menu-button").click()
    with page.expect_download(timeout=10_000) as download:
        w.part("transcript").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert "How much does it cost?" in text and PRICING in text, text

    w.part("menu-button").click()
    w.part("delete").click()
    w.part("delete-confirm").click()
    w.part("menu-button").wait_for(state="hidden", timeout=10_000)
    assert w.messages().count() == 0, "the deleted conversation's messages are gone from the widget"
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('parley:'))") == []
    r = requests.get(f"{stack.api}/api/chatbot/messages", timeout=10,
                     params={"conversation_id": session["conversation_id"], "after": "0"},
                     headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    assert r.status_code in (401, 404), f"the deleted conversation is out of reach: {r.status_code} {r.text}"

    w.say("hello again")
    w.page.locator('#parley-root [data-part="message"][data-sender="bot"]').first.wait_for(timeout=10_000)
    assert w.session()["conversation_id"] != session["conversation_id"], "the next message starts a new one"


def test_a_tab_whose_token_another_tab_revoked_goes_on_with_the_new_one(page, stack):
    w = load(page, stack)
    w.open()
    w.say("How much does it cost?")
    w.page.locator(f'#parley-root [data-part="message"]:has-text("{PRICING}")').wait_for(timeout=10_000)
    first = w.session()

    other = page.context.new_page()  # the same visitor's second tab: it resumes, which revokes the first token
    other.goto(f"{stack.demo}/")
    other.wait_for_function("() => window.Parley && window.Parley.state().connected", timeout=15_000)
    second = Widget(other).session()
    assert second["conversation_id"] == first["conversation_id"] and second["token"] != first["token"]

    w.say("still here?")
    mine = w.page.locator('#parley-root [data-part="message"][data-sender="visitor"]:has-text("still here?")')
    mine.wait_for(timeout=10_000)
    w.page.wait_for_function("""() => { const m = [...document.querySelector('#parley-root').shadowRoot
        .querySelectorAll('[data-part="message"][data-sender="visitor"]')].pop(); return m && m.dataset.seq; }""",
                             timeout=10_000)
    assert mine.get_attribute("data-state") != "failed", "the send went through with the other tab's token"
    other.close()
