"""Business hours, availability and the job queue's long delays: no I/O."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from chalicelib.desk import Presence, availability, desk_settings, is_open, next_open
from chalicelib.jobs import MAX_DELAY_SECONDS, JobQueue, JobWorker

BERLIN_WEEKDAYS = desk_settings({"timezone": "Europe/Berlin", "reply_within_hours": 2,
                                 "hours": {d: [["09:00", "12:00"], ["13:00", "17:30"]]
                                           for d in ("mon", "tue", "wed", "thu", "fri")}})


def at(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


def test_defaults_fill_what_a_site_leaves_out():
    desk = desk_settings(None)
    assert desk == {"timezone": "UTC", "reply_within_hours": 24, "notify_delay_seconds": 180, "notify": True,
                    "prechat": {"name": "off", "email": "off"}, "transcripts": True}
    assert is_open(desk, at("2026-12-05T03:00:00+00:00")), "no hours: always open"
    assert next_open(desk, 0) is None


@pytest.mark.parametrize("stamp, expected", [
    ("2026-12-02T08:59:00+01:00", False),   # Wednesday, a minute before opening
    ("2026-12-02T09:00:00+01:00", True),
    ("2026-12-02T12:30:00+01:00", False),   # lunch
    ("2026-12-02T17:29:00+01:00", True),
    ("2026-12-02T17:30:00+01:00", False),   # the end is not inside
    ("2026-12-05T10:00:00+01:00", False),   # Saturday
    ("2026-07-01T08:30:00+00:00", True),    # 10:30 in Berlin in summer time
])
def test_hours_are_read_in_the_sites_own_time_zone(stamp, expected):
    assert is_open(BERLIN_WEEKDAYS, at(stamp)) is expected


def test_next_open_is_the_next_range_start_across_lunch_weekends_and_dst():
    assert next_open(BERLIN_WEEKDAYS, at("2026-12-02T12:30:00+01:00")).isoformat() == "2026-12-02T13:00:00+01:00"
    assert next_open(BERLIN_WEEKDAYS, at("2026-12-04T18:00:00+01:00")).isoformat() == "2026-12-07T09:00:00+01:00"
    # Friday 27 March 2026 evening -> Monday 30 March, after the switch to summer time.
    assert next_open(BERLIN_WEEKDAYS, at("2026-03-27T18:00:00+01:00")).isoformat() == "2026-03-30T09:00:00+02:00"


def test_availability_is_online_only_within_hours_with_an_agent_present():
    friday_evening = at("2026-12-04T18:00:00+01:00")
    assert availability(BERLIN_WEEKDAYS, 3, friday_evening) == {
        "online": False, "open": False, "reply_within_hours": 2, "next_open_at": "2026-12-07T08:00:00Z",
        "timezone": "Europe/Berlin"}
    tuesday = at("2026-12-01T10:00:00+01:00")
    assert availability(BERLIN_WEEKDAYS, 1, tuesday)["online"] is True
    assert availability(BERLIN_WEEKDAYS, 0, tuesday)["online"] is False


@pytest.mark.parametrize("desk, message", [
    ({"timezone": "Mars/Olympus"}, "desk.timezone"),
    ({"timezone": 5}, "desk.timezone"),
    ({"reply_within_hours": 0}, "desk.reply_within_hours"),
    ({"reply_within_hours": True}, "desk.reply_within_hours"),
    ({"notify_delay_seconds": 1}, "desk.notify_delay_seconds"),
    ({"notify": "yes"}, "desk.notify"),
    ({"prechat": {"email": "always"}}, "desk.prechat.email"),
    ({"prechat": {"phone": "required"}}, "desk.prechat"),
    ({"hours": {"monday": []}}, "desk.hours"),
    ({"hours": {"mon": [["9:00", "17:00"]]}}, "desk.hours.mon"),
    ({"hours": {"mon": [["17:00", "09:00"]]}}, "ends before it begins"),
    ({"hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "overlaps"),
    ({"hours": {"mon": [["09:00", "10:00"]] * 5}}, "at most 4"),
    ({"colour": "red"}, "unknown field"),
    ("open", "must be an object"),
])
def test_bad_desk_settings_name_what_is_wrong(desk, message):
    with pytest.raises(ValueError, match=message):
        desk_settings(desk)


def test_presence_counts_once_per_period_and_follows_this_processs_heartbeats():
    counts, now = [0], [0.0]
    asked: list[str] = []

    def count(site_key: str) -> int:
        asked.append(site_key)
        return counts[0]

    presence = Presence(count, cache_seconds=15, clock=lambda: now[0])
    assert presence.online("demo") == 0 and presence.online("demo") == 0 and asked == ["demo"]
    presence.arrived("demo")
    assert presence.online("demo") == 1 and asked == ["demo"], "a heartbeat here needs no count"
    presence.left("demo")
    assert presence.online("demo") == 0 and asked == ["demo", "demo"]


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def test_a_delay_past_sqss_fifteen_minutes_is_chained_until_due():
    sqs, now = FakeSqs(), [1_000.0]
    queue = JobQueue("https://sqs.example/1/jobs", client=sqs, clock=lambda: now[0])
    queue.send({"kind": "notify", "n": 1}, 3600)
    assert sqs.sent[0]["DelaySeconds"] == MAX_DELAY_SECONDS
    assert json.loads(sqs.sent[0]["MessageBody"]) == {"kind": "notify", "n": 1, "not_before": 4600}
    ran: list[dict[str, Any]] = []
    worker = JobWorker(queue, {"notify": ran.append}, clock=lambda: now[0])
    now[0] = 1_900.0
    worker.handle({"Records": [{"body": sqs.sent[0]["MessageBody"]}]})
    assert ran == [] and sqs.sent[1]["DelaySeconds"] == MAX_DELAY_SECONDS, "sent on, not run"
    now[0] = 4_600.0
    worker.handle({"Records": [{"body": json.dumps({"kind": "notify", "n": 1, "not_before": 4600})}]})
    assert ran == [{"kind": "notify", "n": 1}]


def test_records_that_are_no_job_are_dropped_and_a_failing_job_fails_the_batch():
    queue = JobQueue("https://sqs.example/1/jobs", client=FakeSqs())

    def broken(job: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    worker = JobWorker(queue, {"webhook": broken})
    worker.handle({"Records": [{"body": "not json"}, {"body": "[]"}, {"body": '{"kind": "mystery"}'}]})
    with pytest.raises(RuntimeError):
        worker.handle({"Records": [{"body": '{"kind": "webhook"}'}]})


def test_no_queue_no_job():
    with pytest.raises(RuntimeError, match="PARLEY_JOB_QUEUE_URL"):
        JobQueue(None).send({"kind": "notify"})
