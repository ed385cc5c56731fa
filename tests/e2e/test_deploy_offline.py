"""`make deploy`, offline, end to end: infra.deploy against moto as every AWS endpoint, then the zip itself.

moto runs in server mode in this process (tests/e2e/deploy/harness.py), with
the test fakes of tests/e2e/deploy/shims.py for what Chalice calls and moto
5.2.5 lacks. `python -m infra.deploy --stage dev` runs as a subprocess in a
copy of the repository (so .chalice/config.json and .chalice/deployed/ change
there only), first with the polling provider only, then with
`websocket,polling`. The deployed zip then runs in a clean interpreter
(`python -I -S`, the zip plus boto3/botocore on sys.path) against moto's
DynamoDB, SSM and SQS, with the environment moto recorded for the function
(the REST handler serves a conversation; the job worker sends a job on to
its queue). Last,
`chalice delete` and the table stack's deletion, which keeps the table.

The tests run in file order and share one deployment (module scope).
"""
from __future__ import annotations

import base64
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra import policy
from infra.runtime import LAMBDA_RUNTIME, VERSION
from tests.e2e.deploy import harness

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(tuple(sys.version_info[:2]) != VERSION,
                       reason=f"make deploy refuses to run off Python {VERSION[0]}.{VERSION[1]}, the Lambda "
                              f"runtime's (this machine has no such Python: see the Makefile)"),
]

STAGE = "dev"
REGION = "us-east-1"
ORIGIN = "http://127.0.0.1:8080"
TOKEN_SECRET = "e2e-token-secret-" + "x" * 32
FUNCTIONS = {  # Chalice's name for each function -> the deployed function name and its handler
    "api_handler": ("parley-dev", "app.app"),
    "websocket_connect": ("parley-dev-websocket_connect", "app.ws_connect"),
    "websocket_message": ("parley-dev-websocket_message", "app.ws_message"),
    "websocket_disconnect": ("parley-dev-websocket_disconnect", "app.ws_disconnect"),
    "reply_worker": ("parley-dev-reply_worker", "app.reply_worker"),
    "job_worker": ("parley-dev-job_worker", "app.job_worker"),
}
# a streamed reply; a job (one email or one webhook delivery); every other function answers a request in 20 s
TIMEOUTS = {"reply_worker": 90, "job_worker": 60}
MEMORY = {"job_worker": 256}  # no model's stream to hold: an email or a webhook's POST
# Each on_sqs_message handler -> the table stack's queue it reads.
EVENT_SOURCES = {"reply_worker": "parley-dev-replies.fifo", "job_worker": "parley-dev-jobs"}
ROUTES = ["/api/chatbot/config", "/api/chatbot/init", "/api/chatbot/send", "/api/chatbot/messages",
          "/api/chatbot/pusher/auth"]


class World:
    def __init__(self, endpoint: str, copy: Path, tmp: Path) -> None:
        self.endpoint, self.copy, self.tmp = endpoint, copy, tmp
        self.runs: dict[str, str] = {}

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def config(self) -> dict[str, Any]:
        return json.loads((self.copy / ".chalice" / "config.json").read_text())

    def stage_env(self) -> dict[str, str]:
        return self.config()["stages"][STAGE]["environment_variables"]

    def deployed(self) -> dict[str, Any]:
        from infra.deploy import read_deployed

        return read_deployed(STAGE, root=self.copy)

    def deploy(self, name: str) -> str:
        done = harness.deploy(self.copy, self.endpoint, STAGE)
        self.runs[name] = done.stdout
        return done.stdout

    def rendered_policy(self, function: str, websocket_api_id: str | None) -> dict[str, Any]:
        """What infra/policy.py renders for this copy's config (its api_gateway_stage)."""
        saved = policy.CHALICE_DIR
        policy.CHALICE_DIR = self.copy / ".chalice"
        try:
            return policy.render(STAGE, REGION, self.account, websocket_api_id, function)
        finally:
            policy.CHALICE_DIR = saved

    @property
    def account(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("deploy-offline")
    with harness.moto_server() as endpoint:
        copy = harness.copy_repository(tmp / "repo")
        w = World(endpoint, copy, tmp)
        # The stage's secret, as docs/deploy.md has the operator create it before the first deploy.
        name = w.stage_env()["PARLEY_TOKEN_SECRET_PARAM"]
        assert name == "/parley/dev/token-secret"
        w.client("ssm").put_parameter(Name=name, Value=TOKEN_SECRET, Type="SecureString")
        yield w


def chalice_passes(stdout: str) -> int:
    """How many `chalice deploy` runs one infra.deploy printed (each ends with its summary)."""
    return stdout.count("Resources deployed:")


def expected_runtime() -> str:
    return LAMBDA_RUNTIME


def check_functions(w: World, env: dict[str, str]) -> None:
    lam = w.client("lambda")
    found = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert sorted(found) == sorted(name for name, _ in FUNCTIONS.values())
    for chalice_name, (name, handler) in FUNCTIONS.items():
        f = found[name]
        assert f["Runtime"] == expected_runtime(), name
        assert f["Handler"] == handler, name
        assert f["MemorySize"] == MEMORY.get(chalice_name, 512), name
        assert f["Timeout"] == TIMEOUTS.get(chalice_name, 20), name
        assert f["Environment"]["Variables"] == env, name
        assert f["Role"].endswith(f":role/parley-dev-{chalice_name}"), name


def check_policies(w: World, websocket_api_id: str) -> None:
    iam = w.client("iam")
    for chalice_name in FUNCTIONS:
        role = f"parley-dev-{chalice_name}"
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert len(names) == 1, (role, names)
        document = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        assert document == w.rendered_policy(chalice_name, websocket_api_id), role
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [], role


def test_first_deploy_polling_only(world):
    w = world
    assert w.stage_env()["PARLEY_REALTIME_PROVIDERS"] == "polling"
    out = w.deploy("polling")
    # Chalice makes the WebSocket API whatever the providers (app.py has on_ws_* handlers), so a
    # first deploy runs twice to pin the policy to it (infra/deploy.py deploy_app).
    assert chalice_passes(out) == 2, out
    assert "Parley is deployed" in out
    deployed = w.deployed()
    assert deployed["rest_api_url"] == f"https://{deployed['rest_api_id']}.execute-api.{REGION}.amazonaws.com/api/"
    assert f'data-api="{deployed["rest_api_url"].rstrip("/")}"' in out, "the snippet names the real API"

    stack = w.client("cloudformation").describe_stacks(StackName="parley-dev-table")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert not stack.get("EnableTerminationProtection"), "only prod's table stack is protected"
    table = w.client("dynamodb").describe_table(TableName="parley-dev")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]

    env = w.stage_env()
    (pool,) = w.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    assert pool["Name"] == "parley-dev-agents"
    (console,) = w.client("cognito-idp").list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    assert env == {"PARLEY_TABLE": "parley-dev", "PARLEY_REALTIME_PROVIDERS": "polling",
                   "PARLEY_POLL_INTERVAL_MS": "2000", "PARLEY_TOKEN_SECRET_PARAM": "/parley/dev/token-secret",
                   "PARLEY_COGNITO_ISSUER": f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
                   "PARLEY_COGNITO_CLIENT_ID": console["ClientId"],
                   # the table stack's own queue (the output is the queue's Ref, its URL)
                   "PARLEY_REPLY_QUEUE_URL": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[
                       "ReplyQueueUrl"],
                   "PARLEY_JOB_QUEUE_URL": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[
                       "JobQueueUrl"]}
    assert env["PARLEY_REPLY_QUEUE_URL"].endswith("/parley-dev-replies.fifo")
    assert env["PARLEY_JOB_QUEUE_URL"].endswith("/parley-dev-jobs")
    assert "PARLEY_WEBHOOK_ALLOW_LOOPBACK" not in env, "local only"
    assert f'"client_id": "{console["ClientId"]}"' in out, "the console's config.json is printed"
    check_functions(w, env)
    check_policies(w, deployed["websocket_api_id"])
    check_event_sources(w)


def check_event_sources(w: World) -> None:
    """Each on_sqs_message handler reads its own table stack queue, one message at a time."""
    mappings = w.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    found = {m["FunctionArn"].rsplit(":function:", 1)[1]: m for m in mappings}
    assert sorted(found) == sorted(FUNCTIONS[f][0] for f in EVENT_SOURCES), found
    for chalice_name, queue in EVENT_SOURCES.items():
        mapping = found[FUNCTIONS[chalice_name][0]]
        assert mapping["EventSourceArn"].endswith(f":{queue}") and mapping["BatchSize"] == 1, \
            f"{chalice_name} reads the table stack's {queue}"


def test_the_rest_api_serves_every_route_on_its_stage(world):
    w = world
    apigw = w.client("apigateway")
    rest_id = w.deployed()["rest_api_id"]
    assert [a["id"] for a in apigw.get_rest_apis()["items"]] == [rest_id]
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=rest_id, limit=500)["items"]}
    for route in ROUTES:
        assert route in resources, (route, sorted(resources))
        assert "OPTIONS" in resources[route].get("resourceMethods", {}), route
    methods = {route: set(resources[route]["resourceMethods"]) for route in ROUTES}
    assert methods["/api/chatbot/config"] == {"GET", "OPTIONS"}
    assert methods["/api/chatbot/send"] == {"POST", "OPTIONS"}
    integration = apigw.get_integration(restApiId=rest_id, resourceId=resources["/api/chatbot/send"]["id"],
                                        httpMethod="POST")
    assert integration["type"] == "AWS_PROXY"
    assert ":function:parley-dev/invocations" in integration["uri"]
    stage = apigw.get_stage(restApiId=rest_id, stageName="api")
    settings = stage["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (20.0, 40), \
        "infra/defaults.py throttles the dev REST stage"


def test_the_websocket_api_has_its_three_routes_and_stage(world):
    w = world
    v2 = w.client("apigatewayv2")
    api_id = w.deployed()["websocket_api_id"]
    (api,) = v2.get_apis()["Items"]
    assert api["ApiId"] == api_id and api["ProtocolType"] == "WEBSOCKET"
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id)["Items"]}
    assert sorted(routes) == ["$connect", "$default", "$disconnect"]
    integrations = {i["IntegrationId"]: i for i in v2.get_integrations(ApiId=api_id)["Items"]}
    for key, function in (("$connect", "websocket_connect"), ("$default", "websocket_message"),
                          ("$disconnect", "websocket_disconnect")):
        target = routes[key]["Target"]
        assert target.startswith("integrations/"), key
        assert f":function:parley-dev-{function}/invocations" in integrations[target.split("/", 1)[1]]["IntegrationUri"]
    stage = v2.get_stage(ApiId=api_id, StageName="api")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 20
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 40
    assert stage.get("DeploymentId"), "the stage serves a deployment"


def test_alarms_are_put_for_every_function(world):
    alarms = {a["AlarmName"] for a in world.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    expected = {f"{name}-{m}" for name, _ in FUNCTIONS.values() for m in ("errors", "throttles")}
    assert alarms == expected | {"parley-dev-rest-5xx", "parley-dev-throttled", "parley-dev-reply-dead-letters",
                                 "parley-dev-job-dead-letters"}


# chalice 1.34 gives the REST handler's retention to /aws/lambda/parley-dev-api_handler, a group
# nothing writes to; make deploy (infra/defaults.py) sets it on each function's real group.
def test_every_function_log_group_has_the_stage_retention(world):
    logs = world.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]}
    for name, _ in FUNCTIONS.values():
        assert groups.get(f"/aws/lambda/{name}", {}).get("retentionInDays") == 7, name


@pytest.fixture(scope="module")
def site(world) -> dict[str, Any]:
    """The `demo` site, created the way docs/deploy.md says (infra.sites against the deployed table)."""
    done = harness.run([sys.executable, "-m", "infra.sites", "create", "demo", "--origin", ORIGIN,
                        "--knowledge", "infra/local/demo-knowledge.json"], world.copy,
                       harness.aws_env(world.endpoint, PARLEY_TABLE="parley-dev"), timeout=60)
    return json.loads(done.stdout)


def the_deployed_zip(w: World) -> Path:
    """The zip Chalice built, checked to be the very bytes moto holds for each function."""
    (zip_path,) = (w.copy / ".chalice" / "deployments").glob("*.zip")
    digest = base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()
    lam = w.client("lambda")
    for name, _ in FUNCTIONS.values():
        assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == digest, name
    return zip_path


def start_handler(w: World, function: str = "parley-dev", handler_name: str = "app.app") -> harness.LambdaProcess:
    package = w.tmp / f"package-{len(list(w.tmp.glob('package-*')))}"
    with zipfile.ZipFile(the_deployed_zip(w)) as z:
        z.extractall(package)
    libs = w.tmp / "runtime-libs"
    if not libs.exists():
        harness.runtime_libs(libs)
    recorded = w.client("lambda").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    env = {**recorded, **harness.FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": w.endpoint,
           "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
           "LANG": "en_US.UTF-8", "TZ": ":UTC", "PATH": "/usr/bin:/bin"}
    handler = harness.LambdaProcess(package, libs, handler_name, env)
    stdlib = Path(sys.base_prefix).resolve()
    for path in handler.ready["paths"]:
        p = Path(path)
        assert (p.is_relative_to(package) or p.is_relative_to(libs) or p.resolve().is_relative_to(stdlib)
                or not p.is_absolute()), f"{path}: loaded from outside the zip and the runtime"
    assert any(Path(p).is_relative_to(package / "pydantic") for p in handler.ready["paths"]), \
        "the zip's own dependencies are imported"
    return handler


def body(response: dict[str, Any]) -> dict[str, Any]:
    assert "__error__" not in response, response.get("__error__")
    return json.loads(response["body"])


def test_the_deployed_zip_serves_a_conversation(world, site):
    assert site["site_key"] == "demo" and site["origins"] == [ORIGIN]
    handler = start_handler(world)
    try:
        h = {"Origin": ORIGIN}
        got = handler(harness.rest_event("GET", "/api/chatbot/config", query={"site_key": "demo"}, headers=h))
        assert got["statusCode"] == 200, got
        assert got["headers"].get("Access-Control-Allow-Origin") == ORIGIN
        config = body(got)
        assert config["site_key"] == "demo" and config["realtime"]["providers"] == ["polling"]

        got = handler(harness.rest_event("GET", "/api/chatbot/config", query={"site_key": "demo"},
                                         headers={"Origin": "https://evil.example"}))
        assert got["statusCode"] == 403 and body(got)["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in got["headers"]
        got = handler(harness.rest_event("GET", "/api/chatbot/config", query={"site_key": "nope"}, headers=h))
        assert got["statusCode"] == 404 and body(got)["error"]["code"] == "unknown_site"

        got = handler(harness.rest_event("POST", "/api/chatbot/init", query={"site_key": "demo"},
                                         body={"site_key": "demo"}, headers=h))
        assert got["statusCode"] == 201, got
        init = body(got)
        conversation, token = init["conversation_id"], init["token"]
        assert init["messages"] == [] and init["last_seq"] == 0 and init["resumed"] is False

        auth = {**h, "Authorization": f"Bearer {token}"}
        got = handler(harness.rest_event("POST", "/api/chatbot/send", query={"site_key": "demo"}, headers=auth,
                                         body={"conversation_id": conversation, "text": "How much does it cost?",
                                               "client_message_id": "e2e-1"}))
        assert got["statusCode"] == 201, got
        sent = body(got)
        assert sent["message"]["seq"] == 1 and sent["message"]["sender"] == "visitor"
        assert sent["reply"] and sent["reply"]["seq"] == 2 and sent["reply"]["text"], sent
        assert sent["duplicate"] is False and sent["last_seq"] == 2

        got = handler(harness.rest_event("GET", "/api/chatbot/messages", headers=auth, query={
            "site_key": "demo", "conversation_id": conversation, "after": "0"}))
        assert got["statusCode"] == 200, got
        page = body(got)
        assert [m["seq"] for m in page["messages"]] == [1, 2] and page["has_more"] is False
        assert [m["text"] for m in page["messages"]] == ["How much does it cost?", sent["reply"]["text"]]
        got = handler(harness.rest_event("GET", "/api/chatbot/messages", headers={**h, "Authorization": "Bearer v1.x.y"},
                                         query={"site_key": "demo", "conversation_id": conversation, "after": "0"}))
        assert got["statusCode"] == 401, got
    finally:
        logs = handler.close()
    assert TOKEN_SECRET not in logs, "the secret never reaches a log line"
    # The messages are in moto's table: the zip wrote through the endpoint it was given.
    items = world.client("dynamodb").scan(TableName="parley-dev")["Items"]
    assert sum(1 for i in items if conversation in json.dumps(i)) >= 3


def sqs_event(body: str, queue_arn: str) -> dict[str, Any]:
    """An SQS event of one record, as Lambda's event source mapping hands it to the function."""
    return {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": body, "attributes": {
        "ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "e2e",
        "ApproximateFirstReceiveTimestamp": "0"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION}]}


def test_the_deployed_job_worker_runs_a_job_and_sends_to_its_own_queue(world):
    """The zip's job_worker, with the environment moto recorded for it, re-queues a job not yet due
    to the table stack's job queue (its role's SendMessage), and drops what is no job."""
    import time

    w = world
    name, handler_name = FUNCTIONS["job_worker"]
    env = w.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    url = env["PARLEY_JOB_QUEUE_URL"]
    sqs = w.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handler = start_handler(w, name, handler_name)
    try:
        job = {"kind": "notify", "conversation_id": "c-1", "site_key": "demo", "due": 1}
        got = handler({**sqs_event(json.dumps({**job, "not_before": int(time.time()) + 4}), arn),
                       "__function__": name})
        assert got is None, got  # an SQS handler returns nothing; a raise would fail the batch
        got = handler({**sqs_event("not a job", arn), "__function__": name})
        assert got is None, f"a record that is no job is dropped, not retried: {got}"
        received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
        assert bodies == [job], "the job, sent on to run when due, on the stack's own queue"
    finally:
        logs = handler.close()
    assert "not a job of a known kind" in logs


def test_second_deploy_with_the_websocket_provider(world):
    w = world
    from infra.deploy import write_stage_env

    api_id = w.deployed()["websocket_api_id"]
    write_stage_env(STAGE, {"PARLEY_REALTIME_PROVIDERS": "websocket,polling"},
                    config_path=w.copy / ".chalice" / "config.json")
    out = w.deploy("websocket")
    # The API's id is known from the first deploy, so one pass sets the URLs and the provider.
    assert chalice_passes(out) == 1, out
    assert w.deployed()["websocket_api_id"] == api_id, "the same WebSocket API, updated in place"
    env = w.stage_env()
    url = f"wss://{api_id}.execute-api.{REGION}.amazonaws.com/api"
    assert env["PARLEY_REALTIME_PROVIDERS"] == "websocket,polling"
    assert env["PARLEY_WEBSOCKET_URL"] == url
    assert env["PARLEY_WEBSOCKET_ENDPOINT"] == f"https://{api_id}.execute-api.{REGION}.amazonaws.com/api"
    check_functions(w, env)
    check_policies(w, api_id)
    check_event_sources(w)
    routes = sorted(r["RouteKey"] for r in w.client("apigatewayv2").get_routes(ApiId=api_id)["Items"])
    assert routes == ["$connect", "$default", "$disconnect"]

    handler = start_handler(w)
    try:
        got = handler(harness.rest_event("GET", "/api/chatbot/config", query={"site_key": "demo"},
                                         headers={"Origin": ORIGIN}))
        realtime = body(got)["realtime"]
        assert realtime["providers"] == ["websocket", "polling"] and realtime["websocket"]["url"] == url
    finally:
        handler.close()


def test_chalice_delete_then_the_table_stack_keeps_the_table(world):
    w = world
    template = json.loads((w.copy / "infra" / "table.json").read_text())
    assert template["Resources"]["ParleyTable"]["DeletionPolicy"] == "Retain"
    out = harness.chalice(["delete", "--stage", STAGE], w.copy, w.endpoint).stdout
    assert "Deleting Rest API" in out, out
    assert w.client("lambda").list_functions()["Functions"] == []
    assert w.client("apigateway").get_rest_apis()["items"] == []
    assert w.client("apigatewayv2").get_apis()["Items"] == []
    roles = [r["RoleName"] for r in w.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith("parley-dev")], roles

    cloudformation = w.client("cloudformation")
    cloudformation.delete_stack(StackName="parley-dev-table")
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName="parley-dev-table", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert "parley-dev" in w.client("dynamodb").list_tables()["TableNames"], "DeletionPolicy Retain"
    items = w.client("dynamodb").scan(TableName="parley-dev")["Items"]
    assert items, "the conversations are still there"


def test_a_fresh_stage_with_the_websocket_provider_deploys_twice(world):
    """The first deploy of a `websocket,polling` stage: a pass without the provider, then one with its URLs."""
    import urllib.request

    w = world
    urllib.request.urlopen(urllib.request.Request(f"{w.endpoint}/moto-api/reset", method="POST"), timeout=30)
    fresh = World(w.endpoint, harness.copy_repository(w.tmp / "fresh"), w.tmp)
    from infra.deploy import write_stage_env

    write_stage_env(STAGE, {"PARLEY_REALTIME_PROVIDERS": "websocket,polling"},
                    config_path=fresh.copy / ".chalice" / "config.json")
    fresh.client("ssm").put_parameter(Name="/parley/dev/token-secret", Value=TOKEN_SECRET, Type="SecureString")
    out = fresh.deploy("fresh-websocket")
    assert chalice_passes(out) == 2, out
    first, second = out.split("Resources deployed:")[:2]
    assert "Creating lambda function: parley-dev\n" in first and "Creating websocket api" in first
    assert "Updating lambda function: parley-dev\n" in second
    api_id = fresh.deployed()["websocket_api_id"]
    env = fresh.stage_env()
    assert env["PARLEY_REALTIME_PROVIDERS"] == "websocket,polling", "config.json gets its providers back"
    assert env["PARLEY_WEBSOCKET_URL"] == f"wss://{api_id}.execute-api.{REGION}.amazonaws.com/api"
    check_functions(fresh, env)
    check_policies(fresh, api_id)
