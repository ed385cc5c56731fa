"""Bot replies: stored and handed off the same way inline or off the request path; the reply queue; the worker.

An inline engine (``streams = False``, the offline knowledge bot) answers
inside the send. A streaming engine (``streams = True``, Bedrock) is slow, so
the send stores and broadcasts the visitor's message, puts a ``ReplyJob`` on
the reply queue (SQS) and answers at once with ``reply_pending``. The worker
(app.py's ``on_sqs_message`` handler) then, per job:

1. does nothing more if the reply is already stored (a redelivered job: it
   pushes the stored reply again, a hint like any push, and stops);
2. reads the conversation and its recent history in one Query; the bot
   answers only while the conversation is ``bot`` (never while an agent holds
   it or a person is awaited; a ``resolved`` one is reopened by the visitor's
   message first, exactly as inline);
3. runs ``engine.stream()`` and pushes the text as it grows as
   ``ChatReplyDelta`` events (``Deltas``: at most one per DELTA_INTERVAL_SECONDS,
   the whole text so far, under Pusher's 10 KB; deltas are never stored);
4. stores the final ``BotReply`` exactly like an inline one (``BotTurns.post``:
   idempotent under ``b#<client_message_id>``, only while ``bot``, with
   ``reply_id`` and ``sources``), broadcasts it, and applies the handoff and
   bot-miss lifecycle.

Why SQS, not an asynchronous Lambda invoke: redelivery with a visibility
timeout and a dead-letter queue come with it, a FIFO queue keeps one
conversation's replies in order (its message group) and drops a job enqueued
twice within five minutes (the deduplication id is the reply id), and locally
moto's SQS plus a small poller (infra/local/sqs_events.py) stands in for the
event source, where moto's Lambda Invoke would need Docker.

A job the worker cannot read is logged and dropped (retrying cannot fix it);
any other failure raises, so SQS delivers the job again, up to the queue's
maxReceiveCount, then moves it to the dead-letter queue (infra/table.json).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .aws import Queue
from .bot import BotContext, BotRegistry, BotReply
from .data.messages import Guard, StateRefused
from .errors import ParleyError
from .models import MAX_SUGGESTIONS, MAX_TEXT, Conversation, Message, Site, bounded_sources
from .outbox import NO_OUTBOX, Outbox
from .realtime import REPLY_DELTA_EVENT, Budget, Realtime, reply_delta

if TYPE_CHECKING:
    from .access import SiteDirectory
    from .data import Data
    from .transitions import Transitions

log = logging.getLogger("parley.replies")

# The bot hands off after this many answers in a row that did not help.
BOT_MISSES_BEFORE_HANDOFF = 2
# At most one delta per this long per reply (the widget redraws no faster, and Pusher counts messages).
DELTA_INTERVAL_SECONDS = 0.1
# How long one delta may wait for a provider. A provider that takes longer is hung for the
# rest of that reply's deltas (the stored message gets a budget of its own).
DELTA_BUDGET_SECONDS = 0.5
# What the engine sees of the conversation: the latest messages before the one it answers.
HISTORY_MESSAGES = 20
# Read with them: messages the visitor may have written after it while the job waited.
LOOKAHEAD_MESSAGES = 10


def reply_id_for(conversation_id: str, client_message_id: str) -> str:
    """The reply's id, known before the reply exists: the same for the same visitor message, so a
    redelivered job (or a repeated send) streams and stores under the same id."""
    digest = hashlib.sha256(f"{conversation_id}:{client_message_id}".encode("utf-8")).hexdigest()
    return "r_" + digest[:20]


class BadJob(ValueError):
    """A queue message that is no reply job (retrying it cannot help)."""


@dataclass(frozen=True)
class ReplyJob:
    """What the worker needs to answer one visitor message (the message itself it reads from the store)."""

    conversation_id: str
    client_message_id: str
    reply_to_seq: int
    reply_id: str
    site_key: str

    def body(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def parse(cls, body: Any) -> "ReplyJob":
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise BadJob(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadJob("not a JSON object")
        fields = {"conversation_id": str, "client_message_id": str, "reply_to_seq": int, "reply_id": str,
                  "site_key": str}
        for name, kind in fields.items():
            value = data.get(name)
            # bool is an int in Python; True is no seq.
            if not isinstance(value, kind) or isinstance(value, bool) or value in ("", 0):
                raise BadJob(f"{name}: missing or not a {kind.__name__}")
        job = cls(**{name: data[name] for name in fields})
        if job.reply_id != reply_id_for(job.conversation_id, job.client_message_id):
            raise BadJob("reply_id does not belong to this conversation and message")
        return job


class ReplyQueue(Queue):
    """Puts reply jobs on the SQS queue the settings name (PARLEY_REPLY_QUEUE_URL)."""

    def enqueue(self, job: ReplyJob) -> None:
        """Sends the job; raises whatever the client raises (the caller decides what then)."""
        extra: dict[str, str] = {}
        if self.url and self.url.endswith(".fifo"):
            # One message group per conversation: its replies are produced one at a
            # time, in order. The reply id as the deduplication id: a job enqueued
            # again within SQS's five minutes (a repeated send) is dropped by SQS.
            extra = {"MessageGroupId": job.conversation_id, "MessageDeduplicationId": job.reply_id}
        self.send_message(MessageBody=job.body(), **extra)


class BotTurns:
    """The bot's turn once its answer is known: stored, broadcast, and the lifecycle it leads to.

    Shared by the inline path (chat.py) and the worker, so both store and hand
    off exactly alike.
    """

    def __init__(self, data: "Data", realtime: Realtime, transitions: "Transitions",
                 outbox: Outbox = NO_OUTBOX) -> None:
        self.data = data
        self.realtime = realtime
        self.transitions = transitions
        self.outbox = outbox

    def may_answer(self, conversation: Conversation) -> bool:
        """Whether the bot answers now: only in ``bot``. A ``resolved`` conversation is reopened
        by the visitor's message first (to ``pending``, or back to ``bot``)."""
        if conversation.status == "resolved":
            conversation, _ = self.transitions.apply(conversation, "visitor_returned")
        return conversation.status == "bot"

    def post(self, conversation_id: str, client_message_id: str, answer: BotReply, site: Site,
             reply_id: str, exclude: str | None = None) -> Message | None:
        """Stores the answer and pushes it; None when the bot is not the one answering.

        The reply is stored only while the conversation is ``bot``: the
        condition sits in the reply's own transaction, so the bot re-reads the
        state at the very moment it posts and never talks over an agent (or
        while a person is awaited). A conversation found ``resolved`` is
        reopened by the visitor's message (to ``pending``, or to ``bot``,
        which then answers). Stored again (a repeat), the same reply comes
        back and is pushed again; the lifecycle's own conditions (still
        ``bot``, enough misses) keep a handoff from happening twice.
        """
        for _ in range(2):
            try:
                reply, created = self._store(conversation_id, client_message_id, answer, site.retention_days,
                                             reply_id)
            except StateRefused as refused:
                if refused.current.status != "resolved":
                    return None
                conversation, _ = self.transitions.apply(refused.current, "visitor_returned")
                if conversation.status != "bot":
                    return None
                continue  # back with the bot: it answers the returning visitor
            self.realtime.publish(conversation_id, reply, reply.seq, exclude=exclude, site_key=site.site_key)
            if created:
                self.outbox.message_created(site.site_key, reply, "bot")
            if answer.handoff:
                self.transitions.bot_handoff(conversation_id, site.site_key, after_misses=None)
            elif not answer.confident:
                self.transitions.bot_handoff(conversation_id, site.site_key, after_misses=BOT_MISSES_BEFORE_HANDOFF)
            return reply
        return None

    def _store(self, conversation_id: str, client_message_id: str, answer: BotReply, retention_days: int,
               reply_id: str) -> tuple[Message, bool]:
        """Stores the reply (and whether this call stored it), idempotent under ``b#<the visitor's client_message_id>``.

        Keyed that way, a repeated send (or a redelivered job) gets the very
        reply stored the first time, and a send whose first try died between
        the two writes gets its missing reply now. A reply that cannot be
        *stored* fails the send with 503 (retrying it with the same
        client_message_id stores the reply, not the message again), or the
        job (SQS delivers it again).
        """
        return self.data.messages.append_message(
            conversation_id, "bot", answer.text[:MAX_TEXT], idempotency_key=f"b#{client_message_id}",
            guard=Guard(when_status="bot", bot_miss=not answer.confident and not answer.handoff),
            retention_days=retention_days, reply_id=reply_id, sources=bounded_sources(answer.sources),
            suggestions=bounded_sources(answer.suggestions, MAX_SUGGESTIONS))


class Deltas:
    """A reply's ChatReplyDelta events while it is written: coalesced, numbered, bounded.

    ``add`` takes each chunk as the engine yields it; an event goes out when
    none went in the last ``interval`` seconds, with the whole text so far and
    the next ``n`` (1, 2, 3, …). Text written meanwhile rides along with the
    next event, or with the stored message that ends the reply (which the
    widget shows in place of the deltas anyway). Once the text would take an
    event past Pusher's limit (or grows past the length a message is stored
    with), no more are sent. A failing push is logged,
    never raised: deltas are hints, the stored reply is the truth.
    """

    def __init__(self, realtime: Realtime, job: ReplyJob, clock: Callable[[], float] = time.monotonic,
                 interval: float = DELTA_INTERVAL_SECONDS) -> None:
        self.realtime = realtime
        self.job = job
        self.clock = clock
        self.interval = interval
        self.text = ""
        self.n = 0
        self.full = False
        self._sent_at: float | None = None
        self._hung: set[str] = set()  # providers that overran a delta's budget: skipped from then on

    def add(self, chunk: str) -> None:
        self.text += chunk
        if self.full or not self.text.strip():
            return
        now = self.clock()
        if self._sent_at is not None and now - self._sent_at < self.interval:
            return
        data = reply_delta(self.job.conversation_id, self.job.reply_id, self.job.reply_to_seq, self.n + 1,
                           self.text) if len(self.text) <= MAX_TEXT else None  # longer than it will be stored
        if data is None:
            self.full = True  # the final message comes anyway; a client fetches it if it is too big to push
            log.info("reply %s outgrew the delta limit after %d deltas", self.job.reply_id, self.n)
            return
        self.n += 1
        self._sent_at = now
        # Each delta its own small budget, not one for the whole reply: healthy pushes add
        # up over a long answer and must not use up a budget meant for a hung provider.
        budget = Budget(DELTA_BUDGET_SECONDS)
        budget.spent.update({name: DELTA_BUDGET_SECONDS for name in self._hung})
        try:
            with self.realtime.budgeted(budget):
                self.realtime.event(REPLY_DELTA_EVENT, data, conversation_id=self.job.conversation_id)
        except Exception:  # noqa: BLE001 - a delta must not fail the reply
            log.exception("delta %d of reply %s not pushed", self.n, self.job.reply_id)
        self._hung |= {name for name in budget.spent if budget.left(name) <= 0}


class ReplyWorker:
    """Answers reply jobs off the request path (app.py's on_sqs_message handler hands it each event)."""

    def __init__(self, data: "Data", sites: "SiteDirectory", bots: BotRegistry, realtime: Realtime,
                 turns: BotTurns, clock: Callable[[], float] = time.monotonic) -> None:
        self.data = data
        self.sites = sites
        self.bots = bots
        self.realtime = realtime
        self.turns = turns
        self._clock = clock

    def handle(self, event: Mapping[str, Any]) -> None:
        """One SQS event (a batch of records, as Lambda hands them): each job in turn.

        A record that is no job is logged and dropped (it returns normally, so
        SQS deletes it). Anything else that fails raises: the batch is
        delivered again, and jobs already answered then do nothing more.
        """
        for record in event.get("Records") or []:
            attempt = (record.get("attributes") or {}).get("ApproximateReceiveCount", "1")
            try:
                job = ReplyJob.parse(record.get("body"))
            except BadJob as bad:
                log.error("dropping SQS message %s: not a reply job (%s)", record.get("messageId"), bad)
                continue
            if attempt != "1":
                log.warning("reply %s: delivery %s", job.reply_id, attempt)
            self.run(job)

    def run(self, job: ReplyJob) -> Message | None:
        """Answers one job; returns the stored reply (None: the bot does not answer this one)."""
        messages = self.data.messages
        stored = messages.stored_reply(job.conversation_id, job.client_message_id)
        if stored is not None:
            # Delivered again after the reply was stored: no second reply, no second
            # handoff. The push again is a hint (a first try may have died before it).
            self.realtime.publish(job.conversation_id, stored, stored.seq, site_key=job.site_key)
            return stored
        site = self.sites.get(job.site_key)
        if site is None:
            log.warning("reply %s: site %s is gone; dropped", job.reply_id, job.site_key)
            return None
        try:
            page, conversation = messages.latest(job.conversation_id, HISTORY_MESSAGES + LOOKAHEAD_MESSAGES)
        except ParleyError as error:
            if error.code != "conversation_not_found":
                raise  # unavailable, busy: SQS delivers it again
            log.info("reply %s: the conversation is gone (deleted or expired); dropped", job.reply_id)
            return None
        if conversation.site_key != job.site_key:
            log.error("reply %s: the conversation is not of site %s; dropped", job.reply_id, job.site_key)
            return None
        question = self._question(job, page.messages)
        if question is None:
            log.error("reply %s: no visitor message %s at seq %d; dropped", job.reply_id, job.client_message_id,
                      job.reply_to_seq)
            return None
        if not self.turns.may_answer(conversation):
            return None  # an agent holds it, or a person is awaited: the bot stays silent
        try:
            engine = self.bots.engine_for(site.bot)
        except ValueError:
            log.exception("reply %s: site %s has no usable bot engine; dropped", job.reply_id, site.site_key)
            return None
        history = [{"sender": m.sender, "text": m.text} for m in page.messages
                   if m.seq < job.reply_to_seq][-HISTORY_MESSAGES:]
        answer = self._stream(engine, question.text, history, site, job)
        # The final message's pushes get a budget of their own: a provider that
        # hung during the deltas must not cost the message that counts.
        with self.realtime.budgeted():
            return self.turns.post(job.conversation_id, job.client_message_id, answer, site, job.reply_id)

    def _question(self, job: ReplyJob, recent: list[Message]) -> Message | None:
        """The visitor message the job answers: in the page read, or (written over since) on its own."""
        found = next((m for m in recent if m.seq == job.reply_to_seq), None)
        if found is None:
            page = self.data.messages.messages_after(job.conversation_id, job.reply_to_seq - 1, 1)
            found = next((m for m in page.messages if m.seq == job.reply_to_seq), None)
        if found is None or found.sender != "visitor" or found.client_message_id != job.client_message_id:
            return None
        return found

    def _stream(self, engine: Any, text: str, history: list[dict[str, str]], site: Site,
                job: ReplyJob) -> BotReply:
        """Runs the engine's stream, pushing deltas; returns the BotReply it ends with.

        A stream that fails midway ends, by the engine's contract, with its
        fallback reply (whose text replaces what was streamed). One that raises
        anyway, or ends without a reply, is a bug in the engine: it raises, and
        SQS delivers the job again.
        """
        deltas = Deltas(self.realtime, job, clock=self._clock)
        final: BotReply | None = None
        context = BotContext(site.site_key, self.data.budgets)
        # Each delta has a small broadcast budget of its own (Deltas.add): a provider that
        # overruns one is skipped for the rest of the stream.
        for item in engine.stream(text, history, context=context):
            if isinstance(item, str):
                deltas.add(item)
            else:
                final = item
                break
        if final is None:
            raise RuntimeError(f"reply {job.reply_id}: the engine's stream ended without a reply")
        log.info("reply %s: %d deltas, engine %s%s", job.reply_id, deltas.n, getattr(final, "engine", "?"),
                 f", fell back ({final.fallback_reason})" if getattr(final, "fallback_reason", None) else "")
        return final
