"""The whole local stack on 127.0.0.1: what `make dev` runs.

    python -m infra.local.devstack [--api-port 8000] [--websocket-port 8001] [--pusher-port 6001]
                                   [--dynamodb-port 5005] [--demo-port 8080] [--console-port 8090]
                                   [--bedrock-port 5006] [--quiet]

Starts DynamoDB (moto, serialized) and creates the table and the reply queue
(SQS, on the same moto server) from infra/table.json, seeds the `demo` site
(the offline knowledge bot) and the `demo-llm` site (the Bedrock engine, on
the same knowledge), creates the Cognito user pool on the same moto server
(an app client and the demo agent, an admin of `demo`: infra/local/cognito.py),
starts the Pusher-protocol stand-in, the API Gateway WebSocket stand-in
(which runs app.py's on_ws_* handlers), the Bedrock Runtime stand-in
(infra/local/bedrock_runtime.py) and the SQS event source stand-in
(infra/local/sqs_events.py, which runs app.py's on_sqs_message handler: the
reply worker, with the same environment as the HTTP API), runs `chalice
local` for the HTTP API, serves the demo page (``/`` for `demo`,
``/?site=demo-llm`` for `demo-llm`) and the agent console (console/dist with a
generated config.json). The app reaches each through ordinary settings
(AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS with PARLEY_REPLY_QUEUE_URL,
AWS_ENDPOINT_URL_BEDROCK_RUNTIME, PUSHER_HOST and PUSHER_PORT,
PARLEY_WEBSOCKET_ENDPOINT, PARLEY_COGNITO_*), exactly as it reaches AWS and
Pusher in production. Ctrl-C (or SIGTERM) stops everything it started. Ports
also come from PARLEY_API_PORT, PARLEY_WEBSOCKET_PORT, PARLEY_PUSHER_PORT,
PARLEY_DYNAMODB_PORT, PARLEY_DEMO_PORT, PARLEY_CONSOLE_PORT and
PARLEY_BEDROCK_PORT (0: any free port); PARLEY_REALTIME_PROVIDERS picks the
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
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from pathlib import Path
from typing import Any

from infra.local.cognito import LocalPool, create_local_pool
from infra.local.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TABLE = "parley-local"
READY = "PARLEY_READY"
WIDGET_DIST = ROOT / "widget" / "dist"
# parley.js is what a page loads; it fetches the other two from beside itself when needed.
WIDGET_BUNDLES = ("parley.js", "parley-app.js", "parley-pusher.js")
CONSOLE_DIST = ROOT / "console" / "dist"
CONSOLE_BUILD_HINT = "run `make dev` (or: cd console && npm ci && npm run build)"
PUSHER_APP_ID = "4242"
PUSHER_KEY = "parley-local-key"
ENV_PORTS = {"api": "PARLEY_API_PORT", "websocket": "PARLEY_WEBSOCKET_PORT",
             "pusher": "PARLEY_PUSHER_PORT", "dynamodb": "PARLEY_DYNAMODB_PORT",
             "demo": "PARLEY_DEMO_PORT", "console": "PARLEY_CONSOLE_PORT", "bedrock": "PARLEY_BEDROCK_PORT"}
RESTARTS_PER_WINDOW = 3
RESTART_WINDOW_SECONDS = 60.0
DEFAULT_PORTS = {"api": 8000, "websocket": 8001, "pusher": 6001, "dynamodb": 5005, "demo": 8080,
                 "console": 8090, "bedrock": 5006}
# The demo sites: the offline knowledge bot, and the Bedrock engine (on the stand-in) on the same knowledge.
DEMO_SITES = ("demo", "demo-llm")
DEMO_LLM_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MAIL_FROM = "Parley <notifications@parley.localhost>"
# Services with no port of their own: ready once they have written their ready file.
PORTLESS = ("replies",)


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    websocket: int = 8001
    pusher: int = 6001
    dynamodb: int = 5005
    demo: int = 8080
    # 0: any free port (what a program that builds its own Stack gets unless it asks);
    # `make dev` asks for 8090. Stack.console_port is the port it got.
    console: int = 0
    # The Bedrock Runtime stand-in. 0: a free one, chosen when the Stack is made (make dev asks for 5006).
    bedrock: int = 0

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
        if not port:
            continue  # any free port will do
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
    """The environment the app (chalice local, the WebSocket stand-in, the reply worker) runs with.

    PARLEY_REPLY_QUEUE_URL and PARLEY_JOB_QUEUE_URL are added once the queues exist (``seed_queues``).
    """
    ports = ports or Ports(dynamodb=dynamodb_port)
    env = dict(os.environ if base is None else base)
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    env.update({
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://{HOST}:{dynamodb_port}",
        # The reply and job queues are on the same moto server, and so is SES (the local mailbox:
        # http://127.0.0.1:5005/_parley/mailbox, infra/local/mailbox.py).
        "AWS_ENDPOINT_URL_SQS": f"http://{HOST}:{dynamodb_port}",
        "AWS_ENDPOINT_URL_SESV2": f"http://{HOST}:{dynamodb_port}",
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
    if ports.bedrock:
        env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = f"http://{HOST}:{ports.bedrock}"
    # Fresh keys unless the caller gives them (make dev gives its own, kept across runs: local_secrets).
    env.setdefault("PARLEY_TOKEN_SECRET", secrets.token_urlsafe(48))
    env.setdefault("PUSHER_SECRET", secrets.token_urlsafe(24))
    env.setdefault("PARLEY_REALTIME_PROVIDERS", "pusher,websocket,polling")
    # Team notifications and transcripts come from this address (verified on moto's SES by
    # seed_queues); they link into the console this stack serves (PARLEY_CONSOLE_URL, set with it).
    env.setdefault("PARLEY_MAIL_FROM", MAIL_FROM)
    # The local stage alone may send webhooks to http:// and loopback receivers (its own tests').
    env.setdefault("PARLEY_WEBHOOK_ALLOW_LOOPBACK", "true")
    # A site changed with the site CLI (a webhook added, desk settings) takes effect within 2 s
    # here, not a warm Lambda's 30 s: someone trying it out locally expects it at once.
    env.setdefault("PARLEY_SITE_CACHE_SECONDS", "2")
    return env


def _dynamodb(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
                        region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="local",
                        aws_secret_access_key="local")


def seed_demo_site(env: dict[str, str], demo_port: int) -> None:
    """Creates the table and the demo sites (or brings them up to date): `demo` answers with the
    offline knowledge bot, `demo-llm` with the Bedrock engine (the stand-in), from the same knowledge."""
    from chalicelib.bot import validate_knowledge
    from chalicelib.data import Data
    from chalicelib.models import Site
    from infra.table import create_table

    client = _dynamodb(env)
    create_table(client, env["PARLEY_TABLE"])
    sites = Data(env["PARLEY_TABLE"], client=client).sites
    knowledge = validate_knowledge(json.loads((HERE / "demo-knowledge.json").read_text()))
    origins = tuple(sorted({"http://127.0.0.1:8080", "http://localhost:8080",
                            f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"}))
    for site in (Site("demo", origins, name="Parley demo", bot={"engine": "knowledge", "knowledge": knowledge},
                      widget={"title": "Parley", "greeting": "Hi! Ask me anything about Parley."}),
                 Site("demo-llm", origins, name="Parley demo (LLM)", bot=llm_bot_settings(knowledge),
                      widget={"title": "Parley (LLM)", "greeting": "Hi! I'm an LLM bot: ask me about Parley."})):
        existing = sites.get(site.site_key)
        sites.put(site, previous_origins=existing.origins if existing else ())


def llm_bot_settings(knowledge: dict[str, Any]) -> dict[str, Any]:
    """`demo-llm`'s bot: the Bedrock engine on the demo's knowledge (the stand-in answers from it)."""
    from chalicelib.bot import validate_bot_settings

    return validate_bot_settings({"engine": "bedrock", "knowledge": knowledge, "bedrock": {
        "model_id": DEMO_LLM_MODEL,
        "instructions": ("You are the assistant of Parley, a chat widget for static websites. Answer "
                         "from the knowledge entries only, briefly; when they do not hold the answer, "
                         "say so and offer a person.")}})


def seed_queues(env: dict[str, str]) -> str:
    """Creates the reply queue and the job queue (each with its dead-letter queue) on the moto server,
    adds their URLs to ``env``, and verifies the mail sender on moto's SES. Returns the reply queue's URL."""
    import boto3

    from infra.local.mailbox import verify_sender
    from infra.table import create_job_queue, create_reply_queue

    local = dict(region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="local", aws_secret_access_key="local")
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL_SQS"], **local)
    env["PARLEY_REPLY_QUEUE_URL"] = create_reply_queue(sqs, env["PARLEY_TABLE"])
    env["PARLEY_JOB_QUEUE_URL"] = create_job_queue(sqs, env["PARLEY_TABLE"])
    if env.get("PARLEY_MAIL_FROM"):
        sender = env["PARLEY_MAIL_FROM"].rsplit("<", 1)[-1].rstrip(">").strip()
        verify_sender(boto3.client("sesv2", endpoint_url=env["AWS_ENDPOINT_URL_SESV2"], **local), sender)
    return env["PARLEY_REPLY_QUEUE_URL"]


def seed_cognito(env: dict[str, str]) -> LocalPool:
    """Creates the user pool, the console's app client and the demo agent, an admin of `demo`.

    The pool is moto's cognito-idp on the DynamoDB stand-in's server (the seed
    runs after seed_demo_site, so the table exists). Adds the pool's settings to ``env``.
    """
    from chalicelib.data import Data
    from chalicelib.models import Member

    pool = create_local_pool(env["AWS_ENDPOINT_URL_DYNAMODB"], region=env["AWS_DEFAULT_REGION"])
    # `demo` only: with a second site the console opens on its site picker, not on the inbox.
    Data(env["PARLEY_TABLE"], client=_dynamodb(env)).agents.put_member(
        Member(agent_id=pool.agent_id, site_key="demo", role="admin", name=pool.agent_name,
               email=pool.agent_email))
    env.update(pool.settings())
    # What the site CLI (and any boto3 call in the app) uses for Cognito, like DynamoDB's.
    env["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"] = env["AWS_ENDPOINT_URL_DYNAMODB"]
    return pool


def console_origins(port: int, base: str | None = None) -> str:
    """PARLEY_CONSOLE_ORIGINS for a console on ``port``, plus any the environment already lists."""
    origins = [o.strip() for o in (base or "").split(",") if o.strip()]
    for origin in (f"http://{HOST}:{port}", f"http://localhost:{port}"):
        if origin not in origins:
            origins.append(origin)
    return ",".join(origins)


def console_config(api_url: str, pool: LocalPool) -> dict[str, Any]:
    """The console's config.json (docs/agent-api.md, "Console configuration")."""
    return {"api": api_url, "cognito": {"endpoint": pool.endpoint, "region": pool.region,
                                        "client_id": pool.client_id}}


class ConsoleHandler(SimpleHTTPRequestHandler):
    """Serves the agent console: console/dist as built, and config.json made for this stack."""

    dist = CONSOLE_DIST
    config = b"{}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(self.dist), **kwargs)

    @classmethod
    def serving(cls, config: dict[str, Any], dist: Path = CONSOLE_DIST) -> type["ConsoleHandler"]:
        """A handler class of its own for one server (two stacks in one process do not share one)."""
        return type("ConsoleHandler", (cls,), {"config": json.dumps(config, indent=2).encode(), "dist": dist})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
        elif not (self.dist / "index.html").is_file():
            self.send_error(503, f"console/dist is not built: {CONSOLE_BUILD_HINT}")
        else:
            super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


class DemoHandler(SimpleHTTPRequestHandler):
    """Serves the demo site: infra/local/demo/ with the API's URL filled in, and the widget bundle."""

    api_url = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(HERE / "demo"), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        if path == "/":
            path = "/index.html"
        page_file = HERE / "demo" / path.lstrip("/")
        if path.endswith(".html") and page_file.is_file() and page_file.parent == HERE / "demo":
            page = page_file.read_text()
            page = page.replace("__PARLEY_API__", self.api_url).replace(
                "__PARLEY_WIDGET__", f"http://{self.headers.get('Host', HOST)}/parley.js")
            # ?site=demo-llm: the same page for the other demo site (the LLM bot).
            site = parse_qs(query).get("site", ["demo"])[0]
            if site in DEMO_SITES:
                page = page.replace('data-site-key="demo"', f'data-site-key="{site}"')
            self._send(page.encode(), "text/html; charset=utf-8")
        elif path.lstrip("/") in WIDGET_BUNDLES:
            bundle = WIDGET_DIST / path.lstrip("/")
            if not bundle.exists():
                self.send_error(404, f"widget/dist{path} is not built: run `make dev` (or npm run build in widget/)")
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
        if not ports.bedrock:
            ports = replace(ports, bedrock=free_port())
        self.ports = ports
        self.quiet = quiet
        self.env = app_environment(ports.dynamodb, base=env, ports=ports)
        self.procs: dict[str, subprocess.Popen] = {}
        self.demo: ThreadingHTTPServer | None = None
        self.console: ThreadingHTTPServer | None = None
        self.cognito: LocalPool | None = None
        self._console_handler: type[ConsoleHandler] | None = None

    @property
    def console_port(self) -> int:
        """The console's port: Ports.console, or the free one it got when that was 0."""
        return self.console.server_address[1] if self.console is not None else self.ports.console

    def command(self, name: str) -> list[str]:
        py, p = sys.executable, self.ports
        return {
            "dynamodb": [py, "-m", "infra.local.dynamodb", "--host", HOST, "--port", str(p.dynamodb)],
            # The secret reaches it as PUSHER_SECRET in its environment, never on a command line
            # (which every user of the machine can read in ps).
            "pusher": [py, "-m", "infra.local.pusher_server", "--host", HOST, "--port", str(p.pusher),
                       "--app-id", self.env["PUSHER_APP_ID"], "--key", self.env["PUSHER_KEY"]],
            "websocket": [py, "-m", "infra.local.apigw_ws", "--host", HOST, "--port", str(p.websocket),
                          "--app", "app:app", "--stage", "local"],
            # --no-autoreload: the reloader forks a worker that outlives its parent.
            "api": [py, "-m", "infra.local.chalice_local", "--no-autoreload", "--stage", "local",
                    "--host", HOST, "--port", str(p.api)],
            "bedrock": [py, "-m", "infra.local.bedrock_runtime", "--host", HOST, "--port", str(p.bedrock)],
            # The reply worker: app.py's on_sqs_message handler, as Lambda's event source runs it.
            "replies": [py, "-m", "infra.local.sqs_events", "--app", "app:app",
                        "--ready-file", str(self._ready_file("replies"))],
        }[name]

    def _ready_file(self, name: str) -> Path:
        return Path(tempfile.gettempdir()) / f"parley-{name}-{os.getpid()}-{id(self)}.ready"

    def start_service(self, name: str, *extra_args: str, wait: bool = True) -> None:
        out = subprocess.DEVNULL if self.quiet else None
        if name in PORTLESS:
            self._ready_file(name).unlink(missing_ok=True)
        proc = subprocess.Popen(self.command(name) + list(extra_args), cwd=ROOT, env=self.env,
                                stdout=out, stderr=out, preexec_fn=_die_with_parent)
        self.procs[name] = proc
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        """Until the service listens (or, with no port, has written its ready file)."""
        proc = self.procs[name]
        if name not in PORTLESS:
            wait_for_port(getattr(self.ports, name), timeout, proc)
            return
        ready, deadline = self._ready_file(name), time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready after {timeout}s")
            time.sleep(0.05)

    def stop_service(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc)

    def start(self) -> None:
        self.start_service("dynamodb")
        seed_demo_site(self.env, self.ports.demo)
        seed_queues(self.env)
        self.cognito = seed_cognito(self.env)
        # The console is served before the app starts: its origins are the app's settings.
        self._console_handler = ConsoleHandler.serving(console_config(f"http://{HOST}:{self.ports.api}",
                                                                      self.cognito))
        self.console = ThreadingHTTPServer((HOST, self.ports.console), self._console_handler)
        threading.Thread(target=self.console.serve_forever, daemon=True).start()
        self.env["PARLEY_CONSOLE_ORIGINS"] = console_origins(self.console_port,
                                                             self.env.get("PARLEY_CONSOLE_ORIGINS"))
        self.env.setdefault("PARLEY_CONSOLE_URL", f"http://{HOST}:{self.console_port}/")
        self.start_service("pusher")
        self.start_service("bedrock")
        # The worker imports the app while the next two start; it is waited for last.
        self.start_service("replies", wait=False)
        self.start_service("websocket")
        self.start_service("api")
        self._wait_for_api()
        self.wait_ready("replies")
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
        for server in (self.demo, self.console):
            if server is not None:
                server.shutdown()
                server.server_close()
        self.demo = self.console = None
        # The API first and the database last, so no request finds its store gone.
        for name in ("api", "replies", "websocket", "pusher", "bedrock", "dynamodb"):
            self.stop_service(name)
        self._ready_file("replies").unlink(missing_ok=True)

    def watch(self, restarts: int = RESTARTS_PER_WINDOW, window: float = RESTART_WINDOW_SECONDS) -> int:
        """Blocks until told to stop, restarting a child that dies (and saying so).

        A service that dies more than ``restarts`` times in ``window`` seconds is
        broken, not unlucky: the stack then stops with an error instead of looping.
        DynamoDB comes back empty (moto keeps nothing), so the table, the demo site
        and the demo agent are made again, and the app is restarted on the new pool.
        """
        deaths: dict[str, list[float]] = {}
        while True:
            for name, proc in list(self.procs.items()):
                if proc.poll() is None:
                    continue
                # Ctrl-C reaches the children and us at once, and a child may
                # be gone before our own KeyboardInterrupt is raised: give it
                # the moment to arrive, so a stop is not reported as a crash.
                time.sleep(0.5)
                now = time.monotonic()
                recent = [t for t in deaths.get(name, []) if now - t < window] + [now]
                deaths[name] = recent
                print(f"devstack: {name} exited with {proc.returncode}", file=sys.stderr, flush=True)
                if len(recent) > restarts:
                    print(f"devstack: {name} died {len(recent)} times in {window:.0f} s; stopping", file=sys.stderr)
                    return 1
                try:
                    self.restart(name)
                except Exception as exc:  # noqa: BLE001 - report and stop, rather than half run
                    print(f"devstack: could not restart {name}: {exc}", file=sys.stderr)
                    return 1
            time.sleep(0.5)

    def restart(self, name: str) -> None:
        """Starts a service that died again; the others keep running."""
        self.procs.pop(name, None)
        self.start_service(name)
        if name != "dynamodb":
            print(f"devstack: {name} restarted", file=sys.stderr, flush=True)
            return
        seed_demo_site(self.env, self.ports.demo)
        seed_queues(self.env)
        self.cognito = seed_cognito(self.env)
        self._console_handler.config = json.dumps(
            console_config(f"http://{HOST}:{self.ports.api}", self.cognito), indent=2).encode()
        for dependent in ("websocket", "replies", "api"):  # they read the new pool's settings at start
            self.stop_service(dependent)
            self.start_service(dependent)
        self._wait_for_api()
        print("devstack: DynamoDB restarted EMPTY: its conversations, sites, agents and queued replies are "
              "gone. The demo sites, the reply queue and the demo agent are seeded again; the Cognito pool is new "
              f"(pool {self.cognito.pool_id}, app client {self.cognito.client_id}): sign in again.",
              file=sys.stderr, flush=True)


def local_secrets(path: Path | None = None) -> dict[str, str]:
    """The token and Pusher secrets of `make dev`, kept across runs in an ignored file.

    A visitor's stored token (the widget keeps it in localStorage) then still
    works after a restart. The file is made on first use, readable by its owner only.
    """
    path = path or Path(os.environ.get("PARLEY_LOCAL_SECRETS") or ROOT / ".dev" / "local-secrets.json")
    try:
        values = json.loads(path.read_text())
        if isinstance(values, dict) and all(isinstance(values.get(k), str) and values[k]
                                            for k in ("PARLEY_TOKEN_SECRET", "PUSHER_SECRET")):
            return {k: values[k] for k in ("PARLEY_TOKEN_SECRET", "PUSHER_SECRET")}
    except (OSError, ValueError):
        pass
    values = {"PARLEY_TOKEN_SECRET": secrets.token_urlsafe(48), "PUSHER_SECRET": secrets.token_urlsafe(24)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=int(os.environ.get(ENV_PORTS[name]) or default))
    parser.add_argument("--quiet", action="store_true", help="hide the servers' request logs")
    args = parser.parse_args(argv)
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS})
    require_free(ports.named())
    env = {**local_secrets(), **os.environ}  # a secret set in the environment wins
    stack = Stack(ports, quiet=args.quiet, env=env)
    # SIGTERM (from a test fixture or a supervisor) stops like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        e, pool, console = stack.env, stack.cognito, f"http://{HOST}:{stack.console_port}"
        assert pool is not None
        signin = (f"sign in as {pool.agent_email}, password {pool.agent_password}"
                  if (CONSOLE_DIST / "index.html").is_file() else f"console/dist is not built: {CONSOLE_BUILD_HINT}")
        print(f"""
Parley local stack is up:
  demo page    http://{HOST}:{ports.demo}/  (site demo: the offline knowledge bot, answers inline)
  LLM demo     http://{HOST}:{ports.demo}/?site=demo-llm  (site demo-llm: Bedrock stand-in, streamed)
  console      {console}/  ({signin})
  HTTP API     http://{HOST}:{ports.api}/api/chatbot/config?site_key=demo
  WebSocket    ws://{HOST}:{ports.websocket}  (API Gateway stand-in; @connections on the same port)
  Pusher       ws://{HOST}:{ports.pusher}/app/{e['PUSHER_KEY']}  (app id {e['PUSHER_APP_ID']})
  DynamoDB     http://{HOST}:{ports.dynamodb}  (table {e['PARLEY_TABLE']})
  SQS          {e['PARLEY_REPLY_QUEUE_URL']}, {e['PARLEY_JOB_QUEUE_URL']}  (moto; polled by the workers)
  mailbox      http://{HOST}:{ports.dynamodb}/_parley/mailbox  (mails the stack sent through moto's SES;
               or: python -m infra.local.mailbox --endpoint http://{HOST}:{ports.dynamodb})
  Bedrock      {e['AWS_ENDPOINT_URL_BEDROCK_RUNTIME']}  (stand-in: Converse, ConverseStream)
  Cognito      {pool.endpoint}  (moto cognito-idp; pool {pool.pool_id}, app client {pool.client_id})
  providers    {e['PARLEY_REALTIME_PROVIDERS']}
For the site CLI (python -m infra.sites invite demo --email ...):
  export PARLEY_TABLE={e['PARLEY_TABLE']} PARLEY_COGNITO_POOL_ID={pool.pool_id} \\
         AWS_ENDPOINT_URL_DYNAMODB={e['AWS_ENDPOINT_URL_DYNAMODB']} \\
         AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER={e['AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER']} \\
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={e['AWS_DEFAULT_REGION']} \\
         PARLEY_WEBHOOK_ALLOW_LOOPBACK=true  # webhook-add may then name a receiver on 127.0.0.1
Press Ctrl-C to stop.
{READY} api=http://{HOST}:{ports.api} demo=http://{HOST}:{ports.demo} console={console} \
bedrock={e['AWS_ENDPOINT_URL_BEDROCK_RUNTIME']} queue={e['PARLEY_REPLY_QUEUE_URL']} \
cognito={pool.endpoint} pool={pool.pool_id} client={pool.client_id}""", flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("Parley local stack stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
