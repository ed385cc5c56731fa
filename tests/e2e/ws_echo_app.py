"""A tiny Chalice app for testing the WebSocket stand-in (infra/local/apigw_ws.py), not Parley's app.

- ``$connect``: ``?deny=1`` refuses with 403, ``?fail=1`` raises; otherwise
  accepts (with the first subprotocol the client offers, if any).
- ``$default``: echoes the body back to the sender through its own
  ``apigatewaymanagementapi`` client at ``WS_MANAGEMENT_URL`` (not
  ``app.websocket_api``, which targets AWS); the body ``raise`` raises.
- Every event a handler sees is appended to ``WS_ECHO_RECORD`` as one JSON line,
  so a test can check what API Gateway's stand-in handed over.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any

from chalice import Chalice

app = Chalice(app_name="ws-echo")

_lock = threading.Lock()
_client: Any = None


def management() -> Any:
    global _client
    with _lock:
        if _client is None:
            import boto3

            _client = boto3.client("apigatewaymanagementapi",
                                   endpoint_url=os.environ["WS_MANAGEMENT_URL"])
        return _client


def record(event: dict[str, Any]) -> None:
    line = json.dumps(event) + "\n"
    with _lock, open(os.environ["WS_ECHO_RECORD"], "a", encoding="utf-8") as out:
        out.write(line)


@app.on_ws_connect()
def ws_connect(event: Any) -> dict[str, Any] | None:
    raw = event.to_dict()
    query = raw.get("queryStringParameters") or {}
    if query.get("deny") == "1":
        return {"statusCode": 403, "body": "denied"}
    if query.get("fail") == "1":
        raise RuntimeError("the $connect handler failed on purpose")
    record(raw)
    offered = {k.lower(): v for k, v in raw["headers"].items()}.get("sec-websocket-protocol")
    if offered:
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": offered.split(",")[0].strip()}}
    return None


@app.on_ws_message()
def ws_message(event: Any) -> None:
    record(event.to_dict())
    if event.body == "raise":
        raise RuntimeError("the $default handler failed on purpose")
    management().post_to_connection(ConnectionId=event.connection_id, Data=event.body.encode())


@app.on_ws_disconnect()
def ws_disconnect(event: Any) -> None:
    record(event.to_dict())
