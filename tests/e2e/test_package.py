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
from infra.policy import DYNAMODB_ACTIONS, main as policy_main

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["dev", "prod"]


@pytest.fixture(scope="module", params=STAGES)
def packaged(request, tmp_path_factory) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    stage = request.param
    sam = package(stage, tmp_path_factory.mktemp(f"out-{stage}"))
    yield stage, sam, json.loads(sam.read_text())


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
            else:
                pytest.fail(f"{name}: an unexpected service {service}")


def test_the_websocket_routes_exist(packaged):
    _, _, template = packaged
    routes = {r["Properties"]["RouteKey"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"$connect", "$default", "$disconnect"}


def test_every_function_environment_satisfies_the_settings_model(packaged):
    stage, _, template = packaged
    functions = resources(template, "AWS::Serverless::Function")
    assert len(functions) == 4, sorted(functions)  # the REST API and the three WebSocket routes
    for name, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        settings = load_settings(env)  # raises, naming the variable, if one is missing or malformed
        assert settings.table_name == f"parley-{stage}", name
        assert settings.token_secret is None and settings.token_secret_param == f"/parley/{stage}/token-secret", \
            f"{name}: the secret comes from SSM, never from the template"
        assert function["Properties"]["Timeout"] <= 30 and function["Properties"]["MemorySize"] >= 256


@pytest.mark.parametrize("stage", STAGES)
def test_the_committed_policy_files_are_what_infra_policy_renders(stage):
    assert policy_main(["--stage", stage, "--check"]) == 0
