"""Work that happens later: one standard SQS queue of small JSON jobs, and the worker that runs them.

Kinds: ``notify`` (is a conversation still unread? then email the team),
``transcript`` (email a resolved conversation to the visitor) and ``webhook``
(one delivery attempt of one event to one endpoint).

Why an SQS delay, not EventBridge Scheduler or DynamoDB TTL: the delay is a
field of the message (``DelaySeconds``, up to 15 minutes), so "check this
conversation in 3 minutes" is one SendMessage and nothing to clean up; a
Scheduler one-time schedule needs its own IAM role, a CreateSchedule and a
delete (or an auto-delete) per notification, and a local stand-in; TTL
deletes items up to days late, which is no timer at all. Cost: three SQS
requests per job (send, receive, delete), $0.40 a million, and the worker's
Lambda time. A delay beyond 15 minutes (a site's notify delay can be a day, a
webhook's last retry two hours) is chained: the job carries ``not_before``
and the worker sends it on again until then.

Jobs run at least once (SQS may deliver twice); each handler makes its own
effect happen once (conditional marks in DynamoDB, the webhook's event id).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping

from .aws import Queue

log = logging.getLogger("parley.jobs")

MAX_DELAY_SECONDS = 900  # SQS's own limit for DelaySeconds
MAX_JOB_BYTES = 200_000  # under SQS's 256 KiB, with room for the envelope


class JobQueue(Queue):
    """Sends jobs to the queue the settings name (``PARLEY_JOB_QUEUE_URL``); without one, none can go."""

    def __init__(self, url: str | None, client: Any = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(url, client)
        self._clock = clock

    def send(self, job: Mapping[str, Any], delay_seconds: float = 0) -> None:
        """Queues ``job`` to run ``delay_seconds`` from now (chained past 15 minutes). Raises what the
        client raises, or RuntimeError when no queue is configured; the caller decides what then."""
        if not self.url:
            raise RuntimeError("no job queue configured (PARLEY_JOB_QUEUE_URL)")
        body = dict(job)
        delay = max(0, int(round(delay_seconds)))
        if delay > MAX_DELAY_SECONDS:
            body["not_before"] = int(self._clock()) + delay
            delay = MAX_DELAY_SECONDS
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_JOB_BYTES:
            raise ValueError(f"a {body.get('kind')} job of {len(text)} characters is too large for SQS")
        self.send_message(MessageBody=text, DelaySeconds=delay)


class JobWorker:
    """Runs the jobs of one SQS event (Lambda's batch) through the handler of each job's kind.

    A record that is no job, or of no known kind, is logged and dropped: it
    would fail the same way every time. A handler that raises fails the batch,
    and SQS delivers it again (then, after the queue's maxReceiveCount, to the
    dead-letter queue).
    """

    def __init__(self, queue: JobQueue, handlers: Mapping[str, Callable[[dict[str, Any]], None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self._clock = clock

    def handle(self, event: Mapping[str, Any]) -> None:
        for record in event.get("Records") or []:
            try:
                job = json.loads(record.get("body") or "")
            except ValueError:
                job = None
            kind = job.get("kind") if isinstance(job, dict) else None
            if kind not in self.handlers:
                log.error("dropping SQS message %s: not a job of a known kind", record.get("messageId"))
                continue
            not_before = job.pop("not_before", None)
            if isinstance(not_before, (int, float)) and not_before > self._clock() + 1:
                # A long delay, chained: on it goes until its time.
                self.queue.send(job, not_before - self._clock())
                continue
            self.handlers[kind](job)
