"""Tokens remember the origin init approved; other origins are checked against the site."""
from __future__ import annotations

from chalicelib import tokens

from .conftest import ORIGIN, OTHER_ORIGIN


def _send_from(http, session, origin, cmid):
    body = {"conversation_id": session["conversation_id"], "text": "hello", "client_message_id": cmid}
    headers = {"Authorization": f"Bearer {session['token']}"}
    if origin:
        headers["Origin"] = origin
    return http.post("/api/chatbot/send", body, headers)


def test_the_token_carries_the_origin_that_init_approved(http):
    session = http.session()
    claims = tokens.verify("test-secret-test-secret-test-secret-0123", session["token"])
    assert claims.origin == ORIGIN


def test_another_origin_of_the_same_site_may_use_the_token(http):
    session = http.session()  # issued to http://127.0.0.1:8080
    resp = _send_from(http, session, "http://localhost:8080", "c-1")
    assert resp.status_code == 201, resp.body
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"


def test_an_origin_the_site_does_not_list_may_not_use_the_token(http, data):
    session = http.session()
    resp = _send_from(http, session, OTHER_ORIGIN, "c-1")
    assert resp.status_code == 403 and resp.json_body["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert data.messages.messages_after(session["conversation_id"], 0).messages == [], "nothing may be stored"


def test_a_token_issued_without_an_origin_is_checked_against_the_site_in_a_browser(http):
    resp = http.init(origin=None)
    assert resp.status_code == 201
    session = resp.json_body
    assert tokens.verify("test-secret-test-secret-test-secret-0123", session["token"]).origin is None
    assert _send_from(http, session, ORIGIN, "c-1").status_code == 201
    refused = _send_from(http, session, OTHER_ORIGIN, "c-2")
    assert refused.status_code == 403, "an unlisted browser origin is refused even for an origin-less token"


def test_a_site_that_drops_the_origin_still_serves_its_existing_tokens_but_no_new_ones(http, data, make_root):
    session = http.session()
    site = data.sites.get("demo")
    data.sites.put(site.changed(origins=("http://localhost:8080",)), previous_origins=site.origins)
    # A process caches sites; a new graph sees the change as a new Lambda container would.
    make_root()
    assert http.poll(session).status_code == 200, "the conversation's own token keeps working"
    refused = http.init()
    assert refused.status_code == 403, "but the dropped origin cannot start a new conversation"
