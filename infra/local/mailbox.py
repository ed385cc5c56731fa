"""The local mailbox: every email the stack sent through moto's SES, for a developer to read.

    python -m infra.local.mailbox [--endpoint http://127.0.0.1:5005] [--to ADDR] [--json]

moto keeps what ``sesv2.send_email`` sends in its SES (v1) backend
(``moto.ses.models.ses_backends[account][region].sent_messages``: moto's
SES v2 hands every send to v1), per account and region, and sends nothing.
infra/local/dynamodb.py serves them, before moto sees the request:

- ``GET /_parley/mail[?to=ADDR]``: ``{"mails": [{"id", "from", "to", "subject", "text", "at"}]}``, oldest first;
- ``GET /_parley/mailbox``: an HTML page of the same, newest first.

moto keeps no time of sending, so ``Mailbox`` notes it as a SendEmail answer
passes through it (mails sent some other way get the time they were first listed).

moto refuses ``send_email`` from an identity that was never verified, as SES
does: ``verify_sender`` creates it (devstack calls it for ``PARLEY_MAIL_FROM``).
"""
from __future__ import annotations

import argparse
import html
import itertools
import json
import sys
import threading
import time
import urllib.parse
import urllib.request
from email import message_from_string
from email.policy import default as default_policy
from typing import Any, Callable, Iterable

MAIL_PATH = "/_parley/mail"
PAGE_PATH = "/_parley/mailbox"
# sesv2 SendEmail: POST /v2/email/outbound-emails (REST-JSON).
SEND_PATH = "/v2/email/outbound-emails"


def verify_sender(sesv2: Any, address: str) -> None:
    """Makes ``address`` a verified SES identity; a second call changes nothing.

    moto verifies an identity at once (SES itself mails a link first).
    """
    from botocore.exceptions import ClientError

    try:
        sesv2.get_email_identity(EmailIdentity=address)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
    try:
        sesv2.create_email_identity(EmailIdentity=address)
    except ClientError as exc:
        # Another process verified it in between: what was wanted.
        if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


class Stamps:
    """When each mail was sent, and in which order, by its SES message id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, float]] = {}
        self._order = itertools.count()

    def note(self, message_id: str, at: float | None = None) -> tuple[int, float]:
        with self._lock:
            if message_id not in self._seen:
                self._seen[message_id] = (next(self._order), time.time() if at is None else at)
            return self._seen[message_id]


def _as_mail(message: Any) -> dict[str, Any] | None:
    """One of moto's sent messages as the mailbox shows it (templated ones are left out)."""
    destinations = getattr(message, "destinations", None)
    if hasattr(message, "raw_data"):
        parsed = message_from_string(message.raw_data, policy=default_policy)
        body = parsed.get_body(preferencelist=("plain", "html"))
        to = list(destinations or [])
        return {"id": message.id, "from": message.source, "to": to, "subject": str(parsed.get("Subject", "")),
                "text": body.get_content() if body is not None else ""}
    if not hasattr(message, "body"):
        return None
    to = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in (destinations or {}).get(key, [])]
    return {"id": message.id, "from": message.source, "to": to, "subject": message.subject, "text": message.body}


def sent_mails(stamps: Stamps, to: str | None = None) -> list[dict[str, Any]]:
    """Every mail moto's SES holds, in all accounts and regions, oldest first; ``to`` filters by recipient."""
    from moto.ses.models import ses_backends

    found = []
    # list(): a snapshot, as another thread may add a region or a mail meanwhile.
    for _, account in list(dict.items(ses_backends)):
        for _, backend in list(dict.items(account)):
            for message in list(backend.sent_messages):
                mail = _as_mail(message)
                if mail is None:
                    continue
                if to and to.strip().lower() not in (a.lower() for a in mail["to"]):
                    continue
                order, at = stamps.note(message.id)
                found.append((order, {**mail, "at": _iso(at)}))
    return [mail for _, mail in sorted(found, key=lambda pair: pair[0])]


def page(mails: list[dict[str, Any]]) -> str:
    """The mailbox as one self-contained HTML page, newest first. Everything shown is escaped: visitors wrote it."""
    e = html.escape
    items = []
    for mail in reversed(mails):
        items.append(
            "<article><header><h2>" + e(mail["subject"] or "(no subject)") + "</h2>"
            f"<p><b>From</b> {e(mail['from'])} <b>to</b> {e(', '.join(mail['to']))}"
            f" <b>at</b> <time>{e(mail['at'])}</time> <small>{e(mail['id'])}</small></p></header>"
            f"<pre>{e(mail['text'])}</pre></article>")
    body = "\n".join(items) or "<p>No mail yet. Whatever the stack sends through SES shows up here.</p>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Parley local mailbox</title>"
            "<meta http-equiv=\"refresh\" content=\"5\">"
            "<style>body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}"
            "article{border:1px solid #ccc;border-radius:6px;margin:1rem 0;padding:0 1rem}"
            "h2{font-size:1.1rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:.75rem}"
            "small{color:#777}</style></head><body>"
            f"<h1>Parley local mailbox ({len(mails)})</h1>"
            f"<p>Sent through moto's SES; JSON at <a href=\"{MAIL_PATH}\">{MAIL_PATH}</a>. "
            "This page reloads every 5 seconds.</p>\n" + body + "</body></html>")


class Mailbox:
    """A WSGI app that serves the two mailbox routes and hands every other request to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.stamps = Stamps()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path in (MAIL_PATH, PAGE_PATH):
            if method not in ("GET", "HEAD"):
                return self._answer(start_response, "405 Method Not Allowed", "application/json",
                                    json.dumps({"error": {"code": "method_not_allowed",
                                                          "message": "GET only."}}), [("Allow", "GET, HEAD")])
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            mails = sent_mails(self.stamps, (query.get("to") or [None])[0])
            if path == MAIL_PATH:
                return self._answer(start_response, "200 OK", "application/json", json.dumps({"mails": mails}))
            return self._answer(start_response, "200 OK", "text/html; charset=utf-8", page(mails))
        if method == "POST" and path == SEND_PATH:
            return self._stamped(environ, start_response)
        return self.app(environ, start_response)

    def _stamped(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Passes a SendEmail on, and notes its message id with the time it was sent."""
        status: list[str] = []

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        at = time.time()
        chunks = list(self.app(environ, start))
        if status and status[0].startswith("200"):
            try:
                self.stamps.note(json.loads(b"".join(chunks))["MessageId"], at)
            except (ValueError, KeyError, TypeError):
                pass
        return chunks

    @staticmethod
    def _answer(start_response: Callable[..., Any], status: str, kind: str, body: str,
                extra: list[tuple[str, str]] | None = None) -> list[bytes]:
        data = body.encode("utf-8")
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(data))),
                                ("Cache-Control", "no-store"), *(extra or [])])
        return [data]


def fetch_mails(endpoint: str, to: str | None = None, timeout: float = 5) -> list[dict[str, Any]]:
    """The mails a running local stack holds (its ``/_parley/mail``)."""
    url = endpoint.rstrip("/") + MAIL_PATH + (f"?{urllib.parse.urlencode({'to': to})}" if to else "")
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)["mails"]


def render(mails: list[dict[str, Any]]) -> str:
    """The mails as a terminal shows them, oldest first."""
    if not mails:
        return "No mail.\n"
    parts = []
    for mail in mails:
        parts.append(f"--- {mail['at']}  {mail['id']}\nFrom: {mail['from']}\nTo: {', '.join(mail['to'])}\n"
                     f"Subject: {mail['subject']}\n\n{mail['text'].rstrip()}\n")
    return "\n".join(parts) + f"\n({len(mails)} mail{'' if len(mails) == 1 else 's'})\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:5005", help="the local moto server")
    parser.add_argument("--to", help="only the mails to this address")
    parser.add_argument("--json", action="store_true", help="print the JSON list")
    args = parser.parse_args(argv)
    try:
        mails = fetch_mails(args.endpoint, args.to)
    except OSError as exc:
        print(f"cannot read {args.endpoint}{MAIL_PATH}: {exc} (is the local stack running?)", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps({"mails": mails}, indent=2, ensure_ascii=False) + "\n" if args.json
                     else render(mails))
    return 0


if __name__ == "__main__":
    sys.exit(main())
