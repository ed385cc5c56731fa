"""Secrets from SSM Parameter Store (moto): read on first use, cached with an expiry."""
from __future__ import annotations

import logging

import boto3
import pytest
from moto import mock_aws

from chalicelib.secretstore import SecretError, Secrets
from chalicelib.settings import load_settings

from ..fakes import FakeClock

PARAM = "/parley/test/token-secret"
VALUE = "ssm-token-secret-ssm-token-secret-0123456789"


def settings(**extra: str):
    return load_settings({"PARLEY_TABLE": "parley-test", "PARLEY_TOKEN_SECRET_PARAM": PARAM,
                          "PARLEY_SECRETS_TTL_SECONDS": "60", **extra})


@pytest.fixture
def ssm():
    with mock_aws():
        client = boto3.client("ssm")
        client.put_parameter(Name=PARAM, Value=VALUE, Type="SecureString")
        yield client


def test_the_token_secret_is_read_from_a_securestring_parameter(ssm):
    assert Secrets(settings(), ssm=ssm).token_secret() == VALUE


def test_the_value_is_cached_until_its_time_runs_out(ssm):
    calls = []
    ssm.meta.events.register("before-call.ssm.GetParameter", lambda **_: calls.append(1))
    clock = FakeClock()
    secrets = Secrets(settings(), ssm=ssm, clock=clock)
    secrets.token_secret()
    ssm.put_parameter(Name=PARAM, Value="rotated-" + VALUE, Type="SecureString", Overwrite=True)
    clock.now += 59
    assert secrets.token_secret() == VALUE and len(calls) == 1, "within the TTL: no second read"
    clock.now += 2
    assert secrets.token_secret() == "rotated-" + VALUE and len(calls) == 2, "after it: the rotated value"


def test_a_missing_parameter_fails_with_its_name(ssm):
    secrets = Secrets(settings(PARLEY_TOKEN_SECRET_PARAM="/parley/test/nope"), ssm=ssm)
    with pytest.raises(SecretError, match="/parley/test/nope"):
        secrets.token_secret()


def test_a_value_in_the_environment_wins_and_needs_no_ssm():
    local = "local-secret-local-secret-local-secret-01"
    s = load_settings({"PARLEY_TABLE": "parley-test", "PARLEY_TOKEN_SECRET": local,
                       "PARLEY_TOKEN_SECRET_PARAM": PARAM})
    assert Secrets(s, ssm=object()).token_secret() == local  # object(): any SSM call would fail


def test_a_short_parameter_value_is_refused(ssm):
    ssm.put_parameter(Name=PARAM, Value="short", Type="SecureString", Overwrite=True)
    with pytest.raises(SecretError, match="shorter than 32"):
        Secrets(settings(), ssm=ssm).token_secret()


def test_the_pusher_secret_comes_the_same_way(ssm):
    ssm.put_parameter(Name="/parley/test/pusher-secret", Value="pusher-s3cret", Type="SecureString")
    s = settings(PARLEY_REALTIME_PROVIDERS="pusher,polling", PUSHER_APP_ID="1", PUSHER_KEY="k",
                 PUSHER_SECRET_PARAM="/parley/test/pusher-secret")
    assert Secrets(s, ssm=ssm).pusher_secret() == "pusher-s3cret"


def test_no_secret_value_reaches_a_log_line_or_an_error(ssm, caplog):
    # At INFO, Parley's level. (botocore's own DEBUG logging prints whole response
    # bodies, SSM values included: never run production with botocore at DEBUG.)
    with caplog.at_level(logging.INFO):
        secrets = Secrets(settings(), ssm=ssm)
        secrets.token_secret()
        with pytest.raises(SecretError) as err:
            Secrets(settings(PARLEY_TOKEN_SECRET_PARAM="/parley/test/nope"), ssm=ssm).token_secret()
    assert VALUE not in caplog.text and VALUE not in str(err.value)
    assert VALUE not in repr(settings()) and VALUE not in repr(secrets.settings)


def test_settings_need_the_token_secret_or_its_parameter():
    from chalicelib.settings import SettingsError

    with pytest.raises(SettingsError, match="PARLEY_TOKEN_SECRET"):
        load_settings({"PARLEY_TABLE": "parley-test"})
    with pytest.raises(SettingsError, match="PUSHER_SECRET"):
        load_settings({"PARLEY_TABLE": "parley-test", "PARLEY_TOKEN_SECRET_PARAM": PARAM,
                       "PARLEY_REALTIME_PROVIDERS": "pusher", "PUSHER_APP_ID": "1", "PUSHER_KEY": "k"})


def test_the_app_checks_tokens_with_the_ssm_secret(ssm):
    """Through the app's own graph: the access policy verifies with the value SSM holds."""
    from chalicelib import tokens
    from chalicelib.errors import ParleyError
    from chalicelib.root import Root

    root = Root(settings(), ssm=ssm)
    token = tokens.issue(VALUE, "c1", "demo", 600)
    assert root.access.for_token(token, None).claims.conversation_id == "c1"
    with pytest.raises(ParleyError) as err:
        root.access.for_token(tokens.issue("another-key-" + VALUE, "c1", "demo", 600), None)
    assert err.value.code == "invalid_token", "a token signed with any other key is refused"
