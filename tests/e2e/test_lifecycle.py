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


def _children(pid: int) -> dict[str, int]:
    """The devstack's child processes by service (read from /proc: module name -> pid)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == pid and b"-m" in argv:
            found[argv[argv.index(b"-m") + 1].decode().rsplit(".", 1)[-1]] = int(entry)
    return found


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_service_that_dies_is_restarted_without_taking_the_others_down(tmp_path):
    import json
    import urllib.request

    names = ("api", "websocket", "pusher", "dynamodb", "demo", "console")
    ports = dict(zip(names, [free_port() for _ in names]))
    secrets_file = tmp_path / "secrets.json"
    env = devstack_env(PARLEY_LOCAL_SECRETS=str(secrets_file))
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.devstack", "--quiet", *[f"--{n}-port={p}" for n, p in ports.items()]],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
    import threading
    threading.Thread(target=read, daemon=True).start()

    def config(path: str = "/config.json", port: str = "console") -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[port]}{path}", timeout=5) as r:
            return json.loads(r.read())
    try:
        assert _wait(lambda: any(line.startswith("PARLEY_READY") for line in lines), 90), "".join(lines)
        children = _children(proc.pid)
        secret = json.loads(secrets_file.read_text())["PUSHER_SECRET"]
        with open(f"/proc/{children['pusher_server']}/cmdline", "rb") as f:
            assert secret.encode() not in f.read(), "the Pusher secret is not on a command line"
        assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"

        os.kill(children["pusher_server"], signal.SIGKILL)
        assert _wait(lambda: any("pusher restarted" in line for line in lines), 30), "".join(lines)
        assert listening(ports["pusher"]) and listening(ports["api"]) and proc.poll() is None

        client_before = config()["cognito"]["client_id"]
        os.kill(_children(proc.pid)["dynamodb"], signal.SIGKILL)
        assert _wait(lambda: any("DynamoDB restarted EMPTY" in line for line in lines), 60), "".join(lines)
        assert config()["cognito"]["client_id"] != client_before, "the console is told the new pool's client"
        site = config("/api/chatbot/config?site_key=demo", "api")
        assert site["site_key"] == "demo", "the demo site is there again"
        assert proc.poll() is None, "the stack kept running"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_make_devs_secrets_are_kept_across_runs_readable_by_their_owner_only(tmp_path):
    from infra.local.devstack import local_secrets

    path = tmp_path / "nested" / "secrets.json"
    first = local_secrets(path)
    assert local_secrets(path) == first, "the same secrets on the next run: stored tokens stay valid"
    assert len(first["PARLEY_TOKEN_SECRET"]) >= 32 and first["PUSHER_SECRET"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("not json")
    assert local_secrets(path) != first, "a broken file is made anew, not trusted"
