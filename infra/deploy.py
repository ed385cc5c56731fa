"""`make deploy STAGE=…`: the table stack, then `chalice deploy`, then the widget snippet.

    python -m infra.deploy --stage prod

1. Deploys infra/table.json as the CloudFormation stack parley-<stage>-table
   (created, or updated when it exists) and waits for it: the table, the
   reply queue of streaming bot engines and the job queue of later work
   (notifications, transcripts, webhook deliveries), each with its
   dead-letter queue. The queues' URLs go into the stage's environment
   (PARLEY_REPLY_QUEUE_URL, PARLEY_JOB_QUEUE_URL), from which app.py names
   the reply worker's and the job worker's event sources.
2. Checks that the stage's SSM secrets exist (it never reads their values),
   and refuses a stage that sets PARLEY_WEBHOOK_ALLOW_LOOPBACK (local only).
   PARLEY_MAIL_FROM and PARLEY_CONSOLE_URL, when set in the deployer's
   environment, go into the stage's (as PARLEY_CONSOLE_ORIGINS does); a
   From address whose SES identity is not verified is warned about.
   Finds or creates the agents' Cognito user pool ``parley-<stage>-agents`` and
   its console app client, and writes PARLEY_COGNITO_ISSUER /
   PARLEY_COGNITO_CLIENT_ID (and PARLEY_CONSOLE_ORIGINS when given) into the
   stage's environment. (CloudFormation could hold the pool too; it is made
   through the Cognito API so the offline deploy, on moto, proves it.)
3. Renders .chalice/policy-<stage>.json for this account and region and runs
   `chalice deploy --stage <stage>`.
4. On the first deploy of a stage with the `websocket` provider, the WebSocket
   API's id is known only afterwards: the first pass deploys without that
   provider (the settings refuse it without its URLs), then the script writes
   PARLEY_WEBSOCKET_URL / PARLEY_WEBSOCKET_ENDPOINT into the stage's
   environment in .chalice/config.json and the API's id into the policy, and
   deploys again.
5. Applies what Chalice's config cannot express (infra/defaults.py): stage
   throttling on the REST and WebSocket APIs, and CloudWatch alarms, e-mailed
   through an SNS topic when PARLEY_ALARM_EMAIL is set.
6. Prints the widget snippet with the real API URL, and the agent console's
   config.json (the console is static files: console/dist, next to the widget).

Keep .chalice/deployed/<stage>.json and the updated config.json: Chalice
needs the first to find what it created.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra import defaults, policy
from infra.runtime import require_lambda_python
from infra.table import TEMPLATE

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".chalice" / "config.json"


def table_stack_name(stage: str) -> str:
    return f"parley-{stage}-table"


def deploy_table_stack(cloudformation: Any, stage: str) -> dict[str, str]:
    """Creates or updates the table stack and waits; returns its outputs."""
    name = table_stack_name(stage)
    params = [{"ParameterKey": "Stage", "ParameterValue": stage},
              {"ParameterKey": "TableName", "ParameterValue": policy.table_name(stage)}]
    try:
        status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" not in str(exc):
            raise  # access denied, throttling: not a reason to try creating it
        status = None
    if status == "ROLLBACK_COMPLETE":
        raise SystemExit(f"deploy: stack {name} failed to create earlier; delete it "
                         f"(aws cloudformation delete-stack --stack-name {name}) and run again")
    exists = status is not None
    # The prod table stack holds every conversation: deleting it takes a deliberate second step.
    protect = stage == "prod"
    if exists:
        try:
            cloudformation.update_stack(StackName=name, TemplateBody=TEMPLATE.read_text(), Parameters=params)
            cloudformation.get_waiter("stack_update_complete").wait(StackName=name)
        except cloudformation.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    else:
        cloudformation.create_stack(StackName=name, TemplateBody=TEMPLATE.read_text(), Parameters=params,
                                    EnableTerminationProtection=protect)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if protect and not stack.get("EnableTerminationProtection"):
        # An older prod stack, made before this default: protect it now.
        cloudformation.update_termination_protection(EnableTerminationProtection=True, StackName=name)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def queue_settings(outputs: dict[str, str]) -> dict[str, str]:
    """The stage's queue settings (the reply queue, the job queue), from the table stack's outputs."""
    return {"PARLEY_REPLY_QUEUE_URL": outputs["ReplyQueueUrl"], "PARLEY_JOB_QUEUE_URL": outputs["JobQueueUrl"]}


# Settings a deploy takes from the deployer's environment into the stage's, when set there.
PASSED_SETTINGS = ("PARLEY_CONSOLE_ORIGINS", "PARLEY_MAIL_FROM", "PARLEY_CONSOLE_URL")
# Settings for the local stage alone: a deployed stage that sets one is refused.
LOCAL_ONLY_SETTINGS = ("PARLEY_WEBHOOK_ALLOW_LOOPBACK",)


def local_only_settings(env: dict[str, str]) -> list[str]:
    """The local-only settings a stage's environment sets (to anything but empty or false)."""
    return [k for k in LOCAL_ONLY_SETTINGS
            if str(env.get(k, "")).strip().lower() not in ("", "false", "0", "no", "off")]


def passed_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in PASSED_SETTINGS if environ.get(k)}


def mail_identity_problem(sesv2: Any, mail_from: str | None) -> str | None:
    """Why SES would refuse ``mail_from`` (its address's or domain's identity is not verified), or None.

    Only a warning: SES's verification can finish after the deploy, and no
    mail is lost meanwhile (the job worker retries a failed notification).
    """
    if not mail_from:
        return ("PARLEY_MAIL_FROM is not set: no notification or transcript email is sent "
                "(docs/deploy.md, Email)")
    address = mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
    for identity in (address, address.rsplit("@", 1)[-1]):
        try:
            found = sesv2.get_email_identity(EmailIdentity=identity)
        except Exception:  # NotFoundException, or no permission to look: try the next, then warn
            continue
        if found.get("VerifiedForSendingStatus") or found.get("VerificationStatus") == "SUCCESS":
            return None
    return (f"SES has no verified identity for {address} or its domain in this region: "
            f"verify one before emails can go (docs/deploy.md, Email)")


def missing_secrets(ssm: Any, env: dict[str, str]) -> list[str]:
    """The SSM parameters the stage names but that do not exist (values are never read)."""
    names = [env[k] for k in ("PARLEY_TOKEN_SECRET_PARAM", "PUSHER_SECRET_PARAM") if env.get(k)]
    if not names:
        return []
    found = ssm.get_parameters(Names=names, WithDecryption=False)
    return sorted(set(names) - {p["Name"] for p in found["Parameters"]})


def read_deployed(stage: str, root: Path | None = None) -> dict[str, Any]:
    """What .chalice/deployed/<stage>.json says Chalice created: API URLs and ids, function names."""
    path = (root or ROOT) / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return {}
    found: dict[str, Any] = {}
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "lambda_function" and resource.get("lambda_arn"):
            found.setdefault("functions", []).append(resource["lambda_arn"].rsplit(":", 1)[-1])
        if resource.get("resource_type") == "rest_api":
            found["rest_api_url"] = resource["rest_api_url"]
            if resource.get("rest_api_id"):
                found["rest_api_id"] = resource["rest_api_id"]
        elif resource.get("resource_type") == "websocket_api":
            found["websocket_api_id"] = resource["websocket_api_id"]
            found["websocket_api_url"] = resource["websocket_api_url"]
    return found


def websocket_settings(websocket_api_url: str) -> dict[str, str]:
    """The two settings a WebSocket API needs, from the URL Chalice reports (wss://…/api/)."""
    url = websocket_api_url.rstrip("/")
    return {"PARLEY_WEBSOCKET_URL": url, "PARLEY_WEBSOCKET_ENDPOINT": "https://" + url.split("://", 1)[1]}


def without_provider(providers: str, name: str) -> str:
    return ",".join(p for p in providers.split(",") if p.strip() and p.strip() != name) or "polling"


def snippet(rest_api_url: str, site_key: str = "YOUR-SITE-KEY") -> str:
    api = rest_api_url.rstrip("/")
    return (f'<script src="https://YOUR-STATIC-HOST/parley.js" data-site-key="{site_key}"\n'
            f'        data-api="{api}" async></script>')


def write_stage_env(stage: str, updates: dict[str, str], config_path: Path | None = None) -> dict[str, str]:
    config_path = config_path or CONFIG
    config = json.loads(config_path.read_text())
    env = config["stages"][stage].setdefault("environment_variables", {})
    env.update(updates)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return env


AGENT_CLIENT_NAME = "parley-console"


def agents_pool(cognito: Any, stage: str, region: str) -> dict[str, str]:
    """The agents' user pool and the console's app client, found by name or created; their settings.

    Found by name so a second deploy reuses the pool (and every agent in it).
    Only admins create users (agents are invited: python -m infra.sites
    invite); the app client has no secret (the console is a browser app) and
    allows password sign-in and refresh.
    """
    name = f"parley-{stage}-agents"
    pool_id = None
    for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        pool_id = next((p["Id"] for p in page["UserPools"] if p["Name"] == name), pool_id)
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=name, UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
            Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireNumbers": True, "RequireLowercase": True,
                                         "RequireUppercase": False, "RequireSymbols": False,
                                         "TemporaryPasswordValidityDays": 7}},
            DeletionProtection="ACTIVE" if stage == "prod" else "INACTIVE")["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == AGENT_CLIENT_NAME), None)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=AGENT_CLIENT_NAME, GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            PreventUserExistenceErrors="ENABLED", IdTokenValidity=60, AccessTokenValidity=60,
            RefreshTokenValidity=30,
            TokenValidityUnits={"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"},
        )["UserPoolClient"]["ClientId"]
    return {"PARLEY_COGNITO_ISSUER": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
            "PARLEY_COGNITO_CLIENT_ID": client_id, "pool_id": pool_id}


def console_config(rest_api_url: str, agents: dict[str, str], region: str) -> dict[str, Any]:
    """The console's config.json for this deploy (docs/agent-api.md)."""
    # The same API base the widget's snippet names (data-api).
    return {"api": rest_api_url.rstrip("/"),
            "cognito": {"endpoint": f"https://cognito-idp.{region}.amazonaws.com/", "region": region,
                        "client_id": agents["PARLEY_COGNITO_CLIENT_ID"]}}


def chalice_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `chalice deploy` runs in: the deployer's, without Parley's own settings.

    The stage's settings come from .chalice/config.json alone, so a developer's
    local PARLEY_/PUSHER_ values must not leak into the functions. The AWS
    ones stay, endpoints included: botocore reads AWS_ENDPOINT_URL(_<SERVICE>)
    in Chalice exactly as in this script, so the table stack, the secret
    check, the account id and Chalice's own calls all reach one place.
    """
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if not k.startswith(("PARLEY_", "PUSHER_"))}


def chalice_deploy(stage: str) -> None:
    chalice = str(Path(sys.executable).with_name("chalice"))
    subprocess.run([chalice, "deploy", "--stage", stage], cwd=ROOT, env=chalice_env(), check=True)


def alarm_topic(sns: Any, stage: str, email: str | None) -> str | None:
    """The SNS topic alarms go to, subscribed to ``email`` (PARLEY_ALARM_EMAIL); None without one."""
    if not email:
        return None
    arn = sns.create_topic(Name=f"{policy.APP_NAME}-{stage}-alarms")["TopicArn"]  # idempotent
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
    return arn


def deploy_app(stage: str, providers: str, region: str, account: str) -> dict[str, Any]:
    """`chalice deploy`, once or twice, ending with the policy pinned to the WebSocket API.

    Chalice creates the WebSocket API on the first deploy, so only then are
    its id (for the policy) and URLs (for the settings) known: a first
    deploy runs without the `websocket` provider (the settings refuse it
    without URLs) and the policy names any API of the account; the second
    pass pins both. config.json gets its provider list back even if a pass fails.
    """
    deployed = read_deployed(stage)
    known_id = deployed.get("websocket_api_id")
    wants_websocket = "websocket" in providers
    try:
        if known_id and wants_websocket:
            write_stage_env(stage, websocket_settings(deployed["websocket_api_url"]))
        if wants_websocket and not known_id:
            write_stage_env(stage, {"PARLEY_REALTIME_PROVIDERS": without_provider(providers, "websocket")})
        policy.write_all(stage, region, account, known_id)
        chalice_deploy(stage)
    finally:
        write_stage_env(stage, {"PARLEY_REALTIME_PROVIDERS": providers})
    deployed = read_deployed(stage)
    new_id = deployed.get("websocket_api_id")
    if new_id and new_id != known_id:
        if wants_websocket:
            write_stage_env(stage, websocket_settings(deployed["websocket_api_url"]))
        policy.write_all(stage, region, account, new_id)
        chalice_deploy(stage)
        deployed = read_deployed(stage)
    return deployed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    args = parser.parse_args(argv)
    require_lambda_python()
    import boto3

    session = boto3.Session()
    region = session.region_name
    if not region:
        print("deploy: set AWS_DEFAULT_REGION (or a profile with a region)", file=sys.stderr)
        return 2
    account = session.client("sts").get_caller_identity()["Account"]

    outputs = deploy_table_stack(session.client("cloudformation"), args.stage)
    print(f"table stack {table_stack_name(args.stage)}: {outputs}")
    write_stage_env(args.stage, {**queue_settings(outputs), **passed_settings()})
    env = json.loads(CONFIG.read_text())["stages"][args.stage]["environment_variables"]
    local_only = local_only_settings(env)
    if local_only:
        print("deploy: remove " + ", ".join(local_only) + " from the stage's environment_variables in "
              ".chalice/config.json: it is for the local stage only (it lets webhooks reach this network)",
              file=sys.stderr)
        return 2
    problem = mail_identity_problem(session.client("sesv2"), env.get("PARLEY_MAIL_FROM"))
    if problem:
        print(f"deploy: warning: {problem}", file=sys.stderr)
    absent = missing_secrets(session.client("ssm"), env)
    if absent:
        print("deploy: create these SSM SecureString parameters first (docs/deploy.md): "
              + ", ".join(absent), file=sys.stderr)
        return 2

    agents = agents_pool(session.client("cognito-idp"), args.stage, region)
    agent_env = {k: v for k, v in agents.items() if k.startswith("PARLEY_")}
    write_stage_env(args.stage, agent_env)
    print(f"agents' user pool {agents['pool_id']}, console app client {agents['PARLEY_COGNITO_CLIENT_ID']}")

    deployed = deploy_app(args.stage, env.get("PARLEY_REALTIME_PROVIDERS", "polling"), region, account)
    topic = alarm_topic(session.client("sns"), args.stage, os.environ.get("PARLEY_ALARM_EMAIL"))
    retention = json.loads(CONFIG.read_text())["stages"][args.stage].get("log_retention_in_days")
    alarms = defaults.apply(session, args.stage, deployed, policy.table_name(args.stage),
                            policy.api_stage(args.stage), topic, retention)
    print(f"stage throttling set; {len(alarms)} alarms" + (f" e-mailing {os.environ['PARLEY_ALARM_EMAIL']}"
                                                          if topic else " (set PARLEY_ALARM_EMAIL to be mailed)"))
    print("\nParley is deployed. Paste this before </body> on each page of your site:\n")
    print(snippet(deployed.get("rest_api_url", "https://<rest-api-id>.execute-api.<region>.amazonaws.com/api/")))
    rest_api_url = deployed.get("rest_api_url", "https://<rest-api-id>.execute-api.<region>.amazonaws.com/api/")
    print("\nThe agent console: serve console/dist (make setup builds it) with this config.json next to "
          "its index.html, from an origin listed in PARLEY_CONSOLE_ORIGINS:\n")
    print(json.dumps(console_config(rest_api_url, agents, region), indent=2))
    print("Invite agents: PARLEY_TABLE=" + policy.table_name(args.stage) + f" PARLEY_COGNITO_POOL_ID={agents['pool_id']} "
          "python -m infra.sites invite <site> --email …")
    print("\nThen register the site and its origins: "
          f"PARLEY_TABLE={policy.table_name(args.stage)} python -m infra.sites create <key> --origin https://…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
