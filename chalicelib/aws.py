"""Every AWS client Parley makes, with timeouts and a retry budget that fit inside the Lambda's.

botocore's defaults are a 60 s connect and a 60 s read timeout, tried up to
4 times (legacy mode): a DynamoDB that hangs (not one that is down) would hold
a send for minutes, far past the Lambda's 20 s timeout, and the visitor would
get API Gateway's 504 instead of our 503. Here a call gives up after at most
2 attempts of (1 s to connect + 2 s to answer): about 6 s in the worst case,
and a healthy DynamoDB answers in milliseconds. What a timed-out call raises
(``ConnectTimeoutError``, ``ReadTimeoutError``) the data layer turns into
503 ``unavailable``.
"""
from __future__ import annotations

from typing import Any

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
MAX_ATTEMPTS = 2  # the call and one retry ("standard" mode: retries throttles and 5xx, with backoff)


def client(service: str, endpoint_url: str | None = None, **config: Any) -> Any:
    """``boto3.client(service)`` with Parley's timeouts; ``config`` (botocore ``Config`` options)
    overrides any of them. Without ``endpoint_url`` boto3 finds the endpoint itself
    (``AWS_ENDPOINT_URL_<SERVICE>`` locally, AWS otherwise)."""
    import boto3  # loaded by the first request that needs AWS, not at import
    from botocore.config import Config

    settings: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": READ_TIMEOUT_SECONDS,
                                "retries": {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}}
    settings.update(config)
    extra = {"endpoint_url": endpoint_url} if endpoint_url else {}
    return boto3.client(service, config=Config(**settings), **extra)


def _sqs() -> Any:
    return client("sqs")


class Queue:
    """An SQS queue by its URL (None: none is configured); the client is made on first use, or injected.

    The reply queue and the job queue are both one. boto3 finds the endpoint
    itself (``AWS_ENDPOINT_URL_SQS`` locally, AWS otherwise); the timeouts are
    the ones above, since a send waits for the SendMessage.
    """

    def __init__(self, url: str | None, client: Any = None) -> None:
        from .lazy import Lazy

        self.url = url
        self._client = Lazy(_sqs, client)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def send_message(self, **request: Any) -> Any:
        """SendMessage to this queue; raises whatever the client raises (the caller decides what then)."""
        return self._client.get().send_message(QueueUrl=self.url, **request)
