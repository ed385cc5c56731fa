"""Local DynamoDB (and Cognito, and SQS): moto in server mode on 127.0.0.1, one request at a time.

    python -m infra.local.dynamodb --port 5005

The same server is the local Cognito user pool: moto routes unsigned calls by
their X-Amz-Target (``AWSCognitoIdentityProviderService.InitiateAuth`` from the
agent console in a browser) and serves ``/<pool id>/.well-known/jwks.json``.
A browser's CORS preflight carries no X-Amz-Target, so moto would hand it to
its S3 backend; ``Preflight`` below answers every preflight itself instead
(any origin: this is a local stand-in), and lets browsers read the
``x-amzn-*`` headers AWS SDKs look at. It is the reply queue's SQS too
(``AWS_ENDPOINT_URL_SQS``; infra/local/sqs_events.py polls it). And it is the
local SES (``AWS_ENDPOINT_URL_SESV2``): moto keeps what is sent, and
``/_parley/mail`` and ``/_parley/mailbox`` list it (infra/local/mailbox.py).

Why serialized: moto's TransactWriteItems snapshots whole tables and restores
them on failure with no lock, so two transactions on two threads can undo
each other's writes — something real DynamoDB never does. Parley's gapless
seq relies on transactions being atomic, so the stand-in must be too.
A lock around the WSGI app gives moto exactly that, at no cost that matters
for a local stack.

Why cheaper transactions and queries: moto snapshots by deep-copying every table a
transaction touches, so each send costs time in proportion to the table's size
(measured here: 6 ms per append at 50 items, 24 ms at 250). Under the lock only
the touched items can change, so snapshotting those is enough; the rollback
semantics stay moto's.
"""
from __future__ import annotations

import argparse
import copy
import inspect
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from werkzeug.serving import make_server

# The patches below reach into moto's internals (models.copy, the backend's
# transact_write_items, Table.query and Table.all_items); they were written
# for, and are tested against, exactly this release. Another one may change
# those internals silently, so the stand-in refuses to start on it.
MOTO_VERSION = "5.2.5"


class MotoChanged(RuntimeError):
    """moto is not the release these patches were written for, or its internals moved."""


def require_moto(version: str | None = None) -> None:
    """Fails loudly unless the installed moto is ``MOTO_VERSION`` (requirements-dev.txt pins it)."""
    import moto

    found = version if version is not None else moto.__version__
    if found != MOTO_VERSION:
        raise MotoChanged(f"infra/local/dynamodb.py patches moto {MOTO_VERSION} internals, but moto {found} "
                          f"is installed: check the patches against it, then update MOTO_VERSION "
                          f"and the pin in requirements-dev.txt")


def is_sqs(environ: dict[str, Any]) -> bool:
    """An SQS call in the JSON protocol boto3 speaks (``X-Amz-Target: AmazonSQS.<Action>``)."""
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("AmazonSQS.")


class Serialized:
    """A WSGI app that lets one request at a time into the app it wraps, SQS calls aside.

    SQS is left out: a long poll (``ReceiveMessage`` with ``WaitTimeSeconds``)
    waits inside moto, and under the lock it would hold every DynamoDB call
    for its length. moto's queues guard themselves (a condition variable per
    queue, which a long poll waits on), and no SQS call takes part in a
    DynamoDB transaction.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if is_sqs(environ):
            return list(self.app(environ, start_response))
        with self.lock:
            # Drain the body inside the lock: moto's response is lazy.
            return list(self.app(environ, start_response))


class Preflight:
    """Answers CORS preflights (OPTIONS with Access-Control-Request-Method) without moto.

    Other responses to a request with an Origin get Access-Control-Expose-Headers,
    as Cognito's own endpoint sends them (moto's flask-cors sets the allowed origin).
    """

    EXPOSE = "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date"

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            headers = [("Access-Control-Allow-Origin", origin or "*"),
                       ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, HEAD, PATCH, OPTIONS"),
                       ("Access-Control-Max-Age", "600"), ("Vary", "Origin"), ("Content-Length", "0")]
            requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
            if requested:
                headers.append(("Access-Control-Allow-Headers", requested))
            start_response("204 No Content", headers)
            return [b""]
        if not origin:
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(k.lower() == "access-control-expose-headers" for k, _ in headers):
                headers = [*headers, ("Access-Control-Expose-Headers", self.EXPOSE)]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def snapshot_touched_items_only() -> None:
    """Makes moto's TransactWriteItems roll back the touched items, not whole tables."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _CopyWithoutTables:
        """moto's ``copy`` module, except that a "copy" of a Table is the table itself."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    for owner, name in ((models, "copy"), (models.DynamoDBBackend, "transact_write_items")):
        if not hasattr(owner, name):
            raise MotoChanged(f"moto has no {owner.__name__}.{name} any more; the transaction patch needs it")
    models.copy = _CopyWithoutTables  # type: ignore[assignment]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))
                attrs = op.get("Item") or op.get("Key") or {}
                if table is None or table.hash_key_attr not in attrs:
                    continue
                h = DynamoType(attrs[table.hash_key_attr])
                r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
                old = table.items.get(h, {}).get(r) if r is not None else table.items.get(h)
                saved.append((table, h, r, copy.deepcopy(old)))
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, old in reversed(saved):
                if r is None:
                    table.items.pop(h, None) if old is None else table.items.__setitem__(h, old)
                elif old is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = old
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def query_one_partition_only() -> None:
    """Makes a base-table Query read its own partition, not the whole table.

    moto answers every Query by sorting every item of the table and then
    filtering on the partition key, so a poll costs time in proportion to
    the table (measured here: a one-row Query at 5 ms on a fresh table, 37 ms
    after a benchmark's few thousand rows). DynamoDB reads only the key range.
    Under the lock above, marking the table for the length of one Query is safe.
    """
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items
    signature = inspect.signature(original_query)
    if not {"self", "hash_key", "index_name"} <= set(signature.parameters):
        raise MotoChanged(f"moto's Table.query{signature} has no hash_key/index_name any more")

    def query(*args: Any, **kwargs: Any) -> Any:
        # Bound by name, wherever moto passes them (positionally or by keyword).
        call = signature.bind(*args, **kwargs)
        table, hash_key = call.arguments["self"], call.arguments["hash_key"]
        if call.arguments.get("index_name") or hash_key is None or not table.range_key_attr:
            return original_query(*args, **kwargs)
        table.__dict__["_parley_partition"] = hash_key
        try:
            return original_query(*args, **kwargs)
        finally:
            table.__dict__.pop("_parley_partition", None)

    def all_items(self: Any) -> list[Any]:
        partition = self.__dict__.get("_parley_partition")
        if partition is None:
            return original_all_items(self)
        return sorted(self.items.get(partition, {}).values(), key=lambda item: item.range_key)

    Table.query = query
    Table.all_items = all_items


def build_app() -> Preflight:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .mailbox import Mailbox

    require_moto()
    snapshot_touched_items_only()
    query_one_partition_only()
    # Mailbox serves GET /_parley/mail and /_parley/mailbox (the mails moto's SES holds) before
    # moto sees them, outside the lock: reading the sent list needs none.
    return Preflight(Mailbox(Serialized(DomainDispatcherApplication(create_backend_app))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, *a: Any, **k: Any) -> None:
            if args.verbose:
                super().log_request(*a, **k)

    server = make_server(args.host, args.port, build_app(), threaded=True,
                         request_handler=Handler)
    # SIGTERM from the supervisor ends serve_forever cleanly.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"dynamodb, cognito-idp, sqs and ses (moto; mailbox at /_parley/mailbox) listening on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
