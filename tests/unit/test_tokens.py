"""Visitor tokens: signed, expiring, bound to one conversation, checked without I/O."""
from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from typing import Iterator

import pytest

from chalicelib import tokens
from chalicelib.errors import ParleyError


@contextmanager
def refused(status: int) -> Iterator[pytest.ExceptionInfo]:
    """Expects a ParleyError with this HTTP status (401: who is asking is not proven)."""
    with pytest.raises(ParleyError) as err:
        yield err
    assert err.value.status == status, f"expected a {status}, got {err.value.status} {err.value.code}"


SECRET = "s" * 40
NOW = 1_800_000_000


def make(conv: str = "c1", site: str = "demo", ttl: int = 3600, secret: str = SECRET) -> str:
    return tokens.issue(secret, conv, site, ttl, now=NOW)


def test_a_fresh_token_verifies_to_its_conversation_site_and_expiry():
    claims = tokens.verify(SECRET, make(), now=NOW + 10)
    assert claims == tokens.VisitorClaims("c1", "demo", NOW + 3600)


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_token_is_unauthorized_as_missing(token):
    with refused(401) as err:
        tokens.verify(SECRET, token, now=NOW)
    assert err.value.code == "missing_token"


def test_a_token_signed_with_another_key_is_refused():
    with refused(401) as err:
        tokens.verify(SECRET, make(secret="x" * 40), now=NOW)
    assert err.value.code == "invalid_token"


def test_a_payload_changed_after_signing_is_refused():
    version, payload, sig = make().split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["c"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with refused(401):
        tokens.verify(SECRET, f"{version}.{forged}.{sig}", now=NOW)


def test_an_expired_token_is_refused_as_expired():
    with refused(401) as err:
        tokens.verify(SECRET, make(ttl=60), now=NOW + 60)
    assert err.value.code == "token_expired"


@pytest.mark.parametrize("token", ["abc", "v1.abc", "v2.a.b", "v1.a.b.c", "v1." + "a" * 2000 + ".b",
                                   "v1.\u00e9\u00e9.\u00e9", "v1.!!!.???"])
def test_malformed_tokens_are_refused_without_an_exception_other_than_unauthorized(token):
    with refused(401):
        tokens.verify(SECRET, token, now=NOW)


def test_a_correctly_signed_payload_that_is_not_json_is_refused():
    part = "v1." + base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    token = f"{part}.{tokens._sign(SECRET, part)}"
    with refused(401) as err:
        tokens.verify(SECRET, token, now=NOW)
    assert err.value.code == "invalid_token"


@pytest.mark.parametrize("header,expected", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
    ("Bearer ", None), (None, None), ("", None)])
def test_bearer_header_parsing(header, expected):
    assert tokens.bearer(header) == expected


def test_a_token_for_another_conversation_is_forbidden():
    claims = tokens.verify(SECRET, make(conv="c1"), now=NOW)
    tokens.require_conversation(claims, "c1")
    with refused(403) as err:
        tokens.require_conversation(claims, "c2")
    assert err.value.code == "conversation_mismatch"


def test_the_origin_init_approved_travels_in_the_token_and_cannot_be_changed():
    token = tokens.issue(SECRET, "c1", "demo", 3600, now=NOW, origin="https://www.acme.example")
    assert tokens.verify(SECRET, token, now=NOW).origin == "https://www.acme.example"
    version, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["o"] = "https://evil.example"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with refused(401):
        tokens.verify(SECRET, f"{version}.{forged}.{sig}", now=NOW)


def test_a_token_without_an_origin_has_none():
    assert tokens.verify(SECRET, make(), now=NOW).origin is None


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"c1"', b'{"c": "c1", "s": "demo", "e": Infinity}',
                                     b'{"c": "c1", "s": "demo", "e": NaN}', b'{"c": "c1", "s": "demo", "e": "soon"}'])
def test_a_correctly_signed_payload_of_the_wrong_shape_is_invalid_not_a_crash(payload):
    part = "v1." + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    with refused(401) as err:
        tokens.verify(SECRET, f"{part}.{tokens._sign(SECRET, part)}", now=NOW)
    assert err.value.code == "invalid_token"


def _signed(payload: dict) -> str:
    part = "v1." + base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{part}.{tokens._sign(SECRET, part)}"


def test_a_token_carries_its_conversations_token_version():
    token = tokens.issue(SECRET, "c1", "demo", 3600, now=NOW, version=7)
    assert tokens.verify(SECRET, token, now=NOW).version == 7
    assert tokens.verify(SECRET, make(), now=NOW).version == 0, "a new conversation's tokens are version 0"


def test_a_token_from_before_versions_is_version_0():
    claims = tokens.verify(SECRET, _signed({"c": "c1", "s": "demo", "e": NOW + 60}), now=NOW)
    assert claims == tokens.VisitorClaims("c1", "demo", NOW + 60, None, 0)


@pytest.mark.parametrize("version", [-1, "1", 1.5, True, None, 2 ** 53])
def test_a_signed_token_with_a_version_that_is_no_version_is_refused(version):
    with refused(401) as err:
        tokens.verify(SECRET, _signed({"c": "c1", "s": "demo", "e": NOW + 60, "v": version}), now=NOW)
    assert err.value.code == "invalid_token"
