"""Webhooks without I/O: URL checks (a fake resolver), signatures, the delivery job and its retries."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import webhooks as wh
from chalicelib.data.webhooks import Webhook
from chalicelib.errors import ERRORS, ParleyError
from chalicelib.webhooks import Attempt, Webhooks, check_url, signature, verify

from ..fakes import FakeClock

NAMES = {
    "example.com": ["93.184.216.34"],
    "hooks.example.com": ["93.184.216.34", "2606:4700::1111"],
    "v6.example.com": ["2606:4700::1111"],
    "mixed.example.com": ["93.184.216.34", "10.0.0.7"],
    "mixed6.example.com": ["2606:4700::1111", "fd12::1"],
    "rebind.example.com": ["127.0.0.1"],
    "meta.example.com": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
}


def fake_resolve(names: dict[str, list[str]] = NAMES):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in names:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return list(names[host])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


HOSTILE = [
    ("http://169.254.169.254/latest/meta-data", "https"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://meta.example.com/", "link-local"),
    ("https://localhost", "loopback"),
    ("https://localhost./x", "loopback"),
    ("https://app.localhost/x", "loopback"),
    ("https://127.0.0.1", "loopback"),
    ("https://127.0.0.1:8443/hook", "loopback"),
    ("https://[::1]", "loopback"),
    ("https://[::ffff:127.0.0.1]", "IPv6 form"),
    ("https://[::ffff:7f00:1]", "IPv6 form"),
    ("https://[::127.0.0.1]", "IPv6 form"),
    ("https://0x7f000001", "non-standard"),
    ("https://2130706433", "non-standard"),
    ("https://0177.0.0.1", "non-standard"),
    ("https://127.1", "non-standard"),
    ("https://0x7f.0.0.1", "non-standard"),
    ("https://10.0.0.1", "private"),
    ("https://192.168.1.1", "private"),
    ("https://172.16.0.1", "private"),
    ("https://100.64.0.1", "shared"),
    ("https://0.0.0.0", "unspecified"),
    ("https://0.1.2.3", "0.0.0.0/8"),
    ("https://[::]", "unspecified"),
    ("https://[fd00::1]", "unique-local"),
    ("https://[fc00::1]", "unique-local"),
    ("https://[fe80::1]", "link-local"),
    ("https://[fe80::1%25eth0]", "zone"),
    ("https://[fec0::1]", "site-local"),
    ("https://[2002:7f00:1::1]", "embeds 127.0.0.1"),
    ("https://[2002:a9fe:a9fe::1]", "embeds 169.254.169.254"),
    ("https://[64:ff9b::a00:1]", "embeds 10.0.0.1"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "192.0.2.45"),
    ("https://224.0.0.1", "multicast"),
    ("https://[ff02::1]", "multicast"),
    ("https://255.255.255.255", "private"),
    ("https://user:pw@example.com", "user name or password"),
    ("https://user@example.com", "user name or password"),
    ("https://example.com@10.0.0.1/", "user name or password"),
    ("https://example.com/#frag", "fragment"),
    ("ftp://example.com/hook", "https"),
    ("file:///etc/passwd", "https"),
    ("javascript:alert(1)", "https"),
    ("gopher://example.com/", "https"),
    ("//example.com/hook", "schemeless"),
    ("https:///hook", "no host"),
    ("https://mixed.example.com/hook", "10.0.0.7"),
    ("https://mixed6.example.com/hook", "fd12::1"),
    ("https://nowhere.example.com/hook", "does not resolve"),
    ("https://example.com:0/", "port"),
    ("https://example.com:65536/", "port"),
    ("https://example.com:abc/", "port"),
    ("https://exa mple.com/", "spaces"),
    ("https://example.com/\r\nX-Injected: 1", "control"),
    ("https://example.com\t/", "control"),
    ("https://example.com/ü", "non-ASCII"),
    ("https://bad_host!.com/", "not a valid host name"),
    ("https://example.com\\@10.0.0.1/", "backslash"),
    ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ("", "needs a URL"),
    ("https://[::1/", "malformed"),
    ("https://[v1.fe]/", "bracketed host"),
]


@pytest.mark.parametrize("url,reason", HOSTILE)
def test_a_hostile_webhook_url_is_refused_with_its_reason(url, reason):
    with pytest.raises(ParleyError) as caught:
        check_url(url, allow_loopback=False, resolve=fake_resolve())
    assert caught.value.code == "invalid_webhook_url"
    assert ERRORS[caught.value.code] == 400, "a refused URL is the caller's fault: a 4xx"
    assert reason.lower() in caught.value.message.lower(), f"expected {reason!r} in {caught.value.message!r}"


@pytest.mark.parametrize("url,reason", [
    ("http://10.0.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://192.168.1.1/", "private"),
    ("http://[fd00::1]/", "unique-local"),
    ("http://[::ffff:127.0.0.1]/", "IPv6 form"),
    ("http://0x7f000001/", "non-standard"),
    ("http://mixed.example.com/", "10.0.0.7"),
    ("ftp://127.0.0.1/", "https or http"),
    ("http://[2002:7f00:1::1]/", "embeds 127.0.0.1"),
])
def test_allow_loopback_allows_loopback_alone(url, reason):
    with pytest.raises(ParleyError) as caught:
        check_url(url, allow_loopback=True, resolve=fake_resolve())
    assert reason.lower() in caught.value.message.lower(), caught.value.message


@pytest.mark.parametrize("url,addresses", [
    ("http://127.0.0.1:8123/hook", ("127.0.0.1",)),
    ("https://127.0.0.2/hook", ("127.0.0.2",)),
    ("http://[::1]:9/x", ("::1",)),
    ("http://localhost:8000/x", ("127.0.0.1", "::1")),
    ("https://example.com/hook", ("93.184.216.34",)),
])
def test_allow_loopback_accepts_loopback_and_still_public_hosts(url, addresses):
    assert check_url(url, allow_loopback=True, resolve=fake_resolve()).addresses == addresses


@pytest.mark.parametrize("url,host,port,path,addresses", [
    ("https://example.com/hook", "example.com", 443, "/hook", ("93.184.216.34",)),
    ("https://Example.COM", "example.com", 443, "/", ("93.184.216.34",)),
    ("https://example.com.:8443/a/b?x=1&y=%20", "example.com", 8443, "/a/b?x=1&y=%20", ("93.184.216.34",)),
    ("https://hooks.example.com/p", "hooks.example.com", 443, "/p", ("93.184.216.34", "2606:4700::1111")),
    ("https://v6.example.com/p", "v6.example.com", 443, "/p", ("2606:4700::1111",)),
    ("https://93.184.216.34/p", "93.184.216.34", 443, "/p", ("93.184.216.34",)),
    ("https://[2606:4700::1111]:444/p", "2606:4700::1111", 444, "/p", ("2606:4700::1111",)),
    ("HTTPS://example.com/p", "example.com", 443, "/p", ("93.184.216.34",)),
])
def test_a_public_https_url_is_accepted_with_the_addresses_it_resolved_to(url, host, port, path, addresses):
    target = check_url(url, allow_loopback=False, resolve=fake_resolve())
    assert (target.scheme, target.host, target.port, target.path_and_query, target.addresses) == \
        ("https", host, port, path, addresses)
    assert target.url == url


def test_an_address_literal_is_not_looked_up():
    resolve = fake_resolve()
    check_url("https://93.184.216.34/", allow_loopback=False, resolve=resolve)
    assert resolve.calls == []


# --- signatures ---------------------------------------------------------------------

SECRET = "whsec_" + "ab" * 32
BODY = b'{"id":"msg_1","type":"message.created"}'
NOW = 1_700_000_000


def test_a_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"
    assert verify(SECRET, signature(SECRET, BODY, NOW), BODY, now=NOW)


@pytest.mark.parametrize("header,body,now,why", [
    (signature("whsec_other", BODY, NOW), BODY, NOW, "another secret"),
    (signature(SECRET, BODY, NOW), BODY + b" ", NOW, "a tampered body"),
    (signature(SECRET, BODY, NOW), BODY.replace(b"msg_1", b"msg_2"), NOW, "a tampered body"),
    (signature(SECRET, BODY, NOW - 301), BODY, NOW, "a replayed old timestamp"),
    (signature(SECRET, BODY, NOW + 301), BODY, NOW, "a timestamp from the future"),
    (signature(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}"), BODY, NOW, "a moved timestamp"),
    (f"t={NOW},v1=" + "0" * 64, BODY, NOW, "a forged v1"),
    (f"t={NOW},v1=", BODY, NOW, "an empty v1"),
    (f"t={NOW}", BODY, NOW, "no v1"),
    (signature(SECRET, BODY, NOW).split(",")[1], BODY, NOW, "no timestamp"),
    (f"t={NOW},t={NOW}," + signature(SECRET, BODY, NOW).split(",")[1], BODY, NOW, "two timestamps"),
    (f"t=abc,v1=" + "0" * 64, BODY, NOW, "a timestamp that is no number"),
    (f"t=-5,v1=" + "0" * 64, BODY, NOW, "a negative timestamp"),
    ("garbage", BODY, NOW, "no key=value"),
    ("", BODY, NOW, "an empty header"),
    (None, BODY, NOW, "no header"),
    (signature(SECRET, BODY, NOW).replace("v1=", "v0="), BODY, NOW, "another scheme"),
    ("t=%d,v1=%s" % (NOW, "é" * 64), BODY, NOW, "non-ASCII"),
])
def test_verify_refuses(header, body, now, why):
    assert verify(SECRET, header, body, now=now) is False, f"{why} must not verify"


def test_verify_accepts_within_the_window_and_any_of_several_v1():
    good = signature(SECRET, BODY, NOW)
    assert verify(SECRET, good, BODY, now=NOW + 300) and verify(SECRET, good, BODY, now=NOW - 300)
    v1 = good.split("v1=")[1]
    assert verify(SECRET, f"t={NOW},v1={'0' * 64},v1={v1}", BODY, now=NOW), "one matching v1 is enough"
    assert verify(SECRET, f" t={NOW} , v1={v1.upper()} ", BODY, now=NOW), "spaces and case are tolerated"
    assert not verify(SECRET, good, BODY, now=NOW + 60, tolerance=30)


# --- the service: emit, deliver, retries ----------------------------------------------

class FakeStore:
    """The WebhookStore's methods the service calls, in memory."""

    def __init__(self, hooks: list[Webhook] = ()) -> None:
        self.hooks = {h.id: h for h in hooks}
        self.rows: list[dict[str, Any]] = []
        self.reads = 0
        self.fail_log = False
        self.done: set[tuple[str, str, str]] = set()

    def webhooks(self, site_key: str) -> list[Webhook]:
        self.reads += 1
        return [h for h in self.hooks.values() if h.site_key == site_key]

    def get(self, site_key: str, webhook_id: str) -> Webhook | None:
        hook = self.hooks.get(webhook_id)
        return hook if hook and hook.site_key == site_key else None

    def add(self, hook: Webhook) -> None:
        if len(self.webhooks(hook.site_key)) >= 10:
            raise ParleyError("too_many_webhooks", "too many")
        self.hooks[hook.id] = hook

    def remove(self, site_key: str, webhook_id: str) -> bool:
        return self.hooks.pop(webhook_id, None) is not None

    def log(self, site_key: str, entry: dict[str, Any]) -> dict[str, Any]:
        if self.fail_log:
            raise ParleyError("unavailable", "down")
        self.rows.append({"site_key": site_key, **entry})
        return entry

    def deliveries(self, site_key: str, limit: int = 50) -> list[dict[str, Any]]:
        return list(reversed(self.rows))[:limit]

    def delivered(self, site_key: str, webhook_id: str, event_id: str) -> bool:
        return (site_key, webhook_id, event_id) in self.done

    def mark_delivered(self, site_key: str, webhook_id: str, event_id: str) -> None:
        self.done.add((site_key, webhook_id, event_id))


HOOK = Webhook(id="wh_00112233445566ff", site_key="demo", url="https://example.com/hook",
               events=("message.created", "conversation.handoff"), secret=SECRET, created_at="2026-01-01T00:00:00Z")


class FakePost:
    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[Any, bytes, dict[str, str], dict[str, Any]]] = []

    def __call__(self, target, body, headers, **kwargs) -> Attempt:
        self.calls.append((target, body, headers, kwargs))
        return self.answers.pop(0) if self.answers else Attempt(200, None, 3)


def service(store: FakeStore | None = None, post: FakePost | None = None, retry=(10, 60, 300, 1800, 7200)):
    jobs: list[tuple[dict, int]] = []
    clock = FakeClock(NOW)
    hooks = Webhooks(store or FakeStore([HOOK]), lambda job, delay: jobs.append((job, delay)), allow_loopback=False,
                     retry_seconds=retry, clock=clock, resolve=fake_resolve(), post=post or FakePost())
    return hooks, jobs, clock


def job(attempt: int = 1, **over: Any) -> dict[str, Any]:
    event = {"id": "msg_m1", "type": "message.created", "created_at": "2026-01-01T00:00:01.000Z", "site_key": "demo",
             "data": {"conversation": {"conversation_id": "c1", "status": "bot"}, "message": {"text": "hi"}}}
    return {"kind": "webhook", "site_key": "demo", "webhook_id": HOOK.id, "event": event, "attempt": attempt,
            **over}


def test_emit_queues_one_job_per_subscribed_webhook_and_caches_the_site():
    other = Webhook(id="wh_aaaaaaaaaaaaaaaa", site_key="demo", url="https://example.com/b", events=("conversation.created",),
                    secret=SECRET, created_at="2026-01-01T00:00:00Z")
    store = FakeStore([HOOK, other])
    hooks, jobs, clock = service(store)
    data = {"conversation": {"conversation_id": "c1", "status": "bot"}}
    assert hooks.emit("demo", "message.created", data, event_id="msg_1", created_at="t") == 1
    assert jobs == [({"kind": "webhook", "site_key": "demo", "webhook_id": HOOK.id, "attempt": 1,
                      "event": {"id": "msg_1", "type": "message.created", "created_at": "t", "site_key": "demo",
                                "data": data}}, 0)]
    assert hooks.emit("demo", "conversation.resolved", data, event_id="r1", created_at="t") == 0
    assert store.reads == 1, "the site's webhooks are read once per cache period"
    assert "secret" not in json.dumps(jobs) and SECRET not in json.dumps(jobs), "a job never carries the secret"
    assert hooks.emit("nohooks", "message.created", data, event_id="x", created_at="t") == 0
    assert hooks.emit("nohooks", "message.created", data, event_id="y", created_at="t") == 0
    assert store.reads == 2, "a site with no webhooks is cached too"
    clock.advance(31)
    hooks.emit("demo", "message.created", data, event_id="msg_2", created_at="t")
    assert store.reads == 3, "after the cache period the webhooks are read again"


def test_add_checks_the_url_and_events_and_shows_the_secret_once():
    store = FakeStore()
    hooks, _, _ = service(store)
    hook, secret = hooks.add("demo", "https://example.com/hook", ["message.created"])
    assert secret.startswith("whsec_") and len(secret) == 6 + 64 and hook.secret == secret
    assert hook.id.startswith("wh_") and hook.events == ("message.created",)
    shown = hook.to_json()
    assert secret not in json.dumps(shown) and shown["secret_hint"] == "…" + secret[-4:]
    assert secret not in repr(hook)
    assert hooks.add("demo", "https://example.com/all")[0].events == wh.EVENTS, "default: every event"
    for bad in (["message.deleted"], [], ["message.created", "nope"]):
        with pytest.raises(ParleyError) as caught:
            hooks.add("demo", "https://example.com/hook", bad)
        assert caught.value.code == "invalid_request"
    with pytest.raises(ParleyError) as caught:
        hooks.add("demo", "https://10.0.0.1/hook")
    assert caught.value.code == "invalid_webhook_url"
    assert len(store.hooks) == 2, "nothing refused was stored"


def test_remove_of_an_unknown_webhook_is_webhook_not_found():
    hooks, _, _ = service()
    for bad in ("wh_0000000000000000", "nonsense", ""):
        with pytest.raises(ParleyError) as caught:
            hooks.remove("demo", bad)
        assert caught.value.code == "webhook_not_found" and ERRORS["webhook_not_found"] == 404
    hooks.remove("demo", HOOK.id)
    assert hooks.list("demo") == []


def test_a_successful_delivery_is_signed_and_logs_one_row():
    post = FakePost(Attempt(204, None, 12))
    store = FakeStore([HOOK])
    hooks, jobs, _ = service(store, post)
    hooks.deliver(job())
    (target, body, headers, kwargs), = post.calls
    assert target.url == HOOK.url and kwargs == {"timeout": 5.0, "allow_loopback": False}
    assert json.loads(body) == job()["event"], "the body is the event, as queued"
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "Parley-Webhooks/1"
    assert headers["Parley-Event"] == "message.created" and headers["Parley-Delivery"] == "msg_m1"
    assert verify(SECRET, headers["Parley-Signature"], body, now=NOW)
    assert headers["Parley-Signature"].startswith(f"t={NOW},")
    assert jobs == [], "a success queues nothing"
    row, = store.rows
    assert row == {"site_key": "demo", "webhook_id": HOOK.id, "url": HOOK.url, "event": "message.created",
                   "event_id": "msg_m1", "attempt": 1, "status": 204, "ok": True, "error": None, "latency_ms": 12,
                   "next_retry_at": None}


def test_a_failed_delivery_is_retried_on_the_schedule_and_the_last_attempt_gives_up():
    schedule = (10, 60, 300, 1800, 7200)
    post = FakePost(*[Attempt(500, "HTTP 500", 5)] * 6)
    store = FakeStore([HOOK])
    hooks, jobs, _ = service(store, post, retry=schedule)
    hooks.deliver(job())
    for expected_delay in schedule:
        queued, delay = jobs[-1]
        assert delay == expected_delay and queued["attempt"] == len(jobs) + 1
        assert queued["event"] == job()["event"], "a retry carries the same event (and id)"
        hooks.deliver(queued)
    assert len(post.calls) == 6 and len(jobs) == 5, "1 + 5 attempts, then no more"
    assert [r["attempt"] for r in store.rows] == [1, 2, 3, 4, 5, 6]
    assert [r["next_retry_at"] for r in store.rows] == [
        "2023-11-14T22:13:30.000Z", "2023-11-14T22:14:20.000Z", "2023-11-14T22:18:20.000Z", "2023-11-14T22:43:20.000Z",
        "2023-11-15T00:13:20.000Z", None]
    assert all(r["ok"] is False and r["status"] == 500 for r in store.rows)


def test_a_short_schedule_from_the_settings_gives_fewer_attempts():
    post = FakePost(*[Attempt(None, "timed out", 5000)] * 3)
    hooks, jobs, _ = service(post=post, retry=(1, 2))
    hooks.deliver(job())
    hooks.deliver(jobs[0][0])
    hooks.deliver(jobs[1][0])
    assert [d for _, d in jobs] == [1, 2] and len(post.calls) == 3
    hooks.deliver(job(attempt=4))
    assert len(post.calls) == 3, "an attempt past the schedule is dropped"


def test_a_job_sqs_delivers_again_after_its_success_is_not_posted_again():
    store = FakeStore([HOOK])
    post = FakePost(Attempt(500, "HTTP 500", 3), Attempt(200, None, 3))
    hooks, jobs, _ = service(store, post)
    hooks.deliver(job())
    assert len(post.calls) == 1 and len(jobs) == 1, "a failure marks nothing: its retry runs"
    hooks.deliver(jobs[0][0])
    hooks.deliver(jobs[0][0])  # the same job once more (SQS redelivery)
    hooks.deliver(job())       # or an older twin of it
    assert len(post.calls) == 2, "after its 2xx, the event is not posted to the webhook again"
    assert len(store.rows) == 2


def test_a_removed_webhook_drops_its_job_and_logs_nothing():
    store = FakeStore([HOOK])
    post = FakePost()
    hooks, jobs, _ = service(store, post)
    hooks.remove("demo", HOOK.id)
    hooks.deliver(job(attempt=2))
    assert post.calls == [] and jobs == [] and store.rows == []


def test_an_event_the_webhook_no_longer_wants_is_dropped():
    store = FakeStore([HOOK])
    post = FakePost()
    hooks, _, _ = service(store, post)
    bad = job()
    bad["event"] = {**bad["event"], "type": "conversation.resolved"}
    hooks.deliver(bad)
    assert post.calls == []


@pytest.mark.parametrize("bad", [
    None, "text", [], {}, {"kind": "notify"},
    job(kind="webhook", attempt=0), job(attempt="1"), job(attempt=True), job(attempt=99),
    job(webhook_id="../../x"), job(site_key=""), {**job(), "event": {**job()["event"], "id": "a#b"}}, job(site_key=None), job(event=None), job(event="{}"),
    {**job(), "event": {**job()["event"], "type": "message.deleted"}},
    {**job(), "event": {**job()["event"], "site_key": "other"}},
    {**job(), "event": {k: v for k, v in job()["event"].items() if k != "id"}},
    {**job(), "event": {**job()["event"], "data": "x"}},
])
def test_a_malformed_job_is_dropped_never_raised(bad):
    post = FakePost()
    hooks, jobs, _ = service(post=post)
    hooks.deliver(bad)
    assert post.calls == [] and jobs == []


def test_a_log_failure_does_not_cost_the_retry(caplog):
    store = FakeStore([HOOK])
    store.fail_log = True
    hooks, jobs, _ = service(store, FakePost(Attempt(503, "HTTP 503", 4)))
    hooks.deliver(job())
    assert [d for _, d in jobs] == [10], "the POST happened: its retry is queued even if its log row is not"


def test_a_stored_url_that_no_longer_passes_is_a_failed_attempt_not_a_post():
    bad = Webhook(id=HOOK.id, site_key="demo", url="http://example.com/hook", events=HOOK.events, secret=SECRET,
                  created_at="x")
    store = FakeStore([bad])
    post = FakePost()
    hooks, jobs, _ = service(store, post)
    hooks.deliver(job())
    assert post.calls == [] and "https" in store.rows[0]["error"] and [d for _, d in jobs] == [10]


def test_nothing_logged_carries_the_secret_or_the_body(caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    store = FakeStore([HOOK])
    hooks, jobs, _ = service(store, FakePost(Attempt(500, "HTTP 500", 4), Attempt(200, None, 4)))
    hooks.deliver(job())
    hooks.deliver(jobs[0][0])
    text = caplog.text + json.dumps(store.rows)
    assert SECRET not in text and '"text": "hi"' not in text and "hi\"" not in text
    assert "msg_m1" in caplog.text, "the event id is logged"


# --- post(): the parts that need no network ------------------------------------------

def test_post_checks_again_at_delivery_and_sends_nothing_to_a_rebound_host():
    names = dict(NAMES)
    resolve = fake_resolve(names)
    target = check_url("https://hooks.example.com/x", allow_loopback=False, resolve=resolve)
    names["hooks.example.com"] = ["93.184.216.34", "169.254.169.254"]  # the DNS answer changes
    result = wh.post(target, b"{}", {}, allow_loopback=False, resolve=resolve)
    assert result.status is None and not result.ok
    assert "refused at delivery" in result.error and "169.254.169.254" in result.error


def test_the_tls_connection_names_the_host_and_connects_to_the_checked_address(monkeypatch):
    seen: dict[str, Any] = {}

    class Context:
        def wrap_socket(self, sock, server_hostname):
            seen["server_hostname"] = server_hostname
            raise wh.ssl.SSLCertVerificationError("stop here")

    class Sock:
        def setsockopt(self, *a):
            pass

        def close(self):
            seen["closed"] = True

    def create_connection(address, timeout):
        seen["address"] = address
        return Sock()

    monkeypatch.setattr(wh.socket, "create_connection", create_connection)
    names = {"hooks.example.com": ["93.184.216.34"]}
    target = check_url("https://hooks.example.com:8443/x", allow_loopback=False, resolve=fake_resolve(names))
    result = wh.post(target, b"{}", {}, allow_loopback=False, resolve=fake_resolve(names), context=Context())
    assert seen["address"] == ("93.184.216.34", 8443), "the connection goes to the checked address"
    assert seen["server_hostname"] == "hooks.example.com", "SNI and the certificate check are for the host name"
    assert result.status is None and "TLS" in result.error and seen["closed"]
