"""When nobody is at the desk, on moto: availability, presence, the visitor's contact, team emails, transcripts."""
from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.models import Member

from .conftest import ORIGIN
from .test_agent_api import CONSOLE, ENV, Desk, err

SENDER = "team@parley.test"
DESK_ENV = {**ENV, "PARLEY_MAIL_FROM": SENDER, "PARLEY_CONSOLE_URL": "http://127.0.0.1:8090/",
            "PARLEY_JOB_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parley-test-jobs"}


class Jobs:
    """The job queue, as the worker would see it: every job sent, with its delay (SQS would hold it that long)."""

    url = DESK_ENV["PARLEY_JOB_QUEUE_URL"]
    configured = True

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], float]] = []

    def send(self, job: dict[str, Any], delay_seconds: float = 0) -> None:
        self.sent.append((dict(job), delay_seconds))

    def kind(self, kind: str) -> list[tuple[dict[str, Any], float]]:
        return [(job, delay) for job, delay in self.sent if job["kind"] == kind]


class Team(Desk):
    """The agents' side with email: a verified sender on moto's SES and a recording job queue."""

    def __init__(self, http, make_root, data) -> None:
        self.jobs = Jobs()
        super().__init__(http, lambda env, **parts: make_root({**env, **DESK_ENV}, **parts), data)
        self.root._jobs.set(self.jobs)
        boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        self.data = data

    def visitor(self, who: dict[str, Any], path: str, body: dict[str, Any]):
        return self.http.post(f"/api/chatbot/{path}", {"conversation_id": who["conversation_id"], **body},
                              {"Authorization": f"Bearer {who['token']}", "Origin": ORIGIN})

    def run(self, kind: str = "notify") -> list[str]:
        """Runs (and takes off the queue) every queued job of ``kind``, as the worker would once due."""
        jobs = self.jobs.kind(kind)
        self.jobs.sent = [entry for entry in self.jobs.sent if entry[0]["kind"] != kind]
        handler = {"notify": self.root.notices.run_notify, "transcript": self.root.notices.run_transcript}[kind]
        return [handler(job) for job, _ in jobs]


def mails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


@pytest.fixture
def team(http, make_root, data) -> Team:
    return Team(http, make_root, data)


def set_desk(data, **desk: Any) -> None:
    site = data.sites.get("demo")
    data.sites.put(site.changed(desk={**site.desk, **desk}), previous_origins=site.origins)


# -- availability ---------------------------------------------------------------------


def test_config_says_nobody_is_online_until_an_agents_console_beats(team):
    answer = team.http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}).json_body
    assert answer["availability"] == {"online": False, "open": True, "reply_within_hours": 24,
                                      "next_open_at": None, "timezone": "UTC"}
    assert answer["prechat"] == {"name": "off", "email": "off"} and answer["transcripts"] is True
    beat = team.post("/sites/demo/presence", {})
    assert beat.status_code == 200 and beat.json_body["ttl_seconds"] == 90
    again = team.http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}).json_body
    assert again["availability"]["online"] is True, "a heartbeat makes the site online"
    assert "availability" not in team.http.session(), "init leaves it to config (no count on a cold init)"


def test_presence_lapses_without_heartbeats_and_ends_on_leave(team):
    desk = team.root.data.desk  # on the test's clock
    team.post("/sites/demo/presence", {})
    assert desk.online("demo") == 1
    team.clock.advance(91)
    assert desk.online("demo") == 0, "a row past its ttl counts for nothing (no emulator expires it)"
    team.post("/sites/demo/presence", {}, who="boss")
    resp = team.http.c.http.delete("/api/agent/sites/demo/presence", headers=team.headers("boss"))
    assert resp.status_code == 200 and desk.online("demo") == 0


def test_presence_is_for_members_only(team):
    assert err(team.post("/sites/demo/presence", {}, who="carl")) == (403, "not_a_member")
    assert err(team.post("/sites/demo/presence", {}, token="not-a-token")) == (401, "invalid_token")


def test_outside_business_hours_nobody_is_online_and_the_widget_learns_when_they_open(team, data):
    # 2_000_000_000 is Wednesday 2033-05-18 03:33:20 UTC: 05:33 in Berlin, before the 09:00 opening.
    set_desk(data, timezone="Europe/Berlin", hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed")},
             reply_within_hours=4)
    team.post("/sites/demo/presence", {})
    availability = team.http.get("/api/chatbot/config?site_key=demo", {"Origin": ORIGIN}).json_body["availability"]
    assert availability == {"online": False, "open": False, "reply_within_hours": 4,
                            "next_open_at": "2033-05-18T07:00:00Z", "timezone": "Europe/Berlin"}


# -- the visitor's contact ---------------------------------------------------------------


def test_a_visitor_leaves_an_email_the_agent_sees_and_the_visitor_can_change(team):
    who = team.waiting()
    resp = team.visitor(who, "contact", {"email": " ada@example.com ", "name": "Ada", "transcript": True})
    assert resp.status_code == 200
    assert resp.json_body == {"contact": {"email": "ada@example.com", "name": "Ada", "transcript": True}}
    seen = team.get(team.conv(who["conversation_id"])).json_body["conversation"]["contact"]
    assert seen == {"email": "ada@example.com", "name": "Ada", "transcript": True}
    changed = team.visitor(who, "contact", {"email": "ada@other.example"}).json_body["contact"]
    assert changed == {"email": "ada@other.example", "name": "Ada", "transcript": True}, "other fields kept"
    resumed = team.http.init(conversation_id=who["conversation_id"], token=who["token"]).json_body
    assert resumed["contact"]["email"] == "ada@other.example"


@pytest.mark.parametrize("body, code", [
    ({"email": "not-an-address"}, "invalid_email"),
    ({"email": "ada@example.com\r\nBcc: x@evil.example"}, "invalid_email"),
    ({"email": "<ada@example.com>"}, "invalid_email"),
    ({"email": "a" * 250 + "@example.com"}, "invalid_email"),
    ({"email": "a" * 401 + "@example.com"}, "invalid_request"),
    ({"email": 42}, "invalid_request"),
    ({"name": "Ada\x00"}, "invalid_request"),
    ({"name": "x" * 101}, "invalid_request"),
    ({"transcript": "yes"}, "invalid_request"),
    ({"transcript": True}, "email_required"),
    ({}, "invalid_request"),
])
def test_bad_contact_details_are_refused_and_nothing_is_stored(team, body, code):
    who = team.waiting()
    resp = team.visitor(who, "contact", body)
    assert err(resp) == (400, code), resp.body
    view = team.get(team.conv(who["conversation_id"])).json_body["conversation"]
    assert view["contact"] is None


def test_removing_the_email_while_a_transcript_is_wanted_is_refused(team):
    who = team.waiting()
    team.visitor(who, "contact", {"email": "ada@example.com", "transcript": True})
    assert err(team.visitor(who, "contact", {"email": None})) == (400, "email_required")
    assert team.visitor(who, "contact", {"email": None, "transcript": False}).json_body == {
        "contact": {"email": None, "name": None, "transcript": False}}


def test_a_contact_needs_the_conversations_own_token(team):
    who, other = team.waiting(), team.http.session()
    resp = team.http.post("/api/chatbot/contact", {"conversation_id": who["conversation_id"],
                                                   "email": "x@example.com"},
                          {"Authorization": f"Bearer {other['token']}", "Origin": ORIGIN})
    assert err(resp) == (403, "conversation_mismatch")
    assert err(team.http.post("/api/chatbot/contact", {"conversation_id": who["conversation_id"],
                                                       "email": "x@example.com"}, {"Origin": ORIGIN})) == (
        401, "missing_token")


# -- team notifications -------------------------------------------------------------------


def test_a_handoff_nobody_reads_emails_the_team_once_with_the_last_messages_and_a_link(team):
    who = team.waiting()
    team.visitor(who, "contact", {"email": "ada@example.com", "name": "Ada"})
    # More messages in the quiet period queue no more jobs: one per conversation per period.
    team.http.send(who, text="Is anyone there?", cmid="c-2")
    team.http.send(who, text="Hello??", cmid="c-3")
    (job, delay), = team.jobs.kind("notify")
    assert delay == 180, "the site's default delay"
    team.clock.advance(181)
    assert team.run() == ["sent"]
    (mail,) = mails()
    assert mail.source == SENDER and sorted(mail.destinations["ToAddresses"]) == ["ana@example.com",
                                                                                  "bo@example.com"]
    assert "Ada" in mail.subject and "Hello??" in mail.subject
    assert "Is anyone there?" in mail.body and (
        f"http://127.0.0.1:8090/?site=demo&conversation={who['conversation_id']}") in mail.body
    # The same job again (SQS delivers at least once): no second email.
    team.jobs.sent.append((job, 0))
    assert team.run() == ["stale"] and len(mails()) == 1


def test_an_agent_who_reads_in_time_prevents_the_email(team):
    who = team.waiting()
    cid = who["conversation_id"]
    last = team.get(team.conv(cid)).json_body["last_seq"]
    assert team.post(team.conv(cid, "/read"), {"seq": last}).status_code == 200
    team.clock.advance(181)
    assert team.run() == ["read"] and mails() == []
    team.http.send(who, text="Still there?", cmid="c-9")
    assert len(team.jobs.kind("notify")) == 1, "the next waiting message opens a new quiet period"


def test_a_message_after_the_agent_read_waits_its_own_full_delay(team):
    who = team.waiting()
    cid = who["conversation_id"]
    team.clock.advance(100)
    team.post(team.conv(cid, "/read"), {"seq": team.get(team.conv(cid)).json_body["last_seq"]})
    team.http.send(who, text="One more thing", cmid="c-2")
    team.clock.advance(81)
    assert team.run() == ["later"] and mails() == []
    ((_, delay),) = team.jobs.kind("notify")
    assert 98 <= delay <= 100, "due 180 s after the unread message"
    team.clock.advance(100)
    assert team.run() == ["sent"] and len(mails()) == 1


def test_the_assignee_alone_is_emailed_about_their_conversation(team):
    who = team.waiting()
    cid = who["conversation_id"]
    assert team.post(team.conv(cid, "/claim"), who="boss").status_code == 200
    team.run()  # the handoff's period: the claim read it all
    team.http.send(who, text="Thanks, and another question", cmid="c-2")
    team.clock.advance(181)
    assert team.run() == ["sent"]
    assert mails()[-1].destinations["ToAddresses"] == ["bo@example.com"]


def test_a_bot_conversation_sets_off_no_notification(team):
    who = team.http.session()
    team.http.send(who, text="How much does it cost?")
    assert team.jobs.kind("notify") == []


def test_a_site_that_turned_notifications_off_gets_none(team, data):
    set_desk(data, notify=False)
    team.waiting()
    assert team.jobs.kind("notify") == []


def refusing_ses(team: Team, monkeypatch) -> dict[str, Any]:
    """SES refuses while ``state["refuse"]``; ``state["attempts"]`` counts the calls. (Not monkeypatch.undo:
    it would also undo the fixture that hands the app this test's graph.)"""
    from chalicelib.errors import ParleyError

    state: dict[str, Any] = {"refuse": True, "attempts": 0}
    send = team.root.mailer.send

    def flaky(*args: Any, **kwargs: Any) -> Any:
        state["attempts"] += 1
        if state["refuse"]:
            raise ParleyError("unavailable", "SES said no")
        return send(*args, **kwargs)

    monkeypatch.setattr(team.root.mailer, "send", flaky)
    return state


def test_a_failing_ses_call_is_retried_a_minute_later_and_given_up_after_five_tries(team, monkeypatch):
    ses = refusing_ses(team, monkeypatch)
    team.waiting()
    team.clock.advance(181)
    assert team.run() == ["retry"]
    (job, delay), = team.jobs.kind("notify")
    assert delay == 60 and job["tries"] == 2
    ses["refuse"] = False
    team.clock.advance(61)
    assert team.run() == ["sent"] and len(mails()) == 1, "a failure is retried, not lost"
    # An SES that refuses for good is not asked every minute forever.
    ses.update(refuse=True, attempts=0)
    team.waiting()
    team.clock.advance(181)
    outcomes = []
    for _ in range(8):
        outcomes += team.run()
        team.clock.advance(61)
    assert outcomes == ["retry"] * 4 + ["failed"] and team.jobs.kind("notify") == []
    assert ses["attempts"] == 5 and len(mails()) == 1


def test_a_message_stored_while_the_job_reads_is_not_left_without_a_notification(team, monkeypatch):
    who = team.waiting()
    team.clock.advance(181)
    desk = team.root.data.desk
    close = desk.close_notification
    landed: list[Any] = []

    def close_after_a_message(*args: Any, **kwargs: Any) -> bool:
        if not landed:  # the visitor writes between the job's read and its close
            landed.append(team.http.send(who, text="Hello, still waiting", cmid="c-late"))
        return close(*args, **kwargs)

    monkeypatch.setattr(desk, "close_notification", close_after_a_message)
    assert team.run() == ["sent"]
    assert landed[0].status_code == 201 and team.jobs.kind("notify") == [], "its send found the period open"
    conversation, marks = desk.state(who["conversation_id"])
    assert int(marks["notified_seq"]) == conversation.last_seq, "the email covered the late message too"
    assert "Hello, still waiting" in mails()[-1].body


def test_a_deleted_conversations_notify_job_ends_quietly(team):
    who = team.waiting()
    resp = team.http.c.http.delete(f"/api/chatbot/conversation?conversation_id={who['conversation_id']}",
                                   headers={"Authorization": f"Bearer {who['token']}", "Origin": ORIGIN})
    assert resp.status_code == 200
    team.clock.advance(181)
    assert team.run() == ["gone"] and mails() == []


def test_a_site_that_turns_notifications_off_gets_no_email_from_jobs_already_queued(team, data):
    team.waiting()
    set_desk(data, notify=False)
    team.clock.advance(181)
    team.monotonic.advance(60)  # past the site cache
    assert team.run() == ["not_waiting"] and mails() == []


# -- transcripts -----------------------------------------------------------------------------


def test_a_visitor_who_asked_gets_the_transcript_once_when_resolved(team):
    who = team.waiting()
    cid = who["conversation_id"]
    team.visitor(who, "contact", {"email": "ada@example.com", "transcript": True})
    team.post(team.conv(cid, "/claim"))
    assert team.post(team.conv(cid, "/resolve")).status_code == 200
    (job, _), = team.jobs.kind("transcript")
    assert team.run("transcript") == ["sent"]
    (mail,) = [m for m in mails() if m.destinations["ToAddresses"] == ["ada@example.com"]]
    assert "Your conversation with demo" in mail.subject and "Hello there" in mail.body
    assert team.root.notices.run_transcript(job) == "sent_already", "a job delivered again sends nothing more"
    assert len([m for m in mails() if m.destinations["ToAddresses"] == ["ada@example.com"]]) == 1


def test_a_transcript_whose_email_failed_is_sent_when_the_job_comes_again(team, monkeypatch):
    from chalicelib.errors import ParleyError

    ses = refusing_ses(team, monkeypatch)
    who = team.waiting()
    cid = who["conversation_id"]
    team.visitor(who, "contact", {"email": "ada@example.com", "transcript": True})
    team.post(team.conv(cid, "/claim"))
    team.post(team.conv(cid, "/resolve"))
    (job, _), = team.jobs.kind("transcript")
    with pytest.raises(ParleyError):
        team.root.notices.run_transcript(job)  # the job fails: SQS delivers it again
    ses["refuse"] = False
    assert team.root.notices.run_transcript(job) == "sent"
    assert [m.destinations["ToAddresses"] for m in mails()] == [["ada@example.com"]]


# -- webhooks through the agent API ------------------------------------------------------------


def test_admins_read_the_webhooks_and_their_log_agents_do_not(team, data):
    hook, secret = team.root.webhooks.add("demo", "https://93.184.216.34/parley/T0/B1/abc",
                                          ["message.created"])
    listed = team.get("/sites/demo/webhooks", who="boss")
    assert listed.status_code == 200
    assert listed.json_body["webhooks"] == [hook.to_json()] and secret not in listed.body.decode()
    assert team.get("/sites/demo/webhooks/deliveries?limit=5", who="boss").json_body == {"deliveries": []}
    assert err(team.get("/sites/demo/webhooks")) == (403, "admin_only"), "the URL may carry a secret of its own"
    assert err(team.get("/sites/demo/webhooks/deliveries")) == (403, "admin_only")
    assert err(team.get("/sites/demo/webhooks/deliveries?limit=0", who="boss")) == (400, "invalid_request")
    assert err(team.get("/sites/demo/webhooks", who="carl")) == (403, "not_a_member")
