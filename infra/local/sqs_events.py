"""A local stand-in for Lambda's SQS event source: polls the queue and runs the Chalice app's on_sqs_message handlers.

    python -m infra.local.sqs_events --app app:app [--concurrency 4] [--wait-seconds 1]
                                     [--visibility-timeout 90] [--ready-file PATH] [--verbose]

`chalice local` runs no event sources (and moto's Lambda would need Docker
to invoke a function), so this plays the part of Lambda's event source
mapping for every ``@app.on_sqs_message`` handler of the app:

- It finds the handler's queue by the name the decorator gives (as Lambda
  finds it by ARN): ``GetQueueUrl`` on the SQS endpoint boto3 is pointed at
  (``AWS_ENDPOINT_URL_SQS``), waiting up to a minute for the queue to exist.
- Pollers long-poll it (``ReceiveMessage``, up to the decorator's
  ``batch_size`` messages, ``--wait-seconds``), ``--concurrency`` of them side
  by side, as Lambda scales out per batch. A FIFO queue itself hands out a
  message group's next message only once the one in flight is gone, so one
  conversation's jobs still run one at a time, in order.
- Each batch becomes the event Lambda builds (``lambda_event``: ``Records``
  with messageId, receiptHandle, body, attributes, messageAttributes,
  md5OfBody, eventSource ``aws:sqs``, eventSourceARN, awsRegion), and the
  handler is called as Lambda calls it, ``handler(event, context)``.
- A handler that returns: the batch is deleted. One that raises: the batch
  is left, becomes visible again after the visibility timeout (the queue's
  own, or ``--visibility-timeout``) and is delivered again, with
  ApproximateReceiveCount one higher; after the queue's maxReceiveCount the
  queue's redrive policy moves it to its dead-letter queue.

The worker runs with the environment it is given: `make dev` gives it the
same one as `chalice local` (infra/local/devstack.py). Left out: partial
batch responses (ReportBatchItemFailures), batching windows, maximum
concurrency, and the Lambda timeout (a handler runs as long as it runs).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("sqs_events")

READY_LINE = "sqs event source polling {queues}"
LAMBDA_TIMEOUT_SECONDS = 90  # what .chalice/config.json gives the reply worker
QUEUE_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Source:
    """One on_sqs_message handler: its function name, the callable Lambda would call, its queue."""

    name: str
    handler: Callable[[dict[str, Any], Any], Any]
    queue: str
    batch_size: int


def load_sources(app_ref: str) -> tuple[Any, list[Source]]:
    """Imports ``module:attr`` and returns the Chalice app and its SQS event sources."""
    from chalice.app import SQSEventConfig

    module_name, _, attr = app_ref.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    chalice_app = getattr(module, attr or "app")
    sources = []
    for config in chalice_app.event_sources:
        if not isinstance(config, SQSEventConfig):
            continue
        # Chalice names handlers of the app file ``app.<function>`` (in the Lambda package
        # that file is the module ``app``); here it is the module given with --app.
        owner, _, function = config.handler_string.rpartition(".")
        handler_module = module if owner == "app" else importlib.import_module(owner)
        queue = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
        sources.append(Source(config.name, getattr(handler_module, function), queue, config.batch_size))
    return chalice_app, sources


def lambda_context(function_name: str, region: str, timeout: int = LAMBDA_TIMEOUT_SECONDS) -> Any:
    """Chalice's own local Lambda context, filled in as Lambda fills in a deployed function's."""
    from chalice.local import LambdaContext

    context = LambdaContext(function_name, memory_size=512, max_runtime_ms=timeout * 1000)
    context.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
    context.log_group_name = f"/aws/lambda/{function_name}"
    context.log_stream_name = f"local/{context.aws_request_id}"
    return context


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """An SQS message attribute as Lambda's event spells it (camelCase, list fields always present)."""
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One received message as a record of Lambda's SQS event."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {name: _message_attribute(value)
                              for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda hands an SQS-triggered function for one batch."""
    return {"Records": [lambda_record(m, queue_arn, region) for m in messages]}


class Poller:
    """Receives batches from one queue and runs one handler on them, deleting each batch it handled."""

    def __init__(self, sqs: Any, source: Source, queue_url: str, queue_arn: str, region: str, *,
                 wait_seconds: int = 1, visibility_timeout: int | None = None,
                 warn_after: float = LAMBDA_TIMEOUT_SECONDS) -> None:
        self.sqs = sqs
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.warn_after = warn_after

    def poll_once(self) -> tuple[int, bool]:
        """One receive and, if it brought messages, one invocation: (messages, handled without error)."""
        extra = {"VisibilityTimeout": self.visibility_timeout} if self.visibility_timeout is not None else {}
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, self.source.batch_size),
            WaitTimeSeconds=self.wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"],
            **extra).get("Messages") or []
        if not received:
            return 0, True
        event = lambda_event(received, self.queue_arn, self.region)
        began = time.monotonic()
        try:
            self.source.handler(event, lambda_context(self.source.name, self.region))
        except Exception:  # noqa: BLE001 - Lambda reports the error and leaves the batch for redelivery
            log.error("%s failed on %d message(s); left for redelivery:\n%s", self.source.name, len(received),
                      traceback.format_exc())
            return len(received), False
        finally:
            took = time.monotonic() - began
            if took > self.warn_after:
                log.warning("%s took %.1f s, longer than its Lambda timeout (%s s)", self.source.name, took,
                            self.warn_after)
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)])
        return len(received), True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the queue's server restarting, say: try again shortly
                log.warning("polling %s failed; retrying", self.queue_url, exc_info=log.isEnabledFor(logging.INFO))
                stop.wait(1.0)


def find_queue(sqs: Any, name: str, timeout: float = QUEUE_WAIT_SECONDS) -> tuple[str, str]:
    """The queue's URL and ARN, once it exists (waiting up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            return url, arn
        except Exception:  # noqa: BLE001 - not there yet, or the server is starting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def sqs_client() -> Any:
    import boto3
    from botocore.config import Config

    # Read timeout above the long poll, and a small pool per poller thread.
    return boto3.client("sqs", config=Config(read_timeout=30, connect_timeout=2, max_pool_connections=16,
                                             retries={"mode": "standard", "total_max_attempts": 2}))


def start(app_ref: str, *, concurrency: int = 4, wait_seconds: int = 1, visibility_timeout: int | None = None,
          stop: threading.Event | None = None, sqs: Any = None) -> tuple[threading.Event, list[threading.Thread]]:
    """Starts ``concurrency`` poller threads per SQS event source of the app; set the event to stop them."""
    _, sources = load_sources(app_ref)
    if not sources:
        raise SystemExit(f"sqs_events: {app_ref} has no on_sqs_message handler")
    sqs = sqs or sqs_client()
    region = sqs.meta.region_name
    stop = stop or threading.Event()
    threads = []
    for source in sources:
        url, arn = find_queue(sqs, source.queue)
        poller = Poller(sqs, source, url, arn, region, wait_seconds=wait_seconds,
                        visibility_timeout=visibility_timeout)
        for i in range(concurrency):
            thread = threading.Thread(target=poller.run, args=(stop,), name=f"{source.name}-{i}", daemon=True)
            thread.start()
            threads.append(thread)
    print(READY_LINE.format(queues=", ".join(f"{s.queue} -> {s.name}" for s in sources)), flush=True)
    return stop, threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--app", default="app:app", help="module:attribute of the Chalice app")
    parser.add_argument("--concurrency", type=int, default=4, help="pollers per queue (concurrent invocations)")
    parser.add_argument("--wait-seconds", type=int, default=1, choices=range(0, 21), metavar="0-20",
                        help="ReceiveMessage long-poll time")
    parser.add_argument("--visibility-timeout", type=int, default=None,
                        help="seconds before a failed batch is delivered again (default: the queue's own)")
    parser.add_argument("--ready-file", type=Path, help="touched once the pollers run (for a supervisor)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    # The app's own loggers (parley.*) log at INFO like a Lambda's; --verbose is about the stand-in.
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO if args.verbose else logging.WARNING)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _, threads = start(args.app, concurrency=args.concurrency, wait_seconds=args.wait_seconds,
                       visibility_timeout=args.visibility_timeout, stop=stop)
    if args.ready_file:
        args.ready_file.write_text(str(os.getpid()))
    while not stop.wait(0.5):
        pass
    # A poller ends after its current long poll and the batch it is handling.
    for thread in threads:
        thread.join(timeout=LAMBDA_TIMEOUT_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
