"""Streamed bot replies in a real browser: the `demo-llm` site on the Bedrock Runtime stand-in.

The stand-in (infra/local/bedrock_runtime.py) answers with the first knowledge
entry of the prompt, a few words per event, after a first-token delay; the
reply worker (app.py's on_sqs_message, run by infra/local/sqs_events.py)
streams it as ChatReplyDelta events and then stores the final message. These
tests watch the widget's DOM with a MutationObserver from before the send, so
every state the visitor could have seen is recorded, not just the last one.
"""
from __future__ import annotations

import json
import time
import uuid

import requests

from ..conftest import LocalStack
from .conftest import Widget

PRICING = "19 EUR"  # infra/local/demo-knowledge.json's pricing answer
QUESTION = "How much does Parley cost?"

# Records, for each bot message element, every text it showed and whether it was a draft.
OBSERVE = """() => {
  const root = document.querySelector('#parley-root').shadowRoot;
  window.__seen = [];
  const note = () => {
    for (const el of root.querySelectorAll('[data-part="message"][data-sender="bot"]')) {
      const text = (el.querySelector('[data-part="text"]') || el).textContent;
      const last = window.__seen[window.__seen.length - 1];
      const entry = {reply: el.dataset.replyId || null, seq: el.dataset.seq || null,
                     streaming: el.classList.contains('streaming'), text};
      if (!last || JSON.stringify(last) !== JSON.stringify(entry)) window.__seen.push(entry);
    }
  };
  new MutationObserver(note).observe(root, {subtree: true, childList: true, characterData: true,
                                           attributes: true});
}"""


def load(page, local: LocalStack, site: str = "demo-llm") -> Widget:
    page.goto(f"{local.demo}/?site={site}")
    page.locator("#parley-root").wait_for(state="attached", timeout=10_000)
    return Widget(page)


def stand_in(local: LocalStack, path: str, body: dict | None = None) -> dict:
    url = f"{local.bedrock}/_parley/{path}"
    r = requests.post(url, json=body, timeout=5) if body is not None else requests.get(url, timeout=5)
    assert r.ok, r.text
    return r.json()


def seen(page) -> list[dict]:
    return page.evaluate("() => window.__seen")


def stored_bot_messages(local: LocalStack, session: dict) -> list[dict]:
    r = requests.get(f"{local.api}/api/chatbot/messages", timeout=10,
                     params={"conversation_id": session["conversation_id"], "after": 0},
                     headers={"Authorization": f"Bearer {session['token']}", "Origin": local.demo_origin})
    assert r.status_code == 200, r.text
    return [m for m in r.json()["messages"] if m["sender"] == "bot"]


def open_and_observe(page, local: LocalStack) -> Widget:
    w = load(page, local)
    w.open()
    page.evaluate(OBSERVE)
    return w


def final_bot(w: Widget, contains: str) -> dict:
    final = w.page.locator(f'#parley-root [data-part="message"][data-sender="bot"][data-seq]:has-text("{contains}")')
    final.wait_for(timeout=30_000)
    return {"reply_id": final.get_attribute("data-reply-id"), "seq": int(final.get_attribute("data-seq")),
            "text": final.inner_text()}


def test_a_streamed_answer_grows_in_one_bubble_and_ends_as_the_stored_message(page, stack):
    stand_in(stack, "settings", {"first_token_ms": 300, "tokens_per_second": 20, "words_per_delta": 2})
    w = open_and_observe(page, stack)
    w.say(QUESTION)
    final = final_bot(w, PRICING)
    drafts = [s for s in seen(page) if s["streaming"]]
    assert final["reply_id"], "expected the stored reply to carry its reply id"
    assert drafts, f"expected a draft bubble before the stored reply, saw {seen(page)}"
    assert {d["reply"] for d in drafts} == {final["reply_id"]}, "every draft state belongs to this reply"
    lengths = [len(d["text"]) for d in drafts]
    assert len(set(lengths)) >= 2 and lengths == sorted(lengths), f"expected the draft to grow: {lengths}"
    # One bubble for the reply, from first delta to the end, and the "from:" line of its entry.
    bubbles = w.page.locator(f'#parley-root [data-part="message"][data-reply-id="{final["reply_id"]}"]')
    assert bubbles.count() == 1
    sources = bubbles.locator('[data-part="sources"]')
    assert sources.count() == 1 and sources.inner_text().startswith("from:"), "expected a 'from: <entry>' line"
    assert "[[" not in final["text"], f"citation markers must not reach the visitor: {final['text']!r}"
    assert w.seqs() == [1, 2], f"expected the visitor's message and the one stored reply, got {w.seqs()}"


def test_a_polling_only_client_sees_only_the_final_message(page, stack):
    stand_in(stack, "settings", {"first_token_ms": 300, "tokens_per_second": 20, "words_per_delta": 2})

    def polling_only(route) -> None:
        path = route.request.url.split("?")[0]
        # The widget's config and init answers carry the provider order (not a CORS preflight).
        if route.request.method == "OPTIONS" or not path.endswith(("/config", "/init")):
            route.continue_()
            return
        response = route.fetch()
        body = response.json()
        realtime = body.get("realtime", body) if isinstance(body, dict) else body
        if isinstance(realtime, dict) and "providers" in realtime:
            realtime["providers"] = ["polling"]
        route.fulfill(response=response, body=json.dumps(body))

    page.route(lambda url: "/api/chatbot/" in url, polling_only)
    w = open_and_observe(page, stack)
    w.say(QUESTION)
    w.wait_state("s.provider === 'polling'", 15_000)
    final_bot(w, PRICING)
    assert not [s for s in seen(page) if s["streaming"]], f"a polling client gets no deltas: {seen(page)}"
    bot_texts = {s["text"] for s in seen(page)}
    assert len(bot_texts) == 1, f"expected only the final text to be shown, saw {bot_texts}"


def test_storage_never_holds_a_half_reply_while_it_streams(page, stack):
    stand_in(stack, "settings", {"first_token_ms": 200, "tokens_per_second": 20, "words_per_delta": 2})
    w = open_and_observe(page, stack)
    w.say(QUESTION)
    w.page.locator('#parley-root [data-part="message"][data-sender="visitor"][data-seq="1"]').wait_for(timeout=10_000)
    session = w.session()
    snapshots = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        snapshots.append(stored_bot_messages(stack, session))
        if snapshots[-1]:
            break
        time.sleep(0.05)
    final = final_bot(w, PRICING)
    assert snapshots[-1], "expected the reply to be stored within 30 s"
    assert all(len(s) <= 1 for s in snapshots)
    stored = snapshots[-1][0]
    assert stored["seq"] == final["seq"] and stored["reply_id"] == final["reply_id"]
    assert PRICING in stored["text"], f"the first stored reply is the whole answer: {stored['text']!r}"


def test_a_stream_that_fails_midway_ends_as_the_offline_answer_once(page, stack):
    stand_in(stack, "settings", {"first_token_ms": 100, "tokens_per_second": 20, "words_per_delta": 2})
    w = open_and_observe(page, stack)
    w.say(f"stand-in: fail {QUESTION}")
    final = final_bot(w, PRICING)  # the knowledge bot answers the same question from the same file
    session = w.session()
    stored = stored_bot_messages(stack, session)
    assert len(stored) == 1, f"expected exactly one stored reply (the fallback), got {stored}"
    assert stored[0]["seq"] == final["seq"]
    bubbles = w.page.locator('#parley-root [data-part="message"][data-sender="bot"]')
    assert bubbles.count() == 1, f"expected the draft replaced by the fallback, saw {bubbles.all_inner_texts()}"


def test_asking_the_llm_bot_for_a_person_hands_the_conversation_to_the_team(page, stack):
    w = open_and_observe(page, stack)
    w.say("I need to talk to a real person please")
    w.wait_state("s.status === 'pending'", 30_000)
    session = w.session()
    r = requests.get(f"{stack.api}/api/chatbot/messages", timeout=10,
                     params={"conversation_id": session["conversation_id"], "after": 0},
                     headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    senders = [m["sender"] for m in r.json()["messages"]]
    assert "system" in senders, f"expected the handoff as a system message, got {senders}"
    # Once a person is awaited the bot stays silent: another message gets no bot reply.
    w.say(f"are you there? {uuid.uuid4().hex[:6]}")
    time.sleep(3)
    after = requests.get(f"{stack.api}/api/chatbot/messages", timeout=10,
                         params={"conversation_id": session["conversation_id"], "after": 0},
                         headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin})
    bots_before = senders.count("bot")
    assert [m["sender"] for m in after.json()["messages"]].count("bot") == bots_before, (
        "the bot must not answer while a person is awaited")
