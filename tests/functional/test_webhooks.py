"""Webhooks on moto, delivered to a real HTTP receiver on 127.0.0.1 (the loopback rule of the local stage)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from chalicelib.data import Data
from chalicelib.data.table import Table, now_iso
from chalicelib.data.webhooks import MAX_WEBHOOKS, WebhookStore
from chalicelib.errors import ParleyError
from chalicelib.webhooks import EVENTS, Webhooks, verify

from ..fakes import FakeClock

NOW = 1_800_000_000.0


class CountingClient:
    """The moto client, with the Query calls counted."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries = 0

    def query(self, **kwargs: Any) -> Any:
        self.queries += 1
        return self._client.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class Receiver:
    """A webhook endpoint: records each request, answers from a script (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.time()})
                answer = receiver.script.pop(0) if receiver.script else 200
                if callable(answer):
                    answer(self)
                    return
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()
        r.thread.join(timeout=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def counting(data: Data) -> CountingClient:
    return CountingClient(data.table.client)


@pytest.fixture
def store(data: Data, counting: CountingClient, clock: FakeClock) -> WebhookStore:
    return WebhookStore(Table(data.table.name, counting), clock=clock)


class Queue:
    def __init__(self) -> None:
        self.jobs: list[tuple[dict[str, Any], int]] = []

    def __call__(self, job: dict[str, Any], delay: int) -> None:
        # Through JSON, as SQS carries it.
        self.jobs.append((json.loads(json.dumps(job)), delay))

    def take(self) -> tuple[dict[str, Any], int]:
        return self.jobs.pop(0)


@pytest.fixture
def queue() -> Queue:
    return Queue()


def make(store: WebhookStore, queue: Queue, clock: FakeClock, **kw: Any) -> Webhooks:
    kw.setdefault("allow_loopback", True)
    kw.setdefault("retry_seconds", (1, 2))
    return Webhooks(store, queue, clock=clock, **kw)


EVENT_DATA = {"conversation": {"conversation_id": "c1", "status": "pending"},
              "message": {"id": "m1", "seq": 3, "sender": "visitor", "text": "Hällo, is anyone there?"}}


def emit(hooks: Webhooks, event_id: str = "msg_m1", event_type: str = "message.created") -> int:
    return hooks.emit("demo", event_type, EVENT_DATA, event_id=event_id, created_at="2027-01-15T08:00:00.000Z")


# --- the registry --------------------------------------------------------------

def test_add_list_remove_and_the_sites_events(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    a, secret = hooks.add("demo", receiver.url("/a"), ["message.created"])
    clock.advance(1)
    b, _ = hooks.add("demo", receiver.url("/b"), ["conversation.handoff", "conversation.resolved"])
    listed = hooks.list("demo")
    assert [h.id for h in listed] == [a.id, b.id]
    assert listed[0].secret == secret, "the stored secret is the one shown"
    shown = [h.to_json() for h in listed]
    assert all(set(s) == {"id", "url", "events", "created_at", "secret_hint"} for s in shown)
    assert secret not in json.dumps(shown)
    assert data.sites.get("demo").webhook_events == ("conversation.handoff", "conversation.resolved",
                                                     "message.created"), \
        "the site record names every event its webhooks want (the send path asks the cached site)"
    hooks.remove("demo", b.id)
    assert [h.id for h in hooks.list("demo")] == [a.id]
    assert data.sites.get("demo").webhook_events == ("message.created",)
    hooks.remove("demo", a.id)
    assert hooks.list("demo") == [] and data.sites.get("demo").webhook_events == ()
    with pytest.raises(ParleyError) as caught:
        hooks.remove("demo", a.id)
    assert caught.value.code == "webhook_not_found"
    assert hooks.list("other") == [], "another site's webhooks are its own"


def test_a_site_has_at_most_ten_webhooks(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    for i in range(MAX_WEBHOOKS):
        hooks.add("demo", receiver.url(f"/{i}"))
    with pytest.raises(ParleyError) as caught:
        hooks.add("demo", receiver.url("/eleven"))
    assert caught.value.code == "too_many_webhooks"
    assert len(hooks.list("demo")) == MAX_WEBHOOKS
    hooks.add("other", receiver.url("/x"))  # the limit is per site


def test_a_change_from_a_stale_read_does_not_win(data, store, queue, clock, receiver):
    """Two operators at once: the head's rev makes the second read again, so neither the limit nor
    the site's events can be computed from a list that is no longer the site's."""
    hooks = make(store, queue, clock)
    first, _ = hooks.add("demo", receiver.url("/a"), ["message.created"])
    rev, listed = store._read("demo")
    hooks.add("demo", receiver.url("/b"), ["conversation.resolved"])  # meanwhile
    assert store._change("demo", rev, [], listed) is False, "a change computed from the old read is refused"
    assert data.sites.get("demo").webhook_events == ("conversation.resolved", "message.created")


def test_a_webhook_for_a_site_that_does_not_exist_is_refused(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    with pytest.raises(ParleyError) as caught:
        hooks.add("nope", receiver.url())
    assert caught.value.code == "unknown_site"
    assert hooks.list("nope") == []


def test_a_hostile_url_stores_nothing(data, store, queue, clock):
    hooks = make(store, queue, clock, allow_loopback=False)
    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://169.254.169.254/latest/meta-data",
                "https://[::ffff:127.0.0.1]/", "https://0x7f000001/", "https://user:pw@example.com/"):
        with pytest.raises(ParleyError) as caught:
            hooks.add("demo", url)
        assert caught.value.code == "invalid_webhook_url", url
    assert hooks.list("demo") == [] and data.sites.get("demo").webhook_events == ()


# --- emit ----------------------------------------------------------------------------

def test_emit_reads_the_sites_webhooks_once_per_cache_period(data, store, counting, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hooks.add("demo", receiver.url("/a"), ["message.created"])
    hooks.add("demo", receiver.url("/b"), ["conversation.handoff"])
    fresh = make(store, queue, clock)  # another container: nothing cached yet
    before = counting.queries
    assert emit(fresh, "msg_1") == 1
    assert counting.queries == before + 1
    assert emit(fresh, "msg_2") == 1 and emit(fresh, "h1", "conversation.handoff") == 1
    assert emit(fresh, "r1", "conversation.resolved") == 0
    assert counting.queries == before + 1, "a second emit within the cache period does no Query"
    clock.advance(31)
    emit(fresh, "msg_3")
    assert counting.queries == before + 2, "after it, one Query again"
    assert [(j["webhook_id"], j["attempt"], d) for j, d in queue.jobs] == \
        [(j["webhook_id"], 1, 0) for j, _ in queue.jobs]
    job = queue.jobs[0][0]
    assert job["event"] == {"id": "msg_1", "type": "message.created", "created_at": "2027-01-15T08:00:00.000Z",
                            "site_key": "demo", "data": EVENT_DATA}


def test_a_site_without_webhooks_is_cached_too(data, store, counting, queue, clock):
    hooks = make(store, queue, clock)
    before = counting.queries
    assert emit(hooks, "a") == 0 and emit(hooks, "b") == 0
    assert counting.queries == before + 1 and queue.jobs == []


# --- delivery to a real receiver -------------------------------------------------------------------

def test_a_delivery_reaches_the_receiver_signed_and_is_logged(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hook, secret = hooks.add("demo", receiver.url("/hook?site=demo"))
    emit(hooks)
    job, delay = queue.take()
    hooks.deliver(job)
    (request,) = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hook?site=demo"
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "Parley-Webhooks/1"
    assert headers["Parley-Event"] == "message.created" and headers["Parley-Delivery"] == "msg_m1"
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert verify(secret, headers["Parley-Signature"], request["body"], now=NOW), "the receiver can verify it"
    assert not verify("whsec_" + "0" * 64, headers["Parley-Signature"], request["body"], now=NOW)
    assert not verify(secret, headers["Parley-Signature"], request["body"], now=NOW + 301), \
        "a replay after the window is refused"
    body = json.loads(request["body"])
    assert body == {"id": "msg_m1", "type": "message.created", "created_at": "2027-01-15T08:00:00.000Z",
                    "site_key": "demo", "data": EVENT_DATA}
    assert "Hällo" in request["body"].decode("utf-8"), "UTF-8 as is"
    assert queue.jobs == [], "delivered: nothing more to do"
    (row,) = hooks.deliveries("demo")
    assert row["webhook_id"] == hook.id and row["url"] == hook.url and row["event"] == "message.created"
    assert (row["event_id"], row["attempt"], row["status"], row["ok"], row["error"], row["next_retry_at"]) == \
        ("msg_m1", 1, 200, True, None, None)
    assert isinstance(row["latency_ms"], int) and row["id"].startswith("dl_") and row["at"].startswith("2027-01-15")


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock, retry_seconds=(10, 60, 300))
    _, secret = hooks.add("demo", receiver.url())
    receiver.script = [500, 500, 200]
    emit(hooks)
    delays = []
    while queue.jobs:
        job, delay = queue.take()
        delays.append(delay)
        clock.advance(delay)
        hooks.deliver(job)
    assert delays == [0, 10, 60], "attempt 2 after 10 s, attempt 3 after 60 s"
    assert len(receiver.requests) == 3
    assert {r["headers"]["Parley-Delivery"] for r in receiver.requests} == {"msg_m1"}, "one event id throughout"
    stamps = [int(r["headers"]["Parley-Signature"].split(",")[0][2:]) for r in receiver.requests]
    assert stamps == [int(NOW), int(NOW) + 10, int(NOW) + 70], "each attempt is signed when it is sent"
    assert all(verify(secret, r["headers"]["Parley-Signature"], r["body"], now=s)
               for r, s in zip(receiver.requests, stamps))
    log = hooks.deliveries("demo")
    assert [(r["attempt"], r["status"], r["ok"]) for r in log] == [(3, 200, True), (2, 500, False), (1, 500, False)], \
        "newest first"
    assert log[2]["error"] == "HTTP 500" and log[2]["next_retry_at"] == now_iso(NOW + 10)
    assert log[0]["next_retry_at"] is None


def test_a_receiver_that_always_fails_is_given_up_after_the_last_retry(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock, retry_seconds=(1, 2))
    hooks.add("demo", receiver.url())
    receiver.script = [503] * 5
    emit(hooks)
    while queue.jobs:
        job, delay = queue.take()
        clock.advance(delay)
        hooks.deliver(job)
    assert len(receiver.requests) == 3, "1 + len(retry_seconds) attempts"
    assert [r["next_retry_at"] is None for r in hooks.deliveries("demo")] == [True, False, False]


def test_a_redirect_is_not_followed_and_is_a_failure(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hooks.add("demo", receiver.url())
    receiver.script = [302]
    emit(hooks)
    hooks.deliver(queue.take()[0])
    assert [r["path"] for r in receiver.requests] == ["/hook"], "the Location is never asked for"
    row = hooks.deliveries("demo")[0]
    assert row["status"] == 302 and row["ok"] is False and "redirect" in row["error"]
    assert queue.jobs and queue.jobs[0][0]["attempt"] == 2, "a redirect is retried like any failure"


def test_a_receiver_that_answers_too_slowly_times_out_within_the_limit(data, store, queue, clock, receiver):
    def drip(handler: BaseHTTPRequestHandler) -> None:
        # A status line, then one header byte every 0.1 s: no single read waits long,
        # so only a deadline over the whole attempt stops it.
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(30):
                handler.wfile.write(b"a")
                time.sleep(0.1)
        except OSError:
            pass

    hooks = make(store, queue, clock, timeout=0.5)
    hooks.add("demo", receiver.url())
    receiver.script = [drip]
    emit(hooks)
    started = time.monotonic()
    hooks.deliver(queue.take()[0])
    elapsed = time.monotonic() - started
    row = hooks.deliveries("demo")[0]
    assert row["ok"] is False and row["error"] == "timed out", row
    assert elapsed < 2.0, f"the attempt should end near its 0.5 s deadline, took {elapsed:.2f} s"


def test_a_closed_port_is_a_failure_with_a_reason(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    port = receiver.port
    receiver.server.shutdown()
    receiver.server.server_close()
    hooks.add("demo", f"http://127.0.0.1:{port}/hook")
    emit(hooks)
    hooks.deliver(queue.take()[0])
    row = hooks.deliveries("demo")[0]
    assert row["status"] is None and row["error"] == "connection refused" and queue.jobs


def test_a_job_delivered_twice_by_sqs_posts_once(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hooks.add("demo", receiver.url())
    emit(hooks)
    job, _ = queue.take()
    hooks.deliver(job)
    hooks.deliver(job)
    assert len(receiver.requests) == 1 and len(hooks.deliveries("demo")) == 1
    emit(hooks, "msg_other")
    hooks.deliver(queue.take()[0])
    assert len(receiver.requests) == 2, "another event is delivered as usual"


def test_a_removed_webhook_gets_no_more_deliveries(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hook, _ = hooks.add("demo", receiver.url())
    emit(hooks)
    hooks.remove("demo", hook.id)
    hooks.deliver(queue.take()[0])
    assert receiver.requests == [] and hooks.deliveries("demo") == [] and queue.jobs == []


# --- DNS rebinding: checked at delivery, connected to what was checked ----------------------------------

class Resolver:
    """A resolver that answers from a list, one answer per call (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_the_delivery_connects_to_the_address_it_checked_with_the_hosts_name(data, store, queue, clock, receiver):
    # hooks.parley.test resolves nowhere but in this resolver: the POST arriving proves the
    # connection went to the checked address, not through a lookup of its own.
    resolver = Resolver(["127.0.0.1"], ["127.0.0.1"], ["10.1.2.3"])
    hooks = make(store, queue, clock, resolve=resolver)
    _, secret = hooks.add("demo", receiver.url(host="hooks.parley.test"))
    assert resolver.calls == 1, "checked at registration"
    emit(hooks)
    hooks.deliver(queue.take()[0])
    assert resolver.calls == 2, "looked up once more at delivery, and only once"
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.parley.test:{receiver.port}", "the Host header names the host"
    assert verify(secret, request["headers"]["Parley-Signature"], request["body"], now=NOW)


def test_a_host_that_resolves_elsewhere_at_delivery_gets_nothing(data, store, queue, clock, receiver):
    resolver = Resolver(["127.0.0.1"], ["10.1.2.3"])  # registered on loopback, rebound to a private address
    hooks = make(store, queue, clock, resolve=resolver)
    hooks.add("demo", receiver.url(host="hooks.parley.test"))
    emit(hooks)
    hooks.deliver(queue.take()[0])
    assert receiver.requests == [], "nothing is sent to a host that no longer passes"
    row = hooks.deliveries("demo")[0]
    assert row["status"] is None and "refused at delivery" in row["error"] and "10.1.2.3" in row["error"]
    assert queue.jobs and queue.jobs[0][1] == 1, "retried: the name may resolve properly again"


def test_a_host_that_mixes_a_private_address_in_at_delivery_gets_nothing(data, store, queue, clock, receiver):
    resolver = Resolver(["127.0.0.1"], ["127.0.0.1", "169.254.169.254"])
    hooks = make(store, queue, clock, resolve=resolver)
    hooks.add("demo", receiver.url(host="hooks.parley.test"))
    emit(hooks)
    hooks.deliver(queue.take()[0])
    assert receiver.requests == [] and "169.254.169.254" in hooks.deliveries("demo")[0]["error"]


# --- the log ----------------------------------------------------------------------------------

def test_the_log_is_newest_first_limited_and_forgets_after_30_days(data, store, counting, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hooks.add("demo", receiver.url())
    for i in range(5):
        emit(hooks, f"msg_{i}")
        hooks.deliver(queue.take()[0])
        clock.advance(60)
    assert [r["event_id"] for r in hooks.deliveries("demo")] == [f"msg_{i}" for i in (4, 3, 2, 1, 0)]
    before = counting.queries
    assert [r["event_id"] for r in hooks.deliveries("demo", limit=2)] == ["msg_4", "msg_3"]
    assert counting.queries == before + 1, "one Query"
    assert hooks.deliveries("other") == []
    clock.advance(30 * 86400 - 5 * 60 + 90)  # the first two rows are past their ttl, the rest not
    assert [r["event_id"] for r in hooks.deliveries("demo")] == ["msg_4", "msg_3", "msg_2"], \
        "rows past their ttl are not shown (no emulator expires them)"
    clock.advance(86400)
    assert hooks.deliveries("demo") == []


def test_every_event_type_can_be_subscribed(data, store, queue, clock, receiver):
    hooks = make(store, queue, clock)
    hooks.add("demo", receiver.url())
    for i, event_type in enumerate(EVENTS):
        assert emit(hooks, f"e{i}", event_type) == 1
    for job, _ in list(queue.jobs):
        hooks.deliver(job)
    assert [r["headers"]["Parley-Event"] for r in receiver.requests] == list(EVENTS)


# --- TLS: the certificate is checked for the URL's host name, over the pinned address --------------

def _certificates(tmp_path, name: str) -> tuple[str, str, str]:
    """A CA and a server certificate for ``name`` it signed: (ca.pem, server.pem, server.key)."""
    crypto = pytest.importorskip("cryptography")  # noqa: F841 - moto's dependency, here for the keys
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Parley test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return tuple(str(p) for p in paths)  # type: ignore[return-value]


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[tuple[Receiver, str, list[str]]]:
    import ssl

    ca, cert, key = _certificates(tmp_path, "hooks.parley.test")
    names: list[str] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    r = Receiver()
    r.server.socket = server_context.wrap_socket(r.server.socket, server_side=True)
    r.thread.start()
    try:
        yield r, ca, names
    finally:
        r.server.shutdown()
        r.server.server_close()
        r.thread.join(timeout=5)


def test_https_is_verified_for_the_host_name_over_the_checked_address(tls_receiver):
    import ssl

    from chalicelib.webhooks import check_url, post

    receiver, ca, names = tls_receiver
    trusting = ssl.create_default_context(cafile=ca)
    url = f"https://hooks.parley.test:{receiver.port}/hook"
    resolve = Resolver(["127.0.0.1"])
    target = check_url(url, allow_loopback=True, resolve=resolve)
    result = post(target, b"{}", {"Content-Type": "application/json"}, allow_loopback=True, resolve=resolve,
                  context=trusting, timeout=3)
    assert result.ok and result.status == 200, result
    assert names == ["hooks.parley.test"], "SNI names the URL's host, not the address"
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.parley.test:{receiver.port}"

    untrusted = post(target, b"{}", {}, allow_loopback=True, resolve=resolve, timeout=3)
    assert untrusted.status is None and "TLS certificate" in untrusted.error, \
        "a certificate the system does not trust is refused"
    other = check_url(f"https://other.parley.test:{receiver.port}/hook", allow_loopback=True, resolve=resolve)
    mismatch = post(other, b"{}", {}, allow_loopback=True, resolve=resolve, context=trusting, timeout=3)
    assert mismatch.status is None and "TLS certificate" in mismatch.error, \
        "a certificate for another name is refused, though the address is the same"
    assert len(receiver.requests) == 1, "nothing is sent over a connection that failed its check"
