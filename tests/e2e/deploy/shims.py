"""TEST FAKES for moto 5.2.5: what Chalice's deployer calls and moto lacks. Not AWS behaviour.

Installed in-process, before ThreadedMotoServer starts (the server runs in
the test's own process), by patching moto's backend classes:

* ``APIGatewayBackend.import_rest_api`` / ``put_rest_api``: moto imports only
  OpenAPI 3 (it refuses ``"swagger": "2.0"``, which is what Chalice sends),
  needs ``info.description`` (Chalice sends none), and turns the path ``/``
  into a second root resource. The fake builds resources, methods and
  integrations from the Swagger ``paths`` (``mode=overwrite`` replaces all
  but the root, as API Gateway does) and nothing else: no models, no
  authorizers, no binary media types, no validation.
* ``ApiGatewayV2Response.create_deployment`` / ``get_deployments`` (and the
  URL ``/v2/apis/{id}/deployments``): moto 5.2.5 has no apigatewayv2
  deployments (404); Chalice's WebSocket deploy calls CreateDeployment and
  then creates the stage with that DeploymentId. The fake records
  ``{DeploymentId, DeploymentStatus: DEPLOYED}`` and, when a stageName is
  given, points that stage at it.
* ``ApiGatewayV2Response.update_stage``: moto 5.2.5 has no apigatewayv2
  UpdateStage; infra/defaults.py calls it for the WebSocket stage's
  throttling. The fake merges ``DefaultRouteSettings`` (and a few plain
  fields) into moto's stage, and ``Stage.to_json`` reports ``deploymentId``.

Each fake is written against moto 5.2.5: on any other version ``install``
fails loudly, so a moto upgrade makes someone check whether each is still
needed and still right.
"""
from __future__ import annotations

from typing import Any

import moto

MOTO_VERSION = "5.2.5"
_installed = False


def check_version() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"tests/e2e/deploy/shims.py fakes moto {MOTO_VERSION}'s gaps; this is moto "
                           f"{moto.__version__}: check each fake against it and update MOTO_VERSION")


def _child(api: Any, parent_id: str, part: str) -> Any:
    for resource in api.resources.values():
        if resource.parent_id == parent_id and resource.path_part == part:
            return resource
    return None


def _swagger_into(backend: Any, api_id: str, doc: dict[str, Any], mode: str) -> Any:
    """TEST FAKE: a Swagger 2.0 document's paths as moto resources, methods and integrations."""
    api = backend.get_rest_api(api_id)
    root = api.default
    if mode == "overwrite":
        api.resources = {root.id: root}
        root.resource_methods = {}
    for path, methods in sorted(doc.get("paths", {}).items()):
        resource = root
        for part in [p for p in path.split("/") if p]:
            resource = _child(api, resource.id, part) or backend.create_resource(api_id, resource.id, part)
        for method_type, method_doc in methods.items():
            if method_type.startswith("x-") or method_type == "parameters":
                continue
            method_type = method_type.upper()
            backend.put_method(api_id, resource.id, method_type, "NONE")
            for code in method_doc.get("responses", {}):
                backend.put_method_response(api_id, resource.id, method_type, code,
                                            response_models=None, response_parameters=None)
            integration = method_doc.get("x-amazon-apigateway-integration")
            if integration:
                args = backend._build_integration_args(integration)
                # API Gateway reports the type in upper case ("aws_proxy" in Swagger -> AWS_PROXY).
                args["integration_type"] = (args.get("integration_type") or "").upper() or None
                backend.put_integration(function_id=api_id, resource_id=resource.id, method_type=method_type,
                                        **{k: v for k, v in args.items() if v is not None})
    return api


def _install_rest_api() -> None:
    from moto.apigateway.models import APIGatewayBackend

    original_import, original_put = APIGatewayBackend.import_rest_api, APIGatewayBackend.put_rest_api

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        """TEST FAKE (tests/e2e/deploy/shims.py): Swagger 2.0 import."""
        if api_doc.get("swagger") != "2.0":
            return original_import(self, api_doc, fail_on_warnings)
        info = api_doc.get("info", {})
        api = self.create_rest_api(name=info.get("title", "api"), description=info.get("description", ""))
        return _swagger_into(self, api.id, api_doc, "merge")

    def put_rest_api(self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool,
                     mode: str = "merge") -> Any:
        """TEST FAKE (tests/e2e/deploy/shims.py): Swagger 2.0 put (merge or overwrite)."""
        if api_doc.get("swagger") != "2.0":
            return original_put(self, function_id, api_doc, fail_on_warnings, mode)
        return _swagger_into(self, function_id, api_doc, mode)

    APIGatewayBackend.import_rest_api = import_rest_api  # type: ignore[method-assign]
    APIGatewayBackend.put_rest_api = put_rest_api  # type: ignore[method-assign]


def _install_websocket_deployments() -> None:
    import json
    import uuid
    from urllib.parse import unquote

    from moto.apigatewayv2 import urls
    from moto.apigatewayv2.models import Stage
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    deployments: dict[tuple[str, str, str], dict[str, Any]] = {}  # (account, region, api) -> id -> deployment

    def _key(self: Any) -> tuple[str, str, str]:
        return (self.current_account, self.region, self.path.split("/")[3])

    def create_deployment(self: Any) -> Any:
        """TEST FAKE (tests/e2e/deploy/shims.py): apigatewayv2 CreateDeployment."""
        self.apigatewayv2_backend.get_api(self.path.split("/")[3])  # 404 for an unknown API
        params = json.loads(self.body or "{}")
        deployment = {"DeploymentId": uuid.uuid4().hex[:6], "DeploymentStatus": "DEPLOYED",
                      "AutoDeployed": False, "Description": params.get("description", "")}
        deployments.setdefault(_key(self), {})[deployment["DeploymentId"]] = deployment
        stage_name = params.get("stageName")
        if stage_name:
            stage = self.apigatewayv2_backend.get_stage(self.path.split("/")[3], stage_name)
            stage.deployment_id = deployment["DeploymentId"]
        return 201, {}, json.dumps({k[0].lower() + k[1:]: v for k, v in deployment.items()})

    def get_deployments(self: Any) -> Any:
        """TEST FAKE (tests/e2e/deploy/shims.py): apigatewayv2 GetDeployments."""
        items = list(deployments.get(_key(self), {}).values())
        return 200, {}, json.dumps({"items": [{k[0].lower() + k[1:]: v for k, v in d.items()} for d in items]})

    def update_stage(self: Any) -> Any:
        """TEST FAKE (tests/e2e/deploy/shims.py): apigatewayv2 UpdateStage (route settings, description)."""
        parts = self.path.split("/")
        stage = self.apigatewayv2_backend.get_stage(parts[3], unquote(parts[5]))
        params = json.loads(self.body or "{}")
        if "defaultRouteSettings" in params:
            stage.default_route_settings = {**stage.default_route_settings, **params["defaultRouteSettings"]}
        for name in ("description", "deploymentId", "routeSettings", "stageVariables"):
            if name in params:
                setattr(stage, {"deploymentId": "deployment_id", "routeSettings": "route_settings",
                                "stageVariables": "stage_variables"}.get(name, name), params[name])
        return 200, {}, json.dumps(stage.to_json())

    original_to_json = Stage.to_json

    def stage_to_json(self: Any) -> dict[str, Any]:
        """TEST FAKE (tests/e2e/deploy/shims.py): a stage names the deployment it serves."""
        found = original_to_json(self)
        deployment_id = getattr(self, "deployment_id", None) or self.config.get("deploymentId")
        if deployment_id:
            found["deploymentId"] = deployment_id
        return found

    Stage.to_json = stage_to_json  # type: ignore[method-assign]
    ApiGatewayV2Response.update_stage = update_stage  # type: ignore[attr-defined]
    ApiGatewayV2Response.create_deployment = create_deployment  # type: ignore[attr-defined]
    ApiGatewayV2Response.get_deployments = get_deployments  # type: ignore[attr-defined]
    urls.url_paths["{0}/v2/apis/(?P<api_id>[^/]+)/deployments$"] = ApiGatewayV2Response.dispatch
    FAKE_STATE["websocket_deployments"] = deployments


FAKE_STATE: dict[str, Any] = {}


def install() -> None:
    global _installed
    check_version()
    if _installed:
        return
    _install_rest_api()
    _install_websocket_deployments()
    _installed = True
