"""The deploy path, offline: `chalice package` with infra/table.json merged, per stage.

If the template and the code disagree, a test here fails: cfn-lint must pass
clean, the table must be what the store expects, each role may do only what
Parley does on only Parley's resources, and the packaged environment must
satisfy the settings model.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.settings import load_settings
from infra.package import package
from infra.policy import BEDROCK_ACTIONS, DYNAMODB_ACTIONS, SQS_CONSUME_ACTIONS, main as policy_main
from infra.runtime import LAMBDA_RUNTIME, VERSION

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["dev", "prod"]

pytestmark = pytest.mark.skipif(
    tuple(sys.version_info[:2]) != VERSION,
    reason=f"make package refuses to run off Python {VERSION[0]}.{VERSION[1]}, the Lambda runtime's "
           f"(this machine has no such Python: see the Makefile)")


@pytest.fixture(scope="module", params=STAGES)
def packaged(request, tmp_path_factory) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    stage = request.param
    sam = package(stage, tmp_path_factory.mktemp(f"out-{stage}"))
    yield stage, sam, json.loads(sam.read_text())


QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/parley-dev-replies.fifo"
JOB_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/parley-dev-jobs"


def resolve(value: Any) -> str:
    """A template value as CloudFormation would resolve it for a stack in us-east-1 with API abc123."""
    if isinstance(value, str):
        return value
    if value == {"Ref": "ReplyQueue"}:
        return QUEUE_URL  # a queue's Ref is its URL
    if value == {"Ref": "JobQueue"}:
        return JOB_QUEUE_URL
    (fn, arg), = value.items()
    assert fn == "Fn::Sub", f"unexpected intrinsic {value}"
    return (arg.replace("${WebsocketAPI}", "abc123").replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::URLSuffix}", "amazonaws.com"))


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes_clean(packaged):
    _, sam, _ = packaged
    done = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(sam)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"cfn-lint found problems:\n{done.stdout}{done.stderr}"


def test_the_table_is_on_demand_with_ttl_and_prod_protections(packaged):
    stage, _, template = packaged
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert template["Parameters"]["Stage"]["Default"] == stage
    assert template["Parameters"]["TableName"]["Default"] == f"parley-{stage}"
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert table["DeletionPolicy"] == "Retain"


def test_every_role_may_do_only_what_parley_does_on_parley_resources(packaged):
    stage, _, template = packaged
    roles = resources(template, "AWS::IAM::Role")
    assert roles, "the package must carry the hand-written roles"
    for name, role in roles.items():
        statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            arns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            arns = [a["Fn::Sub"] if isinstance(a, dict) else a for a in arns]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), f"{name}: {actions}"
            assert "*" not in arns, f"{name}: a bare * resource in {statement}"
            service = actions[0].split(":")[0]
            assert all(a.startswith(service + ":") for a in actions), f"{name}: one service per statement"
            if service == "dynamodb":
                assert sorted(actions) == sorted(DYNAMODB_ACTIONS)
                assert sorted(arns) == sorted([
                    f"arn:aws:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/parley-{stage}",
                    f"arn:aws:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/parley-{stage}/index/*"])
            elif service == "ssm":
                assert actions == ["ssm:GetParameter"]
                assert arns == [f"arn:aws:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/parley/{stage}/*"]
            elif service == "execute-api":
                assert actions == ["execute-api:ManageConnections"]
                assert arns == ["arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}"
                                "/api/POST/@connections/*"], "this WebSocket API only, posts only"
            elif service == "logs":
                prefix = f"arn:aws:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/parley-{stage}"
                assert arns == [f"{prefix}:*", f"{prefix}-*"]
            elif service == "sqs":
                assert actions in (["sqs:SendMessage"], SQS_CONSUME_ACTIONS), f"{name}: {actions}"
                assert arns in ([f"arn:aws:sqs:${{AWS::Region}}:${{AWS::AccountId}}:parley-{stage}-replies.fifo"],
                                [f"arn:aws:sqs:${{AWS::Region}}:${{AWS::AccountId}}:parley-{stage}-jobs"]), \
                    "this stage's reply queue or job queue only"
            elif service == "ses":
                assert actions == ["ses:SendEmail"], f"{name}: {actions}"
                assert arns == ["arn:aws:ses:${AWS::Region}:${AWS::AccountId}:identity/*"], \
                    "this account's identities in this region only"
            elif service == "bedrock":
                assert actions == BEDROCK_ACTIONS
                assert arns == ["arn:aws:bedrock:*::foundation-model/*",
                                "arn:aws:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/*",
                                "arn:aws:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/*"]
            else:
                pytest.fail(f"{name}: an unexpected service {service}")


def test_the_websocket_routes_exist(packaged):
    _, _, template = packaged
    routes = {r["Properties"]["RouteKey"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"$connect", "$default", "$disconnect"}


def test_every_function_environment_satisfies_the_settings_model(packaged):
    stage, _, template = packaged
    functions = resources(template, "AWS::Serverless::Function")
    # the REST API, the three WebSocket routes, the reply worker and the job worker
    assert sorted(functions) == ["APIHandler", "JobWorker", "ReplyWorker", "WebsocketConnect",
                                 "WebsocketDisconnect", "WebsocketMessage"], sorted(functions)
    for name, function in functions.items():
        env = {k: resolve(v) for k, v in function["Properties"]["Environment"]["Variables"].items()}
        settings = load_settings(env)  # raises, naming the variable, if one is missing or malformed
        assert settings.table_name == f"parley-{stage}", name
        assert settings.token_secret is None and settings.token_secret_param == f"/parley/{stage}/token-secret", \
            f"{name}: the secret comes from SSM, never from the template"
        assert settings.reply_queue_url == QUEUE_URL, f"{name}: this stack's reply queue"
        assert settings.job_queue_url == JOB_QUEUE_URL, f"{name}: this stack's job queue"
        assert not settings.webhook_allow_loopback, f"{name}: webhooks reach public addresses only"
        # A streaming reply (Bedrock's own timeout is at most 60 s) gets longer than a request; a job
        # (SES's 5 s, a webhook's 5 s and a retry's enqueue) fits in 60 s.
        assert function["Properties"]["Timeout"] <= {"ReplyWorker": 90, "JobWorker": 60}.get(name, 30), name
        assert function["Properties"]["MemorySize"] >= 256
        assert function["Properties"]["Runtime"] == LAMBDA_RUNTIME, f"{name}: the stated runtime"


@pytest.mark.parametrize("stage", STAGES)
def test_the_committed_policy_files_are_what_infra_policy_renders(stage):
    assert policy_main(["--stage", stage, "--check"]) == 0


def test_a_websocket_stage_pushes_to_and_sends_widgets_to_its_own_stack_api(packaged):
    stage, _, template = packaged
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    (ws_stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    stage_name = ws_stage["Properties"]["StageName"]
    assert stage_name == config.get("api_gateway_stage", "api")
    for name, function in resources(template, "AWS::Serverless::Function").items():
        env = function["Properties"]["Environment"]["Variables"]
        if "websocket" not in env["PARLEY_REALTIME_PROVIDERS"]:
            assert "PARLEY_WEBSOCKET_URL" not in env and "PARLEY_WEBSOCKET_ENDPOINT" not in env, name
            continue
        host = "${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + stage_name
        assert env["PARLEY_WEBSOCKET_URL"] == {"Fn::Sub": f"wss://{host}"}, f"{name}: this stack's API"
        assert env["PARLEY_WEBSOCKET_ENDPOINT"] == {"Fn::Sub": f"https://{host}"}, name


def test_prod_gives_widgets_the_websocket_provider_by_default():
    env = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]["environment_variables"]
    assert env["PARLEY_REALTIME_PROVIDERS"].split(",") == ["websocket", "polling"]


def test_urls_a_previous_deploy_wrote_into_config_never_reach_the_template(tmp_path, monkeypatch):
    import shutil

    from infra import package as package_module

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / ".chalice", copy / ".chalice", ignore=shutil.ignore_patterns("deployments", "deployed"))
    config = json.loads((copy / ".chalice" / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"].update({
        "PARLEY_WEBSOCKET_URL": "wss://other.execute-api.eu-west-1.amazonaws.com/api",
        "PARLEY_WEBSOCKET_ENDPOINT": "https://other.execute-api.eu-west-1.amazonaws.com/api"})
    (copy / ".chalice" / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(package_module, "ROOT", copy)
    template = {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {
        "Variables": dict(config["stages"]["prod"]["environment_variables"])}}}}}
    wired = package_module.websocket_wiring(template, "prod")
    text = json.dumps(wired)
    assert "other.execute-api" not in text and "${WebsocketAPI}" in text


def locked_set() -> dict[str, str]:
    """name -> version, as requirements.txt (the lock) pins them."""
    import re

    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", (ROOT / "requirements.txt").read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def test_the_lambda_zip_holds_exactly_the_locked_set(packaged):
    import re
    import zipfile

    _, sam, _ = packaged
    with zipfile.ZipFile(sam.parent / "deployment.zip") as zf:
        dists = {m.group(1) for n in zf.namelist() if (m := re.match(r"([^/]+)\.dist-info/METADATA$", n))}
    in_zip = {}
    for dist in dists:
        name, _, version = dist.rpartition("-")
        in_zip[re.sub(r"[-_.]+", "-", name).lower()] = version
    locked = locked_set()
    assert locked, "requirements.txt must pin the Lambda's packages"
    assert in_zip == locked, (f"only in the zip: {sorted(set(in_zip.items()) - set(locked.items()))}; "
                              f"only in the lock: {sorted(set(locked.items()) - set(in_zip.items()))}")


def test_every_locked_package_has_hashes():
    text = (ROOT / "requirements.txt").read_text()
    blocks = [b for b in text.split("\n") if "==" in b]
    assert blocks and all(b.rstrip().endswith("\\") for b in blocks), "each pin is followed by its --hash lines"
    assert text.count("--hash=sha256:") >= len(blocks)


def stage_config(stage: str) -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]


def test_every_function_logs_to_its_own_group_with_the_stage_retention(packaged):
    stage, _, template = packaged
    groups = resources(template, "AWS::Logs::LogGroup")
    functions = resources(template, "AWS::Serverless::Function")
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups.values()}
    assert named == {f"/aws/lambda/${{{name}}}" for name in functions}, "each group names a real function"
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {stage_config(stage)["log_retention_in_days"]}
    assert stage_config("prod")["log_retention_in_days"] == 30 and stage_config("dev")["log_retention_in_days"] == 7


def test_both_api_stages_are_throttled(packaged):
    from infra.defaults import REST_THROTTLE, WEBSOCKET_THROTTLE

    stage, _, template = packaged
    (rest,) = resources(template, "AWS::Serverless::Api").values()
    rate, burst = REST_THROTTLE[stage]
    assert rest["Properties"]["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*",
                                                     "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}]
    (ws,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    rate, burst = WEBSOCKET_THROTTLE[stage]
    assert ws["Properties"]["DefaultRouteSettings"] == {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}


def test_an_unknown_path_of_any_depth_is_our_json_404_not_api_gateways_403(packaged):
    _, _, template = packaged
    (response,) = resources(template, "AWS::ApiGateway::GatewayResponse").values()
    props = response["Properties"]
    assert props["RestApiId"] == {"Ref": "RestAPI"} and "RestAPI" in template["Resources"]
    assert (props["ResponseType"], props["StatusCode"]) == ("MISSING_AUTHENTICATION_TOKEN", "404")
    body = props["ResponseTemplates"]["application/json"].replace("$context.httpMethod", "GET").replace(
        "$context.path", "/a/b/c/d/e/f/g/h")
    assert json.loads(body) == {"error": {"code": "route_not_found", "message": "No route GET /a/b/c/d/e/f/g/h."}}


def test_prod_functions_have_reserved_concurrency(packaged):
    stage, _, template = packaged
    for name, function in resources(template, "AWS::Serverless::Function").items():
        expected = stage_config(stage).get("reserved_concurrency")
        assert function["Properties"].get("ReservedConcurrentExecutions") == expected, name
    assert stage_config("prod")["reserved_concurrency"] == 25


def test_alarms_watch_lambda_errors_and_throttles_api_5xx_and_table_throttles(packaged):
    _, _, template = packaged
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"],
                json.dumps(a["Properties"]["Dimensions"][0]["Value"])) for a in alarms.values()}
    for name in resources(template, "AWS::Serverless::Function"):
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, json.dumps({"Ref": name})) in watched, f"{name} {metric}"
    assert ("AWS/ApiGateway", "5XXError", json.dumps({"Ref": "AWS::StackName"})) in watched
    assert ("AWS/DynamoDB", "ThrottledRequests", json.dumps({"Ref": "ParleyTable"})) in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["ReplyDeadLetterQueue", "QueueName"]})) in watched, "a reply job given up"
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["JobDeadLetterQueue", "QueueName"]})) in watched, "a job given up"
    (rest,) = resources(template, "AWS::Serverless::Api").values()
    assert rest["Properties"]["Name"] == {"Ref": "AWS::StackName"}, "the 5xx alarm's ApiName is the API's name"
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "HasAlarmEmail" and template["Parameters"]["AlarmEmail"]["Default"] == ""
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}


def test_each_function_role_holds_only_what_that_function_needs(packaged):
    _, _, template = packaged
    services = {}
    for name, role in resources(template, "AWS::IAM::Role").items():
        actions = [a for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
                   for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        services[name] = {a.split(":")[0] for a in actions}
    assert services == {
        "ApiHandlerRole": {"dynamodb", "ssm", "execute-api", "logs", "sqs"},  # sqs: enqueues reply jobs
        "WebsocketConnectRole": {"dynamodb", "ssm", "logs"},  # checks the token; cannot post from $connect
        # typing relays reach Pusher too, whose secret may be in SSM; no token secret is read there
        "WebsocketMessageRole": {"dynamodb", "execute-api", "logs", "ssm"},
        "WebsocketDisconnectRole": {"dynamodb", "logs"},
        # streams a Bedrock reply from its queue, stores it, pushes it (Pusher's secret may be in SSM)
        # and enqueues jobs: a bot reply's webhooks, a handoff's notification
        "ReplyWorkerRole": {"dynamodb", "ssm", "execute-api", "logs", "sqs", "bedrock"},
        # emails through SES and posts webhooks (plain HTTPS); reads no secret from SSM, pushes nothing
        "JobWorkerRole": {"dynamodb", "logs", "sqs", "ses"},
    }


def statements_of(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for p in template["Resources"][role]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]}


def test_the_job_worker_holds_exactly_its_statements_and_alone_sends_email(packaged):
    stage, _, template = packaged
    jobs = {"Fn::Sub": f"arn:aws:sqs:${{AWS::Region}}:${{AWS::AccountId}}:parley-{stage}-jobs"}
    worker = statements_of(template, "JobWorkerRole")
    assert list(worker) == ["ParleyTable", "ParleyLogs", "ParleyJobQueueSend", "ParleyJobQueueConsume", "ParleyMail"]
    assert worker["ParleyJobQueueConsume"]["Action"] == SQS_CONSUME_ACTIONS
    assert worker["ParleyJobQueueConsume"]["Resource"] == worker["ParleyJobQueueSend"]["Resource"] == jobs, \
        "it reads its queue, and sends to it (a webhook's retry, a long delay chained)"
    assert worker["ParleyMail"]["Action"] == ["ses:SendEmail"]
    for role in ("ApiHandlerRole", "ReplyWorkerRole"):
        send = statements_of(template, role)["ParleyJobQueueSend"]
        assert (send["Action"], send["Resource"]) == (["sqs:SendMessage"], jobs), f"{role} enqueues jobs"
    for role in resources(template, "AWS::IAM::Role"):
        actions = {a for s in statements_of(template, role).values() for a in s["Action"]}
        assert ("ses:SendEmail" in actions) == (role == "JobWorkerRole"), f"{role}: only the job worker mails"
        if role != "JobWorkerRole":
            assert "ParleyJobQueueConsume" not in statements_of(template, role), role


def test_the_job_worker_reads_this_stacks_standard_queue_with_a_dead_letter_queue(packaged):
    _, _, template = packaged
    worker = template["Resources"]["JobWorker"]["Properties"]
    assert worker["Handler"] == "app.job_worker"
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["JobQueue", "Arn"]}, "the stack's own job queue"
    queue = template["Resources"]["JobQueue"]["Properties"]
    assert "FifoQueue" not in queue, "standard: DelaySeconds per message (a FIFO queue has none)"
    assert queue["QueueName"] == {"Fn::Sub": "${TableName}-jobs"}
    assert queue["VisibilityTimeout"] > worker["Timeout"], "Lambda refuses a queue that reappears mid-invocation"
    assert queue["MessageRetentionPeriod"] == 4 * 86400 and queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["JobDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    dlq = template["Resources"]["JobDeadLetterQueue"]["Properties"]
    assert dlq["QueueName"] == {"Fn::Sub": "${TableName}-jobs-dlq"} and "FifoQueue" not in dlq
    assert dlq["MessageRetentionPeriod"] == 14 * 86400 > queue["MessageRetentionPeriod"]
    assert dlq["SqsManagedSseEnabled"] is True
    assert template["Outputs"]["JobQueueUrl"]["Value"] == {"Ref": "JobQueue"}


def test_the_reply_worker_reads_this_stacks_fifo_queue_with_a_dead_letter_queue(packaged):
    _, _, template = packaged
    worker = template["Resources"]["ReplyWorker"]["Properties"]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["ReplyQueue", "Arn"]}, "the stack's own queue"
    queue = template["Resources"]["ReplyQueue"]["Properties"]
    assert queue["FifoQueue"] is True, "one conversation's replies in order, a repeated job dropped"
    assert queue["VisibilityTimeout"] >= worker["Timeout"], "Lambda refuses a queue that reappears mid-invocation"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ReplyDeadLetterQueue", "Arn"]}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 5, "redelivered, but not for ever"
    dlq = template["Resources"]["ReplyDeadLetterQueue"]["Properties"]
    assert dlq["FifoQueue"] is True and dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
