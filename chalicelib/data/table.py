"""The one DynamoDB table: its client, item conversion, key shapes and error translation.

Every record module (messages, connections, sites) goes through ``Table``:
items are converted with boto3's ``TypeSerializer`` / ``TypeDeserializer``,
multi-page reads use boto3's paginators, and DynamoDB's transient failures
become Parley's 503 ``unavailable`` here, inside the data layer, so no caller
ever catches a botocore exception class.
"""
from __future__ import annotations

import functools
import time
from decimal import Decimal
from typing import Any, Callable, Iterator, TypeVar

from ..errors import ParleyError
from ..lazy import Lazy

F = TypeVar("F", bound=Callable[..., Any])

# What DynamoDB says when it is busy or briefly down, after botocore's own
# retries are spent: the client may try again, so it gets a 503, not a 500.
TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException"})

SEQ_DIGITS = 10
MAX_SEQ = 10 ** SEQ_DIGITS - 1
STATE_SK = "STATE"
META_SK = "META"


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def msg_sk(seq: int) -> str:
    return f"MSG#{seq:0{SEQ_DIGITS}d}"


def now_iso(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def translated(method: F) -> F:
    """Turns DynamoDB's transient failures into ``unavailable``; anything else stays a bug."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES:
                raise ParleyError("unavailable", "The message store is busy; please retry.") from exc
            raise
        except (BotoConnectionError, HTTPClientError) as exc:
            # Cannot connect, or the connection died or timed out mid-answer.
            raise ParleyError("unavailable", "The message store cannot be reached; please retry.") from exc

    return wrapper  # type: ignore[return-value]


def _dynamodb_client() -> Any:
    from .. import aws  # imported here: cold start pays only when a request needs it

    return aws.client("dynamodb")


def _plain(value: Any) -> Any:
    """TypeDeserializer's Decimals as ints (Parley stores only whole numbers), recursively."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Table:
    """The table's name and client (made on first use, or injected), and item conversion."""

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._client = Lazy(_dynamodb_client, client)
        self._codec = Lazy(_codec)

    @property
    def client(self) -> Any:
        return self._client.get()

    def item(self, **attrs: Any) -> dict[str, Any]:
        """A DynamoDB item from plain values; None values are left out."""
        serializer = self._codec.get()[0]
        return {k: serializer.serialize(v) for k, v in attrs.items() if v is not None}

    def values(self, **attrs: Any) -> dict[str, Any]:
        """ExpressionAttributeValues from plain values: ``values(old=1)`` -> ``{":old": {"N": "1"}}``."""
        serializer = self._codec.get()[0]
        return {f":{k}": serializer.serialize(v) for k, v in attrs.items()}

    def plain(self, item: dict[str, Any]) -> dict[str, Any]:
        """Plain values from a DynamoDB item."""
        deserializer = self._codec.get()[1]
        return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}

    def key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    def query(self, **kwargs: Any) -> list[dict[str, Any]]:
        """One page of a strongly consistent Query, as plain values."""
        answer = self.client.query(TableName=self.name, ConsistentRead=True, **kwargs)
        return [self.plain(i) for i in answer["Items"]]

    def query_all(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, page after page (boto3's paginator), as plain values."""
        for page in self.client.get_paginator("query").paginate(TableName=self.name, **kwargs):
            for item in page["Items"]:
                yield self.plain(item)


def _codec() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()
