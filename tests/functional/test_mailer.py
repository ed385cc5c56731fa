"""Mailer.send on moto's SES: what SES gets, and what a refusal becomes."""
from __future__ import annotations

import logging
from typing import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.errors import ParleyError
from chalicelib.mailer import MAX_RECIPIENTS, Mailer
from infra.local.mailbox import Stamps, sent_mails, verify_sender

REGION = "us-east-1"
SENDER = "team@parley.example"


@pytest.fixture
def sesv2(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # A developer's shell may point boto3 at a running `make dev`'s SES; this test brings its own.
    monkeypatch.delenv("AWS_ENDPOINT_URL_SESV2", raising=False)
    with mock_aws():
        yield boto3.client("sesv2", region_name=REGION)


def sent() -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


class Counting:
    """The client getter, counting how often a client was asked for."""

    def __init__(self, client: object) -> None:
        self.client, self.calls = client, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.client


def test_a_sent_mail_answers_its_message_id_and_reaches_ses_as_given(sesv2):
    verify_sender(sesv2, SENDER)
    mailer = Mailer(lambda: sesv2, SENDER)
    message_id = mailer.send(["ada@x.example"], "Hello", "Body text\nline two", reply_to="ada@x.example")
    assert message_id and [m.id for m in sent()] == [message_id]
    mail = sent()[0]
    assert (mail.source, mail.subject, mail.body) == (SENDER, "Hello", "Body text\nline two")
    assert mail.destinations == {"ToAddresses": ["ada@x.example"]}


def test_without_a_sender_nothing_is_sent_and_no_client_is_made(sesv2):
    getter = Counting(sesv2)
    mailer = Mailer(getter, None)
    assert not mailer.enabled and not Mailer(getter, "  ").enabled
    assert mailer.send(["ada@x.example"], "Hello", "Body") is None
    assert getter.calls == 0 and sent() == []


def test_without_recipients_nothing_is_sent(sesv2):
    getter = Counting(sesv2)
    assert Mailer(getter, SENDER).send([], "Hello", "Body") is None
    assert Mailer(getter, SENDER).send(["", "not-an-address"], "Hello", "Body") is None
    assert getter.calls == 0 and sent() == []


def test_recipients_are_deduplicated_case_insensitively_and_capped_at_fifty(sesv2):
    verify_sender(sesv2, SENDER)
    mailer = Mailer(lambda: sesv2, SENDER)
    mailer.send(["Ada@X.example", "ada@x.example", " ada@x.EXAMPLE ", "bob@x.example"], "Hi", "Body")
    assert sent()[0].destinations["ToAddresses"] == ["Ada@X.example", "bob@x.example"], "first spelling wins"
    many = [f"agent{i}@x.example" for i in range(MAX_RECIPIENTS + 7)]
    mailer.send(many, "Hi", "Body")
    assert sent()[1].destinations["ToAddresses"] == many[:MAX_RECIPIENTS]


def test_a_subject_with_line_breaks_reaches_ses_as_one_line(sesv2):
    verify_sender(sesv2, SENDER)
    Mailer(lambda: sesv2, SENDER).send(["ada@x.example"], "Hi\r\nBcc: victim@example.com", "Body")
    assert sent()[0].subject == "Hi Bcc: victim@example.com"


def test_an_unverified_sender_is_refused_as_unavailable_without_an_address_in_the_error(sesv2, caplog):
    mailer = Mailer(lambda: sesv2, "nobody@parley.example")
    with caplog.at_level(logging.INFO, logger="parley.mailer"), pytest.raises(ParleyError) as refused:
        mailer.send(["ada@x.example"], "Hello", "Body")
    assert refused.value.code == "unavailable" and refused.value.status == 503, refused.value
    assert "MessageRejected" in refused.value.message
    assert "@" not in refused.value.message, "no address in what may be shown or logged"
    assert "@" not in caplog.text, f"no address in the log: {caplog.text}"
    assert sent() == []


def test_the_log_at_info_names_the_message_id_and_no_address_or_body(sesv2, caplog):
    verify_sender(sesv2, SENDER)
    with caplog.at_level(logging.INFO, logger="parley.mailer"):
        message_id = Mailer(lambda: sesv2, SENDER).send(["ada@x.example"], "Secret subject", "Secret body")
    assert message_id in caplog.text
    assert "ada@" not in caplog.text and "Secret" not in caplog.text, caplog.text


def test_verifying_a_sender_twice_is_harmless(sesv2):
    verify_sender(sesv2, SENDER)
    verify_sender(sesv2, SENDER)
    identities = sesv2.list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == [SENDER]


def test_the_mailbox_lists_what_was_sent_oldest_first_and_filters_by_recipient(sesv2):
    verify_sender(sesv2, SENDER)
    mailer = Mailer(lambda: sesv2, SENDER)
    first = mailer.send(["ada@x.example"], "First", "one")
    second = mailer.send(["bob@x.example", "ada@x.example"], "Second", "two")
    stamps = Stamps()
    mails = sent_mails(stamps)
    assert [m["id"] for m in mails] == [first, second]
    assert mails[1] == {"id": second, "from": SENDER, "to": ["bob@x.example", "ada@x.example"],
                        "subject": "Second", "text": "two", "at": mails[1]["at"]}
    assert [m["id"] for m in sent_mails(stamps, to="BOB@x.example")] == [second]
