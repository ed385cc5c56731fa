"""The stand-ins' ports (infra/local/ports.py): free, distinct, and outside the range outgoing connections use."""
from __future__ import annotations

import socket

from infra.local import ports


def test_ports_are_distinct_free_and_below_the_ephemeral_range():
    picked = ports.free_ports(20) + ports.free_ports(20)
    assert len(set(picked)) == 40, "never handed out twice in one process"
    assert all(ports.LOW <= p < ports._ephemeral_low() for p in picked), picked
    for port in picked[:5]:
        with socket.socket() as s:
            s.bind((ports.HOST, port))  # still free: nothing was left listening on it
