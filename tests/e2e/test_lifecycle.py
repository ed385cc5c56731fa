"""Starting and stopping: Ctrl-C stops all that `make dev` started; bad settings stop the app at once."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from .conftest import ROOT, devstack_env, free_port


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_every_server_the_stack_started():
    names = ("api", "websocket", "pusher", "dynamodb", "demo")
    ports = [free_port() for _ in names]
    # Its own process group, like a terminal's foreground job: Ctrl-C goes to all of it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.devstack", "--quiet",
         *[f"--{name}-port={port}" for name, port in zip(names, ports)]],
        cwd=ROOT, env=devstack_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        output = []
        deadline = time.monotonic() + 90
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            if line.startswith("PARLEY_READY") or time.monotonic() > deadline:
                break
        assert all(listening(p) for p in ports), "every service should listen:\n" + "".join(output)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
        rest = proc.stdout.read()  # type: ignore[union-attr]
        assert code == 0, f"Ctrl-C is a normal way to stop: exit status 0, got {code}:\n{rest}"
        assert "stopped" in rest
        time.sleep(0.2)
        still = [p for p in ports if listening(p)]
        assert still == [], f"ports still served after Ctrl-C: {still}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_a_missing_setting_stops_the_app_at_import_and_names_the_variable():
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_TOKEN_SECRET"}
    done = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, "importing app without a token secret must fail"
    assert "PARLEY_TOKEN_SECRET" in done.stderr, f"the error must name the variable: {done.stderr[-500:]}"
