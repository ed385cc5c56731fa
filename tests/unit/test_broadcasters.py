"""Broadcasters with fake clients: what reaches Pusher / API Gateway, and what a failure does."""
from __future__ import annotations

import json
import logging

import pytest

from chalicelib.data.connections import Connection
from chalicelib.models import Message
from chalicelib.realtime import Realtime, channel_name
from chalicelib.realtime.apigw_websocket import WebSocketBroadcaster
from chalicelib.realtime.pusher_channels import PUSHER_MAX_EVENT_BYTES, PusherBroadcaster
from chalicelib.secretstore import Secrets
from chalicelib.settings import load_settings

from ..fakes import FakeClock, FakeManagement, FakePusher

SETTINGS = load_settings({
    "PARLEY_TABLE": "parley-x", "PARLEY_TOKEN_SECRET": "k" * 32,
    "PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling",
    "PUSHER_APP_ID": "1", "PUSHER_KEY": "key", "PUSHER_SECRET": "secret",
    "PARLEY_WEBSOCKET_URL": "ws://127.0.0.1:8001", "PARLEY_WEBSOCKET_ENDPOINT": "http://127.0.0.1:8001",
    "PARLEY_FANOUT_WORKERS": "4",
})


def message(seq: int = 1, text: str = "hello") -> Message:
    return Message(id=f"m{seq}", conversation_id="c1", seq=seq, sender="bot", text=text,
                   created_at="2026-11-26T00:00:00.000Z")


def pusher_broadcaster(fake: FakePusher) -> PusherBroadcaster:
    return PusherBroadcaster(SETTINGS, Secrets(SETTINGS), client=fake)


def test_pusher_triggers_the_message_on_the_conversation_channel_leaving_out_the_sender():
    fake = FakePusher()
    pusher_broadcaster(fake).publish("c1", message(), 1, exclude="123.456")
    (channel, event, data, socket_id), = fake.triggered
    assert (channel, event, socket_id) == ("private-chat.conversation.c1", "ChatMessageReceived", "123.456")
    assert data == message().to_json(), "the event data is the message itself"


def test_pusher_ignores_an_exclusion_that_is_not_a_socket_id():
    fake = FakePusher()
    pusher_broadcaster(fake).publish("c1", message(), 1, exclude="not-a-socket")
    assert fake.triggered[0][3] is None


def test_a_message_over_pusher_limit_goes_as_a_thin_last_seq_notice():
    fake = FakePusher()
    overhead = len(json.dumps(message(text="").to_json(), separators=(",", ":")))
    fits = message(text="x" * (PUSHER_MAX_EVENT_BYTES - overhead))
    too_big = message(seq=2, text="x" * (PUSHER_MAX_EVENT_BYTES - overhead + 1))
    broadcaster = pusher_broadcaster(fake)
    broadcaster.publish("c1", fits, 1)
    broadcaster.publish("c1", too_big, 2)
    assert len(fake.raw[0].encode()) == PUSHER_MAX_EVENT_BYTES
    assert fake.triggered[0][2]["seq"] == 1, "exactly 10,240 bytes still goes whole"
    assert fake.triggered[1][2] == {"conversation_id": "c1", "last_seq": 2}, "one byte more becomes a notice"


def test_multibyte_text_is_measured_in_bytes_not_characters():
    fake = FakePusher()
    pusher_broadcaster(fake).publish("c1", message(text="€" * 4000), 1)
    assert len("€" * 4000) < PUSHER_MAX_EVENT_BYTES < len(("€" * 4000).encode())
    assert fake.triggered[0][2] == {"conversation_id": "c1", "last_seq": 1}


class Boom:
    name = "boom"

    def publish(self, *args, **kwargs):
        raise ConnectionError("provider down")


def test_one_failing_provider_is_logged_and_the_others_still_publish(caplog):
    fake = FakePusher()
    realtime = Realtime([Boom(), pusher_broadcaster(fake)])
    with caplog.at_level(logging.ERROR, logger="parley.realtime"):
        realtime.publish("c1", message(), 1)
    assert len(fake.triggered) == 1, "pusher must still get the message"
    assert "boom" in caplog.text and "failed" in caplog.text


class FakeConnections:
    def __init__(self, ids, since: int = 0) -> None:
        self.ids = list(ids)
        self.since = since
        self.removed: list[tuple[str, str]] = []

    def of_conversation(self, conversation_id):
        return [Connection(i, self.since, f"CONV#{conversation_id}") for i in self.ids]

    def of_feed(self, site_key):
        return []

    def remove_row(self, pk, connection_id):
        self.removed.append((pk.removeprefix("CONV#"), connection_id))
        self.ids.remove(connection_id)


def test_websocket_fans_out_to_every_connection_but_the_excluded_one():
    store, client = FakeConnections([f"k{i}" for i in range(10)]), FakeManagement()
    WebSocketBroadcaster(SETTINGS, store, client=client).publish("c1", message(), 1, exclude="k3")
    assert sorted(client.posted) == sorted(f"k{i}" for i in range(10) if i != 3)
    assert all(p == [{"event": "ChatMessageReceived", "data": message().to_json()}] for p in client.posted.values())


class CountingConnections(FakeConnections):
    def __init__(self, ids) -> None:
        super().__init__(ids)
        self.lookups = 0

    def of_conversation(self, conversation_id):
        self.lookups += 1
        return super().of_conversation(conversation_id)


def test_a_replys_deltas_share_one_connection_lookup_and_stored_messages_look_up_afresh():
    store, client = CountingConnections(["k1", "k2"]), FakeManagement()
    ws = WebSocketBroadcaster(SETTINGS, store, client=client)
    for n in range(1, 6):
        assert ws.send_event("ChatReplyDelta", {"n": n}, conversation_id="c1") == 2
    assert store.lookups == 1, f"five deltas within a second: one Query, not {store.lookups}"
    ws.publish("c1", message(), 1)
    ws.publish("c1", message(), 1)
    assert store.lookups == 3, "every stored message finds the connections as they are now"
    assert [p["data"]["n"] for p in client.posted["k1"] if p["event"] == "ChatReplyDelta"] == [1, 2, 3, 4, 5]


def test_a_gone_connection_is_removed_and_only_that_one():
    store = FakeConnections(["alive1", "stale", "alive2"])
    client = FakeManagement(gone={"stale"})
    delivered = WebSocketBroadcaster(SETTINGS, store, client=client).send_event("X", {}, conversation_id="c1")
    assert delivered == 2
    assert store.removed == [("c1", "stale")], "exactly the connection that is gone is removed"
    assert sorted(client.posted) == ["alive1", "alive2"]


def test_a_failing_post_neither_stops_the_fanout_nor_removes_the_connection():
    store = FakeConnections(["a", "b", "c"])
    client = FakeManagement(broken={"b"})
    delivered = WebSocketBroadcaster(SETTINGS, store, client=client).send_event("X", {}, conversation_id="c1")
    assert delivered == 2 and store.removed == [], "a timeout is not a 410: keep the connection"


def test_the_channel_name_is_the_seed_one():
    assert channel_name("abc") == "private-chat.conversation.abc"


@pytest.mark.parametrize("providers,names", [("polling", []), ("pusher,polling", ["pusher"]),
                                             ("websocket,pusher,polling", ["websocket", "pusher"])])
def test_the_settings_choose_the_broadcasters_in_order(providers, names):
    from chalicelib.realtime import build

    env = {"PARLEY_TABLE": "parley-x", "PARLEY_TOKEN_SECRET": "k" * 32,
           "PARLEY_REALTIME_PROVIDERS": providers, "PUSHER_APP_ID": "1", "PUSHER_KEY": "k",
           "PUSHER_SECRET": "s", "PARLEY_WEBSOCKET_URL": "ws://x", "PARLEY_WEBSOCKET_ENDPOINT": "http://x"}
    settings = load_settings(env)
    realtime = build(settings, connections=None, secrets=Secrets(settings))  # type: ignore[arg-type]
    assert [b.name for b in realtime.broadcasters] == names


class Timed:
    def __init__(self, name: str, delay: float) -> None:
        import threading

        self.name, self.delay = name, delay
        self.done_at: float | None = None
        self.started = threading.Event()

    def publish(self, *args, **kwargs):
        import time

        self.started.set()
        time.sleep(self.delay)
        self.done_at = time.monotonic()


def test_providers_publish_side_by_side_so_a_slow_one_does_not_delay_the_other():
    import time

    slow, fast = Timed("slow", 0.3), Timed("fast", 0.0)
    began = time.monotonic()
    Realtime([slow, fast]).publish("c1", message(), 1)
    assert slow.done_at is not None and fast.done_at is not None, "publish waits for every provider"
    assert fast.done_at - began < 0.15, "the fast provider must not wait behind the slow one"


def test_a_410_for_a_connection_still_in_its_connect_keeps_its_row():
    from chalicelib.realtime.apigw_websocket import NEW_CONNECTION_GRACE_SECONDS

    clock = FakeClock(now=50_000.0)
    store = FakeConnections(["brand-new"], since=int(clock()))
    client = FakeManagement(gone={"brand-new"})
    broadcaster = WebSocketBroadcaster(SETTINGS, store, client=client, clock=clock)
    assert broadcaster.send_event("X", {}, conversation_id="c1") == 0
    assert store.removed == [], "a connection whose $connect is under way is not gone"
    clock.advance(NEW_CONNECTION_GRACE_SECONDS)
    assert broadcaster.send_event("X", {}, conversation_id="c1") == 0
    assert store.removed == [("c1", "brand-new")], "past the grace period a 410 means gone"


class Slow(FakeManagement):
    """Counts posts in flight at once; each takes a little while."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.in_flight, self.most = delay, 0, 0

    def post_to_connection(self, ConnectionId, Data):
        import time

        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        super().post_to_connection(ConnectionId, Data)


def test_fanout_parallelism_is_bounded_by_the_worker_setting():
    store, client = FakeConnections([f"k{i}" for i in range(20)]), Slow(0.02)
    delivered = WebSocketBroadcaster(SETTINGS, store, client=client).send_event("X", {}, conversation_id="c1")
    assert delivered == 20 and len(client.posted) == 20
    assert 1 < client.most <= SETTINGS.fanout_workers == 4, f"at most 4 posts at once, saw {client.most}"


def test_a_hung_management_api_costs_the_fanout_its_deadline_not_more(monkeypatch):
    import time

    from chalicelib.realtime import apigw_websocket

    monkeypatch.setattr(apigw_websocket, "FANOUT_DEADLINE_SECONDS", 0.3)
    store, client = FakeConnections(["a", "b"]), Slow(3.0)
    began = time.monotonic()
    delivered = WebSocketBroadcaster(SETTINGS, store, client=client).send_event("X", {}, conversation_id="c1")
    assert delivered == 0 and time.monotonic() - began < 2.0, "the deadline, not the 3 s hang, ends it"


class Calls:
    """A provider whose pushes each take ``delay`` seconds (until ``release`` is set); counts them."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        import threading

        self.name, self.delay, self.calls = name, delay, 0
        self.release = threading.Event()

    def publish(self, *args, **kwargs):
        self.calls += 1
        self.release.wait(self.delay)

    def send_event(self, *args, **kwargs):
        self.publish()


def test_a_hung_provider_costs_one_request_its_budget_once_and_never_holds_the_other():
    import time

    hung, healthy = Calls("hung", delay=5.0), Calls("healthy")
    realtime = Realtime([hung, healthy], budget_seconds=0.4)
    began = time.monotonic()
    try:
        with realtime.budgeted() as budget:
            for seq in (1, 2, 3):  # a send: its message, a new conversation's event, the reply
                realtime.publish("c1", message(seq), seq)
        took = time.monotonic() - began
    finally:
        hung.release.set()
    assert took < 0.4 + 0.3, f"the hung provider's budget (0.4 s) once, not per publish: {took:.2f} s"
    assert healthy.calls == 3, "the healthy provider publishes every time"
    assert hung.calls == 1, "once its budget is spent, the hung provider is skipped for the request"
    assert budget.left("hung") <= 0 < budget.left("healthy")


def test_each_request_has_a_budget_of_its_own():
    hung = Calls("hung", delay=5.0)
    realtime = Realtime([hung], budget_seconds=0.2)
    try:
        for _ in range(2):
            with realtime.budgeted():
                realtime.publish("c1", message(), 1)
                realtime.publish("c1", message(2), 2)
    finally:
        hung.release.set()
    assert hung.calls == 2, "one try per request: the next request tries the provider again"


def test_the_budget_must_hold_each_provider_client_timeouts():
    from chalicelib.settings import SettingsError

    base = {"PARLEY_TABLE": "parley-x", "PARLEY_TOKEN_SECRET": "k" * 32, "PUSHER_APP_ID": "1",
            "PUSHER_KEY": "key", "PUSHER_SECRET": "secret", "PARLEY_WEBSOCKET_URL": "ws://127.0.0.1:8001",
            "PARLEY_WEBSOCKET_ENDPOINT": "http://127.0.0.1:8001"}
    assert SETTINGS.broadcast_budget_seconds == 4.0, "the default: 4 s per provider and send"
    with pytest.raises(SettingsError, match="PARLEY_BROADCAST_BUDGET_SECONDS.*PUSHER_TIMEOUT_SECONDS"):
        load_settings({**base, "PARLEY_REALTIME_PROVIDERS": "pusher", "PUSHER_TIMEOUT_SECONDS": "5",
                       "PARLEY_BROADCAST_BUDGET_SECONDS": "4"})
    with pytest.raises(SettingsError, match="PARLEY_BROADCAST_BUDGET_SECONDS.*at least 3"):
        load_settings({**base, "PARLEY_REALTIME_PROVIDERS": "websocket", "PARLEY_BROADCAST_BUDGET_SECONDS": "2"})
    assert load_settings({**base, "PARLEY_REALTIME_PROVIDERS": "pusher", "PUSHER_TIMEOUT_SECONDS": "1",
                          "PARLEY_BROADCAST_BUDGET_SECONDS": "2"}).broadcast_budget_seconds == 2
