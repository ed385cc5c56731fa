"""Settings: read once from the environment; a bad one fails naming its variable."""
from __future__ import annotations

import pytest

from chalicelib.settings import SettingsError, load_settings

BASE = {"PARLEY_TABLE": "parley-x", "PARLEY_TOKEN_SECRET": "k" * 32}


def test_defaults_fill_in_what_the_environment_leaves_out():
    s = load_settings(BASE)
    assert s.table_name == "parley-x"
    assert s.realtime_providers == ("polling",)
    assert s.polling_interval_ms == 2000 and s.history_limit == 50


@pytest.mark.parametrize("missing", ["PARLEY_TABLE", "PARLEY_TOKEN_SECRET"])
def test_a_missing_required_setting_fails_and_names_its_variable(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env)


def test_a_short_token_secret_is_refused_by_name():
    with pytest.raises(SettingsError, match="PARLEY_TOKEN_SECRET"):
        load_settings({**BASE, "PARLEY_TOKEN_SECRET": "short"})


def test_a_malformed_number_is_refused_by_name():
    with pytest.raises(SettingsError, match="PARLEY_POLL_INTERVAL_MS"):
        load_settings({**BASE, "PARLEY_POLL_INTERVAL_MS": "soon"})


def test_providers_are_read_as_an_ordered_list():
    s = load_settings({**BASE, "PARLEY_REALTIME_PROVIDERS": "websocket, polling",
                       "PARLEY_WEBSOCKET_URL": "wss://x.example/api",
                       "PARLEY_WEBSOCKET_ENDPOINT": "https://x.example/api"})
    assert s.realtime_providers == ("websocket", "polling")


def test_an_unknown_provider_is_refused_by_name():
    with pytest.raises(SettingsError, match="PARLEY_REALTIME_PROVIDERS"):
        load_settings({**BASE, "PARLEY_REALTIME_PROVIDERS": "carrier-pigeon"})


def test_pusher_as_provider_needs_its_credentials_and_a_numeric_app_id():
    env = {**BASE, "PARLEY_REALTIME_PROVIDERS": "pusher,polling"}
    with pytest.raises(SettingsError, match="PUSHER_APP_ID"):
        load_settings(env)
    full = {**env, "PUSHER_APP_ID": "123", "PUSHER_KEY": "k", "PUSHER_SECRET": "s"}
    assert load_settings(full).pusher_key == "k"
    with pytest.raises(SettingsError, match="PUSHER_APP_ID"):
        load_settings({**full, "PUSHER_APP_ID": "app-one"})


def test_websocket_as_provider_needs_its_url_and_management_endpoint():
    with pytest.raises(SettingsError, match="PARLEY_WEBSOCKET_URL"):
        load_settings({**BASE, "PARLEY_REALTIME_PROVIDERS": "websocket"})
    with pytest.raises(SettingsError, match="PARLEY_WEBSOCKET_ENDPOINT"):
        load_settings({**BASE, "PARLEY_REALTIME_PROVIDERS": "websocket",
                       "PARLEY_WEBSOCKET_URL": "ws://127.0.0.1:8001"})


def test_the_secret_never_shows_in_the_settings_repr():
    assert "k" * 32 not in repr(load_settings(BASE))


@pytest.mark.parametrize("name,value", [
    ("PARLEY_WEBSOCKET_URL", "ftp://x.example"), ("PARLEY_WEBSOCKET_URL", "https://x.example"),
    ("PARLEY_WEBSOCKET_ENDPOINT", "wss://x.example/api"), ("PARLEY_WEBSOCKET_ENDPOINT", "not a url"),
    ("PUSHER_HOST", "https://api.pusher.com"), ("PUSHER_HOST", "127.0.0.1:6001")])
def test_a_malformed_endpoint_fails_at_start_by_name(name, value):
    env = {**BASE, "PARLEY_REALTIME_PROVIDERS": "websocket,pusher", "PARLEY_WEBSOCKET_URL": "wss://x.example/api",
           "PARLEY_WEBSOCKET_ENDPOINT": "https://x.example/api", "PUSHER_APP_ID": "1", "PUSHER_KEY": "k",
           "PUSHER_SECRET": "s", name: value}
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_every_aws_client_gets_parleys_timeouts_and_its_own_endpoint(monkeypatch):
    from chalicelib import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    plain = aws.client("dynamodb")
    assert (plain.meta.config.connect_timeout, plain.meta.config.read_timeout) == (1.0, 2.0)
    assert plain.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    management = aws.client("apigatewaymanagementapi", endpoint_url="http://127.0.0.1:8001/local",
                            max_pool_connections=16, retries={"mode": "standard", "total_max_attempts": 1})
    assert management.meta.endpoint_url == "http://127.0.0.1:8001/local"
    assert management.meta.config.max_pool_connections == 16 and management.meta.config.read_timeout == 2.0
