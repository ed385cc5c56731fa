"""What every bench shares: free ports, a moto DynamoDB server, figures, tables, results."""
from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import statistics

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from infra.local import devstack, ports

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
HOST = devstack.HOST
ORIGIN = "http://127.0.0.1:8080"  # seed_demo_site always lists it for the `demo` site
SITE_KEY = "demo"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports below the ephemeral range (never a default one; infra/local/ports.py)."""
    return ports.free_ports(n)


def free_port() -> int:
    return free_ports(1)[0]


@contextlib.contextmanager
def moto_dynamodb() -> Iterator[tuple[dict[str, str], int]]:
    """The local DynamoDB (infra/local/dynamodb.py) on a free port, table created, demo seeded.

    Yields the app's environment (devstack.app_environment) and the port; the
    server is stopped on the way out, whatever happened.
    """
    port, demo_port = free_ports(2)
    env = devstack.app_environment(port)
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.dynamodb", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=devstack._die_with_parent)
    try:
        devstack.wait_for_port(port, 30, proc)
        # demo_port only adds more allowed origins; the bench serves no demo page.
        devstack.seed_demo_site(env, demo_port)
        yield env, port
    finally:
        devstack.stop_process(proc)


def machine() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def summary(values_s: Sequence[float]) -> dict[str, Any]:
    """Latencies given in seconds, summed up in ms: n, mean, p50, p95, p99, min, max ({"n": 0} if none)."""
    if not values_s:
        return {"n": 0}
    return {"n": len(values_s), "mean": ms(statistics.fmean(values_s)),
            "p50": ms(percentile(values_s, 50)), "p95": ms(percentile(values_s, 95)),
            "p99": ms(percentile(values_s, 99)), "min": ms(min(values_s)), "max": ms(max(values_s))}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain-text table; columns listed in ``right`` are right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"bench": name, "machine": machine(), **data}, indent=2) + "\n")
    return path


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
