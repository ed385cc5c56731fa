"""Email capture (issue 13) in a real browser against the `make dev` stack.

Nobody is at the demo site's desk (no console heartbeat, so no presence row):
the visitor asks for a person, the widget says when the team replies and asks
for an email address. A bad address is refused in the widget, a good one is
stored on the conversation (read back through the agent API's conversation
route, whose summary carries `contact`) with the transcript opt-in, and after
a reload the widget does not ask again: it shows the confirmation with its edit.

The widget's hooks are its DOM contract (widget/README.md, "Nobody at the desk").
"""
from __future__ import annotations

import json
import time
import uuid

import boto3
import requests
from botocore import UNSIGNED
from botocore.config import Config

from ..conftest import LocalStack
from .conftest import Widget

SITE = "demo"


def agent_token(stack: LocalStack) -> str:
    """The demo agent's Cognito ID token (USER_PASSWORD_AUTH needs no AWS credentials)."""
    client = boto3.client("cognito-idp", endpoint_url=stack.cognito_endpoint, region_name=stack.cognito_region,
                          config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                                        connect_timeout=5, read_timeout=10))
    answer = client.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=stack.cognito_client_id,
                                  AuthParameters={"USERNAME": stack.agent_email, "PASSWORD": stack.agent_password})
    return answer["AuthenticationResult"]["IdToken"]


def agent_headers(stack: LocalStack, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": stack.console_origin}


def availability(stack: LocalStack) -> dict:
    r = requests.get(f"{stack.api}/api/chatbot/config", params={"site_key": SITE},
                     headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "availability" in body, f"config must carry `availability` (issue 13's contract): {sorted(body)}"
    return body


def nobody_online(stack: LocalStack, token: str) -> dict:
    """Takes the demo agent off the desk (a console test of this session may have left a heartbeat)."""
    requests.delete(f"{stack.api}/api/agent/sites/{SITE}/presence", json={},
                    headers=agent_headers(stack, token), timeout=10)
    deadline = time.monotonic() + 10
    while True:
        config = availability(stack)
        if config["availability"]["online"] is False or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert config["availability"]["online"] is False, f"nobody should be online: {config['availability']}"
    return config


def shadow_active_part(page) -> str | None:
    return page.evaluate("""() => { const a = document.querySelector('#parley-root').shadowRoot.activeElement;
        return a ? a.dataset.part || null : null; }""")


def expected_line(a: dict) -> str:
    """The header's availability line as the widget words it in English (the test browser's locale)."""
    if a["online"]:
        return "We’re online"
    if not a["open"] and a.get("next_open_at"):
        return "We’re back "  # then the weekday and time in the browser's zone
    hours = a["reply_within_hours"]
    return "We reply within an hour" if hours == 1 else f"We reply within {hours} hours"


def test_nobody_online_the_visitor_leaves_an_email_that_is_stored_with_the_transcript_opt_in(page, stack):
    token = agent_token(stack)
    config = nobody_online(stack, token)
    offered_transcripts = config.get("transcripts") is True
    contact_posts: list[dict] = []
    page.on("request", lambda r: contact_posts.append(json.loads(r.post_data or "{}"))
            if r.method == "POST" and "/api/chatbot/contact" in r.url else None)

    page.goto(f"{stack.demo}/")
    page.locator("#parley-root").wait_for(state="attached", timeout=10_000)
    w = Widget(page)
    w.open()
    w.wait_state("s.status === 'bot'", 10_000)
    line = w.part("availability")
    line.wait_for(state="visible", timeout=10_000)
    assert line.inner_text().startswith(expected_line(config["availability"])), line.inner_text()

    # The visitor asks for a person: the form appears in the conversation, its email field focused.
    w.part("handoff").click()
    w.wait_state("s.status === 'pending'", 10_000)
    w.part("contact-form").wait_for(state="visible", timeout=10_000)
    email = w.part("contact-email")
    assert email.get_attribute("type") == "email"
    page.wait_for_function("""() => { const a = document.querySelector('#parley-root').shadowRoot.activeElement;
        return !!a && a.dataset.part === 'contact-email'; }""", timeout=5_000)
    label = page.evaluate("(el) => el.labels && el.labels.length ? el.labels[0].textContent : ''",
                          email.element_handle())
    assert label.strip(), "the email field needs a label"
    transcript = w.part("contact-transcript")
    assert transcript.is_visible() == offered_transcripts, \
        f"the opt-in shows exactly when config.transcripts is true ({offered_transcripts})"

    # A bad address: a field error (announced), nothing posted.
    email.fill("visitor@example")
    email.press("Enter")
    error = w.part("contact-email-error")
    page.wait_for_function("""() => document.querySelector('#parley-root').shadowRoot
        .querySelector('[data-part="contact-email-error"]').textContent.trim() !== ''""", timeout=5_000)
    assert error.get_attribute("role") == "alert"
    assert email.get_attribute("aria-invalid") == "true"
    assert contact_posts == [], f"a bad address is refused before it goes: {contact_posts}"

    # A good one, with the transcript opt-in: stored, and confirmed.
    address = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    email.fill(address)
    if offered_transcripts:
        transcript.check()
    with page.expect_response(lambda r: r.request.method == "POST" and "/api/chatbot/contact" in r.url,
                              timeout=10_000) as answer:
        email.press("Enter")
    assert answer.value.status == 200, answer.value.text()
    stored = answer.value.json()["contact"]
    assert stored["email"] == address and stored["transcript"] is offered_transcripts, stored
    conversation_id = w.session()["conversation_id"]
    assert contact_posts[-1]["conversation_id"] == conversation_id
    assert contact_posts[-1]["email"] == address
    if offered_transcripts:
        assert contact_posts[-1]["transcript"] is True, contact_posts[-1]
    done = w.part("contact-done")
    done.wait_for(state="visible", timeout=5_000)
    assert address in done.inner_text()
    assert "we’ll reply to" in done.inner_text()
    assert error.inner_text().strip() == ""

    # The backend has it: the agent API's conversation summary carries the contact.
    r = requests.get(f"{stack.api}/api/agent/sites/{SITE}/conversations/{conversation_id}",
                     headers=agent_headers(stack, token), timeout=10)
    assert r.status_code == 200, r.text
    contact = r.json()["conversation"].get("contact")
    assert contact and contact["email"] == address, f"the conversation's contact: {contact}"
    assert contact["transcript"] is offered_transcripts, contact

    # A reload resumes the conversation: init knows the contact, so the widget does not ask again.
    page.reload()
    w = Widget(page)
    w.open()
    w.wait_state("s.status === 'pending'", 10_000)
    w.part("contact-done").wait_for(state="visible", timeout=10_000)
    assert w.part("contact-form").is_hidden()
    assert address in w.part("contact-done").inner_text()

    # Edit brings the form back, filled in.
    w.part("contact-edit").click()
    w.part("contact-form").wait_for(state="visible", timeout=5_000)
    assert w.part("contact-email").input_value() == address
    if offered_transcripts:
        assert w.part("contact-transcript").is_checked()
    assert shadow_active_part(page) == "contact-email"
