"""Least-privilege IAM policy for Parley's Lambdas: .chalice/policy-<stage>.json.

    python -m infra.policy --stage prod [--region eu-west-1] [--account 123456789012]
                           [--websocket-api-id abc123] [--check]

Chalice's automatic policy only sees app.py, and every AWS call Parley makes
is in chalicelib, so `autogen_policy` is off and this renders the policy:

* DynamoDB: the item actions Parley uses (transactions need the per-item
  actions, there is no TransactWriteItems action), on this table and its
  indexes only;
* SSM: GetParameter on this stage's own parameters (/parley/<stage>/*) only;
* API Gateway: ManageConnections on this WebSocket API's stage only. Before
  the first deploy its id is unknown; the policy then names any API of this
  account's region (`make deploy` renders it again with the id and redeploys);
* CloudWatch Logs on this app's own log groups (a packaged stack must be named
  parley-<stage> for its generated function names to match);
* SQS: SendMessage on this stage's reply queue for the REST handler (a send
  enqueues a streaming engine's reply job), and for the reply worker what
  Lambda's event source mapping needs of the function's role (ReceiveMessage,
  DeleteMessage, GetQueueAttributes) on that queue only. SendMessage on the
  stage's job queue (standard, ``<table>-jobs``) for the REST handler (a send,
  an agent's reply or a status change enqueues webhook, notification and
  transcript jobs) and the reply worker (a bot reply sets off webhooks, a
  handoff a notification); the job worker consumes that queue and sends to it
  too (a webhook's retry, a delay past SQS's 15 minutes chained);
* SES, for the job worker only: SendEmail (what SES v2's SendEmail is
  authorized as) on this account's identities in the region. Its webhook
  deliveries are plain HTTPS to the receivers and need no IAM;
* Bedrock, for the reply worker only: InvokeModel and
  InvokeModelWithResponseStream (what Converse and ConverseStream are
  authorized as) on foundation models in any region (a cross-region inference
  profile routes to others) and on this account's inference profiles, and
  ApplyGuardrail on this account's guardrails.

Each function gets only the statements it needs (``FUNCTION_NEEDS``): the REST
handler the table, SSM, push, logs and SendMessage on both queues; ``$connect``
no push (API Gateway refuses posts from inside it anyway); ``$default`` no SSM
(it checks no token); ``$disconnect`` only the table and its logs; the reply
worker the table, SSM (the Pusher secret), push, logs, its queue, Bedrock and
SendMessage on the job queue; the job worker the table, logs, its queue (both
ways) and SES: no SSM (it reads neither the token key nor the Pusher secret;
a webhook's signing secret is in the table) and no push.
The REST handler's policy is .chalice/policy-<stage>.json, the others
.chalice/policy-<stage>-<function>.json, named for Chalice in config.json's
``lambda_functions``.

``--check`` exits 1 when the file on disk is not what would be rendered for
the region, account and API id it names (`make deploy` pins them).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHALICE_DIR = ROOT / ".chalice"
APP_NAME = "parley"
DEFAULT_API_STAGE = "api"  # Chalice's default api_gateway_stage

# What chalicelib calls, as IAM sees it: a TransactWriteItems is authorized
# item by item (PutItem, UpdateItem, DeleteItem, and ConditionCheckItem for the
# token-version check of $connect), there is no action of its own. BatchWriteItem:
# a visitor's delete of their conversation.
DYNAMODB_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem"]


# Chalice's function names -> the statements (by Sid) each one's role holds.
FUNCTION_NEEDS: dict[str, tuple[str, ...]] = {
    # a send enqueues a streaming reply; a send, an agent's reply, a status change webhook and notify jobs
    "api_handler": ("ParleyTable", "ParleySecrets", "ParleyWebSocketPush", "ParleyLogs", "ParleyReplyQueueSend",
                    "ParleyJobQueueSend"),
    "websocket_connect": ("ParleyTable", "ParleySecrets", "ParleyLogs"),
    # typing relays go to Pusher too, which takes its secret
    "websocket_message": ("ParleyTable", "ParleySecrets", "ParleyWebSocketPush", "ParleyLogs"),
    "websocket_disconnect": ("ParleyTable", "ParleyLogs"),
    # app.py's on_sqs_message handler: streams a Bedrock reply, stores and pushes it
    # (a bot reply sets off webhooks, a handoff a team notification: jobs)
    "reply_worker": ("ParleyTable", "ParleySecrets", "ParleyWebSocketPush", "ParleyLogs", "ParleyReplyQueueConsume",
                     "ParleyBedrock", "ParleyJobQueueSend"),
    # the second on_sqs_message handler: notifications and transcripts by SES, webhook deliveries
    # (outbound HTTPS, no IAM); it re-queues a webhook's retry and chains a long delay
    "job_worker": ("ParleyTable", "ParleyLogs", "ParleyJobQueueConsume", "ParleyJobQueueSend", "ParleyMail"),
}
# What Lambda's SQS event source needs of the function's own role (AWSLambdaSQSQueueExecutionRole).
SQS_CONSUME_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
BEDROCK_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:ApplyGuardrail"]
# SES v2's SendEmail is authorized as ses:SendEmail, on the sending identity (and each recipient's in the sandbox).
SES_ACTIONS = ["ses:SendEmail"]
REST_HANDLER = "api_handler"


def table_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def reply_queue_name(stage: str) -> str:
    """The stage's reply queue, as infra/table.json names it (after the table)."""
    from chalicelib.settings import reply_queue_for

    return reply_queue_for(table_name(stage))


def job_queue_name(stage: str) -> str:
    """The stage's job queue, as infra/table.json names it (after the table)."""
    from chalicelib.settings import job_queue_for

    return job_queue_for(table_name(stage))


def ssm_prefix(stage: str) -> str:
    return f"/{APP_NAME}/{stage}/"


def api_stage(stage: str, config_path: Path | None = None) -> str:
    """The API Gateway stage name Chalice deploys a Chalice stage's REST and WebSocket APIs to.

    Chalice looks up ``api_gateway_stage`` in the stage's section of
    .chalice/config.json, then at the top level, then defaults to ``api``.
    """
    config = json.loads((config_path or CHALICE_DIR / "config.json").read_text())
    section = config.get("stages", {}).get(stage, {})
    return section.get("api_gateway_stage") or config.get("api_gateway_stage") or DEFAULT_API_STAGE


def render(stage: str, region: str = "*", account: str = "*",
           websocket_api_id: str | None = None, function: str = REST_HANDLER) -> dict[str, Any]:
    table = f"arn:aws:dynamodb:{region}:{account}:table/{table_name(stage)}"
    api = websocket_api_id or "*"
    api_gateway_stage = api_stage(stage)
    statements = [
            {"Sid": "ParleyTable", "Effect": "Allow", "Action": DYNAMODB_ACTIONS,
             "Resource": [table, f"{table}/index/*"]},
            {"Sid": "ParleySecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"],
             "Resource": f"arn:aws:ssm:{region}:{account}:parameter{ssm_prefix(stage)}*"},
            {"Sid": "ParleyWebSocketPush", "Effect": "Allow", "Action": ["execute-api:ManageConnections"],
             # POST only: Parley pushes; it never reads or closes a connection.
             "Resource": f"arn:aws:execute-api:{region}:{account}:{api}/{api_gateway_stage}/POST/@connections/*"},
            # `chalice deploy` names the HTTP function parley-<stage> and the WebSocket
            # ones parley-<stage>-<handler>; a packaged stack named parley-<stage>
            # gets parley-<stage>-<logical id>-<suffix>.
            {"Sid": "ParleyLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{APP_NAME}-{stage}:*",
                          f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{APP_NAME}-{stage}-*"]},
            {"Sid": "ParleyReplyQueueSend", "Effect": "Allow", "Action": ["sqs:SendMessage"],
             "Resource": f"arn:aws:sqs:{region}:{account}:{reply_queue_name(stage)}"},
            {"Sid": "ParleyReplyQueueConsume", "Effect": "Allow", "Action": SQS_CONSUME_ACTIONS,
             "Resource": f"arn:aws:sqs:{region}:{account}:{reply_queue_name(stage)}"},
            {"Sid": "ParleyJobQueueSend", "Effect": "Allow", "Action": ["sqs:SendMessage"],
             "Resource": f"arn:aws:sqs:{region}:{account}:{job_queue_name(stage)}"},
            {"Sid": "ParleyJobQueueConsume", "Effect": "Allow", "Action": SQS_CONSUME_ACTIONS,
             "Resource": f"arn:aws:sqs:{region}:{account}:{job_queue_name(stage)}"},
            # The From identity (a verified domain or address) and, while the account is in the SES
            # sandbox, each verified recipient: this account's identities in this region.
            {"Sid": "ParleyMail", "Effect": "Allow", "Action": SES_ACTIONS,
             "Resource": f"arn:aws:ses:{region}:{account}:identity/*"},
            # Foundation models have no account in their ARN, and a cross-region inference
            # profile may route a call to another region's model: any region, models only.
            {"Sid": "ParleyBedrock", "Effect": "Allow", "Action": BEDROCK_ACTIONS,
             "Resource": ["arn:aws:bedrock:*::foundation-model/*",
                          f"arn:aws:bedrock:{region}:{account}:inference-profile/*",
                          f"arn:aws:bedrock:{region}:{account}:guardrail/*"]},
    ]
    needs = FUNCTION_NEEDS[function]
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Sid"] in needs]}


def pinned_to(policy: dict[str, Any]) -> tuple[str, str, str | None]:
    """The (region, account, WebSocket API id) a rendered policy names."""
    arns = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    _, _, _, region, account, _ = arns["ParleyTable"][0].split(":", 5)
    api = arns["ParleyWebSocketPush"].split(":", 5)[5].split("/", 1)[0]
    return region, account, None if api == "*" else api


def policy_file(stage: str, function: str = REST_HANDLER) -> str:
    return f"policy-{stage}.json" if function == REST_HANDLER else f"policy-{stage}-{function}.json"


def policy_path(stage: str, function: str = REST_HANDLER) -> Path:
    return CHALICE_DIR / policy_file(stage, function)


def write(stage: str, policy: dict[str, Any], function: str = REST_HANDLER) -> Path:
    path = policy_path(stage, function)
    path.write_text(json.dumps(policy, indent=2) + "\n")
    return path


def write_all(stage: str, region: str = "*", account: str = "*",
              websocket_api_id: str | None = None) -> list[Path]:
    """Every function's policy file for this stage, pinned alike."""
    return [write(stage, render(stage, region, account, websocket_api_id, fn), fn) for fn in FUNCTION_NEEDS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--region", default="*")
    parser.add_argument("--account", default="*")
    parser.add_argument("--websocket-api-id")
    parser.add_argument("--check", action="store_true", help="only compare with the file on disk")
    args = parser.parse_args(argv)
    if args.check:
        # The REST handler's file names every statement, so it tells what the set is pinned to.
        pins = pinned_to(json.loads(policy_path(args.stage).read_text()))
        for function in FUNCTION_NEEDS:
            path = policy_path(args.stage, function)
            if not path.exists() or json.loads(path.read_text()) != render(args.stage, *pins, function):
                print(f"{path} is out of date: python -m infra.policy --stage {args.stage}", file=sys.stderr)
                return 1
        return 0
    for path in write_all(args.stage, args.region, args.account, args.websocket_api_id):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
