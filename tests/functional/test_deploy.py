"""infra/deploy.py's offline parts: the table stack on moto, secrets present, the second pass."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import deploy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_the_table_stack_is_created_then_updated_in_place(aws):
    cloudformation = boto3.client("cloudformation")
    outputs = deploy.deploy_table_stack(cloudformation, "dev")
    assert outputs["TableName"] == "parley-dev"
    assert outputs["TokenSecretParameter"] == "/parley/dev/token-secret"
    again = deploy.deploy_table_stack(cloudformation, "dev")  # an existing stack: an update, no error
    assert again == outputs
    keys = boto3.client("dynamodb").describe_table(TableName="parley-dev")["Table"]["KeySchema"]
    assert [k["AttributeName"] for k in keys] == ["PK", "SK"]


def test_missing_secrets_are_named_and_present_ones_are_not(aws):
    ssm = boto3.client("ssm")
    env = {"PARLEY_TOKEN_SECRET_PARAM": "/parley/prod/token-secret", "PUSHER_SECRET_PARAM": "/parley/prod/pusher-secret"}
    assert deploy.missing_secrets(ssm, env) == ["/parley/prod/pusher-secret", "/parley/prod/token-secret"]
    ssm.put_parameter(Name="/parley/prod/token-secret", Value="x" * 40, Type="SecureString")
    assert deploy.missing_secrets(ssm, env) == ["/parley/prod/pusher-secret"]


def test_what_chalice_deployed_gives_the_websocket_settings_and_the_snippet(tmp_path):
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    (tmp_path / ".chalice" / "deployed" / "prod.json").write_text(json.dumps({"schema_version": "2.0", "resources": [
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "r1",
         "rest_api_url": "https://r1.execute-api.eu-west-1.amazonaws.com/api/"},
        {"name": "websocket_api", "resource_type": "websocket_api", "websocket_api_id": "w1",
         "websocket_api_url": "wss://w1.execute-api.eu-west-1.amazonaws.com/api/"}]}))
    found = deploy.read_deployed("prod", root=tmp_path)
    assert found["websocket_api_id"] == "w1"
    assert deploy.websocket_settings(found["websocket_api_url"]) == {
        "PARLEY_WEBSOCKET_URL": "wss://w1.execute-api.eu-west-1.amazonaws.com/api",
        "PARLEY_WEBSOCKET_ENDPOINT": "https://w1.execute-api.eu-west-1.amazonaws.com/api"}
    assert 'data-api="https://r1.execute-api.eu-west-1.amazonaws.com/api"' in deploy.snippet(found["rest_api_url"])
    assert deploy.read_deployed("dev", root=tmp_path) == {}, "nothing deployed yet"


def test_the_first_pass_leaves_websocket_out_and_the_stage_env_is_updated(tmp_path):
    config = tmp_path / "config.json"
    shutil.copy(ROOT / ".chalice" / "config.json", config)
    assert deploy.without_provider("pusher,websocket,polling", "websocket") == "pusher,polling"
    assert deploy.without_provider("websocket", "websocket") == "polling"
    env = deploy.write_stage_env("prod", {"PARLEY_WEBSOCKET_URL": "wss://w1/api"}, config_path=config)
    assert env["PARLEY_WEBSOCKET_URL"] == "wss://w1/api" and env["PARLEY_TABLE"] == "parley-prod"
    assert json.loads(config.read_text())["stages"]["prod"]["environment_variables"] == env
