"""Lazy: a value built on first use, once, however many threads ask at the same moment.

boto3 clients, thread pools and every part of root.py's graph are made this way: not at import
(Lambda cold start pays only for what a request needs, and moto can intercept
clients made after its mocks start), and injectable (tests hand one in).
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T], value: T | None = None) -> None:
        self._build = build
        self._value = value
        self._lock = threading.Lock()

    def get(self) -> T:
        # Checked twice: the lock is taken only while nothing is built yet.
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value

    def set(self, value: T | None) -> None:
        """Replaces the value (None: build again on next use)."""
        with self._lock:
            self._value = value
