"""What Parley's two mails say (chalicelib/mailer.py's renderers), and how the mailbox page shows them. No I/O."""
from __future__ import annotations

from chalicelib.mailer import (MAX_SUBJECT, NOTIFY_MESSAGES, NOTIFY_TEXT_CHARS, PREVIEW_CHARS, notification_mail,
                               one_line, transcript_mail)
from chalicelib.models import Conversation, Message
from infra.local.mailbox import page

CONV = Conversation("c1", "demo", status="pending", created_at="2026-12-03T10:00:00.000Z")


def msg(seq: int, text: str, sender: str = "visitor", **extra) -> Message:
    return Message(f"m{seq}", "c1", seq, sender, text, f"2026-12-03T10:{seq % 60:02d}:05.000Z", **extra)


def test_the_subject_names_the_site_the_visitor_and_a_preview_of_their_last_message():
    messages = [msg(1, "Hello"), msg(2, "Hi! How can I help?", "bot"), msg(3, "I need a person please")]
    subject, _ = notification_mail("Acme Shop", CONV, messages, None, {"name": "Ada", "email": "ada@x.example"}, 180)
    assert subject == "[Acme Shop] Ada is waiting: I need a person please", subject


def test_without_a_name_the_subject_uses_the_email_and_without_either_a_visitor():
    messages = [msg(1, "Hello")]
    by_email, _ = notification_mail("Acme", CONV, messages, None, {"email": "ada@x.example", "name": None}, 180)
    anonymous, _ = notification_mail("Acme", CONV, messages, None, None, 180)
    assert by_email == "[Acme] ada@x.example is waiting: Hello"
    assert anonymous == "[Acme] A visitor is waiting: Hello"


def test_the_preview_is_cut_at_60_characters_with_an_ellipsis():
    long = "word " * 40
    subject, _ = notification_mail("Acme", CONV, [msg(1, long)], None, None, 180)
    preview = subject.split(": ", 1)[1]
    assert len(preview) <= PREVIEW_CHARS and preview.endswith("…"), preview
    assert long.startswith(preview[:-1].rstrip())


def test_line_breaks_in_a_visitors_text_or_the_site_name_never_reach_the_subject():
    hostile = "hi\r\nBcc: victim@example.com\nX-Injected: 1"
    subject, _ = notification_mail("Acme\r\nBcc: a@b.example", CONV, [msg(1, hostile)], None,
                                   {"name": "Eve\r\nCc: c@d.example"}, 180)
    assert "\r" not in subject and "\n" not in subject, repr(subject)
    assert len(subject) <= MAX_SUBJECT
    assert one_line("a\u2028b\x00c\r\n\td", 50) == "a b c d", "every control character and line separator goes"


def test_the_subject_is_at_most_200_characters():
    subject, _ = notification_mail("S" * 300, CONV, [msg(1, "x")], None, {"name": "N" * 300}, 180)
    assert len(subject) <= MAX_SUBJECT, len(subject)


def test_the_text_shows_who_waits_the_last_ten_messages_the_link_and_why_it_was_sent():
    messages = [msg(i, f"message number {i}") for i in range(1, 15)]
    link = "https://console.example/?site=demo&conversation=c1"
    _, text = notification_mail("Acme", CONV, messages, link, {"name": "Ada", "email": "ada@x.example"}, 180)
    assert text.startswith("Ada is waiting on Acme.\n"), text
    assert "Status: waiting for a person" in text
    assert "Visitor's email: ada@x.example" in text
    shown = [i for i in range(1, 15) if f"message number {i}\n" in text]
    assert shown == list(range(15 - NOTIFY_MESSAGES, 15)), f"the last {NOTIFY_MESSAGES} messages, got {shown}"
    assert "[2026-12-03 10:14 UTC] Ada: message number 14" in text
    assert f"Open in the console: {link}" in text
    assert "unread for 3 minutes" in text


def test_without_a_link_the_text_has_no_console_line():
    _, text = notification_mail("Acme", CONV, [msg(1, "Hello")], None, None, 45)
    assert "Open in the console" not in text
    assert "unread for 45 seconds" in text


def test_an_assigned_conversation_says_to_whom_and_agents_and_bots_are_labelled():
    assigned = Conversation("c1", "demo", status="open", assignee_id="a1", assignee_name="Grace")
    messages = [msg(1, "Hello"), msg(2, "Bot here", "bot"), msg(3, "Grace here", "agent", sender_name="Grace"),
                msg(4, "Still there?")]
    subject, text = notification_mail("Acme", assigned, messages, None, None, 3600)
    assert "Status: assigned to Grace" in text
    assert "] Bot: Bot here" in text and "] Grace: Grace here" in text and "] Visitor: Still there?" in text
    assert subject.endswith(": Still there?")
    assert "unread for 1 hour and it is assigned to you" in text


def test_long_messages_are_cut_at_500_characters_and_continuation_lines_indented():
    _, text = notification_mail("Acme", CONV, [msg(1, "x" * 2000), msg(2, "line one\nline two")], None, None, 180)
    cut = next(line for line in text.splitlines() if "xxx" in line)
    assert cut.endswith("…") and cut.count("x") == NOTIFY_TEXT_CHARS - 1, len(cut)
    assert "line one\n    line two" in text


def test_a_handoff_without_a_visitor_message_has_a_subject_without_preview():
    subject, _ = notification_mail("Acme", CONV, [msg(1, "Hello, I am the bot", "bot")], None, None, 180)
    assert subject == "[Acme] A visitor is waiting"


def test_the_transcript_mail_is_the_text_transcript_with_its_subject():
    messages = [msg(1, "Hello"), msg(2, "Hi!", "bot")]
    subject, text = transcript_mail("Acme\nShop", CONV, messages, False, "2026-12-03T11:00:00Z")
    assert subject == "Your conversation with Acme Shop"
    assert "Conversation c1 on Acme Shop" in text and "You: Hello" in text and "Bot: Hi!" in text
    assert "exported 2026-12-03T11:00:00Z" in text


def test_a_truncated_transcript_says_so():
    _, text = transcript_mail("Acme", CONV, [msg(1, "Hello")], True, "2026-12-03T11:00:00Z")
    assert "The transcript ends here" in text


def test_the_mailbox_page_escapes_everything_and_lists_newest_first():
    mails = [{"id": "1", "from": "team@x.example", "to": ["a@x.example"], "subject": "<script>alert(1)</script>",
              "text": "<img src=x onerror=alert(2)>", "at": "2026-12-03T10:00:00.000Z"},
             {"id": "2", "from": "team@x.example", "to": ["b@x.example"], "subject": "second",
              "text": "plain", "at": "2026-12-03T10:01:00.000Z"}]
    shown = page(mails)
    assert "<script>alert" not in shown and "<img" not in shown, "visitor text must be escaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "&lt;img src=x" in shown
    assert shown.index("second") < shown.index("&lt;script&gt;"), "newest first"
