"""The access policy on its own: every decision and refusal, with a fake site store (no I/O)."""
from __future__ import annotations

import pytest

from chalicelib import tokens
from chalicelib.access import NEGATIVE_CACHE_SECONDS, AccessPolicy, SiteDirectory
from chalicelib.errors import ParleyError
from chalicelib.models import Site
from chalicelib.secretstore import Secrets
from chalicelib.settings import load_settings

from ..fakes import FakeClock

SECRET = "k" * 40
SETTINGS = load_settings({"PARLEY_TABLE": "parley-t", "PARLEY_TOKEN_SECRET": SECRET,
                          "PARLEY_SITE_CACHE_SECONDS": "30"})
A, B, EVIL = "https://a.example", "https://b.example", "https://evil.example"


class FakeSites:
    def __init__(self, *sites: Site) -> None:
        self.sites = {s.site_key: s for s in sites}
        self.reads: list[str] = []

    def get(self, site_key):
        self.reads.append(site_key)
        return self.sites.get(site_key)

    def origin_is_listed(self, origin):
        self.reads.append(origin)
        return any(origin in s.origins for s in self.sites.values())


@pytest.fixture
def sites() -> FakeSites:
    return FakeSites(Site("demo", (A, B)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy(sites, clock) -> AccessPolicy:
    return AccessPolicy(SiteDirectory(sites, SETTINGS.site_cache_seconds, clock=clock), Secrets(SETTINGS))


def refused(call) -> tuple[int, str]:
    with pytest.raises(ParleyError) as err:
        call()
    return err.value.status, err.value.code


def token(origin: str | None = A, site: str = "demo") -> str:
    return tokens.issue(SECRET, "c1", site, 600, origin=origin)


def test_a_listed_origin_gets_the_site_and_is_echoed_for_cors(policy):
    decision = policy.for_site("demo", "HTTPS://A.example/")
    assert decision.site.site_key == "demo" and decision.cors_origin == "HTTPS://A.example/"


def test_no_origin_is_no_browser_and_passes_without_cors(policy):
    decision = policy.for_site("demo", None)
    assert decision.site.site_key == "demo" and decision.cors_origin is None


@pytest.mark.parametrize("key,expected", [("nope", (404, "unknown_site")), ("bad key!", (400, "invalid_request")),
                                          (None, (400, "invalid_request")), (7, (400, "invalid_request"))])
def test_a_bad_or_unknown_site_key_is_refused_with_one_status_per_code(policy, key, expected):
    assert refused(lambda: policy.for_site(key, A)) == expected


def test_an_unlisted_origin_is_403(policy):
    assert refused(lambda: policy.for_site("demo", EVIL)) == (403, "origin_not_allowed")


def test_the_token_origin_passes_without_reading_the_site(policy, sites):
    decision = policy.for_token(token(A), A)
    assert decision.claims.conversation_id == "c1" and decision.cors_origin == A
    assert sites.reads == [], "the token's own origin needs no read"


def test_another_origin_of_the_site_passes_after_one_read_and_an_unlisted_one_does_not(policy, sites):
    assert policy.for_token(token(A), B).cors_origin == B
    assert sites.reads == ["demo"]
    assert refused(lambda: policy.for_token(token(A), EVIL)) == (403, "origin_not_allowed")
    assert sites.reads == ["demo"], "the site was cached"


def test_a_token_whose_site_is_gone_is_404_unknown_site_as_everywhere_else(policy):
    assert refused(lambda: policy.for_token(token(A, site="gone"), B)) == (404, "unknown_site")


@pytest.mark.parametrize("bad,code", [(None, "missing_token"), ("v1.x.y", "invalid_token")])
def test_a_missing_or_forged_token_is_401(policy, bad, code):
    assert refused(lambda: policy.for_token(bad, A)) == (401, code)


def test_resume_needs_the_sites_own_token_for_that_conversation(policy):
    demo = Site("demo", (A,))
    assert policy.for_resume(token(), "c1", demo).conversation_id == "c1"
    assert refused(lambda: policy.for_resume(token(site="other"), "c1", demo)) == (403, "site_mismatch")
    assert refused(lambda: policy.for_resume(token(), "c2", demo)) == (403, "conversation_mismatch")


def test_a_preflight_needs_an_origin_and_is_checked_against_the_named_site_or_any(policy):
    assert refused(lambda: policy.for_preflight("demo", None)) == (400, "missing_origin")
    assert policy.for_preflight("demo", A).cors_origin == A
    assert policy.for_preflight(None, B).cors_origin == B
    assert refused(lambda: policy.for_preflight(None, EVIL)) == (403, "origin_not_allowed")
    assert refused(lambda: policy.for_preflight(None, "https://" + "a" * 400)) == (403, "origin_not_allowed")


def test_an_error_before_any_decision_gets_cors_by_the_preflight_rule_and_never_raises(policy):
    assert policy.cors_for_error("demo", A) == A
    assert policy.cors_for_error(None, B) == B
    assert policy.cors_for_error("demo", EVIL) is None
    assert policy.cors_for_error("bad key!", A) is None
    assert policy.cors_for_error("nope", A) is None
    assert policy.cors_for_error("demo", None) is None


def test_an_error_inside_a_decision_carries_its_cors_origin(policy):
    decision = policy.for_site("demo", A)
    with pytest.raises(ParleyError) as err, decision.answering():
        raise ParleyError("invalid_request", "bad body")
    assert err.value.cors_origin == A


def test_a_missing_site_is_remembered_briefly_and_a_found_one_for_the_cache_time(policy, sites, clock):
    refused(lambda: policy.for_site("new", A))
    sites.sites["new"] = Site("new", (A,))
    assert refused(lambda: policy.for_site("new", A)) == (404, "unknown_site"), "still cached as missing"
    clock.advance(NEGATIVE_CACHE_SECONDS)
    assert policy.for_site("new", A).site.site_key == "new", "a new site shows up within seconds"
    sites.sites["new"] = Site("new", (B,))
    clock.advance(SETTINGS.site_cache_seconds - 1)
    assert policy.for_site("new", A).site.origins == (A,), "a found site is kept for the cache time"
    clock.advance(1)
    assert refused(lambda: policy.for_site("new", A)) == (403, "origin_not_allowed"), "then read again"


def test_every_error_code_has_one_status_and_unknown_codes_cannot_be_raised():
    from chalicelib.errors import ERRORS

    assert ERRORS["unknown_site"] == 404 and all(400 <= s < 600 for s in ERRORS.values())
    with pytest.raises(ValueError, match="no_such_code"):
        ParleyError("no_such_code", "x")


def test_every_code_the_source_raises_is_in_the_one_list():
    import re
    from pathlib import Path

    from chalicelib.errors import ERRORS

    root = Path(__file__).resolve().parents[2] / "chalicelib"
    raised = {m for f in root.rglob("*.py") for m in re.findall(r'ParleyError\(\s*"([a-z_]+)"', f.read_text())}
    assert raised and raised <= set(ERRORS), f"codes raised but not listed: {sorted(raised - set(ERRORS))}"
