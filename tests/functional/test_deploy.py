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


def test_the_table_stack_makes_the_reply_queue_and_the_stage_is_pointed_at_it(aws, tmp_path):
    outputs = deploy.deploy_table_stack(boto3.client("cloudformation"), "dev")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="parley-dev-replies.fifo")["QueueUrl"]
    assert outputs["ReplyQueueUrl"] == url
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and int(attrs["VisibilityTimeout"]) >= 90, "past the worker's timeout"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":parley-dev-replies-dlq.fifo") and redrive["maxReceiveCount"] == 3
    config = tmp_path / "config.json"
    shutil.copy(ROOT / ".chalice" / "config.json", config)
    env = deploy.write_stage_env("dev", deploy.queue_settings(outputs), config_path=config)
    assert env["PARLEY_REPLY_QUEUE_URL"] == url


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


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A copy of .chalice/ for deploy_app to change, and a fake `chalice deploy` that records passes."""
    from infra import policy

    chalice_dir = tmp_path / ".chalice"
    shutil.copytree(ROOT / ".chalice", chalice_dir, ignore=shutil.ignore_patterns("deployments", "deployed"))
    monkeypatch.setattr(deploy, "ROOT", tmp_path)
    monkeypatch.setattr(deploy, "CONFIG", chalice_dir / "config.json")
    monkeypatch.setattr(policy, "CHALICE_DIR", chalice_dir)
    passes: list[dict] = []

    def fake_chalice_deploy(stage: str, fail: bool = False) -> None:
        config = json.loads((chalice_dir / "config.json").read_text())
        passes.append({"env": dict(config["stages"][stage]["environment_variables"]),
                       "policy": json.loads((chalice_dir / f"policy-{stage}.json").read_text())})
        if sandbox_state.get("fail"):
            raise RuntimeError("chalice deploy failed")
        (chalice_dir / "deployed").mkdir(exist_ok=True)
        (chalice_dir / "deployed" / f"{stage}.json").write_text(json.dumps({"resources": [
            {"resource_type": "rest_api", "rest_api_url": "https://r1.execute-api.eu-west-1.amazonaws.com/api/"},
            {"resource_type": "websocket_api", "websocket_api_id": "w1",
             "websocket_api_url": "wss://w1.execute-api.eu-west-1.amazonaws.com/api/"}]}))

    sandbox_state: dict = {}
    monkeypatch.setattr(deploy, "chalice_deploy", fake_chalice_deploy)
    return chalice_dir, passes, sandbox_state


def ws_arn(p: dict) -> str:
    return next(s["Resource"] for s in p["Statement"] if s["Sid"] == "ParleyWebSocketPush")


def test_a_first_websocket_deploy_runs_twice_and_ends_pinned_to_the_new_api(sandbox):
    chalice_dir, passes, _ = sandbox
    deploy.write_stage_env("prod", {"PARLEY_REALTIME_PROVIDERS": "websocket,polling"})
    deployed = deploy.deploy_app("prod", "websocket,polling", "eu-west-1", "123456789012")
    assert len(passes) == 2
    first, second = passes
    assert first["env"]["PARLEY_REALTIME_PROVIDERS"] == "polling", "no websocket before its URLs exist"
    assert ws_arn(first["policy"]).startswith("arn:aws:execute-api:eu-west-1:123456789012:*/")
    assert second["env"]["PARLEY_REALTIME_PROVIDERS"] == "websocket,polling"
    assert second["env"]["PARLEY_WEBSOCKET_URL"] == "wss://w1.execute-api.eu-west-1.amazonaws.com/api"
    assert ws_arn(second["policy"]) == "arn:aws:execute-api:eu-west-1:123456789012:w1/api/POST/@connections/*"
    assert deployed["rest_api_url"].startswith("https://r1.")
    from infra import policy
    assert policy.main(["--stage", "prod", "--check"]) == 0, "a pinned policy still passes the check"


def test_a_polling_only_first_deploy_still_pins_the_policy_to_the_api_chalice_made(sandbox):
    _, passes, _ = sandbox
    deploy.deploy_app("prod", "polling", "eu-west-1", "123456789012")
    assert len(passes) == 2 and ws_arn(passes[1]["policy"]).split(":")[5].startswith("w1/")
    assert "PARLEY_WEBSOCKET_URL" not in passes[1]["env"], "no websocket settings without the provider"


def test_a_failed_first_pass_gives_config_its_providers_back(sandbox):
    chalice_dir, passes, state = sandbox
    state["fail"] = True
    with pytest.raises(RuntimeError):
        deploy.deploy_app("prod", "websocket,polling", "eu-west-1", "123456789012")
    env = json.loads((chalice_dir / "config.json").read_text())["stages"]["prod"]["environment_variables"]
    assert env["PARLEY_REALTIME_PROVIDERS"] == "websocket,polling"


def test_the_package_gets_its_own_arns_whatever_the_policy_file_pinned():
    from infra.package import pin_to_this_stack
    from infra.policy import render

    role = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyDocument": render("prod", "eu-west-1", "123456789012", "w1")}]}}
    pinned = pin_to_this_stack({"Resources": {"R": role}})
    text = json.dumps(pinned)
    assert "123456789012" not in text and "eu-west-1" not in text and '"w1/' not in text
    assert "${WebsocketAPI}/api/POST/@connections/*" in text


def test_chalice_deploy_reaches_the_same_endpoints_as_the_rest_of_the_deploy(monkeypatch):
    """With an endpoint set (a local stand-in, a VPC endpoint), Chalice must not go elsewhere."""
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:5001",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_PROFILE": "ops", "PARLEY_TABLE": "mine-locally",
           "PUSHER_SECRET": "local", "PATH": "/usr/bin"}
    got = deploy.chalice_env(env)
    assert got["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000" and got["AWS_ENDPOINT_URL_IAM"] == "http://127.0.0.1:5001"
    assert got["AWS_DEFAULT_REGION"] == "eu-west-1" and got["AWS_PROFILE"] == "ops" and got["PATH"] == "/usr/bin"
    assert not any(k.startswith(("PARLEY_", "PUSHER_")) for k in got), "the stage's settings come from config.json"
    ran: list[dict] = []
    monkeypatch.setattr(deploy.subprocess, "run", lambda cmd, **kw: ran.append(kw["env"]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    deploy.chalice_deploy("dev")
    assert ran[0]["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000", "the subprocess gets the endpoints too"


def test_the_policy_names_the_api_stage_config_json_gives_chalice(tmp_path, monkeypatch):
    from infra import policy

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"]["prod"]["api_gateway_stage"] = "v2"
    config["api_gateway_stage"] = "top"
    config["stages"]["dev"].pop("api_gateway_stage", None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(policy, "CHALICE_DIR", tmp_path)
    assert ws_arn(policy.render("prod", "eu-west-1", "1", "w1")).endswith(":w1/v2/POST/@connections/*")
    assert ws_arn(policy.render("dev", "eu-west-1", "1", "w1")).endswith(":w1/top/POST/@connections/*"), \
        "a stage without its own falls back to the top level, as Chalice does"
    del config["api_gateway_stage"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert ws_arn(policy.render("dev", "eu-west-1", "1", "w1")).endswith(":w1/api/POST/@connections/*")


def test_package_and_deploy_refuse_any_python_but_the_lambda_runtime():
    from infra.runtime import LAMBDA_RUNTIME, WrongRuntime, require_lambda_python

    require_lambda_python((3, 13))
    with pytest.raises(WrongRuntime) as err:
        require_lambda_python((3, 11))
    assert LAMBDA_RUNTIME in str(err.value) and "3.11" in str(err.value)


@pytest.mark.parametrize("stage,protected", [("prod", True), ("dev", False)])
def test_the_prod_table_stack_is_protected_from_deletion(aws, stage, protected):
    cloudformation = boto3.client("cloudformation")
    deploy.deploy_table_stack(cloudformation, stage)
    stack = cloudformation.describe_stacks(StackName=deploy.table_stack_name(stage))["Stacks"][0]
    assert stack.get("EnableTerminationProtection", False) is protected


def test_every_function_policy_file_is_rendered_and_checked(sandbox):
    from infra import policy

    chalice_dir, passes, _ = sandbox
    deploy.deploy_app("prod", "websocket,polling", "eu-west-1", "123456789012")
    files = sorted(p.name for p in chalice_dir.glob("policy-prod*.json"))
    assert files == ["policy-prod-reply_worker.json", "policy-prod-websocket_connect.json",
                     "policy-prod-websocket_disconnect.json", "policy-prod-websocket_message.json", "policy-prod.json"]
    disconnect = json.loads((chalice_dir / "policy-prod-websocket_disconnect.json").read_text())
    assert [s["Sid"] for s in disconnect["Statement"]] == ["ParleyTable", "ParleyLogs"], "$disconnect: no SSM"
    worker = json.loads((chalice_dir / "policy-prod-reply_worker.json").read_text())
    assert {s["Sid"] for s in worker["Statement"]} >= {"ParleyReplyQueueConsume", "ParleyBedrock"}
    rest = json.loads((chalice_dir / "policy-prod.json").read_text())
    assert "ParleyBedrock" not in {s["Sid"] for s in rest["Statement"]}, "only the worker calls the model"
    send = next(s for s in rest["Statement"] if s["Sid"] == "ParleyReplyQueueSend")
    assert send["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:parley-prod-replies.fifo"
    assert policy.main(["--stage", "prod", "--check"]) == 0
    (chalice_dir / "policy-prod-websocket_message.json").write_text(json.dumps(policy.render("prod")))
    assert policy.main(["--stage", "prod", "--check"]) == 1, "a file that drifted is caught"
    config = json.loads((chalice_dir / "config.json").read_text())["stages"]["prod"]["lambda_functions"]
    assert config["websocket_disconnect"]["iam_policy_file"] == "policy-prod-websocket_disconnect.json"


def test_what_chalice_deployed_names_the_functions_and_the_rest_api(tmp_path):
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    (tmp_path / ".chalice" / "deployed" / "prod.json").write_text(json.dumps({"resources": [
        {"name": "api_handler", "resource_type": "lambda_function",
         "lambda_arn": "arn:aws:lambda:eu-west-1:1:function:parley-prod"},
        {"name": "websocket_connect", "resource_type": "lambda_function",
         "lambda_arn": "arn:aws:lambda:eu-west-1:1:function:parley-prod-websocket_connect"},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "r1",
         "rest_api_url": "https://r1.execute-api.eu-west-1.amazonaws.com/api/"}]}))
    found = deploy.read_deployed("prod", root=tmp_path)
    assert found["functions"] == ["parley-prod", "parley-prod-websocket_connect"] and found["rest_api_id"] == "r1"


class Session:
    """boto3's session, with some clients swapped for stubbed ones."""

    def __init__(self, **clients) -> None:
        self.clients = clients

    def client(self, name: str):
        return self.clients.get(name) or boto3.client(name)


def test_deploy_throttles_both_api_stages_and_puts_every_alarm(aws):
    from botocore.stub import Stubber

    from infra import defaults

    apigateway = boto3.client("apigateway")
    rest = apigateway.create_rest_api(name="parley")["id"]
    root_id = apigateway.get_resources(restApiId=rest)["items"][0]["id"]
    apigateway.put_method(restApiId=rest, resourceId=root_id, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=rest, resourceId=root_id, httpMethod="GET", type="MOCK")
    apigateway.create_deployment(restApiId=rest, stageName="api")
    # moto has no apigatewayv2 UpdateStage: botocore's Stubber checks the request instead.
    v2 = boto3.client("apigatewayv2")
    stubber = Stubber(v2)
    stubber.add_response("update_stage", {}, {"ApiId": "w1", "StageName": "api", "DefaultRouteSettings": {
        "ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200}})
    topic = deploy.alarm_topic(boto3.client("sns"), "prod", "ops@example.com")
    with stubber:
        names = defaults.apply(Session(apigatewayv2=v2), "prod",
                               {"rest_api_id": rest, "websocket_api_id": "w1",
                                "functions": ["parley-prod", "parley-prod-websocket_connect"]},
                               "parley-prod", "api", topic)
        stubber.assert_no_pending_responses()
    settings = apigateway.get_stage(restApiId=rest, stageName="api")["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (200.0, 400)
    not_found = apigateway.get_gateway_response(restApiId=rest, responseType="MISSING_AUTHENTICATION_TOKEN")
    assert not_found["statusCode"] == "404", "an unknown path is our 404, not API Gateway's 403"
    assert '"route_not_found"' in not_found["responseTemplates"]["application/json"]
    alarms = {a["AlarmName"]: a for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(alarms) == set(names) and len(names) == 7
    assert {(a["Namespace"], a["MetricName"]) for a in alarms.values()} == {
        ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/ApiGateway", "5XXError"),
        ("AWS/DynamoDB", "ThrottledRequests"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    dead = alarms["parley-prod-reply-dead-letters"]
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": "parley-prod-replies-dlq.fifo"}]
    assert all(a["AlarmActions"] == [topic] for a in alarms.values()), "each alarm mails the topic"
    assert deploy.alarm_topic(boto3.client("sns"), "prod", None) is None, "no address, no topic"


def test_the_agents_pool_and_console_client_are_made_once_and_found_again(aws):
    import boto3

    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    first = deploy.agents_pool(cognito, "prod", "us-east-1")
    again = deploy.agents_pool(cognito, "prod", "us-east-1")
    assert first == again, "a second deploy reuses the pool and its client (and every agent in it)"
    assert first["PARLEY_COGNITO_ISSUER"] == f"https://cognito-idp.us-east-1.amazonaws.com/{first['pool_id']}"
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    assert pool["Name"] == "parley-prod-agents"
    described = cognito.describe_user_pool(UserPoolId=first["pool_id"])["UserPool"]
    assert described["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], "agents are invited, never sign up"
    client = cognito.describe_user_pool_client(UserPoolId=first["pool_id"],
                                               ClientId=first["PARLEY_COGNITO_CLIENT_ID"])["UserPoolClient"]
    assert "ClientSecret" not in client, "the console is a browser app: its client has no secret"
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(client["ExplicitAuthFlows"])
    config = deploy.console_config("https://abc.execute-api.us-east-1.amazonaws.com/api/", first, "us-east-1")
    assert config == {"api": "https://abc.execute-api.us-east-1.amazonaws.com/api",
                      "cognito": {"endpoint": "https://cognito-idp.us-east-1.amazonaws.com/",
                                  "region": "us-east-1", "client_id": first["PARLEY_COGNITO_CLIENT_ID"]}}
