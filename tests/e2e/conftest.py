"""Boots the `make dev` stack (infra/local/devstack.py) on free ports for the e2e tests.

The Cognito facts (pool id, app client id, the moto URL, the console's URL) differ
per run: the ``stack`` fixture reads them from devstack's PARLEY_READY line, the
``live`` fixture from the Stack object. The demo agent's credentials are fixed
(infra/local/cognito.py).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
import queue
import secrets
import tempfile
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from chalicelib.limits import UNLIMITED
from infra.local import ports
from infra.local.cognito import DEMO_AGENT_EMAIL, DEMO_AGENT_NAME, DEMO_AGENT_PASSWORD
from infra.local.cognito import REGION as DEMO_REGION
from infra.local.devstack import PUSHER_APP_ID, PUSHER_KEY, stop_process

if TYPE_CHECKING:
    from infra.local.devstack import Stack

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port below the ephemeral range (infra/local/ports.py says why)."""
    return ports.free_port()


@contextmanager
def started(command: list[str], env: dict[str, str], ready: str, timeout: float,
            stop_timeout: float = 15) -> Iterator[subprocess.Popen]:
    """Runs a server process until the end of the block, once it prints a line starting ``ready``.

    Its output is kept, and shown if it dies or stays silent past ``timeout``.
    The ready line itself is ``proc.ready_line``.
    """
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                raise RuntimeError(f"{command[2]} did not come up:\n" + "".join(output))
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line.startswith(ready):
                proc.ready_line = line.strip()  # type: ignore[attr-defined]
                break
        yield proc
    finally:
        stop_process(proc, timeout=stop_timeout)


@dataclass(frozen=True)
class LocalStack:
    api: str
    demo: str
    dynamodb: str
    demo_origin: str
    token_secret: str
    websocket: str
    pusher_port: int
    pusher_app_id: str
    pusher_key: str
    pusher_secret: str
    # The agent side: the console, and the Cognito user pool on the stack's moto server.
    console: str = ""
    cognito_endpoint: str = ""  # moto's base URL, trailing slash (the console's cognito.endpoint)
    cognito_region: str = DEMO_REGION
    cognito_pool_id: str = ""
    cognito_client_id: str = ""
    agent_email: str = DEMO_AGENT_EMAIL
    agent_password: str = DEMO_AGENT_PASSWORD
    agent_name: str = DEMO_AGENT_NAME
    # The Bedrock Runtime stand-in the `demo-llm` site's engine streams from (its /_parley/* control API).
    bedrock: str = ""

    @property
    def console_origin(self) -> str:
        return self.console.rstrip("/")

    @property
    def cognito_issuer(self) -> str:
        return f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.cognito_pool_id}"


def ready_facts(line: str) -> dict[str, str]:
    """``PARLEY_READY api=… demo=… console=… cognito=… pool=… client=…`` as a dict."""
    return dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)


def devstack_env(**extra: str) -> dict[str, str]:
    """The test process's environment without its own PARLEY_ settings or endpoints.

    The console gets any free port unless a test names one (8090 may be `make dev`'s).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "PUSHER_"))}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    env.pop("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", None)
    env.pop("AWS_ENDPOINT_URL", None)
    env["PARLEY_CONSOLE_PORT"] = "0"
    # make dev keeps its secrets across runs in .dev/; a test's stack keeps them out of the checkout.
    # One address makes every request of the session: the limits have tests of their own.
    env["PARLEY_RATE_LIMITS"] = UNLIMITED
    # A failed webhook delivery is tried again after 1 s, then 1 s (not 10 s, 1 min, …): tests wait seconds.
    env["PARLEY_WEBHOOK_RETRY_SECONDS"] = "1,1,1"
    env["PARLEY_LOCAL_SECRETS"] = os.path.join(tempfile.gettempdir(), f"parley-test-secrets-{os.getpid()}.json")
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """`make dev` itself (python -m infra.local.devstack), on free ports, all providers on."""
    ports = {name: free_port() for name in ("api", "websocket", "pusher", "dynamodb", "demo", "console",
                                            "bedrock")}
    token_secret, pusher_secret = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    env = devstack_env(PARLEY_TOKEN_SECRET=token_secret, PUSHER_SECRET=pusher_secret)
    args = [f"--{name}-port={port}" for name, port in ports.items()]
    command = [sys.executable, "-m", "infra.local.devstack", "--quiet", *args]
    with started(command, env, "PARLEY_READY", timeout=90, stop_timeout=20) as proc:
        facts = ready_facts(proc.ready_line)  # type: ignore[attr-defined]
        yield LocalStack(
            api=f"http://127.0.0.1:{ports['api']}", demo=f"http://127.0.0.1:{ports['demo']}",
            dynamodb=f"http://127.0.0.1:{ports['dynamodb']}", demo_origin=f"http://127.0.0.1:{ports['demo']}",
            token_secret=token_secret, websocket=f"ws://127.0.0.1:{ports['websocket']}",
            pusher_port=ports["pusher"], pusher_app_id=PUSHER_APP_ID, pusher_key=PUSHER_KEY,
            pusher_secret=pusher_secret, console=f"{facts['console']}/", cognito_endpoint=facts["cognito"],
            cognito_pool_id=facts["pool"], cognito_client_id=facts["client"], bedrock=facts.get("bedrock", ""))


@pytest.fixture(scope="session")
def live() -> Iterator[tuple["Stack", LocalStack]]:
    """The same stack as `make dev`, driven in-process, so a test can stop and start one service."""
    from infra.local.devstack import Ports, Stack

    ports = Ports(api=free_port(), websocket=free_port(), pusher=free_port(), dynamodb=free_port(),
                  demo=free_port())
    token_secret, pusher_secret = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    stack = Stack(ports, quiet=True, env=devstack_env(PARLEY_TOKEN_SECRET=token_secret,
                                                      PUSHER_SECRET=pusher_secret))
    try:
        stack.start()
        assert stack.cognito is not None
        yield stack, LocalStack(
            api=f"http://127.0.0.1:{ports.api}", demo=f"http://127.0.0.1:{ports.demo}",
            dynamodb=f"http://127.0.0.1:{ports.dynamodb}", demo_origin=f"http://127.0.0.1:{ports.demo}",
            token_secret=token_secret, websocket=f"ws://127.0.0.1:{ports.websocket}",
            pusher_port=ports.pusher, pusher_app_id=PUSHER_APP_ID, pusher_key=PUSHER_KEY,
            pusher_secret=pusher_secret, console=f"http://127.0.0.1:{stack.console_port}/",
            cognito_endpoint=stack.cognito.endpoint, cognito_region=stack.cognito.region,
            cognito_pool_id=stack.cognito.pool_id, cognito_client_id=stack.cognito.client_id,
            bedrock=stack.env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """Our moto server alone (python -m infra.local.dynamodb: DynamoDB, SQS, SES, Cognito), on a free port."""
    from infra.local.devstack import wait_for_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.dynamodb", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
