"""The OpenAPI document (chalicelib/openapi.py): valid OpenAPI 3.1, complete, and true of real answers.

Every route of app.py must be in the document and every operation of the
document in app.py: a route added without a line in ``chalicelib.openapi.ROUTES``
fails here. Real answers of the main flows, errors included, are checked
against the documented schema of their status, with every documented object
*closed* (``additionalProperties: false``), so a field an answer grows that
the document does not name fails too. tests/e2e/test_schemathesis.py fuzzes
the same document against the local stack.
"""
from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from chalicelib import openapi

from .conftest import ORIGIN
from .test_agent_api import Desk

DOC_URI = "urn:parley:openapi"
# Chalice's own routes that are no API operations: CORS preflights (any route's
# OPTIONS) and the catch-alls that answer our JSON 404 for unknown paths.
UNDOCUMENTED = re.compile(r"^(preflight_|not_found_)")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return copy.deepcopy(openapi.document())


def _closed(schema: Any) -> Any:
    """Every object with named properties and no word on others allows no others."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema and schema.get("type") == "object":
            schema["additionalProperties"] = False
        for value in schema.values():
            _closed(value)
    elif isinstance(schema, list):
        for value in schema:
            _closed(value)
    return schema


class Contract:
    """Checks a chalice.test.Client answer against the document's operation for it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = {**copy.deepcopy(document), "$id": DOC_URI}
        _closed(self.doc["components"]["schemas"])
        self.registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(self.doc))
        self.seen: set[tuple[str, str, int]] = set()

    def response_of(self, method: str, path: str, status: int) -> dict[str, Any]:
        operation = self.doc["paths"][path][method.lower()]
        assert str(status) in operation["responses"], (
            f"{method} {path} answered {status}, which the document does not list "
            f"(it lists {sorted(operation['responses'])})")
        response = operation["responses"][str(status)]
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response

    def check(self, resp, method: str, path: str) -> Any:
        response = self.response_of(method, path, resp.status_code)
        headers = {k.lower(): v for k, v in resp.headers.items()}
        content_type = headers.get("content-type", "").split(";")[0].strip()
        assert content_type in response["content"], f"{method} {path}: content type {content_type!r} not documented"
        for name, header in response.get("headers", {}).items():
            if header.get("$ref"):
                header = self.doc["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
            if header.get("required"):
                assert name.lower() in headers, f"{method} {path} {resp.status_code}: header {name} is documented"
        listed = self.doc["paths"][path][method.lower()]["responses"][str(resp.status_code)]
        pointer = (f"#/components/responses/{listed['$ref'].rsplit('/', 1)[1]}" if "$ref" in listed
                   else f"#/paths/{_escape(path)}/{method.lower()}/responses/{resp.status_code}")
        schema = {"$ref": f"{DOC_URI}{pointer}/content/{_escape(content_type)}/schema"}
        errors = sorted(Draft202012Validator(schema, registry=self.registry).iter_errors(resp.json_body),
                        key=lambda e: list(e.absolute_path))
        assert not errors, (f"{method} {path} {resp.status_code} does not match the document: "
                            + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]))
        self.seen.add((method, path, resp.status_code))
        return resp.json_body


def _escape(part: str) -> str:
    """A JSON pointer token, percent-encoded for use in a URI fragment."""
    return part.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")


@pytest.fixture
def contract(document) -> Contract:
    return Contract(document)


# -- the document itself ----------------------------------------------------------------


def test_the_document_is_served_public_cacheable_and_valid_openapi_3_1(http, document):
    resp = http.get("/api/openapi.json")
    assert resp.status_code == 200, resp.body
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "max-age" in resp.headers.get("Cache-Control", ""), "the document should be cacheable"
    assert resp.headers.get("Access-Control-Allow-Origin") == "*", "any page may read the document"
    served = resp.json_body
    assert served == document
    assert served["openapi"].startswith("3.1")
    errors = [f"{list(e.path)}: {e.message}" for e in OpenAPIV31SpecValidator(served).iter_errors()]
    assert not errors, "the document is not valid OpenAPI 3.1:\n" + "\n".join(errors[:10])


def test_every_route_of_the_app_is_documented_and_every_documented_operation_is_a_route(document):
    import app

    routes = {(method, path) for path, methods in app.app.routes.items()
              for method, entry in methods.items()
              if method != "OPTIONS" and not UNDOCUMENTED.match(entry.view_name)}
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    missing = sorted(routes - documented)
    assert not missing, (f"routes without documentation: {missing}; add an Op for each to "
                         "chalicelib/openapi.py ROUTES")
    extra = sorted(documented - routes)
    assert not extra, f"documented operations app.py has no route for: {extra}"


def test_each_error_status_lists_exactly_the_codes_errors_gives_it(document):
    from chalicelib.errors import ERRORS

    for name, response in document["components"]["responses"].items():
        status = int(name.removeprefix("Error"))
        codes = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        assert set(codes) == {c for c, s in ERRORS.items() if s == status}, name
    assert "Retry-After" in document["components"]["responses"]["Error429"]["headers"]


def test_operation_ids_are_unique_and_links_name_real_operations(document):
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), ids
    for item in document["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids, link


# -- real answers match it ----------------------------------------------------------------


def _visitor(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN}


def test_the_visitor_flow_answers_as_documented(http, contract):
    c = contract
    c.check(http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}), "GET", "/api/chatbot/config")
    session = c.check(http.init(visitor={"name": "Ann"}, locale="en", page="https://example.com/a"),
                      "POST", "/api/chatbot/init")
    sent = c.check(http.send(session), "POST", "/api/chatbot/send")
    assert sent["reply"] is not None, "the demo bot answers a price question"
    c.check(http.send(session), "POST", "/api/chatbot/send")  # the duplicate
    unsure = c.check(http.send(session, text="what does it cost to install", cmid="c-unsure"),
                     "POST", "/api/chatbot/send")
    assert unsure["reply"]["suggestions"], "a near-miss offers the entries that came close"
    c.check(http.poll(session), "GET", "/api/chatbot/messages")
    c.check(http.poll(session, "before=2&limit=1"), "GET", "/api/chatbot/messages")
    handoff = c.check(http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]},
                                _visitor(session)), "POST", "/api/chatbot/handoff")
    assert handoff["message"]["event"]["type"] == "status"
    c.check(http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]}, _visitor(session)),
            "POST", "/api/chatbot/handoff")  # nothing changes: message null
    c.check(http.post("/api/chatbot/typing", {"conversation_id": session["conversation_id"]}, _visitor(session)),
            "POST", "/api/chatbot/typing")
    resumed = c.check(http.init(conversation_id=session["conversation_id"], token=session["token"]),
                      "POST", "/api/chatbot/init")
    assert resumed["resumed"] and resumed["messages"], "a resume returns the history"


def test_visitor_errors_answer_as_documented(http, contract):
    c = contract
    session = http.session()
    c.check(http.get("/api/chatbot/config?site_key=nope", {"Origin": ORIGIN}), "GET", "/api/chatbot/config")
    c.check(http.get("/api/chatbot/config?site_key=demo", {"Origin": "https://evil.example"}),
            "GET", "/api/chatbot/config")
    c.check(http.post("/api/chatbot/init", "{", {"Origin": ORIGIN}, raw=True), "POST", "/api/chatbot/init")
    c.check(http.c.http.post("/api/chatbot/init", body="<x/>", headers={"Content-Type": "application/xml"}),
            "POST", "/api/chatbot/init")
    c.check(http.send(session, text=""), "POST", "/api/chatbot/send")
    c.check(http.send(session, token="v1.bad.token"), "POST", "/api/chatbot/send")
    c.check(http.send(session, conversation_id="someone-else"), "POST", "/api/chatbot/send")
    c.check(http.send(session, cmid="c-9", text="first"), "POST", "/api/chatbot/send")
    c.check(http.send(session, cmid="c-9", text="other words"), "POST", "/api/chatbot/send")  # 409
    c.check(http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}&after=x",
                     _visitor(session)), "GET", "/api/chatbot/messages")
    c.check(http.get(f"/api/chatbot/messages?conversation_id={session['conversation_id']}"),
            "GET", "/api/chatbot/messages")  # 401
    c.check(http.post("/api/chatbot/pusher/auth", {"socket_id": "1.2", "channel_name": "x"}, _visitor(session)),
            "POST", "/api/chatbot/pusher/auth")  # 404 pusher_disabled: polling only here
    assert {s for _, _, s in c.seen} >= {400, 401, 403, 404, 409, 415}


def test_a_rate_limited_answer_is_documented_with_retry_after(make_root, http, contract):
    make_root({"PARLEY_RATE_LIMITS": "conversations=1/60"})
    contract.check(http.init(), "POST", "/api/chatbot/init")
    limited = contract.check(http.init(), "POST", "/api/chatbot/init")
    assert limited["error"]["code"] == "rate_limited"


def test_the_agent_flow_answers_as_documented(http, make_root, data, contract):
    desk = Desk(http, make_root, data)
    c, base = contract, "/api/agent/sites/{site_key}"
    conv = base + "/conversations/{conversation_id}"
    session = desk.waiting()
    cid = session["conversation_id"]
    # Pusher is on here: the visitor's channel auth too.
    c.check(http.post("/api/chatbot/pusher/auth",
                      {"socket_id": "123.456", "channel_name": f"private-chat.conversation.{cid}"},
                      _visitor(session)), "POST", "/api/chatbot/pusher/auth")
    c.check(http.c.http.post("/api/chatbot/pusher/auth", body=f"socket_id=1.2&channel_name=private-chat.conversation.{cid}",
                             headers={**_visitor(session), "Content-Type": "application/x-www-form-urlencoded"}),
            "POST", "/api/chatbot/pusher/auth")
    c.check(desk.get("/me"), "GET", "/api/agent/me")
    inbox = c.check(desk.get("/sites/demo/inbox?status=pending&limit=1"), "GET", base + "/inbox")
    assert inbox["conversations"][0]["last_message"] is not None
    c.check(desk.get("/sites/demo/members"), "GET", base + "/members")
    c.check(desk.get(desk.conv(cid)), "GET", conv)
    c.check(desk.get(desk.conv(cid, "/messages?after=0&limit=2")), "GET", conv + "/messages")
    c.check(desk.post(desk.conv(cid, "/messages"), {"text": "Hi, Ana here", "client_message_id": "a-1"}),
            "POST", conv + "/messages")
    c.check(desk.post(desk.conv(cid, "/claim")), "POST", conv + "/claim")  # already mine: message null
    c.check(desk.post(desk.conv(cid, "/read"), {"seq": 1}), "POST", conv + "/read")
    c.check(desk.post(desk.conv(cid, "/typing"), {}), "POST", conv + "/typing")
    c.check(desk.post(desk.conv(cid, "/assign"), {"agent_id": "boss-sub"}), "POST", conv + "/assign")
    c.check(desk.post(desk.conv(cid, "/unassign"), who="boss"), "POST", conv + "/unassign")
    c.check(desk.post(desk.conv(cid, "/resolve")), "POST", conv + "/resolve")
    c.check(desk.post(desk.conv(cid, "/reopen")), "POST", conv + "/reopen")
    c.check(desk.post(desk.conv(cid, "/handback")), "POST", conv + "/handback")
    c.check(desk.get("/sites/demo/inbox?status=bot"), "GET", base + "/inbox")
    c.check(desk.post("/pusher/auth", {"socket_id": "1.2", "channel_name": "private-agent.site.demo"}),
            "POST", "/api/agent/pusher/auth")
    # errors
    c.check(desk.get("/me", token="not-a-jwt"), "GET", "/api/agent/me")
    c.check(desk.get("/sites/other/inbox"), "GET", base + "/inbox")  # 403 not_a_member
    c.check(desk.get(desk.conv("nope")), "GET", conv)  # 404
    c.check(desk.get("/sites/demo/inbox?limit=0"), "GET", base + "/inbox")  # 400
    c.check(desk.post(desk.conv(cid, "/reopen")), "POST", conv + "/reopen")  # 409 invalid_transition
    c.check(desk.post(desk.conv(cid, "/read"), "{"), "POST", conv + "/read")  # 400 invalid_json
    assert {s for _, _, s in c.seen} >= {200, 201, 202, 400, 401, 403, 404, 409}
