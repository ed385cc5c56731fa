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


def test_the_table_stack_makes_the_job_queue_and_the_stage_is_pointed_at_it(aws, tmp_path):
    outputs = deploy.deploy_table_stack(boto3.client("cloudformation"), "dev")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="parley-dev-jobs")["QueueUrl"]
    assert outputs["JobQueueUrl"] == url and outputs["JobQueueArn"].endswith(":parley-dev-jobs")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "FifoQueue" not in attrs, "standard: a per-message DelaySeconds (FIFO queues have none)"
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    timeout = config["stages"]["prod"]["lambda_functions"]["job_worker"]["lambda_timeout"]
    assert int(attrs["VisibilityTimeout"]) == 120 > timeout, "past the worker's timeout"
    assert int(attrs["MessageRetentionPeriod"]) == 4 * 86400, "longer than a webhook's retries (~2.5 h)"
    assert attrs["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":parley-dev-jobs-dlq") and redrive["maxReceiveCount"] == 5
    dlq = sqs.get_queue_url(QueueName="parley-dev-jobs-dlq")["QueueUrl"]
    assert outputs["JobDeadLetterQueueUrl"] == dlq
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert int(dlq_attrs["MessageRetentionPeriod"]) == 14 * 86400 and dlq_attrs["SqsManagedSseEnabled"] == "true"
    shutil.copy(ROOT / ".chalice" / "config.json", tmp_path / "config.json")
    env = deploy.write_stage_env("dev", deploy.queue_settings(outputs), config_path=tmp_path / "config.json")
    assert env["PARLEY_JOB_QUEUE_URL"] == url and env["PARLEY_REPLY_QUEUE_URL"] == outputs["ReplyQueueUrl"]
    from chalicelib.settings import load_settings

    settings = load_settings({**env, "PARLEY_TOKEN_SECRET": "x" * 32})
    assert settings.job_queue_name == "parley-dev-jobs", "what app.py names the job worker's event source"


def test_create_job_queue_makes_what_the_stack_makes_and_finds_it_again(aws):
    from infra.table import create_job_queue

    sqs = boto3.client("sqs")
    url = create_job_queue(sqs, "t")
    assert url.endswith("/t-jobs") and create_job_queue(sqs, "t") == url, "idempotent"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["VisibilityTimeout"], attrs["MessageRetentionPeriod"]) == ("120", "345600")
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": redrive["deadLetterTargetArn"], "maxReceiveCount": 5}
    assert redrive["deadLetterTargetArn"].endswith(":t-jobs-dlq")
    assert sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"]) == ["t-jobs", "t-jobs-dlq"]


def test_a_local_only_setting_is_refused_and_mail_settings_are_passed_on():
    assert deploy.local_only_settings({"PARLEY_WEBHOOK_ALLOW_LOOPBACK": "true"}) == ["PARLEY_WEBHOOK_ALLOW_LOOPBACK"]
    assert deploy.local_only_settings({"PARLEY_WEBHOOK_ALLOW_LOOPBACK": "1"}) == ["PARLEY_WEBHOOK_ALLOW_LOOPBACK"]
    for off in ("", "false", "0", "no"):
        assert deploy.local_only_settings({"PARLEY_WEBHOOK_ALLOW_LOOPBACK": off}) == [], off
    assert deploy.local_only_settings({}) == []
    for stage in ("dev", "prod"):
        env = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]["environment_variables"]
        assert deploy.local_only_settings(env) == [], f"{stage} ships without it"
    got = deploy.passed_settings({"PARLEY_MAIL_FROM": "Acme <help@acme.example>", "PARLEY_CONSOLE_URL": "https://s.x",
                                  "PARLEY_TABLE": "mine", "PARLEY_CONSOLE_ORIGINS": ""})
    assert got == {"PARLEY_MAIL_FROM": "Acme <help@acme.example>", "PARLEY_CONSOLE_URL": "https://s.x"}


def test_a_mail_from_without_a_verified_ses_identity_is_warned_about(aws):
    sesv2 = boto3.client("sesv2")
    assert "PARLEY_MAIL_FROM is not set" in deploy.mail_identity_problem(sesv2, None)
    assert "help@acme.example" in deploy.mail_identity_problem(sesv2, "Acme <help@acme.example>")
    sesv2.create_email_identity(EmailIdentity="acme.example")  # moto: VerificationStatus SUCCESS at once
    assert deploy.mail_identity_problem(sesv2, "Acme <help@acme.example>") is None, "the domain's identity"
    sesv2.create_email_identity(EmailIdentity="me@other.example")
    assert deploy.mail_identity_problem(sesv2, "me@other.example") is None, "the address's own identity"


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

    from infra.policy import FUNCTION_NEEDS

    roles = {fn: {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyDocument": render("prod", "eu-west-1", "123456789012", "w1", fn)}]}} for fn in FUNCTION_NEEDS}
    pinned = pin_to_this_stack({"Resources": roles})
    text = json.dumps(pinned)
    assert "123456789012" not in text and "eu-west-1" not in text and '"w1/' not in text
    assert "${WebsocketAPI}/api/POST/@connections/*" in text
    assert "arn:aws:ses:${AWS::Region}:${AWS::AccountId}:identity/*" in text
    assert "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:parley-prod-jobs" in text


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
    assert files == ["policy-prod-job_worker.json", "policy-prod-reply_worker.json",
                     "policy-prod-websocket_connect.json", "policy-prod-websocket_disconnect.json",
                     "policy-prod-websocket_message.json", "policy-prod.json"]
    disconnect = json.loads((chalice_dir / "policy-prod-websocket_disconnect.json").read_text())
    assert [s["Sid"] for s in disconnect["Statement"]] == ["ParleyTable", "ParleyLogs"], "$disconnect: no SSM"
    worker = json.loads((chalice_dir / "policy-prod-reply_worker.json").read_text())
    assert {s["Sid"] for s in worker["Statement"]} >= {"ParleyReplyQueueConsume", "ParleyBedrock"}
    rest = json.loads((chalice_dir / "policy-prod.json").read_text())
    assert "ParleyBedrock" not in {s["Sid"] for s in rest["Statement"]}, "only the worker calls the model"
    send = next(s for s in rest["Statement"] if s["Sid"] == "ParleyReplyQueueSend")
    assert send["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:parley-prod-replies.fifo"
    jobs = "arn:aws:sqs:eu-west-1:123456789012:parley-prod-jobs"
    send_jobs = next(s for s in rest["Statement"] if s["Sid"] == "ParleyJobQueueSend")
    assert (send_jobs["Action"], send_jobs["Resource"]) == (["sqs:SendMessage"], jobs), "a send enqueues jobs"
    assert {"Sid": "ParleyJobQueueSend", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": jobs} in \
        worker["Statement"], "a bot reply sets off webhooks, a handoff a notification"
    job_worker = json.loads((chalice_dir / "policy-prod-job_worker.json").read_text())
    assert job_worker["Statement"] == [
        {"Sid": "ParleyTable", "Effect": "Allow", "Action": policy.DYNAMODB_ACTIONS,
         "Resource": ["arn:aws:dynamodb:eu-west-1:123456789012:table/parley-prod",
                      "arn:aws:dynamodb:eu-west-1:123456789012:table/parley-prod/index/*"]},
        {"Sid": "ParleyLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/parley-prod:*",
                      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/parley-prod-*"]},
        {"Sid": "ParleyJobQueueSend", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": jobs},
        {"Sid": "ParleyJobQueueConsume", "Effect": "Allow",
         "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], "Resource": jobs},
        {"Sid": "ParleyMail", "Effect": "Allow", "Action": ["ses:SendEmail"],
         "Resource": "arn:aws:ses:eu-west-1:123456789012:identity/*"},
    ], "the table, its logs, its queue both ways, SES: no SSM, no push, no Bedrock"
    for path in chalice_dir.glob("policy-prod*.json"):
        actions = {a for s in json.loads(path.read_text())["Statement"] for a in s["Action"]}
        assert ("ses:SendEmail" in actions) == (path.name == "policy-prod-job_worker.json"), \
            f"{path.name}: only the job worker sends email"
    assert policy.main(["--stage", "prod", "--check"]) == 0
    (chalice_dir / "policy-prod-websocket_message.json").write_text(json.dumps(policy.render("prod")))
    assert policy.main(["--stage", "prod", "--check"]) == 1, "a file that drifted is caught"
    config = json.loads((chalice_dir / "config.json").read_text())["stages"]["prod"]["lambda_functions"]
    assert config["websocket_disconnect"]["iam_policy_file"] == "policy-prod-websocket_disconnect.json"
    assert config["job_worker"]["iam_policy_file"] == "policy-prod-job_worker.json"
    assert config["job_worker"]["lambda_timeout"] <= 60


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
    assert set(alarms) == set(names) and len(names) == 8
    assert {(a["Namespace"], a["MetricName"]) for a in alarms.values()} == {
        ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/ApiGateway", "5XXError"),
        ("AWS/DynamoDB", "ThrottledRequests"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    dead = alarms["parley-prod-reply-dead-letters"]
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": "parley-prod-replies-dlq.fifo"}]
    dead_jobs = alarms["parley-prod-job-dead-letters"]
    assert dead_jobs["Dimensions"] == [{"Name": "QueueName", "Value": "parley-prod-jobs-dlq"}]
    assert dead_jobs["Statistic"] == "Maximum"
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
