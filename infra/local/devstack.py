"""The whole local stack on 127.0.0.1: what `make dev` runs.

    python -m infra.local.devstack [--api-port 8000] [--websocket-port 8001] [--pusher-port 6001]
                                   [--dynamodb-port 5005] [--demo-port 8080] [--quiet]

Starts DynamoDB (moto, serialized) and creates the table from
infra/table.json, seeds the `demo` site, starts the Pusher-protocol stand-in
and the API Gateway WebSocket stand-in (which runs app.py's on_ws_* handlers),
runs `chalice local` for the HTTP API and serves the demo page. The app
reaches each through ordinary settings (AWS_ENDPOINT_URL_DYNAMODB, PUSHER_HOST
and PUSHER_PORT, PARLEY_WEBSOCKET_ENDPOINT), exactly as it reaches AWS and
Pusher in production. Ctrl-C (or SIGTERM) stops everything it started. Ports
also come from PARLEY_API_PORT, PARLEY_WEBSOCKET_PORT, PARLEY_PUSHER_PORT,
PARLEY_DYNAMODB_PORT and PARLEY_DEMO_PORT; PARLEY_REALTIME_PROVIDERS picks the
providers (default: pusher,websocket,polling).
"""
from __future__ import annotations

import argparse
import ctypes
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
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TABLE = "parley-local"
READY = "PARLEY_READY"
WIDGET_BUNDLE = ROOT / "widget" / "dist" / "parley.js"
PUSHER_APP_ID = "4242"
PUSHER_KEY = "parley-local-key"
ENV_PORTS = {"api": "PARLEY_API_PORT", "websocket": "PARLEY_WEBSOCKET_PORT",
             "pusher": "PARLEY_PUSHER_PORT", "dynamodb": "PARLEY_DYNAMODB_PORT",
             "demo": "PARLEY_DEMO_PORT"}
DEFAULT_PORTS = {"api": 8000, "websocket": 8001, "pusher": 6001, "dynamodb": 5005, "demo": 8080}


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    websocket: int = 8001
    pusher: int = 6001
    dynamodb: int = 5005
    demo: int = 8080

    def named(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in DEFAULT_PORTS}


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


def app_environment(dynamodb_port: int, base: dict[str, str] | None = None,
                    ports: Ports | None = None) -> dict[str, str]:
    """The environment the app (chalice local, the WebSocket stand-in) runs with."""
    ports = ports or Ports(dynamodb=dynamodb_port)
    env = dict(os.environ if base is None else base)
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    env.update({
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://{HOST}:{dynamodb_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "PARLEY_TABLE": env.get("PARLEY_TABLE") or TABLE,
        "PYTHONUNBUFFERED": "1",
        # Where the stand-ins are: the same settings name Pusher and AWS in production.
        "PUSHER_APP_ID": PUSHER_APP_ID,
        "PUSHER_KEY": PUSHER_KEY,
        "PUSHER_HOST": HOST,
        "PUSHER_PORT": str(ports.pusher),
        "PUSHER_USE_TLS": "false",
        "PARLEY_WEBSOCKET_URL": f"ws://{HOST}:{ports.websocket}",
        # With the stage in the path, exactly as API Gateway's endpoint has it.
        "PARLEY_WEBSOCKET_ENDPOINT": f"http://{HOST}:{ports.websocket}/local",
    })
    # Fresh keys per run are fine: moto's data does not outlive the run either.
    env.setdefault("PARLEY_TOKEN_SECRET", secrets.token_urlsafe(48))
    env.setdefault("PUSHER_SECRET", secrets.token_urlsafe(24))
    env.setdefault("PARLEY_REALTIME_PROVIDERS", "pusher,websocket,polling")
    return env


def seed_demo_site(env: dict[str, str], demo_port: int) -> None:
    """Creates the table and the `demo` site (or brings it up to date)."""
    import boto3

    from chalicelib.bot import validate_knowledge
    from chalicelib.data import Data
    from chalicelib.models import Site
    from infra.table import create_table

    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
                          region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="local",
                          aws_secret_access_key="local")
    create_table(client, env["PARLEY_TABLE"])
    sites = Data(env["PARLEY_TABLE"], client=client).sites
    knowledge = validate_knowledge(json.loads((HERE / "demo-knowledge.json").read_text()))
    origins = sorted({"http://127.0.0.1:8080", "http://localhost:8080",
                      f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"})
    existing = sites.get("demo")
    sites.put(Site("demo", tuple(origins), name="Parley demo", bot={"engine": "knowledge", "knowledge": knowledge},
                   widget={"title": "Parley", "greeting": "Hi! Ask me anything about Parley."}),
              previous_origins=existing.origins if existing else ())


class DemoHandler(SimpleHTTPRequestHandler):
    """Serves the demo site: infra/local/demo/ with the API's URL filled in, and the widget bundle."""

    api_url = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(HERE / "demo"), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/":
            path = "/index.html"
        page_file = HERE / "demo" / path.lstrip("/")
        if path.endswith(".html") and page_file.is_file() and page_file.parent == HERE / "demo":
            page = page_file.read_text()
            page = page.replace("__PARLEY_API__", self.api_url).replace(
                "__PARLEY_WIDGET__", f"http://{self.headers.get('Host', HOST)}/parley.js")
            self._send(page.encode(), "text/html; charset=utf-8")
        elif path == "/parley.js":
            bundle = WIDGET_BUNDLE
            if not bundle.exists():
                self.send_error(404, "widget/dist/parley.js is not built: run `make dev` (or npm run build in widget/)")
                return
            self._send(bundle.read_bytes(), "text/javascript; charset=utf-8")
        else:
            super().do_GET()

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


class Stack:
    """The local services, each a child process that can be stopped and started alone.

    The e2e fault tests stop the Pusher or WebSocket stand-in mid-conversation
    and start it again; `make dev` just starts them all.
    """

    def __init__(self, ports: Ports, quiet: bool = False, env: dict[str, str] | None = None) -> None:
        self.ports = ports
        self.quiet = quiet
        self.env = app_environment(ports.dynamodb, base=env, ports=ports)
        self.procs: dict[str, subprocess.Popen] = {}
        self.demo: ThreadingHTTPServer | None = None

    def command(self, name: str) -> list[str]:
        py, p = sys.executable, self.ports
        return {
            "dynamodb": [py, "-m", "infra.local.dynamodb", "--host", HOST, "--port", str(p.dynamodb)],
            "pusher": [py, "-m", "infra.local.pusher_server", "--host", HOST, "--port", str(p.pusher),
                       "--app-id", self.env["PUSHER_APP_ID"], "--key", self.env["PUSHER_KEY"],
                       "--secret", self.env["PUSHER_SECRET"]],
            "websocket": [py, "-m", "infra.local.apigw_ws", "--host", HOST, "--port", str(p.websocket),
                          "--app", "app:app", "--stage", "local"],
            # --no-autoreload: the reloader forks a worker that outlives its parent.
            "api": [py, "-m", "infra.local.chalice_local", "--no-autoreload", "--stage", "local",
                    "--host", HOST, "--port", str(p.api)],
        }[name]

    def start_service(self, name: str, *extra_args: str) -> None:
        out = subprocess.DEVNULL if self.quiet else None
        proc = subprocess.Popen(self.command(name) + list(extra_args), cwd=ROOT, env=self.env,
                                stdout=out, stderr=out, preexec_fn=_die_with_parent)
        self.procs[name] = proc
        wait_for_port(getattr(self.ports, name), 60, proc)

    def stop_service(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc)

    def start(self) -> None:
        self.start_service("dynamodb")
        seed_demo_site(self.env, self.ports.demo)
        self.start_service("pusher")
        self.start_service("websocket")
        self.start_service("api")
        self._wait_for_api()
        DemoHandler.api_url = f"http://{HOST}:{self.ports.api}"
        self.demo = ThreadingHTTPServer((HOST, self.ports.demo), DemoHandler)
        threading.Thread(target=self.demo.serve_forever, daemon=True).start()

    def _wait_for_api(self) -> None:
        url = f"http://{HOST}:{self.ports.api}/api/chatbot/config?site_key=demo"
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
            self.demo.server_close()
            self.demo = None
        # The API first and the database last, so no request finds its store gone.
        for name in ("api", "websocket", "pusher", "dynamodb"):
            self.stop_service(name)

    def watch(self) -> int:
        """Blocks until a child dies (then reports it) or we are told to stop."""
        while True:
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    # Ctrl-C reaches the children and us at once, and a child may
                    # be gone before our own KeyboardInterrupt is raised: give it
                    # the moment to arrive, so a stop is not reported as a crash.
                    time.sleep(0.5)
                    print(f"devstack: {name} exited with {proc.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=int(os.environ.get(ENV_PORTS[name]) or default))
    parser.add_argument("--quiet", action="store_true", help="hide the servers' request logs")
    args = parser.parse_args(argv)
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS})
    require_free(ports.named())
    stack = Stack(ports, quiet=args.quiet)
    # SIGTERM (from a test fixture or a supervisor) stops like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        e = stack.env
        print(f"""
Parley local stack is up:
  demo page    http://{HOST}:{ports.demo}/
  HTTP API     http://{HOST}:{ports.api}/api/chatbot/config?site_key=demo
  WebSocket    ws://{HOST}:{ports.websocket}  (API Gateway stand-in; @connections on the same port)
  Pusher       ws://{HOST}:{ports.pusher}/app/{e['PUSHER_KEY']}  (app id {e['PUSHER_APP_ID']})
  DynamoDB     http://{HOST}:{ports.dynamodb}  (table {e['PARLEY_TABLE']})
  providers    {e['PARLEY_REALTIME_PROVIDERS']}
Press Ctrl-C to stop.
{READY} api=http://{HOST}:{ports.api} demo=http://{HOST}:{ports.demo}""", flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("Parley local stack stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
