"""The whole local stack on 127.0.0.1: what `make dev` runs.

    python -m infra.local.devstack [--api-port 8000] [--dynamodb-port 5005] [--demo-port 8080]

Starts DynamoDB (moto, serialized), creates the table from infra/table.json,
seeds the `demo` site, runs `chalice local` for the HTTP API and serves the
demo page. The app reaches DynamoDB through AWS_ENDPOINT_URL_DYNAMODB, exactly
as it reaches AWS in production. Ctrl-C (or SIGTERM) stops everything it
started. Ports also come from PARLEY_API_PORT, PARLEY_DYNAMODB_PORT and
PARLEY_DEMO_PORT.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TABLE = "parley-local"
READY = "PARLEY_READY"
ENV_PORTS = {"api": "PARLEY_API_PORT", "dynamodb": "PARLEY_DYNAMODB_PORT", "demo": "PARLEY_DEMO_PORT"}


def _die_with_parent() -> None:
    """Children get SIGTERM if the stack dies, even by SIGKILL (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def require_free(ports: dict[str, int]) -> None:
    """Stops early, by name, if a port is taken (say, by another `make dev`)."""
    for name, port in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
            except OSError:
                raise SystemExit(f"devstack: port {port} ({name}) is in use on {HOST}; stop what "
                                 f"holds it, or choose another with {ENV_PORTS[name]}=...") from None


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout}s")


def app_environment(dynamodb_port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment chalice local (and the seeding here) runs with."""
    env = dict(os.environ if base is None else base)
    env.pop("AWS_PROFILE", None)
    env.update({
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://{HOST}:{dynamodb_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "PARLEY_TABLE": env.get("PARLEY_TABLE") or TABLE,
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("AWS_SESSION_TOKEN", None)
    # A fresh key per run is fine: moto's data does not outlive the run either.
    env.setdefault("PARLEY_TOKEN_SECRET", secrets.token_urlsafe(48))
    env.setdefault("PARLEY_REALTIME_PROVIDERS", "polling")
    return env


def seed_demo_site(env: dict[str, str], demo_port: int) -> None:
    """Creates the table and the `demo` site (or brings it up to date)."""
    import boto3

    from chalicelib.bot import validate_knowledge
    from chalicelib.store import Store
    from infra.table import create_table

    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
                          region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="local",
                          aws_secret_access_key="local")
    create_table(client, env["PARLEY_TABLE"])
    store = Store(env["PARLEY_TABLE"], client=client)
    knowledge = validate_knowledge(json.loads((HERE / "demo-knowledge.json").read_text()))
    origins = sorted({"http://127.0.0.1:8080", "http://localhost:8080",
                      f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"})
    existing = store.get_site("demo")
    store.put_site({"site_key": "demo", "name": "Parley demo", "origins": origins,
                    "bot": {"engine": "knowledge", "knowledge": knowledge},
                    "widget": {"title": "Parley", "greeting": "Hi! Ask me anything about Parley."}},
                   previous_origins=existing["origins"] if existing else ())


class DemoHandler(SimpleHTTPRequestHandler):
    """Serves infra/local/demo/, with the API's URL filled into the page."""

    api_url = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(HERE / "demo"), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] in ("/", "/index.html"):
            page = (HERE / "demo" / "index.html").read_text().replace("__PARLEY_API__", self.api_url)
            data = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


class Stack:
    def __init__(self, api_port: int, dynamodb_port: int, demo_port: int, quiet: bool) -> None:
        self.api_port, self.dynamodb_port, self.demo_port = api_port, dynamodb_port, demo_port
        self.quiet = quiet
        self.procs: list[subprocess.Popen] = []
        self.demo: ThreadingHTTPServer | None = None

    def _spawn(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = subprocess.DEVNULL if self.quiet else None
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=out,
                                preexec_fn=_die_with_parent)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        env = app_environment(self.dynamodb_port)
        ddb = self._spawn([sys.executable, "-m", "infra.local.dynamodb",
                           "--port", str(self.dynamodb_port)], env)
        wait_for_port(self.dynamodb_port, 30, ddb)
        seed_demo_site(env, self.demo_port)
        # --no-autoreload: the reloader forks a worker that outlives its parent.
        api = self._spawn([sys.executable, "-m", "infra.local.chalice_local", "--no-autoreload",
                           "--stage", "local", "--host", HOST, "--port", str(self.api_port)], env)
        wait_for_port(self.api_port, 60, api)
        self._wait_for_api()
        DemoHandler.api_url = f"http://{HOST}:{self.api_port}"
        self.demo = ThreadingHTTPServer((HOST, self.demo_port), DemoHandler)
        threading.Thread(target=self.demo.serve_forever, daemon=True).start()

    def _wait_for_api(self) -> None:
        url = f"http://{HOST}:{self.api_port}/api/chatbot/config?site_key=demo"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def stop(self) -> None:
        if self.demo is not None:
            self.demo.shutdown()
        # The API first, so no request finds its database gone.
        for proc in reversed(self.procs):
            stop_process(proc)

    def watch(self) -> int:
        """Blocks until a child dies (then reports it) or we are told to stop."""
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    print(f"devstack: {proc.args[0]} exited with {proc.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.5)


def _port(env_name: str, default: int) -> int:
    return int(os.environ.get(env_name) or default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", type=int, default=_port("PARLEY_API_PORT", 8000))
    parser.add_argument("--dynamodb-port", type=int, default=_port("PARLEY_DYNAMODB_PORT", 5005))
    parser.add_argument("--demo-port", type=int, default=_port("PARLEY_DEMO_PORT", 8080))
    parser.add_argument("--quiet", action="store_true", help="hide the servers' request logs")
    args = parser.parse_args(argv)

    require_free({"api": args.api_port, "dynamodb": args.dynamodb_port, "demo": args.demo_port})
    stack = Stack(args.api_port, args.dynamodb_port, args.demo_port, args.quiet)
    # SIGTERM (from a test fixture or a supervisor) stops like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        print(f"""
Parley local stack is up:
  demo page  http://{HOST}:{args.demo_port}/
  HTTP API   http://{HOST}:{args.api_port}/api/chatbot/config?site_key=demo
  DynamoDB   http://{HOST}:{args.dynamodb_port}  (table {os.environ.get('PARLEY_TABLE') or TABLE})
Press Ctrl-C to stop.
{READY} api=http://{HOST}:{args.api_port} demo=http://{HOST}:{args.demo_port}""", flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("Parley local stack stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
