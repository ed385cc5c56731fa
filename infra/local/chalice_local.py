"""`chalice local`, tuned to serve like API Gateway: many clients, no Nagle delay.

    python -m infra.local.chalice_local --no-autoreload --stage local --port 8000

Exactly Chalice's own local server and CLI, with three changes. Its
ThreadedHTTPServer inherits socketserver's listen backlog of 5, so a burst of
more than a handful of simultaneous connections (50 concurrent sends, say) is
answered with connection resets before Chalice ever sees the requests. Its
request handler leaves Nagle's algorithm on (see below). And a path no route
matches gets, as in the deployed API (the Gateway Response of
infra/defaults.py), our JSON 404 instead of API Gateway's 403.
"""
from __future__ import annotations

import json
import sys

import chalice.local
from chalice.cli import main as chalice_main

from infra.defaults import NOT_FOUND_RESPONSE

chalice.local.ThreadedHTTPServer.request_queue_size = 128
# chalice local writes headers and body in two writes; with Nagle on, a kept-open
# connection then waits ~40 ms for the delayed ACK of the first (measured: poll
# p50 48 ms -> 5 ms). API Gateway has no such delay, so neither should we.
chalice.local.ChaliceRequestHandler.disable_nagle_algorithm = True
# Worker threads must not keep a stopping server alive.
chalice.local.ThreadedHTTPServer.daemon_threads = True

_handle_request = chalice.local.LocalGateway.handle_request


def _json_404_for_unknown_routes(self, method, path, headers, body):  # type: ignore[no-untyped-def]
    """API Gateway's MISSING_AUTHENTICATION_TOKEN answer, as the deployed Gateway Response gives it."""
    try:
        return _handle_request(self, method, path, headers, body)
    except chalice.local.ForbiddenError as error:
        if b"Missing Authentication Token" not in (error.body or b"") and b"Authorization header requires" not in (
                error.body or b""):
            raise
        template = NOT_FOUND_RESPONSE["ResponseTemplates"]["application/json"]
        def quoted(value: str) -> str:  # inside the template's JSON string
            return json.dumps(value)[1:-1]
        text = template.replace("$context.httpMethod", quoted(method)).replace(
            "$context.path", quoted(path.split("?")[0]))
        return {"statusCode": int(NOT_FOUND_RESPONSE["StatusCode"]),
                "headers": {"Content-Type": "application/json; charset=utf-8"}, "multiValueHeaders": {},
                "body": text}


chalice.local.LocalGateway.handle_request = _json_404_for_unknown_routes

if __name__ == "__main__":
    sys.argv = ["chalice", "local", *sys.argv[1:]]
    sys.exit(chalice_main())
