"""Schemathesis fuzzes the local stack against the API's own OpenAPI document (GET /api/openapi.json).

Every operation gets a bounded number of generated requests (valid and
invalid), with what a real caller has: the demo site's allowed ``Origin``, a
visitor token from ``init`` for the visitor routes (and that token's
conversation in the body or query), the demo agent's Cognito ID token and a
real conversation for the agent routes. A stateful run then follows the
document's links from ``init`` (send, poll, ask for a person, typing, Pusher
auth, resume) with the ids and token each ``init`` answered.

Checks: no 5xx (503 neither: nothing here is busy), the status is one the
document lists for the operation, the content type and the body match it,
and documented headers (``Retry-After`` on a 429) are there. The stack runs
with PARLEY_RATE_LIMITS=UNLIMITED (tests/e2e/conftest.py), so fuzzing is not
throttled; the 429s themselves are checked in tests/functional/test_openapi.py.

Bounded: ``MAX_EXAMPLES`` per operation, derandomized (the same requests every
run), and a time budget after which the remaining examples are skipped (a
note says so), so the module stays well under two minutes on two cores.
"""
from __future__ import annotations

import os
import time
import zlib
from collections import Counter
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from chalicelib import openapi

from .conftest import LocalStack
from .test_agent_signin import sign_in

pytestmark = pytest.mark.e2e

# PARLEY_FUZZ_EXAMPLES=200 PARLEY_FUZZ_BUDGET=600 digs deeper by hand; make test keeps the defaults.
MAX_EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "20"))
BUDGET_SECONDS = float(os.environ.get("PARLEY_FUZZ_BUDGET", "75"))  # all per-operation runs together
STATEFUL_BUDGET_SECONDS = 30.0
ANSWERED: dict[str, Counter] = {}  # operation -> status -> how often, for the summary test
REQUEST_TIMEOUT = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.start, self.skipped = seconds, time.monotonic(), 0

    def spent(self) -> bool:
        if time.monotonic() - self.start > self.seconds:
            self.skipped += 1
            return True
        return False


def _mostly(value: Any) -> bool:
    """True for about three generated values in four (stable across runs: crc32, not hash())."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


class Caller:
    """What a real caller of the stack has: origins, a visitor session, the agent's token, a conversation."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.session = self.init()
        agent = sign_in(stack)
        self.agent_token = agent["IdToken"]
        self.agent_id = jwt.decode(self.agent_token, options={"verify_signature": False})["sub"]
        waiting = self.init()
        bearer = {"Authorization": f"Bearer {waiting['token']}", "Origin": stack.demo_origin}
        requests.post(f"{stack.api}/api/chatbot/send", json={"conversation_id": waiting["conversation_id"],
                      "text": "Hello", "client_message_id": "st-1"}, headers=bearer, timeout=REQUEST_TIMEOUT)
        requests.post(f"{stack.api}/api/chatbot/handoff", json={"conversation_id": waiting["conversation_id"]},
                      headers=bearer, timeout=REQUEST_TIMEOUT)
        self.agent_conversation = waiting["conversation_id"]

    def init(self) -> dict[str, Any]:
        resp = requests.post(f"{self.stack.api}/api/chatbot/init", json={"site_key": "demo"},
                             headers={"Origin": self.stack.demo_origin}, timeout=REQUEST_TIMEOUT)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def prepare(self, case) -> dict[str, str]:
        """Fills in what a real caller knows; returns the headers to send."""
        tags = case.operation.tags or []
        headers = {"Origin": self.stack.console_origin if "agent" in tags else self.stack.demo_origin}
        security = case.operation.definition.raw.get("security") or []
        if security == [{"visitorToken": []}]:
            # A DELETE ends its conversation: it gets one of its own, so the shared one lives on.
            session = self.init() if case.method.upper() == "DELETE" else self.session
            headers["Authorization"] = f"Bearer {session['token']}"
            for container in (case.body, case.query):
                if isinstance(container, dict) and "conversation_id" in container and _mostly(container):
                    container["conversation_id"] = session["conversation_id"]
        elif security == [{"agentToken": []}]:
            headers["Authorization"] = f"Bearer {self.agent_token}"
            path = case.path_parameters
            if isinstance(path, dict) and path and _mostly(path):
                if "site_key" in path:
                    path["site_key"] = "demo"
                if "conversation_id" in path:
                    path["conversation_id"] = self.agent_conversation
        body = case.body if isinstance(case.body, dict) else {}
        for container in (body, case.query):
            if isinstance(container, dict) and "site_key" in container and _mostly(container):
                container["site_key"] = "demo"
        if "channel_name" in body and _mostly(body):
            # The channels each kind of caller may have signed: the conversation's, the site's feed.
            body["channel_name"] = ("private-agent.site.demo" if "agent" in tags else
                                    f"private-chat.conversation.{self.session['conversation_id']}")
        if "agent_id" in body and _mostly(body):
            body["agent_id"] = self.agent_id
        return headers


@pytest.fixture(scope="module")
def caller(stack: LocalStack) -> Caller:
    return Caller(stack)


@pytest.fixture(scope="module")
def budget() -> Budget:
    budget = Budget(BUDGET_SECONDS)
    yield budget
    if budget.skipped:
        print(f"\nschemathesis: time budget of {BUDGET_SECONDS:.0f} s spent; {budget.skipped} examples skipped")


# The document as this checkout builds it; the first test proves the stack serves the same one.
# (schemathesis.pytest.from_fixture would load it from the stack, but its lazy parametrization
# reads pytest's private Function._nodeid, gone in pytest 9.2.)
# The coverage phase also sends each path every method it does not document: TRACE and QUERY
# reach only `chalice local`'s own HTML 501 (README: what the local server answers itself;
# API Gateway answers them as any unknown method), and OPTIONS is each route's CORS preflight.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch"]}}})
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


def test_the_stack_serves_this_document(stack: LocalStack):
    resp = requests.get(f"{stack.api}/api/openapi.json", timeout=REQUEST_TIMEOUT)
    assert resp.status_code == 200 and resp.json() == openapi.document(), "the stack should serve this checkout's document"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
def test_every_operation_answers_as_documented(case, caller: Caller, budget: Budget):
    if budget.spent():
        return
    headers = caller.prepare(case)
    response = case.call(base_url=caller.stack.api, headers=headers, timeout=REQUEST_TIMEOUT)
    ANSWERED.setdefault(case.operation.label, Counter())[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


def test_the_fuzzing_reached_every_operation_and_got_past_its_checks(budget: Budget):
    """Each operation answered, and each but the error-only ones at least once with success."""
    summary = {label: dict(sorted(counts.items())) for label, counts in sorted(ANSWERED.items())}
    print("\nschemathesis answers per operation:", *(f"  {k}: {v}" for k, v in summary.items()), sep="\n")
    documented = {f"{m.upper()} {p}" for p, item in openapi.document()["paths"].items() for m in item}
    if budget.skipped:
        pytest.skip(f"the time budget was spent before every operation ran ({budget.skipped} examples skipped)")
    assert documented <= set(ANSWERED), f"operations never called: {sorted(documented - set(ANSWERED))}"
    unsuccessful = sorted(label for label, counts in ANSWERED.items() if not any(200 <= s < 300 for s in counts))
    assert not unsuccessful, f"operations that never got past their checks (auth, origin, body): {unsuccessful}"


def test_the_visitor_flows_from_init_follow_the_documents_links(caller: Caller):
    """init → send / messages / handoff / typing / pusher auth / resume, with init's own id and token."""
    base = schema.include(tag="visitor").as_state_machine()
    budget = Budget(STATEFUL_BUDGET_SECONDS)
    followed: list[str] = []

    class Flows(base):  # type: ignore[misc, valid-type]
        def before_call(self, case) -> None:
            if case.operation.definition.raw.get("operationId") == "init" and isinstance(case.body, dict):
                if "conversation_id" not in case.body or _mostly(case.body):
                    case.body["site_key"] = "demo"  # a site the stack has, so init answers ids to follow

        def get_call_kwargs(self, case) -> dict[str, Any]:
            return {"base_url": caller.stack.api, "headers": {"Origin": caller.stack.demo_origin},
                    "timeout": REQUEST_TIMEOUT}

        def call(self, case, **kwargs: Any):
            if budget.spent():
                pytest.skip("the stateful run's time budget is spent")
            followed.append(case.operation.definition.raw["operationId"])
            return case.call(**kwargs)

        def validate_response(self, response, case, additional_checks=None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    try:
        Flows.run(settings=settings(max_examples=12, stateful_step_count=6, **SETTINGS))
    except pytest.skip.Exception:
        pass
    print("\nstateful run called:", dict(Counter(followed)))
    linked = {"send", "messages", "handoff", "typing", "pusher_auth"}
    assert linked & set(followed), f"the run should follow init's links; it called {sorted(set(followed))}"
