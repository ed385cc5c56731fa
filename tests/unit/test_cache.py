"""The one in-process cache: bounded (least recently used goes), expiring on an injected clock."""
from __future__ import annotations

from chalicelib.cache import Cache

from ..fakes import FakeClock


def test_values_expire_on_the_clock_and_a_per_value_lifetime_is_honoured():
    clock = FakeClock()
    cache: Cache[str, object] = Cache(8, ttl=lambda value: 30 if value else 5, clock=clock)
    cache.put("found", {"x": 1})
    cache.put("missing", None)
    clock.advance(5)
    assert cache.peek("missing") == (False, None), "a negative answer lives 5 s"
    assert cache.peek("found") == (True, {"x": 1})
    clock.advance(25)
    assert cache.peek("found") == (False, None), "a positive one 30 s"


def test_the_least_recently_used_entry_goes_first_when_full():
    cache: Cache[str, int] = Cache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.peek("a")
    cache.put("c", 3)
    assert [cache.peek(k)[0] for k in "abc"] == [True, False, True]


def test_get_loads_once_and_a_failing_load_stores_nothing():
    cache: Cache[str, int] = Cache(4)
    loads: list[str] = []

    def load(key: str) -> int:
        loads.append(key)
        if key == "bad":
            raise RuntimeError("store down")
        return len(key)

    assert cache.get("abc", load) == 3 and cache.get("abc", load) == 3 and loads == ["abc"]
    for _ in range(2):
        try:
            cache.get("bad", load)
        except RuntimeError:
            pass
    assert loads == ["abc", "bad", "bad"], "a failure is asked again, never remembered"


def test_put_if_absent_is_a_throttle_that_reopens_when_the_entry_expires():
    clock = FakeClock()
    cache: Cache[str, bool] = Cache(4, ttl=2.0, clock=clock)
    assert cache.put_if_absent("conn", True) and not cache.put_if_absent("conn", True)
    clock.advance(2.0)
    assert cache.put_if_absent("conn", True)


def test_update_keeps_the_highest_value():
    cache: Cache[str, int] = Cache(4)
    for seq in (3, 1, 7, 5):
        cache.update("c1", lambda old, seq=seq: max(old or 0, seq))
    assert cache.peek("c1") == (True, 7)
