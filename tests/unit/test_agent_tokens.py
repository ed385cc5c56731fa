"""Agents' ID tokens (chalicelib/agent_tokens.py) against a fake pool: keys cached, refetched with care."""
from __future__ import annotations

import pytest

from chalicelib.agent_tokens import JWKS_MAX_AGE_SECONDS, REFETCH_SECONDS, AgentTokens
from chalicelib.errors import ParleyError

from ..cognito import CLIENT_ID, ISSUER, FakePool
from ..fakes import FakeClock


def verifier(pool: FakePool, clock: FakeClock, fetch=None) -> AgentTokens:
    return AgentTokens(ISSUER, CLIENT_ID, "https://pool/.well-known/jwks.json", fetch=fetch or pool.fetch,
                       monotonic=clock)


def test_a_token_names_the_agent_by_sub_with_email_and_name():
    pool, clock = FakePool(), FakeClock()
    identity = verifier(pool, clock).verify(pool.id_token("sub-1", "ana@example.com", "Ana"))
    assert (identity.agent_id, identity.email, identity.name) == ("sub-1", "ana@example.com", "Ana")
    without_name = verifier(pool, clock).verify(pool.id_token("sub-2", "bo@example.com"))
    assert without_name.name == "bo", "the email's local part when the pool gives no name"


def test_keys_are_fetched_once_then_again_only_when_old_or_for_a_new_kid_after_a_while():
    pool, clock = FakePool(), FakeClock()
    tokens = verifier(pool, clock)
    for _ in range(3):
        tokens.verify(pool.id_token("s"))
    assert len(pool.fetches) == 1
    for _ in range(3):
        with pytest.raises(ParleyError):
            tokens.verify(pool.id_token("s", kid="rotated"))
    assert len(pool.fetches) == 1, "unknown kids inside the refetch interval do not refetch"
    clock.advance(REFETCH_SECONDS + 1)
    with pytest.raises(ParleyError):
        tokens.verify(pool.id_token("s", kid="rotated"))
    assert len(pool.fetches) == 2, "an unknown kid after the interval refetches (Cognito rotates keys so)"
    clock.advance(JWKS_MAX_AGE_SECONDS + 1)
    tokens.verify(pool.id_token("s"))
    assert len(pool.fetches) == 3, "keys are refreshed once they are old"


def test_an_unreachable_pool_is_503_before_any_key_is_known_and_old_keys_keep_working_after():
    pool, clock = FakePool(), FakeClock()
    down = {"on": True}

    def fetch(url):
        if down["on"]:
            raise OSError("connection refused")
        return pool.fetch(url)

    tokens = verifier(pool, clock, fetch)
    with pytest.raises(ParleyError) as caught:
        tokens.verify(pool.id_token("s"))
    assert caught.value.code == "unavailable"
    down["on"] = False
    tokens.verify(pool.id_token("s"))
    down["on"] = True
    clock.advance(JWKS_MAX_AGE_SECONDS + 1)
    attempts = {"n": 0}
    real_fetch = fetch

    def counting(url):
        attempts["n"] += 1
        return real_fetch(url)
    tokens._fetch = counting
    assert tokens.verify(pool.id_token("s")).agent_id == "s", "a failed refresh keeps the keys it has"
    tokens.verify(pool.id_token("s"))
    assert attempts["n"] == 1, "and does not try again on the very next request"
    clock.advance(REFETCH_SECONDS + 1)
    tokens.verify(pool.id_token("s"))
    assert attempts["n"] == 2, "but again after the refetch interval"


@pytest.mark.parametrize("token", ["x" * 9000, "a.b", "", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_garbage_and_unsigned_tokens_are_refused(token):
    pool, clock = FakePool(), FakeClock()
    with pytest.raises(ParleyError) as caught:
        verifier(pool, clock).verify(token)
    assert caught.value.code in ("invalid_token", "missing_token")
