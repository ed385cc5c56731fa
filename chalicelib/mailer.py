"""Email through Amazon SES (v2): the one sender, and the two mails Parley writes.

``Mailer.send`` is the only place that talks to SES. Locally the same call
goes to moto's SES on the moto server (``AWS_ENDPOINT_URL_SESV2``), and
infra/local/mailbox.py shows what was sent. Without a sender
(``PARLEY_MAIL_FROM`` unset) nothing is sent: ``send`` answers None.

``notification_mail`` and ``transcript_mail`` are pure: they turn a
conversation into ``(subject, text)``, and their tests need no I/O.

Privacy: addresses and bodies never reach a log line at INFO; a sent mail is
logged by its SES message id and its number of recipients only.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Mapping, Sequence

from .errors import ParleyError
from .models import Conversation, Message
from .transcript import as_text

log = logging.getLogger("parley.mailer")

# SES refuses a message with more than 50 recipients (To, Cc and Bcc together).
MAX_RECIPIENTS = 50
MAX_SUBJECT = 200
# What a notification shows: the last messages, each cut this long, and the subject's preview.
NOTIFY_MESSAGES = 10
NOTIFY_TEXT_CHARS = 500
PREVIEW_CHARS = 60
ELLIPSIS = "…"

# Every control character, CR and LF included, and the Unicode line and paragraph
# separators: none belongs in a header, and a CR/LF in one would let a visitor's
# text (the subject quotes it) start a header of its own.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")


def one_line(value: str, limit: int) -> str:
    """``value`` as one header-safe line of at most ``limit`` characters (cut with "…")."""
    flat = _SPACES.sub(" ", _BREAKS.sub(" ", value)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + ELLIPSIS


def _address(value: Any) -> str | None:
    """An address as SES gets it, or None when it cannot be one (no @, spaces, control characters)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.count("@") != 1 or _BREAKS.search(value) or any(c.isspace() for c in value):
        return None
    return value


class Mailer:
    """Sends plain-text mail from one verified identity through SES v2.

    ``client`` returns a boto3 ``sesv2`` client (a ``Lazy``'s ``get``): it is
    called only when a mail goes out, so a Lambda that sends nothing never builds one.
    """

    def __init__(self, client: Callable[[], Any], sender: str | None) -> None:
        self._client = client
        self.sender = (sender or "").strip() or None

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    def send(self, to: Sequence[str], subject: str, text: str, *, reply_to: str | None = None) -> str | None:
        """Sends one mail to ``to`` and answers its SES message id.

        None, and no call to SES, when no sender is configured or no recipient
        is left. Recipients are deduplicated case-insensitively (the first
        spelling wins) and capped at SES's 50. A refusal or an outage of SES
        raises ``ParleyError("unavailable")`` (503): the caller is a queue
        worker, and its job is retried.
        """
        if not self.enabled:
            log.info("mail not sent: no sender configured (PARLEY_MAIL_FROM)")
            return None
        recipients = _recipients(to)
        if not recipients:
            return None
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": recipients},
            "Content": {"Simple": {
                "Subject": {"Data": one_line(subject, MAX_SUBJECT) or "(no subject)", "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}},
        }
        replies = _address(reply_to) if reply_to else None
        if replies:
            request["ReplyToAddresses"] = [replies]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client().send_email(**request)
        except ClientError as exc:
            # The code only: SES's message may quote an address.
            code = exc.response.get("Error", {}).get("Code", "unknown")
            log.warning("mail not sent: SES refused it (%s)", code)
            raise ParleyError("unavailable", f"The email could not be sent (SES: {code}).") from exc
        except BotoCoreError as exc:
            # A timeout or a connection that failed: SES may be fine a moment later.
            log.warning("mail not sent: SES unreachable (%s)", type(exc).__name__)
            raise ParleyError("unavailable", "The email could not be sent (SES unreachable).") from exc
        message_id = answer.get("MessageId")
        log.info("mail sent: id=%s recipients=%d", message_id, len(recipients))
        return message_id


def _recipients(to: Sequence[str]) -> list[str]:
    if isinstance(to, str):  # one address, not a sequence of its characters
        to = [to]
    kept: dict[str, str] = {}
    dropped = 0
    for value in to:
        address = _address(value)
        if address is None:
            dropped += 1
        elif address.lower() not in kept:
            kept[address.lower()] = address
    if dropped:
        log.warning("mail: %d recipient(s) that are no address left out", dropped)
    if len(kept) > MAX_RECIPIENTS:
        log.warning("mail: %d recipients, only the first %d get it (SES's limit)", len(kept), MAX_RECIPIENTS)
    return list(kept.values())[:MAX_RECIPIENTS]


# ---- what the mails say -------------------------------------------------------------------------


def _when(created_at: str) -> str:
    """``2026-12-03T10:55:34.123Z`` as ``2026-12-03 10:55 UTC`` (anything else as it is)."""
    match = _ISO.match(created_at or "")
    return f"{match.group(1)} {match.group(2)} UTC" if match else (created_at or "")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _who(contact: Mapping[str, Any] | None, conversation: Conversation) -> str | None:
    """The visitor's name or email: what they told us (contact), else what the site passed (visitor)."""
    for facts in (contact, conversation.visitor):
        for key in ("name", "email"):
            value = facts.get(key) if facts else None
            if isinstance(value, str) and one_line(value, 100):
                return one_line(value, 100)
    return None


def _status(conversation: Conversation) -> str:
    if conversation.assignee_id:
        return f"assigned to {one_line(conversation.assignee_name or conversation.assignee_id, 100)}"
    return {"pending": "waiting for a person", "open": "open, nobody assigned",
            "bot": "talking to the bot", "resolved": "resolved"}.get(conversation.status, conversation.status)


def _duration(seconds: int) -> str:
    if seconds < 60:
        amount, unit = seconds, "second"
    elif seconds < 3600:
        amount, unit = round(seconds / 60), "minute"
    else:
        amount, unit = round(seconds / 3600, 1), "hour"
        amount = int(amount) if amount == int(amount) else amount
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def _team_line(message: Message, visitor: str) -> str:
    if message.sender == "visitor":
        who = visitor
    elif message.sender == "agent":
        who = message.sender_name or "Agent"
    else:
        who = {"bot": "Bot", "system": "—"}.get(message.sender, message.sender)
    # Continuation lines are indented, so every message starts a line of its own (as in transcript.py).
    text = _cut(message.text, NOTIFY_TEXT_CHARS).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\n    ")
    return f"[{_when(message.created_at)}] {who}: {text}"


def notification_mail(site_name: str, conversation: Conversation, messages: list[Message], link: str | None,
                      contact: Mapping[str, Any] | None, delay_seconds: int) -> tuple[str, str]:
    """The team's email about a conversation nobody has read for ``delay_seconds``: (subject, text).

    ``messages`` are the conversation's latest, oldest first; the last 10 are shown.
    """
    site = one_line(site_name, 100) or conversation.site_key
    who = _who(contact, conversation)
    name = who or "A visitor"
    last_visitor = next((m for m in reversed(messages) if m.sender == "visitor"), None)
    subject = f"[{site}] {name} is waiting"
    if last_visitor is not None and one_line(last_visitor.text, PREVIEW_CHARS):
        subject += f": {one_line(last_visitor.text, PREVIEW_CHARS)}"
    lines = [f"{name} is waiting on {site}.", "",
             f"Status: {_status(conversation)}",
             f"Conversation: {conversation.conversation_id}"]
    email = contact.get("email") if contact else None
    if isinstance(email, str) and _address(email):
        lines.append(f"Visitor's email: {email.strip()}")
    lines.append("")
    shown = messages[-NOTIFY_MESSAGES:]
    if shown:
        lines.append("Last messages:" if len(messages) > len(shown) else "Messages:")
        lines.extend(_team_line(m, who or "Visitor") for m in shown)
    else:
        lines.append("No messages yet.")
    if link:
        lines += ["", f"Open in the console: {link}"]
    lines += ["", "--",
              f"You get this email because this conversation has been unread for "
              f"{_duration(max(0, int(delay_seconds)))} and "
              f"{'it is assigned to you' if conversation.assignee_id else f'you are a member of {site}'}.",
              "One email per conversation per quiet period: reading it in the console stops them."]
    return one_line(subject, MAX_SUBJECT), "\n".join(lines) + "\n"


def transcript_mail(site_name: str, conversation: Conversation, messages: list[Message], truncated: bool,
                    exported_at: str) -> tuple[str, str]:
    """The visitor's transcript of a resolved conversation: (subject, text)."""
    site = one_line(site_name, 100) or conversation.site_key
    text = as_text(conversation, site, messages, truncated, exported_at)
    footer = f"\n--\nYou get this email because you asked for the transcript of your chat with {site}.\n"
    return one_line(f"Your conversation with {site}", MAX_SUBJECT), text + footer
