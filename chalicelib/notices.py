"""Email when nobody is at the desk: the team about a conversation left unread, the visitor their transcript.

Team notifications, one per conversation per quiet period:

1. A handoff, or a visitor message while a person is awaited or holds the
   conversation (``pending``, ``open``), opens a quiet period: one conditional
   UpdateItem sets ``notify_due`` on the conversation only if none is set
   (``data.desk.claim_notification``), and only the caller that set it queues a
   ``notify`` job, delayed by the site's ``notify_delay_seconds``.
2. When the job runs it reads the conversation. Read by an agent since (their
   read mark covers every waiting message), resolved, or back with the bot: the
   period closes and nothing is sent. A waiting message younger than the delay
   (it came after an agent read the rest) moves the job on to its own time.
   Otherwise the period is closed *first* (conditional on this period: of two
   deliveries of the job one wins) and then one email goes to the assignee, or
   to every member of the site with an email address.
3. The next waiting message opens a new period. Messages the last email
   covered (``notified_seq``) never make another.

Closing before sending makes the email at most once; a failing SES call
reopens the period and queues the job again a minute later, NOTIFY_TRIES times in all,
so a failure is retried rather than lost, and an SES that refuses for good is not
asked every minute forever.

Transcripts: a visitor who asked for one (their contact's ``transcript``) gets
it emailed once per resolve (``claim_transcript`` on the resolve's state revision; a failed
send gives the claim back, and SQS delivers the job again).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Callable, Mapping

from .errors import ParleyError
from .models import Conversation, Message, Site

log = logging.getLogger("parley.notices")

NOTIFY_MESSAGES = 10          # messages an email quotes
TRANSCRIPT_MESSAGES = 2000    # what the visitor's download gives, too (chat.MAX_TRANSCRIPT_MESSAGES)
# A quiet period whose job never ran (its send was lost) blocks no later one after this long.
STALE_PERIOD_SECONDS = 3600
RETRY_SECONDS = 60            # a failed team email is tried again after this long,
NOTIFY_TRIES = 5              # this many times in all
CLOSE_ROUNDS = 3              # looks again when the conversation changed while the job read it


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def waiting(message: Message) -> bool:
    """Whether a message is one the team owes an answer to: the visitor's, or a handoff."""
    return message.sender == "visitor" or (
        message.sender == "system" and bool(message.event) and (message.event or {}).get("status") == "pending")


class Notices:
    def __init__(self, data: Any, sites: Any, queue: Any, mailer: Any, console_url: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.data = data
        self.sites = sites
        self.queue = queue
        self.mailer = mailer
        self.console_url = console_url
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.mailer.enabled and self.queue.configured)

    # -- on the request path ---------------------------------------------------

    def schedule(self, site: Site, conversation_id: str) -> bool:
        """Opens a quiet period unless one is open; True if this call queued the notify job."""
        if not (self.enabled and site.desk.get("notify", True)):
            return False
        delay = int(site.desk.get("notify_delay_seconds", 180))
        now = int(self._clock())
        due = now + delay
        if not self.data.desk.claim_notification(conversation_id, due, stale_before=now - STALE_PERIOD_SECONDS):
            return False
        try:
            self.queue.send({"kind": "notify", "site_key": site.site_key, "conversation_id": conversation_id,
                             "due": due}, delay)
        except Exception:
            # The mark without its job would silence the conversation until it goes stale: take it back.
            self.data.desk.close_notification(conversation_id, due, None)
            raise
        return True

    def transcript_requested(self, site: Site, conversation: Conversation) -> bool:
        """Queues the transcript of a conversation just resolved, if its visitor asked for one."""
        contact = conversation.contact or {}
        if not (self.enabled and site.desk.get("transcripts", True) and contact.get("transcript")
                and contact.get("email")):
            return False
        self.queue.send({"kind": "transcript", "site_key": site.site_key,
                         "conversation_id": conversation.conversation_id, "rev": conversation.state_rev})
        return True

    # -- in the job worker -----------------------------------------------------------

    def run_notify(self, job: Mapping[str, Any]) -> str:
        """One ``notify`` job; returns what it did (sent, read, not_waiting, later, stale, gone, retry,
        failed, no_recipients), for tests and logs.

        Every close of the period is conditioned on the conversation's ``last_seq`` as read too: a
        visitor message that lands meanwhile found the period open and queued nothing, so the
        close fails and the job looks again (at most CLOSE_ROUNDS times) instead of leaving that
        message with no period and no job.
        """
        conversation_id, site_key, due = job.get("conversation_id"), job.get("site_key"), job.get("due")
        if not (isinstance(conversation_id, str) and isinstance(site_key, str) and isinstance(due, int)):
            log.error("dropping a notify job without conversation_id, site_key and due")
            return "bad_job"
        for _ in range(CLOSE_ROUNDS):
            outcome = self._notify_round(job, conversation_id, site_key, due)
            if outcome != "again":
                return outcome
        raise ParleyError("busy", f"conversation {conversation_id} keeps changing; the notify job runs again")

    def _notify_round(self, job: Mapping[str, Any], conversation_id: str, site_key: str, due: int) -> str:
        found = self.data.desk.state(conversation_id)
        if found is None:
            return "gone"  # deleted (or being deleted) or expired: nobody to tell about it
        conversation, marks = found
        if marks.get("notify_due") != due or conversation.site_key != site_key:
            return "stale"  # this period was closed already (a delivery again), or a newer one is open
        seen = conversation.last_seq

        def close(notified_seq: int | None, outcome: str) -> str:
            closed = self.data.desk.close_notification(conversation_id, due, notified_seq, seen_last_seq=seen)
            return outcome if closed else "again"

        site = self.sites.get(site_key)
        if site is None or not site.desk.get("notify", True) or conversation.status not in ("pending", "open"):
            return close(None, "not_waiting")
        try:
            page, _ = self.data.messages.latest(conversation_id, NOTIFY_MESSAGES)
        except ParleyError as error:
            if error.code == "conversation_not_found":
                return "gone"
            raise
        covered = max(conversation.agent_read_seq, int(marks.get("notified_seq") or 0))
        owed = [m for m in page.messages if m.seq > covered and waiting(m)]
        if not owed:
            return close(None, "read")
        delay = int(site.desk.get("notify_delay_seconds", 180))
        oldest = _epoch(owed[0].created_at)
        now = self._clock()
        if oldest is not None and oldest + delay > now + 1:
            # It came after an agent read the rest: it gets its own full delay.
            self.queue.send(dict(job), oldest + delay - now)
            return "later"
        recipients = self._recipients(site, conversation)
        if not recipients:
            log.warning("conversation %s waits unread, but site %s has no agent with an email address",
                        conversation_id, site_key)
            return close(seen, "no_recipients")
        # Closed before the email goes: of two deliveries of this job, one sends.
        if close(seen, "closed") == "again":
            return "again"
        from .mailer import notification_mail

        subject, text = notification_mail(site.name, conversation, page.messages, self._link(site, conversation),
                                          conversation.contact, delay)
        try:
            self.mailer.send(recipients, subject, text)
        except ParleyError:
            tries = int(job.get("tries") or 1)
            if tries >= NOTIFY_TRIES:
                log.error("conversation %s: the team email failed %d times; giving up on this period",
                          conversation_id, tries)
                return "failed"
            # Reopen the period (the email covered nothing) and try again in a minute. The job
            # itself ends normally: raising would only bring it back as stale.
            retry_due = int(now) + RETRY_SECONDS
            if self.data.desk.claim_notification(conversation_id, retry_due, stale_before=int(now),
                                                 notified_seq=int(marks.get("notified_seq") or 0)):
                self.queue.send({**job, "due": retry_due, "tries": tries + 1}, RETRY_SECONDS)
            log.warning("conversation %s: the team email failed (try %d of %d); again in %d s",
                        conversation_id, tries, NOTIFY_TRIES, RETRY_SECONDS)
            return "retry"
        log.info("conversation %s: notified %d agent(s) of site %s", conversation_id, len(recipients), site_key)
        return "sent"

    def run_transcript(self, job: Mapping[str, Any]) -> str:
        conversation_id, site_key, rev = job.get("conversation_id"), job.get("site_key"), job.get("rev")
        if not (isinstance(conversation_id, str) and isinstance(site_key, str) and isinstance(rev, int)):
            log.error("dropping a transcript job without conversation_id, site_key and rev")
            return "bad_job"
        site = self.sites.get(site_key)
        try:
            conversation, messages, truncated = self.data.messages.history(conversation_id, TRANSCRIPT_MESSAGES)
        except ParleyError as error:
            if error.code == "conversation_not_found":
                return "gone"
            raise
        email = (conversation.contact or {}).get("email")
        if site is None or conversation.site_key != site_key or not email or not (conversation.contact or {}).get(
                "transcript"):
            return "not_wanted"
        if not self.data.desk.claim_transcript(conversation_id, rev):
            return "sent_already"
        from .mailer import transcript_mail

        stamp = dt.datetime.fromtimestamp(self._clock(), dt.timezone.utc).isoformat(timespec="seconds")
        subject, text = transcript_mail(site.name, conversation, messages, truncated, stamp.replace("+00:00", "Z"))
        try:
            self.mailer.send([email], subject, text)
        except ParleyError:
            # Not sent: give the claim back, and SQS delivers the job again (the queue's
            # maxReceiveCount bounds the tries; then the dead-letter queue has it).
            self.data.desk.release_transcript(conversation_id, rev)
            raise
        return "sent"

    def _recipients(self, site: Site, conversation: Conversation) -> list[str]:
        members = self.data.agents.members_of(site.site_key)
        if conversation.assignee_id:
            mine = [m.email for m in members if m.agent_id == conversation.assignee_id and m.email]
            if mine:
                return mine
        return [m.email for m in members if m.email]

    def _link(self, site: Site, conversation: Conversation) -> str | None:
        if not self.console_url:
            return None
        joiner = "&" if "?" in self.console_url else "?"
        return f"{self.console_url}{joiner}site={site.site_key}&conversation={conversation.conversation_id}"
