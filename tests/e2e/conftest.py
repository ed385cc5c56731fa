"""Boots the `make dev` stack (infra/local/devstack.py) on free ports for the e2e tests."""
from __future__ import annotations

import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from infra.local.devstack import stop_process

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LocalStack:
    api: str
    demo: str
    dynamodb: str
    demo_origin: str
    token_secret: str


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    api_port, ddb_port, demo_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    env["PARLEY_TOKEN_SECRET"] = token_secret = secrets.token_urlsafe(48)
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.devstack", "--quiet", "--api-port", str(api_port),
         "--dynamodb-port", str(ddb_port), "--demo-port", str(demo_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 90
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                raise RuntimeError("the local stack did not come up:\n" + "".join(output))
            try:
                if lines.get(timeout=min(remaining, 1.0)).startswith("PARLEY_READY"):
                    break
            except queue.Empty:
                continue
        yield LocalStack(api=f"http://127.0.0.1:{api_port}", demo=f"http://127.0.0.1:{demo_port}",
                         dynamodb=f"http://127.0.0.1:{ddb_port}",
                         demo_origin=f"http://127.0.0.1:{demo_port}", token_secret=token_secret)
    finally:
        stop_process(proc, timeout=20)
