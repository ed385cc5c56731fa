"""Free ports for local stand-ins started by tests and benchmarks, chosen so nothing else takes them.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the
ephemeral range (Linux: 32768-60999), the same range every outgoing
connection takes its local port from. Between closing the probe socket and
the stand-in binding the port, any client connection in the test run (there
are hundreds) may take it, and the stand-in then fails with EADDRINUSE: an
occasional, unrepeatable failure. Ports below the ephemeral range are never
given to outgoing connections, so a port picked there stays free unless
another server takes it on purpose.
"""
from __future__ import annotations

import random
import socket
import threading

HOST = "127.0.0.1"


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


LOW = 20000
HIGH = max(LOW + 1000, _ephemeral_low() - 1)
_given: set[int] = set()
_lock = threading.Lock()


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports below the ephemeral range that nothing listens on, never handed out twice."""
    picked: list[int] = []
    with _lock:
        for _ in range(2000):
            if len(picked) == n:
                break
            port = random.randint(LOW, HIGH)
            if port in _given or port in picked:
                continue
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
            picked.append(port)
        if len(picked) < n:
            raise RuntimeError(f"no {n} free ports between {LOW} and {HIGH}")
        _given.update(picked)
    return picked


def free_port() -> int:
    return free_ports(1)[0]
