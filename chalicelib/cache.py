"""One in-process cache for everything a warm Lambda keeps: bounded, optionally expiring, thread-safe.

Sites, listed origins, seq hints, bot engines, SSM secrets and the typing
throttle all use it: cachetools' ``TLRUCache`` (least recently used goes first
when full; each entry may carry its own expiry) behind one lock, since
``chalice local`` and the fan-out serve requests on threads. The clock is
injected, so tests move time instead of waiting for it.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Generic, Hashable, TypeVar

from cachetools import TLRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class Cache(Generic[K, V]):
    """Up to ``size`` values; each lives ``ttl(value)`` seconds (None: until evicted)."""

    def __init__(self, size: int, ttl: float | Callable[[V], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl is None:
            lifetime: Callable[[V], float] = lambda _value: math.inf
        elif callable(ttl):
            lifetime = ttl
        else:
            lifetime = lambda _value, seconds=float(ttl): seconds
        self._data: TLRUCache = TLRUCache(maxsize=size, ttu=lambda _k, v, now: now + lifetime(v),
                                          timer=clock)
        self._lock = threading.Lock()

    def peek(self, key: K) -> tuple[bool, V | None]:
        """(known, value) from the cache alone; known=False means ask the source."""
        with self._lock:
            value = self._data.get(key, _MISSING)
        return (False, None) if value is _MISSING else (True, value)  # type: ignore[return-value]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value

    def get(self, key: K, load: Callable[[K], V]) -> V:
        """The cached value, or ``load(key)`` stored and returned (a failing load stores nothing)."""
        known, value = self.peek(key)
        if known:
            return value  # type: ignore[return-value]
        value = load(key)
        self.put(key, value)
        return value

    def put_if_absent(self, key: K, value: V) -> bool:
        """Stores ``value`` unless a live entry exists; True if it was stored."""
        with self._lock:
            if self._data.get(key, _MISSING) is not _MISSING:
                return False
            self._data[key] = value
            return True

    def update(self, key: K, change: Callable[[V | None], V]) -> V:
        """Replaces the value with ``change(old or None)``, atomically."""
        with self._lock:
            value = change(self._data.get(key))
            self._data[key] = value
            return value
