"""Outbound webhooks: URL checks, signatures, delivery, retries.

A site registers endpoints (``infra.sites webhook-add``); each event the
site's webhooks subscribe to becomes one ``webhook`` job per endpoint
(``Webhooks.emit``), and the job worker runs ``Webhooks.deliver``: one signed
POST, logged, and on failure the same job again after the next wait of
``retry_seconds`` (1 + len(retry_seconds) attempts in all).

What a receiver gets (the contract)::

    POST <url>
    Content-Type: application/json
    User-Agent: Parley-Webhooks/1
    Parley-Event: message.created
    Parley-Delivery: <event id>          the same for every attempt: receivers dedupe on it
    Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

    {"id": <event id>, "type": ..., "created_at": iso, "site_key": K, "data": {...}}

Receivers should refuse a ``t`` more than ``REPLAY_TOLERANCE_SECONDS`` (300)
from their clock, as Stripe's and Pusher's webhooks document; ``verify`` is
that check. Any 2xx within ``TIMEOUT_SECONDS`` is success; a redirect is not
followed (and is a failure).

Server-side request forgery is what a webhook URL invites, so ``check_url``
resolves the host and refuses it unless EVERY address is public; ``post``
resolves and checks again at each delivery, then connects to the address it
just checked (no second lookup a DNS rebinding could answer differently),
with the Host header and the TLS server name and certificate check for the
URL's host name.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlsplit

from .cache import Cache
from .data.table import now_iso
from .data.webhooks import MAX_WEBHOOKS, Webhook, WebhookStore
from .errors import ParleyError

log = logging.getLogger("parley.webhooks")

EVENTS = ("conversation.created", "conversation.handoff", "conversation.resolved", "message.created")
MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 64 * 1024
REPLAY_TOLERANCE_SECONDS = 300
DEFAULT_RETRY_SECONDS = (10, 60, 300, 1800, 7200)
USER_AGENT = "Parley-Webhooks/1"
WEBHOOK_ID = re.compile(r"^wh_[0-9a-f]{16}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")

Resolve = Callable[[str, int], Sequence[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A last label that is all digits or hex is no DNS name: it is an IPv4 address in some
# form (2130706433, 0x7f000001, 0177.0.0.1) that inet_aton would read, and refused unless
# it is the one canonical dotted quad.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, and the addresses its host resolved to (all of them public)."""

    url: str
    scheme: str
    host: str
    port: int
    path_and_query: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the answer's status (None: no answer), why it failed, how long it took."""

    status: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo, TCP), in the resolver's order, without repeats."""
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _refused(reason: str) -> ParleyError:
    return ParleyError("invalid_webhook_url", reason)


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why a webhook may not go to ``address`` (None: it may): everything but public unicast is refused;
    with ``allow_loopback``, 127.0.0.0/8 and ::1 are allowed (and still nothing else private)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{address} is a scoped (link-local) address"
        if ip.ipv4_mapped is not None or (ip in _V4_COMPATIBLE and int(ip) > 1):
            # An IPv4 address written as IPv6 reaches that IPv4 address: no webhook needs the form.
            return f"{address} is an IPv4 address in IPv6 form"
        embedded: list[ipaddress.IPv4Address] = []
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for v4 in embedded:
            inner = address_refusal(str(v4), allow_loopback=False)
            if inner:
                return f"{address} embeds {v4}: {inner}"
    if ip.is_unspecified:
        return f"{address} is the unspecified address"
    if ip.is_loopback or ip in _LOOPBACK_V4:
        return None if allow_loopback else f"{address} is a loopback address"
    if ip.is_link_local:
        return f"{address} is a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return f"{address} is a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _SHARED:
            return f"{address} is a shared (carrier-grade NAT) address"
        if ip in _THIS_NETWORK:
            return f"{address} is in 0.0.0.0/8 (this network)"
    else:
        if ip in _UNIQUE_LOCAL:
            return f"{address} is a unique-local (private) address"
        if ip.is_site_local or ip in _SITE_LOCAL:
            return f"{address} is a site-local address"
        if ip in _NAT64_LOCAL:
            return f"{address} is a local-use NAT64 address"
    if ip.is_private:
        return f"{address} is a private address"
    if ip.is_reserved:
        return f"{address} is a reserved address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def _host(raw: str) -> str:
    """The URL's host, normalized (lower case, IDNA, no trailing dot), or refused as malformed."""
    host = raw.strip().lower()
    if host.startswith("["):
        raise _refused("malformed IPv6 host")
    if ":" in host:  # urlsplit already took the brackets off
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _refused(f"{raw!r} is not an IPv6 address") from None
        if "%" in host:
            raise _refused("an IPv6 zone (%…) is not allowed")
        return host
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _refused(f"{raw!r} is not a valid host name") from None
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _refused(f"{raw!r} is a numeric host in a non-standard form; write the address as a.b.c.d") \
                from None
        return host
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refused(f"{raw!r} is not a valid host name")
    return host


def parse_url(url: str, *, allow_loopback: bool) -> Target:
    """The URL's parts, checked without any lookup (``check_url`` adds the addresses)."""
    if not isinstance(url, str) or not url:
        raise _refused("a webhook needs a URL")
    if len(url) > MAX_URL_LENGTH:
        raise _refused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines; refuse them (and every other control or space) first.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _refused("the URL contains spaces or control characters")
    if not url.isascii():
        raise _refused("the URL contains non-ASCII characters; percent-encode them (punycode for the host)")
    if "\\" in url:  # parsers disagree on what a backslash splits: no URL needs one
        raise _refused("the URL contains a backslash")
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - raises on a malformed bracketed host ("https://[::1/")
    except ValueError as exc:
        raise _refused(f"the URL is malformed ({exc})") from None
    if parts.netloc.startswith("[") and not re.fullmatch(r"\[[0-9A-Fa-f:.]+(%[^\]]*)?\](:\d*)?", parts.netloc.rsplit("@", 1)[-1]):
        raise _refused("the URL's bracketed host is not an IPv6 address")
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_loopback else ("https",)
    if scheme not in allowed:
        raise _refused(f"the URL must be {' or '.join(allowed)}, not {scheme or 'schemeless'}")
    if "#" in url:
        raise _refused("the URL may not have a fragment (#…)")
    if "@" in parts.netloc:
        raise _refused("the URL may not carry a user name or password")
    if not parts.hostname:
        raise _refused("the URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise _refused("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise _refused("the URL's port is not a number from 1 to 65535")
    host = _host(parts.hostname)
    if not allow_loopback and (host == "localhost" or host.endswith(".localhost")):
        raise _refused(f"{host} is a loopback host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80),
                  path_and_query=path)


def check_url(url: str, *, allow_loopback: bool, resolve: Resolve = resolve) -> Target:
    """``url`` parsed, its host resolved, and every address checked: refused with 400
    ``invalid_webhook_url`` and the reason, or the Target (with the addresses) to connect to."""
    target = parse_url(url, allow_loopback=allow_loopback)
    try:
        ipaddress.ip_address(target.host)
        addresses: Sequence[str] = [target.host]  # an address literal: nothing to look up
    except ValueError:
        try:
            addresses = list(resolve(target.host, target.port))
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise _refused(f"{target.host} does not resolve ({exc})") from None
    if not addresses:
        raise _refused(f"{target.host} does not resolve")
    for address in addresses:
        # One private address among public ones is enough: the connection may go to any.
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise _refused(f"{target.host} resolves to a refused address: {reason}" if address != target.host
                           else reason)
    return Target(url=target.url, scheme=target.scheme, host=target.host, port=target.port,
                  path_and_query=target.path_and_query, addresses=tuple(addresses))


# -- signatures -------------------------------------------------------------------

def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Parley-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    return f"t={int(timestamp)},v1={_mac(secret, body, int(timestamp))}"


def verify(secret: str, header: str | None, body: bytes, *, now: float,
           tolerance: int = REPLAY_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: True if ``header`` carries one timestamp within ``tolerance`` seconds of
    ``now`` (either side) and a ``v1`` that is this body's signature with ``secret`` (several ``v1``
    are allowed, as during a secret's rotation; any one matching is enough). Malformed: False."""
    if not isinstance(header, str) or len(header) > 4096:
        return False
    stamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(stamps) != 1 or not re.fullmatch(r"[0-9]{1,12}", stamps[0]) or not candidates:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False  # a replay of an old delivery, or a clock far off
    expected = _mac(secret, body, timestamp).encode("ascii")
    matched = False
    for candidate in candidates:
        # compare_digest on every candidate: how long this takes says nothing of which one matched.
        matched |= hmac.compare_digest(expected, candidate.strip().lower().encode("ascii", "replace"))
    return matched


# -- one POST, pinned to the checked address ------------------------------------------

@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The system's CAs, hostname checks on; made once (loading the CAs costs milliseconds)."""
    return ssl.create_default_context()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` (already checked), whatever ``host`` would resolve to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to ``address``; the server name (SNI) and the certificate check are for ``host``."""

    def __init__(self, host: str, port: int, address: str, timeout: float,
                 context: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, timeout=timeout, context=context or _tls_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _connection(target: Target, address: str, timeout: float,
                context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target.host, target.port, address, timeout, context)
    return _PinnedHTTPConnection(target.host, target.port, address, timeout)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid for the host: {getattr(exc, 'verify_message', None) or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer: {type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"[:200]


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS,
         allow_loopback: bool, resolve: Resolve = resolve, context: ssl.SSLContext | None = None,
         monotonic: Callable[[], float] = time.monotonic) -> Attempt:
    """One POST of ``body`` to ``target.url``: resolved and checked again now, then sent to the address
    just checked, no redirect followed, at most 64 KB of the answer read, all within ``timeout``."""
    started = monotonic()

    def attempt(status: int | None, error: str | None) -> Attempt:
        return Attempt(status, error, int((monotonic() - started) * 1000))

    try:
        checked = check_url(target.url, allow_loopback=allow_loopback, resolve=resolve)
    except ParleyError as exc:  # the host resolves elsewhere now (a rebinding?): nothing is sent
        return attempt(None, f"refused at delivery: {exc.message}")
    error = "no address"
    for address in checked.addresses:
        remaining = timeout - (monotonic() - started)
        if remaining <= 0:
            return attempt(None, "timed out")
        conn = _connection(checked, address, remaining, context)
        # A hard deadline: per-read timeouts alone let a server that drips a byte at a
        # time hold the worker for ever. Shutting the socket down ends any read at once.
        expired = threading.Event()

        def stop(conn: http.client.HTTPConnection = conn, expired: threading.Event = expired) -> None:
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(remaining, stop)
        timer.daemon = True
        timer.start()
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                error = _failure(exc)
                if isinstance(exc, ssl.SSLError) or expired.is_set():
                    return attempt(None, "timed out" if expired.is_set() else error)
                continue  # this address does not answer: the next checked one may
            conn.request("POST", checked.path_and_query, body=body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_ANSWER_BYTES)  # what a receiver says is not needed: bounded, then closed
            status = response.status
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return attempt(None, "timed out" if expired.is_set() else _failure(exc))
        finally:
            timer.cancel()
            conn.close()
        if expired.is_set():
            return attempt(None, "timed out")
        if 300 <= status < 400:
            return attempt(status, f"redirect ({status}) not followed")
        if not 200 <= status < 300:
            return attempt(status, f"HTTP {status}")
        return attempt(status, None)
    return attempt(None, error)


_post_default = post


# -- the service ----------------------------------------------------------------------

class Webhooks:
    """A site's webhooks: registry (add, remove, list), the delivery log, emit and deliver.

    ``enqueue(job, delay_seconds)`` queues a ``webhook`` job (``JobQueue.send``);
    ``post`` and ``resolve`` are ``post`` and ``resolve`` above unless a test
    gives its own. ``cache_seconds``: how long a process keeps a site's
    webhooks for ``emit`` (one Query per site per period on the send path; a
    site with none is remembered too).
    """

    def __init__(self, store: WebhookStore, enqueue: Callable[[dict[str, Any], int], None], *,
                 allow_loopback: bool, retry_seconds: tuple[int, ...] = DEFAULT_RETRY_SECONDS,
                 clock: Callable[[], float] = time.time, resolve: Resolve = resolve,
                 post: Callable[..., Attempt] = post, cache_seconds: float = 30.0,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.store = store
        self._enqueue = enqueue
        self.allow_loopback = allow_loopback
        self.retry_seconds = tuple(int(s) for s in retry_seconds)
        self._clock = clock
        self._resolve = resolve
        # The real post resolves with the same resolver; a test's post stands for all of it.
        self._post = functools.partial(post, resolve=resolve) if post is _post_default else post
        self.timeout = timeout
        self._cache: Cache[str, tuple[Webhook, ...]] = Cache(1024, ttl=cache_seconds, clock=clock)

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.retry_seconds)

    # -- registry -------------------------------------------------------------------

    def check(self, url: str) -> Target:
        """``check_url`` with this deployment's loopback rule and resolver."""
        return check_url(url, allow_loopback=self.allow_loopback, resolve=self._resolve)

    def add(self, site_key: str, url: str, events: Iterable[str] | None = None) -> tuple[Webhook, str]:
        """Registers ``url`` for ``events`` (default: all); returns the webhook and its secret, which
        is shown this once. Raises 400 ``invalid_webhook_url`` / ``invalid_request``, 409
        ``too_many_webhooks``, 404 ``unknown_site``."""
        chosen = _events(events)
        self.check(url)
        hook = Webhook(id="wh_" + secrets.token_hex(8), site_key=site_key, url=url, events=chosen,
                       secret="whsec_" + secrets.token_hex(32), created_at=now_iso(self._clock()))
        self.store.add(hook)
        self._cache.put(site_key, tuple(self.store.webhooks(site_key)))
        log.info("webhook %s added to site %s for %s", hook.id, site_key, ",".join(chosen))
        return hook, hook.secret

    def remove(self, site_key: str, webhook_id: str) -> None:
        """Removes a webhook (its queued deliveries are dropped when they come up): 404 ``webhook_not_found``."""
        if not isinstance(webhook_id, str) or not WEBHOOK_ID.match(webhook_id) \
                or not self.store.remove(site_key, webhook_id):
            raise ParleyError("webhook_not_found", f"Site {site_key!r} has no webhook {webhook_id!r}.")
        self._cache.put(site_key, tuple(self.store.webhooks(site_key)))
        log.info("webhook %s removed from site %s", webhook_id, site_key)

    def list(self, site_key: str) -> list[Webhook]:
        """The site's webhooks, oldest first (``to_json`` shows a hint of the secret, never the secret)."""
        return self.store.webhooks(site_key)

    def deliveries(self, site_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The site's last ``limit`` (1..100) delivery attempts, newest first, in the API's shape."""
        return self.store.deliveries(site_key, limit)

    # -- events -------------------------------------------------------------------------

    def emit(self, site_key: str, event_type: str, data: dict[str, Any], *, event_id: str,
             created_at: str) -> int:
        """Queues one delivery job per webhook of the site subscribed to ``event_type``; returns how many.

        Raises ``ParleyError`` (503 ``unavailable``) when the site's webhooks cannot be read, and
        what ``enqueue`` raises (after every webhook was tried: one queue hiccup does not cost the
        others their event). The caller (the outbox) logs and swallows both.
        """
        if event_type not in EVENTS:
            raise ValueError(f"unknown webhook event {event_type!r}")
        hooks = self._cache.get(site_key, lambda key: tuple(self.store.webhooks(key)))
        wanted = [h for h in hooks if event_type in h.events]
        if not wanted:
            return 0
        event = {"id": event_id, "type": event_type, "created_at": created_at, "site_key": site_key, "data": data}
        queued, first_error = 0, None
        for hook in wanted:
            try:
                self._enqueue({"kind": "webhook", "site_key": site_key, "webhook_id": hook.id, "event": event,
                               "attempt": 1}, 0)
                queued += 1
            except Exception as exc:  # noqa: BLE001 - raised below, once the others had their turn
                log.error("webhook %s: event %s not queued: %s", hook.id, event_id, type(exc).__name__)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return queued

    def deliver(self, job: dict[str, Any]) -> None:
        """Runs one delivery attempt of a ``webhook`` job: signed POST, logged, retried on failure.

        A malformed job, one for a webhook removed since (or no longer subscribed), or one whose
        event reached the webhook already (SQS delivers at least once) is logged and dropped.
        Storage errors before the POST (reading the webhook) raise: nothing was sent, and SQS runs
        the job again. After the POST, the log row and the done mark are best effort (failing the
        job would send it again). What ``enqueue`` raises for the retry is raised: the job worker
        fails, and SQS delivers this attempt again.
        """
        problem = _job_problem(job, self.max_attempts)
        if problem:
            log.error("dropping webhook job: %s", problem)
            return
        site_key, webhook_id, event, number = job["site_key"], job["webhook_id"], job["event"], job["attempt"]
        hook = self.store.get(site_key, webhook_id)
        if hook is None:
            log.info("dropping event %s for webhook %s of site %s: the webhook was removed",
                     event["id"], webhook_id, site_key)
            return
        if event["type"] not in hook.events:
            log.info("dropping event %s for webhook %s: no longer subscribed to %s", event["id"], webhook_id,
                     event["type"])
            return
        if self.store.delivered(site_key, webhook_id, event["id"]):
            # SQS delivers at least once: this job (or its twin) got its 2xx already.
            log.info("dropping event %s for webhook %s: delivered already", event["id"], webhook_id)
            return
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        now = self._clock()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Parley-Event": event["type"],
                   "Parley-Delivery": event["id"], "Parley-Signature": signature(hook.secret, body, int(now))}
        try:
            target = parse_url(hook.url, allow_loopback=self.allow_loopback)
            result = self._post(target, body, headers, timeout=self.timeout, allow_loopback=self.allow_loopback)
        except ParleyError as exc:  # a URL stored before the rules changed
            result = Attempt(None, f"refused at delivery: {exc.message}", 0)
        retry_in = self.retry_seconds[number - 1] if not result.ok and number <= len(self.retry_seconds) else None
        entry = {"webhook_id": hook.id, "url": hook.url, "event": event["type"], "event_id": event["id"],
                 "attempt": number, "status": result.status, "ok": result.ok, "error": result.error,
                 "latency_ms": result.latency_ms,
                 "next_retry_at": now_iso(now + retry_in) if retry_in is not None else None}
        try:
            self.store.log(site_key, entry)
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("webhook %s: attempt %d of event %s not logged", hook.id, number, event["id"])
        if result.ok:
            try:
                self.store.mark_delivered(site_key, hook.id, event["id"])
            except Exception:  # noqa: BLE001 - without the mark, a redelivered job POSTs once more
                log.exception("webhook %s: event %s not marked delivered", hook.id, event["id"])
            log.info("webhook %s: event %s delivered (attempt %d, %d ms)", hook.id, event["id"], number,
                     result.latency_ms)
        elif retry_in is not None:
            log.warning("webhook %s: event %s attempt %d failed (%s); retry in %d s", hook.id, event["id"],
                        number, result.error, retry_in)
            self._enqueue({**job, "attempt": number + 1}, retry_in)
        else:
            log.warning("webhook %s: event %s attempt %d failed (%s); giving up", hook.id, event["id"], number,
                        result.error)


def _events(events: Iterable[str] | None) -> tuple[str, ...]:
    if events is None:
        return EVENTS
    if isinstance(events, str):
        events = [events]
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise ParleyError("invalid_request", f"events must be some of {', '.join(EVENTS)}"
                                             + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
    return tuple(e for e in EVENTS if e in chosen)


def _job_problem(job: Any, max_attempts: int) -> str | None:
    """What is wrong with a webhook job (None: nothing)."""
    if not isinstance(job, dict) or job.get("kind") != "webhook":
        return "not a webhook job"
    site_key, webhook_id, attempt, event = (job.get("site_key"), job.get("webhook_id"), job.get("attempt"),
                                            job.get("event"))
    if not isinstance(site_key, str) or not site_key or not isinstance(webhook_id, str) \
            or not WEBHOOK_ID.match(webhook_id):
        return "no site_key or webhook_id"
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= max_attempts:
        return f"attempt {attempt!r} is not 1..{max_attempts}"
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not EVENT_ID.match(event["id"]) \
            or event.get("type") not in EVENTS \
            or not isinstance(event.get("created_at"), str) or event.get("site_key") != site_key \
            or not isinstance(event.get("data"), dict):
        return "the event is not {id, type, created_at, site_key, data} of this site"
    return None


__all__ = ["EVENTS", "MAX_WEBHOOKS", "Attempt", "Target", "Webhook", "Webhooks", "address_refusal", "check_url",
           "parse_url", "post", "resolve", "signature", "verify"]
