"""The offline deploy harness: moto as every AWS endpoint, and a copy of the repository to deploy.

moto runs in server mode in this process (ThreadedMotoServer on a free
127.0.0.1 port, with the test fakes of ``shims`` installed first); the deploy
itself runs as a subprocess in the copy, so .chalice/config.json and
.chalice/deployed/ change there only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# What the deploy needs of the repository; never .venv, node_modules, widget/, tests/.
COPIED = ("app.py", "chalicelib", "infra", "requirements.txt")


def free_port() -> int:
    from infra.local.ports import free_port as below_the_ephemeral_range

    return below_the_ephemeral_range()


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on 127.0.0.1, shimmed; yields its URL."""
    from moto.server import ThreadedMotoServer

    from tests.e2e.deploy import shims

    shims.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def copy_repository(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    chalice = dest / ".chalice"
    chalice.mkdir()
    for src in (ROOT / ".chalice").glob("*.json"):  # config.json and the policy files only
        shutil.copy2(src, chalice / src.name)
    return dest


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """This process's environment with every AWS call pointed at moto, no profile, no Parley settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARLEY_", "PUSHER_", "AWS_")) and k != "PYTHONPATH"}
    env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


@dataclass
class Deployed:
    copy: Path
    endpoint: str
    outputs: list[str] = field(default_factory=list)


def run(command: list[str], copy: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    env = dict(env, PYTHONPATH=str(copy))
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n"
                             f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-8000:]}")
    return done


def deploy(copy: Path, endpoint: str, stage: str = "dev", timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m infra.deploy --stage <stage>` in the copy: `make deploy`'s own command."""
    return run([sys.executable, "-m", "infra.deploy", "--stage", stage], copy, aws_env(endpoint), timeout)


def chalice(args: list[str], copy: Path, endpoint: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """The venv's own `chalice` CLI in the copy, against moto."""
    return run([str(Path(sys.executable).with_name("chalice")), *args], copy, aws_env(endpoint), timeout)


# What the Lambda Python runtime ships besides the standard library (boto3 and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def runtime_libs(dest: Path) -> Path:
    """A directory holding only boto3, botocore and their dependencies (symlinks into this venv)."""
    import importlib

    dest.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        module = importlib.import_module(name)
        src = Path(module.__file__)
        src = src.parent if src.name == "__init__.py" else src
        (dest / src.name).symlink_to(src, target_is_directory=src.is_dir())
    return dest


class LambdaProcess:
    """A deployed zip's handler in a clean interpreter (lambda_runner.py), fed one event at a time."""

    def __init__(self, package: Path, libs: Path, handler: str, env: dict[str, str], timeout: float = 60):
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(HERE / "lambda_runner.py"), str(package), str(libs), handler],
            env=env, cwd=package, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.watchdog = threading.Timer(timeout, self.proc.kill)  # every read below is bounded by it
        self.watchdog.daemon = True
        self.watchdog.start()
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.kill()
            raise AssertionError(f"the handler process died:\n{self.proc.stderr.read()[-6000:]}")  # type: ignore[union-attr]
        found = json.loads(line)  # a handler may return None (an SQS handler does)
        if isinstance(found, dict) and "__error__" in found:
            raise AssertionError(f"the handler raised:\n{found['__error__']}")
        return found

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(event) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> str:
        self.watchdog.cancel()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def rest_event(method: str, resource: str, *, query: dict[str, str] | None = None, body: Any = None,
               headers: dict[str, str] | None = None, stage: str = "api") -> dict[str, Any]:
    """An API Gateway REST (Lambda proxy) event, as API Gateway sends it for ``resource``."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "e2e", **(headers or {})}
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return {
        "resource": resource, "path": resource, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None, "stageVariables": None, "body": body, "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/{stage}{resource}",
                           "stage": stage, "requestId": "e2e", "identity": {"sourceIp": "127.0.0.1"},
                           "accountId": "123456789012", "apiId": "abc123", "protocol": "HTTP/1.1"},
    }
