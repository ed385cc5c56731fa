"""`make package STAGE=…`: chalice package with the table template merged in, into out/<stage>/.

    python -m infra.package --stage dev [--out out/dev]

Offline: nothing is sent to AWS. The merge template is infra/table.json with
the stage's parameter defaults, so the packaged stack creates the table the
app is configured for (PARLEY_TABLE in .chalice/config.json), and the reply
and job queues, which every function is pointed at and the reply and job
workers' event sources read (``queue_wiring``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.defaults import (ALARM_PERIOD_SECONDS, DEAD_LETTER_DESCRIPTION, DEAD_LETTER_METRIC,
                            JOB_DEAD_LETTER_DESCRIPTION, NOT_FOUND_RESPONSE, REST_THROTTLE, WEBSOCKET_THROTTLE,
                            alarm_properties)
from infra.policy import api_stage, table_name
from infra.runtime import require_lambda_python
from infra.table import TEMPLATE

ROOT = Path(__file__).resolve().parents[1]
WEBSOCKET_SETTINGS = ("PARLEY_WEBSOCKET_URL", "PARLEY_WEBSOCKET_ENDPOINT")
# Each queue's setting -> its resource in infra/table.json, and the name's ending that tells an
# event source's queue (as Chalice wrote it, from app.py) which of them it is.
QUEUES = {"PARLEY_REPLY_QUEUE_URL": ("ReplyQueue", "-replies.fifo"), "PARLEY_JOB_QUEUE_URL": ("JobQueue", "-jobs")}
# Only for importing app.py while Chalice reads its routes: the settings
# refuse the websocket provider without URLs, and the real ones exist only
# once the stack does. They never reach the template (websocket_wiring).
IMPORT_PLACEHOLDERS = {"PARLEY_WEBSOCKET_URL": "wss://websocket-api.invalid/api",
                       "PARLEY_WEBSOCKET_ENDPOINT": "https://websocket-api.invalid/api"}


def merge_template(stage: str) -> dict:
    template = json.loads(TEMPLATE.read_text())
    template["Parameters"]["Stage"]["Default"] = stage
    template["Parameters"]["TableName"]["Default"] = table_name(stage)
    return template


def pin_to_this_stack(template: dict) -> dict:
    """Narrows the policy's wildcards to this stack's own region, account and WebSocket API.

    The policy file has to serve `chalice deploy` too, where nothing is known
    before the first deploy; in a CloudFormation template the stack knows.
    """
    text = json.dumps(template)
    # Whatever the policy file names (wildcards, or what `make deploy` pinned
    # for one account), the packaged stack gets its own.
    text = re.sub(r'"arn:aws:execute-api:[^:"]*:[^:"]*:[^/"]*/',
                  '"arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/', text)
    text = re.sub(r'"arn:aws:(dynamodb|ssm|logs|sqs|ses):[^:"]*:[^:"]*:',
                  r'"arn:aws:\1:${AWS::Region}:${AWS::AccountId}:', text)
    # Bedrock's account-bound resources (inference profiles, guardrails); foundation
    # models have no account and stay in any region (cross-region inference).
    text = re.sub(r'"arn:aws:bedrock:[^:"]*:[^:"]+:', '"arn:aws:bedrock:${AWS::Region}:${AWS::AccountId}:', text)
    pinned = json.loads(text)
    for resource in pinned["Resources"].values():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                arns = statement["Resource"]
                statement["Resource"] = ([_sub(a) for a in arns] if isinstance(arns, list) else _sub(arns))
    return pinned


def stage_environment(stage: str) -> dict[str, str]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage].get(
        "environment_variables", {})


def websocket_wiring(template: dict, stage: str) -> dict:
    """Points every function's WebSocket settings at this stack's own WebSocket API.

    Whatever config.json holds (nothing before the first deploy, or the URLs
    `make deploy` wrote for another stack), a packaged stack's functions must
    push to, and send widgets to, the API the same stack creates, which is
    also the only one its policy allows.
    """
    providers = stage_environment(stage).get("PARLEY_REALTIME_PROVIDERS", "polling")
    host = "${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + api_stage(stage)
    wiring = {"PARLEY_WEBSOCKET_URL": {"Fn::Sub": f"wss://{host}"},
              "PARLEY_WEBSOCKET_ENDPOINT": {"Fn::Sub": f"https://{host}"}}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        for name in WEBSOCKET_SETTINGS:
            variables.pop(name, None)
        if "websocket" in providers:
            variables.update(wiring)
    return template


def queue_wiring(template: dict) -> dict:
    """Points every function at this stack's own reply and job queues, and each worker's event source at its own.

    Whatever config.json holds (the URLs `make deploy` wrote for another
    stack, or nothing), the functions send to the queues the same stack
    creates, and each event source names its queue by its ``Arn``, so
    CloudFormation creates the queue before the mapping that reads it. Which
    queue an event source reads is told by the name Chalice gave it (app.py's
    ``reply_queue_name`` / ``job_queue_name``); one that is neither is an error.
    """
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        for setting, (queue, _) in QUEUES.items():
            variables[setting] = {"Ref": queue}
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "SQS":
                event["Properties"]["Queue"] = {"Fn::GetAtt": [_queue_of(event["Properties"]["Queue"]), "Arn"]}
    return template


def _queue_of(arn: object) -> str:
    """The template's queue resource an event source's queue ARN (a string, or a Sub of one) names."""
    text = arn.get("Fn::Sub", "") if isinstance(arn, dict) else str(arn)
    name = text.rsplit(":", 1)[-1]
    for queue, ending in QUEUES.values():
        if name.endswith(ending):
            return queue
    raise ValueError(f"an SQS event source reads {arn!r}, which is none of this stack's queues")


def fix_log_groups(template: dict) -> dict:
    """Points each log group at its function's real logical id.

    With ``log_retention_in_days``, `chalice package` names the REST function
    ``APIHandler`` but writes its log group as ``/aws/lambda/${ApiHandler}``,
    a reference to nothing (cfn-lint E1019/E3030). The group is matched to
    its function by name, case aside.
    """
    functions = {n.lower(): n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Logs::LogGroup":
            continue
        name = resource["Properties"].get("LogGroupName")
        if isinstance(name, dict) and "Fn::Sub" in name:
            ref = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", name["Fn::Sub"])
            if ref and ref.group(1) not in template["Resources"] and ref.group(1).lower() in functions:
                name["Fn::Sub"] = "/aws/lambda/${%s}" % functions[ref.group(1).lower()]
    return template


def production_defaults(template: dict, stage: str) -> dict:
    """Stage throttling on both APIs, and alarms (with an optional e-mail topic)."""
    resources = template["Resources"]
    rate, burst = REST_THROTTLE[stage]
    for resource in resources.values():
        if resource["Type"] == "AWS::Serverless::Api":
            resource["Properties"]["MethodSettings"] = [{"ResourcePath": "/*", "HttpMethod": "*",
                                                         "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}]
            resource["Properties"]["Name"] = {"Ref": "AWS::StackName"}  # the ApiName the 5xx alarm watches
    rate, burst = WEBSOCKET_THROTTLE[stage]
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGatewayV2::Stage":
            resource["Properties"]["DefaultRouteSettings"] = {"ThrottlingRateLimit": rate,
                                                              "ThrottlingBurstLimit": burst}
    template.setdefault("Parameters", {})["AlarmEmail"] = {
        "Type": "String", "Default": "",
        "Description": "An address to e-mail when an alarm fires (empty: alarms without notification)"}
    template.setdefault("Conditions", {})["HasAlarmEmail"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    resources["AlarmTopic"] = {"Type": "AWS::SNS::Topic", "Condition": "HasAlarmEmail",
                               "Properties": {"Subscription": [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]}}
    actions = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}

    def alarm(name: str, namespace: str, metric: str, dimensions: list[dict], description: str) -> None:
        resources[name] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            **alarm_properties(namespace, metric, dimensions, description), "AlarmActions": actions}}

    for name in [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]:
        for metric in ("Errors", "Throttles"):
            alarm(f"{name}{metric}Alarm", "AWS/Lambda", metric, [{"Name": "FunctionName", "Value": {"Ref": name}}],
                  f"{name}: any {metric.lower()} in {ALARM_PERIOD_SECONDS // 60} minutes")
    alarm("RestAPI5xxAlarm", "AWS/ApiGateway", "5XXError",
          [{"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}}, {"Name": "Stage", "Value": api_stage(stage)}],
          "The REST API answered 5xx (Parley answers 5xx only for bugs and for 503 unavailable)")
    resources["NotFoundGatewayResponse"] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
        "RestApiId": {"Ref": "RestAPI"}, **NOT_FOUND_RESPONSE}}
    alarm("TableThrottlesAlarm", "AWS/DynamoDB", "ThrottledRequests",
          [{"Name": "TableName", "Value": {"Ref": "ParleyTable"}}], "DynamoDB throttled requests to the table")
    alarm("ReplyDeadLettersAlarm", "AWS/SQS", DEAD_LETTER_METRIC,
          [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ReplyDeadLetterQueue", "QueueName"]}}],
          DEAD_LETTER_DESCRIPTION)
    resources["ReplyDeadLettersAlarm"]["Properties"]["Statistic"] = "Maximum"
    alarm("JobDeadLettersAlarm", "AWS/SQS", DEAD_LETTER_METRIC,
          [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobDeadLetterQueue", "QueueName"]}}],
          JOB_DEAD_LETTER_DESCRIPTION)
    resources["JobDeadLettersAlarm"]["Properties"]["Statistic"] = "Maximum"
    return template


def _sub(arn: str) -> object:
    return {"Fn::Sub": arn} if "${" in arn else arn


def package(stage: str, out: Path) -> Path:
    """Runs chalice package for a stage; returns the packaged template's path."""
    require_lambda_python()
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice package needs one, offline or not
    for name in list(env):
        # The stage's own settings come from config.json; a developer's local ones must not leak in.
        if name.startswith(("PARLEY_", "PUSHER_", "AWS_ENDPOINT_URL")):
            env.pop(name)
    env.update(IMPORT_PLACEHOLDERS)  # config.json's own values, if any, win inside chalice
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "merge.json"
        merge.write_text(json.dumps(merge_template(stage)))
        subprocess.run([str(Path(sys.executable).with_name("chalice")), "package", "--stage", stage,
                        "--merge-template", str(merge), str(out)], cwd=ROOT, env=env, check=True)
    sam = out / "sam.json"
    template = queue_wiring(websocket_wiring(pin_to_this_stack(json.loads(sam.read_text())), stage))
    template = production_defaults(fix_log_groups(template), stage)
    sam.write_text(json.dumps(template, indent=2))
    return sam


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    print(package(args.stage, args.out or ROOT / "out" / args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
