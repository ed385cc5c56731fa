"""Bad input on every route: the documented 4xx, in our error shape, and nothing stored.

Each case is its own test (or its own parameter id). Every test snapshots the
table before the bad request and compares after it, so a request that is
refused cannot have written a conversation, a message or an idempotency record
on its way to the refusal.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Iterator

import pytest

from chalicelib import tokens
from chalicelib.models import MAX_TEXT

from tests.functional.conftest import ORIGIN, OTHER_ORIGIN, stored_messages

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
SEND = "/api/chatbot/send"
INIT = "/api/chatbot/init"


# -- helpers --------------------------------------------------------------------------


def _header(resp: Any, name: str) -> str | None:
    for key, value in resp.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """Checks an error answer: the status, our exact shape, and the code. Returns the error."""
    raw = resp.body.decode("utf-8", "replace") if isinstance(resp.body, bytes) else str(resp.body)
    assert resp.status_code < 500, f"expected {status} {code}, got a {resp.status_code} (a 5xx is a bug): {raw}"
    assert resp.status_code == status, f"expected status {status} ({code}), got {resp.status_code}: {raw}"
    assert (_header(resp, "Content-Type") or "").startswith("application/json"), (
        f"expected a JSON error body, got Content-Type {_header(resp, 'Content-Type')!r}: {raw}")
    try:
        body = json.loads(raw)
    except ValueError:
        raise AssertionError(f"expected a JSON body {{'error': {{'code', 'message'}}}}, got {raw!r}") from None
    assert isinstance(body, dict) and set(body) == {"error"}, (
        f"expected exactly {{'error': {{...}}}}, got {body!r}")
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, (
        f"expected error to hold exactly 'code' and 'message', got {error!r}")
    assert isinstance(error["code"], str) and SNAKE_CASE.match(error["code"]), (
        f"expected a snake_case string code, got {error['code']!r}")
    assert isinstance(error["message"], str) and error["message"].strip(), (
        f"expected a non-empty human message, got {error['message']!r}")
    assert error["code"] == code, f"expected code {code!r}, got {error['code']!r} ({error['message']})"
    return error


def table_items(data) -> list[dict[str, Any]]:
    """Every item of the test table. A Scan, acceptable here only: test code inspecting the fake."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = data.table.client.scan(TableName=data.table.name, ConsistentRead=True, **kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def conversation_count(data) -> int:
    return sum(1 for i in table_items(data) if i["PK"]["S"].startswith("CONV#") and i["SK"]["S"] == "STATE")


class Unchanged:
    """Snapshots the table; ``check()`` says what a refused request added or changed."""

    def __init__(self, data) -> None:
        self.data = data
        self.before = self._snapshot()
        self.conversations = conversation_count(data)

    def _snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(i["PK"]["S"], i["SK"]["S"]): i for i in table_items(self.data)}

    def check(self) -> None:
        after = self._snapshot()
        added = sorted(set(after) - set(self.before))
        changed = sorted(k for k in set(after) & set(self.before) if after[k] != self.before[k])
        assert not added and not changed, (
            f"expected a refused request to store nothing; added {added}, changed {changed}")
        assert conversation_count(self.data) == self.conversations, "expected no new conversation"


@pytest.fixture
def session(http) -> dict[str, Any]:
    """A fresh conversation of site demo."""
    return http.session()


@pytest.fixture
def unchanged(data, session) -> Iterator[Unchanged]:
    """The table as it stood before the test's request; checked again after the test."""
    snap = Unchanged(data)
    yield snap
    snap.check()


def _auth(session: dict[str, Any], token: str | None = None, origin: str | None = ORIGIN) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token or session['token']}"}
    if origin:
        headers["Origin"] = origin
    return headers


def _send_body(session: dict[str, Any], **override: Any) -> dict[str, Any]:
    body = {"conversation_id": session["conversation_id"], "text": "How much does it cost?",
            "client_message_id": "c-1", **override}
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


def _secret() -> str:
    from ..fakes import fake_settings_env

    return fake_settings_env()["PARLEY_TOKEN_SECRET"]


# -- bodies that are not a JSON object ------------------------------------------------


@pytest.mark.parametrize("raw", ["{not json", "{\"site_key\": \"demo\",}", "\xff\xfe"],
                         ids=["garbage", "trailing_comma", "not_utf8"])
def test_init_with_invalid_json_body_is_400_invalid_json(http, data, unchanged, raw):
    resp = http.post(INIT, raw.encode("latin-1"), {"Origin": ORIGIN}, raw=True)

    assert_error(resp, 400, "invalid_json")
    unchanged.check()


@pytest.mark.parametrize("raw", ["{not json", "{\"text\": \"hi\",}"], ids=["garbage", "trailing_comma"])
def test_send_with_invalid_json_body_is_400_invalid_json(http, data, session, unchanged, raw):
    resp = http.post(SEND, raw, _auth(session), raw=True)

    assert_error(resp, 400, "invalid_json")
    assert stored_messages(data, session["conversation_id"]) == []


def test_init_with_empty_body_is_400_invalid_json(http, unchanged):
    resp = http.post(INIT, "", {"Origin": ORIGIN}, raw=True)

    assert_error(resp, 400, "invalid_json")


def test_send_with_empty_body_is_400_invalid_json(http, data, session, unchanged):
    resp = http.post(SEND, "", _auth(session), raw=True)

    assert_error(resp, 400, "invalid_json")
    assert stored_messages(data, session["conversation_id"]) == []


@pytest.mark.parametrize("body", [["demo"], "demo", 42, None], ids=["array", "string", "number", "null"])
def test_init_with_a_json_body_that_is_not_an_object_is_400(http, unchanged, body):
    resp = http.post(INIT, body, {"Origin": ORIGIN})

    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize("body", [[{"text": "hi"}], "hi", 42, None], ids=["array", "string", "number", "null"])
def test_send_with_a_json_body_that_is_not_an_object_is_400(http, data, session, unchanged, body):
    resp = http.post(SEND, body, _auth(session))

    assert_error(resp, 400, "invalid_request")
    assert stored_messages(data, session["conversation_id"]) == []


# -- missing fields and wrong types ---------------------------------------------------


@pytest.mark.parametrize("field", ["conversation_id", "text", "client_message_id"])
def test_send_with_a_missing_field_is_400_naming_it(http, data, session, unchanged, field):
    resp = http.post(SEND, _send_body(session, **{field: _DROP}), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert field in error["message"], f"expected the message to name {field!r}: {error['message']}"
    assert stored_messages(data, session["conversation_id"]) == []


def test_init_without_site_key_is_400(http, unchanged):
    resp = http.post(INIT, {"locale": "en"}, {"Origin": ORIGIN})

    error = assert_error(resp, 400, "invalid_request")
    assert "site_key" in error["message"], error["message"]


@pytest.mark.parametrize("field,value", [("text", 123), ("client_message_id", 5), ("conversation_id", [])],
                         ids=["text_123", "client_message_id_5", "conversation_id_list"])
def test_send_with_a_field_of_the_wrong_type_is_400_naming_it(http, data, session, unchanged, field, value):
    resp = http.post(SEND, _send_body(session, **{field: value}), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert field in error["message"], f"expected the message to name {field!r}: {error['message']}"
    assert stored_messages(data, session["conversation_id"]) == []


def test_init_with_site_key_of_the_wrong_type_is_400(http, unchanged):
    resp = http.post(INIT, {"site_key": 7}, {"Origin": ORIGIN})

    error = assert_error(resp, 400, "invalid_request")
    assert "site_key" in error["message"], error["message"]


def test_init_with_malformed_site_key_is_400(http, unchanged):
    resp = http.post(INIT, {"site_key": "demo/../x"}, {"Origin": ORIGIN})

    assert_error(resp, 400, "invalid_request")


# -- text and client_message_id limits ------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", " \t\n  "], ids=["empty", "space", "whitespace_only"])
def test_send_with_empty_or_blank_text_is_400(http, data, session, unchanged, text):
    resp = http.post(SEND, _send_body(session, text=text), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert "text" in error["message"], error["message"]
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_text_over_4000_characters_is_400(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session, text="a" * (MAX_TEXT + 1)), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert "text" in error["message"], error["message"]
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_text_of_exactly_4000_characters_is_accepted(http, data, session):
    assert MAX_TEXT == 4000
    text = ("word " * 800)[:MAX_TEXT - 1] + "?"
    assert len(text) == 4000

    resp = http.post(SEND, _send_body(session, text=text), _auth(session))

    assert resp.status_code == 201, f"expected 4000 characters to be accepted, got {resp.status_code}: {resp.body}"
    stored = stored_messages(data, session["conversation_id"])
    assert stored[0]["text"] == text, "the 4000-character text should be stored whole"


def test_send_without_client_message_id_is_400(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session, client_message_id=_DROP), _auth(session))

    assert_error(resp, 400, "invalid_request")
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_empty_client_message_id_is_400(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session, client_message_id=""), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert "client_message_id" in error["message"], error["message"]
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_client_message_id_over_64_characters_is_400(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session, client_message_id="x" * 65), _auth(session))

    error = assert_error(resp, 400, "invalid_request")
    assert "client_message_id" in error["message"], error["message"]
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_client_message_id_of_exactly_64_characters_is_accepted(http, data, session):
    cmid = "x" * 64

    resp = http.post(SEND, _send_body(session, client_message_id=cmid), _auth(session))

    assert resp.status_code == 201, f"expected a 64-character id to be accepted, got {resp.status_code}: {resp.body}"
    assert stored_messages(data, session["conversation_id"])[0]["client_message_id"] == cmid


# -- unknown site ---------------------------------------------------------------------


def test_config_for_an_unknown_site_key_is_404_unknown_site(http, unchanged):
    resp = http.get("/api/chatbot/config?site_key=no-such-site", {"Origin": ORIGIN})

    assert_error(resp, 404, "unknown_site")


def test_init_for_an_unknown_site_key_is_404_unknown_site(http, unchanged):
    resp = http.init(site_key="no-such-site")

    assert_error(resp, 404, "unknown_site")


def test_preflight_for_an_unknown_site_key_is_404_unknown_site(client, unchanged):
    resp = client.http.request("OPTIONS", "/api/chatbot/init?site_key=no-such-site", headers={"Origin": ORIGIN})

    assert_error(resp, 404, "unknown_site")


def test_config_without_site_key_is_400(http, unchanged):
    resp = http.get("/api/chatbot/config", {"Origin": ORIGIN})

    assert_error(resp, 400, "invalid_request")


# -- origin not listed ----------------------------------------------------------------


def _assert_no_allow_origin(resp: Any) -> None:
    assert _header(resp, "Access-Control-Allow-Origin") is None, (
        f"expected no Access-Control-Allow-Origin for an unlisted origin, headers were {dict(resp.headers)}")


def test_config_from_an_unlisted_origin_is_403_without_allow_origin(http, unchanged):
    resp = http.get("/api/chatbot/config?site_key=demo", {"Origin": OTHER_ORIGIN})

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


@pytest.mark.parametrize("query", ["", "?site_key=demo"], ids=["plain", "widget_site_key"])
def test_init_from_an_unlisted_origin_is_403_without_allow_origin(http, unchanged, query):
    resp = http.post(INIT + query, {"site_key": "demo"}, {"Origin": OTHER_ORIGIN})

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


@pytest.mark.parametrize("query", ["", "?site_key=demo"], ids=["plain", "widget_site_key"])
def test_send_from_an_unlisted_origin_is_403_without_allow_origin(http, data, session, unchanged, query):
    resp = http.post(SEND + query, _send_body(session), _auth(session, origin=OTHER_ORIGIN))

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)
    assert stored_messages(data, session["conversation_id"]) == []


@pytest.mark.parametrize("query", ["", "&site_key=demo"], ids=["plain", "widget_site_key"])
def test_messages_from_an_unlisted_origin_is_403_without_allow_origin(http, session, unchanged, query):
    resp = http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}&after=0{query}",
                    _auth(session, origin=OTHER_ORIGIN))

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


@pytest.mark.parametrize("path", ["/api/chatbot/init?site_key=demo", "/api/chatbot/send?site_key=demo"],
                         ids=["site_key_demo", "site_key_demo_send"])
def test_preflight_from_an_origin_the_site_does_not_list_is_403_without_allow_origin(client, unchanged, path):
    # OTHER_ORIGIN is listed by site "other", but not by "demo".
    resp = client.http.request("OPTIONS", path, headers={"Origin": OTHER_ORIGIN})

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


@pytest.mark.parametrize("route", ["init", "send", "messages"])
def test_403_to_an_unlisted_origin_has_no_allow_origin_even_when_the_query_names_a_site_listing_it(
        http, data, session, unchanged, route):
    # OTHER_ORIGIN is listed by site "other", not by "demo", whose resources it asks for.
    # A query parameter the caller chooses must not decide CORS for another site's refusal.
    headers = _auth(session, origin=OTHER_ORIGIN)
    if route == "init":
        resp = http.post(INIT + "?site_key=other", {"site_key": "demo"}, {"Origin": OTHER_ORIGIN})
    elif route == "send":
        resp = http.post(SEND + "?site_key=other", _send_body(session), headers)
    else:
        resp = http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}"
                        "&after=0&site_key=other", headers)

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


def test_preflight_without_site_key_from_an_origin_no_site_lists_is_403_without_allow_origin(client, unchanged):
    resp = client.http.request("OPTIONS", "/api/chatbot/init", headers={"Origin": "https://nobody.example"})

    assert_error(resp, 403, "origin_not_allowed")
    _assert_no_allow_origin(resp)


def test_preflight_without_origin_header_is_400(client, unchanged):
    resp = client.http.request("OPTIONS", "/api/chatbot/init?site_key=demo", headers={})

    assert_error(resp, 400, "missing_origin")


# -- tokens on send -------------------------------------------------------------------


def _forged(token: str) -> str:
    """The same token with one signature character changed."""
    head, _, signature = token.rpartition(".")
    swapped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{swapped}"


def _expired(session: dict[str, Any]) -> str:
    return tokens.issue(_secret(), session["conversation_id"], "demo", 60, now=time.time() - 3600)


def _signed_with_another_key(session: dict[str, Any]) -> str:
    return tokens.issue("another-secret-another-secret-0123456", session["conversation_id"], "demo", 3600)


def test_send_without_token_is_401(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), {"Origin": ORIGIN})

    assert_error(resp, 401, "missing_token")
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_non_bearer_authorization_is_401(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), {"Origin": ORIGIN, "Authorization": f"Basic {session['token']}"})

    assert_error(resp, 401, "missing_token")


def test_send_with_forged_signature_is_401(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), _auth(session, token=_forged(session["token"])))

    assert_error(resp, 401, "invalid_token")
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_token_signed_by_another_key_is_401(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), _auth(session, token=_signed_with_another_key(session)))

    assert_error(resp, 401, "invalid_token")


def test_send_with_garbage_token_is_401(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), _auth(session, token="not-a-token"))

    assert_error(resp, 401, "invalid_token")


def test_send_with_expired_token_is_401_token_expired(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session), _auth(session, token=_expired(session)))

    assert_error(resp, 401, "token_expired")
    assert stored_messages(data, session["conversation_id"]) == []


def test_send_with_token_of_another_conversation_is_403(http, data, session):
    other = http.session()
    before = Unchanged(data)

    resp = http.post(SEND, _send_body(session), _auth(session, token=other["token"]))

    assert_error(resp, 403, "conversation_mismatch")
    before.check()
    assert stored_messages(data, session["conversation_id"]) == []
    assert stored_messages(data, other["conversation_id"]) == []


def test_send_to_a_conversation_id_that_does_not_match_the_token_is_403(http, data, session, unchanged):
    resp = http.post(SEND, _send_body(session, conversation_id="not-my-conversation"), _auth(session))

    assert_error(resp, 403, "conversation_mismatch")
    assert stored_messages(data, session["conversation_id"]) == []


# -- tokens on messages ---------------------------------------------------------------


def _poll(http, session: dict[str, Any], headers: dict[str, str], query: str = "after=0"):
    return http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}&{query}", headers)


def test_messages_without_token_is_401(http, session, unchanged):
    assert_error(_poll(http, session, {"Origin": ORIGIN}), 401, "missing_token")


def test_messages_with_forged_signature_is_401(http, session, unchanged):
    assert_error(_poll(http, session, _auth(session, token=_forged(session["token"]))), 401, "invalid_token")


def test_messages_with_expired_token_is_401_token_expired(http, session, unchanged):
    assert_error(_poll(http, session, _auth(session, token=_expired(session))), 401, "token_expired")


def test_messages_with_token_of_another_conversation_is_403(http, data, session):
    other = http.session()
    before = Unchanged(data)

    resp = _poll(http, session, _auth(session, token=other["token"]))

    assert_error(resp, 403, "conversation_mismatch")
    before.check()


def test_messages_for_a_conversation_id_that_does_not_match_the_token_is_403(http, session, unchanged):
    resp = http.get("/api/chatbot/messages?conversation_id=not-my-conversation&after=0", _auth(session))

    assert_error(resp, 403, "conversation_mismatch")


def test_messages_without_conversation_id_is_400(http, session, unchanged):
    resp = http.get("/api/chatbot/messages?after=0", _auth(session))

    assert_error(resp, 400, "invalid_request")


# -- tokens on init (resume) ----------------------------------------------------------


def test_resume_with_forged_token_is_401(http, session, unchanged):
    resp = http.init(conversation_id=session["conversation_id"], token=_forged(session["token"]))

    assert_error(resp, 401, "invalid_token")


def test_resume_with_expired_token_is_401_token_expired(http, session, unchanged):
    resp = http.init(conversation_id=session["conversation_id"], token=_expired(session))

    assert_error(resp, 401, "token_expired")


def test_resume_with_token_of_another_conversation_is_403(http, data, session):
    other = http.session()
    before = Unchanged(data)

    resp = http.init(conversation_id=session["conversation_id"], token=other["token"])

    assert_error(resp, 403, "conversation_mismatch")
    before.check()


def test_resume_of_a_conversation_id_that_does_not_match_the_token_is_403(http, session, unchanged):
    resp = http.init(conversation_id="not-my-conversation", token=session["token"])

    assert_error(resp, 403, "conversation_mismatch")


def test_resume_with_token_of_another_site_is_403(http, session, unchanged):
    token = tokens.issue(_secret(), session["conversation_id"], "other", 3600)

    resp = http.init(conversation_id=session["conversation_id"], token=token)

    assert_error(resp, 403, "site_mismatch")


@pytest.mark.parametrize("only", ["conversation_id", "token"])
def test_resume_with_only_one_of_conversation_id_and_token_is_400(http, session, unchanged, only):
    resp = http.init(**{only: session[only]})

    assert_error(resp, 400, "invalid_request")


# -- messages query -------------------------------------------------------------------


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "after=1.5", "after=", "after=1&before=2",
                                   "before=0", "before=x", "limit=0", "limit=101"],
                         ids=["after_negative", "after_abc", "after_fraction", "after_empty",
                              "after_and_before", "before_zero", "before_text", "limit_zero", "limit_over_100"])
def test_messages_with_a_bad_query_is_400(http, session, unchanged, query):
    resp = _poll(http, session, _auth(session), query)

    error = assert_error(resp, 400, "invalid_request")
    # "after=1&before=2" is bad as a pair: its message names both.
    names = [part.split("=")[0] for part in query.split("&")]
    assert all(name in error["message"] for name in names), (
        f"expected the message to name the bad parameter(s) {names}: {error['message']}")


# -- routes, methods, media types -----------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/api/chatbot/nope"), ("GET", "/a/b/c/d"),
                                         ("GET", "/"), ("GET", "/api/chatbot/config/extra")],
                         ids=["get_nope", "post_chatbot_nope", "four_deep", "root", "below_a_route"])
def test_unknown_route_is_json_404_route_not_found(client, unchanged, method, path):
    resp = client.http.request(method, path, body=b"{}" if method == "POST" else b"",
                               headers={"Content-Type": "application/json", "Origin": ORIGIN})

    assert_error(resp, 404, "route_not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/api/chatbot/send", "POST"),
    ("POST", "/api/chatbot/config", "GET"),
    ("DELETE", "/api/chatbot/init", "POST"),
    ("PUT", "/api/chatbot/messages", "GET"),
], ids=["get_send", "post_config", "delete_init", "put_messages"])
def test_wrong_method_is_json_405_with_allow_header(client, unchanged, method, path, allowed):
    resp = client.http.request(method, path, body=b"{}" if method in ("POST", "PUT") else b"",
                               headers={"Content-Type": "application/json", "Origin": ORIGIN})

    assert_error(resp, 405, "method_not_allowed")
    allow = {m.strip() for m in (_header(resp, "Allow") or "").split(",") if m.strip()}
    assert allowed in allow, f"expected an Allow header naming {allowed}, got {_header(resp, 'Allow')!r}"
    assert method not in allow, f"Allow should not offer the refused {method}: {allow}"


@pytest.mark.parametrize("content_type", ["application/xml", "application/x-www-form-urlencoded"])
def test_send_with_unsupported_content_type_is_415(client, data, session, unchanged, content_type):
    resp = client.http.post(SEND, body=json.dumps(_send_body(session)).encode(), headers={
        "Content-Type": content_type, **_auth(session)})

    assert_error(resp, 415, "unsupported_media_type")
    assert stored_messages(data, session["conversation_id"]) == []


def test_init_with_unsupported_content_type_is_415(client, unchanged):
    resp = client.http.post(INIT, body=b"<init site_key='demo'/>", headers={
        "Content-Type": "application/xml", "Origin": ORIGIN})

    assert_error(resp, 415, "unsupported_media_type")


# -- bounded input (issue 11, deliverable 3) ---------------------------------------------


@pytest.mark.parametrize("text", ["\u200b", "\u202e\u200b\ufeff", " \u200d \n", "\u2060\u00ad"])
def test_text_of_only_invisible_characters_is_refused_like_whitespace(http, data, text):
    session = http.session()
    resp = http.post(SEND, _send_body(session, text=text), _auth(session))
    assert_error(resp, 400, "invalid_request")
    assert stored_messages(data, session["conversation_id"]) == [], "nothing stored"


@pytest.mark.parametrize("text", ["a\x00b", "bell\x07", "esc\x1b[31m", "cr\rlf", "c1\x85"])
def test_control_characters_in_text_are_refused_and_nothing_is_stored(http, data, text):
    session = http.session()
    resp = http.post(SEND, _send_body(session, text=text), _auth(session))
    error = assert_error(resp, 400, "invalid_request")
    assert "control characters" in error["message"]
    assert stored_messages(data, session["conversation_id"]) == []


def test_newlines_tabs_and_visible_unicode_are_kept_as_typed(http, data):
    session = http.session()
    text = "line one\n\tindented \u2014 caf\u00e9 \U0001F600 \u05e9\u05dc\u05d5\u05dd"
    assert http.post(SEND, _send_body(session, text=text), _auth(session)).status_code == 201
    assert stored_messages(data, session["conversation_id"])[0]["text"] == text


@pytest.mark.parametrize("extra", [
    {"locale": "en" + "-abcdefgh" * 44_000},          # the 396,002-character locale that was stored
    {"locale": "en-" + "x" * 40},
    {"visitor": {"name": "Ann\x00"}},
    {"visitor": {"na\x1bme": "Ann"}},
    {"page": "https://example.com/\x07"},
    {"page": "https://example.com/" + "a" * 2000},
])
def test_init_refuses_unbounded_or_control_laden_visitor_facts_and_stores_nothing(http, data, extra):
    before = data.table.client.scan(TableName=data.table.name, Select="COUNT")["Count"]  # test-only count
    resp = http.post(INIT, {"site_key": "demo", **extra}, {"Origin": ORIGIN})
    assert_error(resp, 400, "invalid_request")
    assert data.table.client.scan(TableName=data.table.name, Select="COUNT")["Count"] == before


def test_the_largest_acceptable_conversation_record_is_far_below_dynamodbs_item_limit(http, data):
    """Every stored field is capped; the largest init the caps allow still makes a small item."""
    visitor = {f"k{i:02d}" + "x" * 60: "\U0001F600" * 256 for i in range(20)}
    resp = http.post(INIT, {"site_key": "demo", "visitor": visitor, "locale": "zh-Hant-TW",
                            "page": "https://example.com/" + "\u00e9" * 1970},
                     {"Origin": ORIGIN, "User-Agent": "U" * 5000})
    assert resp.status_code == 201, resp.body
    item = data.table.client.get_item(TableName=data.table.name, Key=data.table.key(
        f"CONV#{resp.json_body['conversation_id']}", "STATE"))["Item"]
    size = len(json.dumps(item, ensure_ascii=False).encode("utf-8"))  # more than DynamoDB counts
    assert size < 100_000, f"the record is {size} bytes: too close to DynamoDB's 400 KB item limit"
    assert len(item["user_agent"]["S"]) == 512, "the user agent is cut to its cap"


def test_polling_past_the_last_message_reports_the_real_last_seq_not_the_askers(http):
    session = http.session()
    http.send(session)
    resp = http.poll(session, "after=999")
    assert resp.status_code == 200
    assert resp.json_body == {"messages": [], "last_seq": 2, "has_more": False}, (
        "last_seq is the highest seq that exists, not an echo of after")
