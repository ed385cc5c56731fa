"""Cold start: a fresh process that imports app.py and answers its first init, against the floor.

    python -m bench.cold_start [--runs 9] [--warmup 1] [--bytecode warm|inherit]

ours   a fresh ``python -c`` that imports ``app`` and calls ``app.app(event, context)``
       with a hand-built API Gateway proxy event for ``POST /api/chatbot/init``
       (no chalice.test.Client: it adds its own cost), and checks the 201.
floor  a fresh ``python -c`` that imports boto3, makes a DynamoDB client and does
       one GetItem on the same table.

Both run against one moto DynamoDB server started here (table created, demo site
seeded), interleaved, N times each; figures are medians. Times are taken inside
the child with ``time.perf_counter()`` and, around it, by the parent. On Linux
perf_counter is CLOCK_MONOTONIC, one clock for every process, so the parent's
spawn instant and the child's readings can be subtracted: that gives the
interpreter's own start-up (spawn -> first line of the code) too.

Bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1 and app code has no
__pycache__, so by default (``--bytecode warm``) children write and read .pyc in
a temporary PYTHONPYCACHEPREFIX, filled by the warm-up runs; both sides then
load cached bytecode. ``--bytecode inherit`` keeps the environment as it is
(app.py and chalicelib compiled from source on every start, as in a Lambda
package shipped without .pyc).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from . import common

TARGET_RATIO = 1.5
MARK = "BENCH_RESULT "
ROUTE = "/api/chatbot/init"


def _event() -> dict[str, Any]:
    """An API Gateway (REST, proxy) event as Lambda hands it to Chalice for ``POST init``."""
    headers = {"Origin": common.ORIGIN, "Content-Type": "application/json",
               "Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "parley-bench"}
    return {
        "resource": ROUTE,
        "path": ROUTE,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": ROUTE, "httpMethod": "POST", "path": f"/api{ROUTE}",
            "stage": "api", "requestId": "bench-cold-start", "accountId": "123456789012",
            "apiId": "abc123", "protocol": "HTTP/1.1", "requestTimeEpoch": 0,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "parley-bench"},
        },
        "body": json.dumps({"site_key": common.SITE_KEY}),
        "isBase64Encoded": False,
    }


# The first statement reads the clock, so everything after it is "our" time.
_OURS = """\
import time
_t0 = time.perf_counter()
import app
_t_import = time.perf_counter()


class _Context:
    function_name = "parley-dev"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parley-dev"
    memory_limit_in_mb = "512"
    aws_request_id = "bench-cold-start"
    log_group_name = "/aws/lambda/parley-dev"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 15000


_resp = app.app({event!r}, _Context())
_t1 = time.perf_counter()
import json, sys
if _resp.get("statusCode") != 201 or "token" not in json.loads(_resp.get("body") or "{{}}"):
    sys.stderr.write("init answered %r\\n" % (_resp,))
    sys.exit(3)
print({mark!r} + json.dumps({{"t0": _t0, "t_import": _t_import, "t1": _t1}}), flush=True)
"""

_FLOOR = """\
import time
_t0 = time.perf_counter()
import boto3
_t_import = time.perf_counter()
_item = boto3.client("dynamodb").get_item(
    TableName={table!r}, Key={{"PK": {{"S": "SITE#{site}"}}, "SK": {{"S": "META"}}}}).get("Item")
_t1 = time.perf_counter()
import json, sys
if not _item:
    sys.stderr.write("GetItem found no site item\\n")
    sys.exit(3)
print({mark!r} + json.dumps({{"t0": _t0, "t_import": _t_import, "t1": _t1}}), flush=True)
"""


def _codes(env: dict[str, str]) -> dict[str, str]:
    return {
        "ours": _OURS.format(event=_event(), mark=MARK),
        "floor": _FLOOR.format(table=env["PARLEY_TABLE"], site=common.SITE_KEY, mark=MARK),
    }


def _run_once(kind: str, code: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh process; its phases in seconds, from the parent's spawn instant."""
    spawn = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=common.ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - spawn
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"cold start ({kind}) failed with exit {proc.returncode}:\n"
                           f"{proc.stderr.strip()[-3000:]}\n{proc.stdout.strip()[-1000:]}")
    t = json.loads(lines[-1][len(MARK):])
    return {
        "interpreter_start": t["t0"] - spawn,
        "import": t["t_import"] - t["t0"],
        "first_request": t["t1"] - t["t_import"],
        "in_process": t["t1"] - t["t0"],
        "spawn_to_answer": t["t1"] - spawn,
        "process_wall": wall,
    }


def import_times(code: str, env: dict[str, str], top: int = 10) -> dict[str, Any]:
    """The heaviest imports (cumulative) of one run under ``python -X importtime``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=common.ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"-X importtime run failed with exit {proc.returncode}:\n{proc.stderr[-3000:]}")
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append({"module": m.group(4), "self_us": int(m.group(1)),
                         "cumulative_us": int(m.group(2)), "depth": len(m.group(3)) // 2})
    total = sum(r["cumulative_us"] for r in rows if r["depth"] == 0)
    # importtime lines come in the order imports finish: top-level ones after `app` ran
    # during the first request (the lazy imports: boto3, the bot engine, ...).
    app_at = next((i for i, r in enumerate(rows) if r["depth"] == 0 and r["module"] == "app"), len(rows))
    lazy = [r for r in rows[app_at + 1:] if r["depth"] == 0]
    heaviest = sorted(rows, key=lambda r: r["cumulative_us"], reverse=True)[:top]
    return {
        "top": [{**r, "share_of_all_imports": round(r["cumulative_us"] / total, 3) if total else None}
                for r in heaviest],
        "all_imports_us": total,
        "import_app_us": rows[app_at]["cumulative_us"] if app_at < len(rows) else None,
        "during_first_request_us": sum(r["cumulative_us"] for r in lazy),
        "during_first_request": [{"module": r["module"], "cumulative_us": r["cumulative_us"]}
                                 for r in sorted(lazy, key=lambda r: r["cumulative_us"], reverse=True)[:5]],
    }


PHASES = [
    ("interpreter_start", "interpreter start (spawn -> first line)"),
    ("import", "import (app | boto3)"),
    ("first_request", "first request (init | client + GetItem)"),
    ("in_process", "in-process: first line -> answer"),
    ("spawn_to_answer", "spawn -> answer"),
    ("process_wall", "whole process wall (parent)"),
]
JUDGED = ("in_process", "spawn_to_answer", "process_wall")


def run(runs: int = 9, warmup: int = 1, bytecode: str = "warm") -> dict[str, Any]:
    cross_clock = time.get_clock_info("perf_counter").implementation.endswith("CLOCK_MONOTONIC)")
    pyc_dir = tempfile.mkdtemp(prefix="parley-bench-pyc-") if bytecode == "warm" else None
    samples: dict[str, list[dict[str, float]]] = {"ours": [], "floor": []}
    try:
        with common.moto_dynamodb() as (env, port):
            env = dict(env)
            if pyc_dir:
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = pyc_dir
            codes = _codes(env)
            for _ in range(warmup):
                for kind in ("ours", "floor"):
                    _run_once(kind, codes[kind], env)
            for i in range(runs):
                # Interleaved (and alternating who goes first) so drift hits both alike.
                order = ("ours", "floor") if i % 2 == 0 else ("floor", "ours")
                for kind in order:
                    samples[kind].append(_run_once(kind, codes[kind], env))
            imports = import_times(codes["ours"], env)
    finally:
        if pyc_dir:
            shutil.rmtree(pyc_dir, ignore_errors=True)

    medians = {kind: {k: statistics.median(s[k] for s in rows) for k, _ in PHASES}
               for kind, rows in samples.items()}
    ratios = {k: medians["ours"][k] / medians["floor"][k] for k, _ in PHASES if medians["floor"][k] > 0}
    return {
        "params": {"runs": runs, "warmup": warmup, "bytecode": bytecode,
                   "shared_monotonic_clock": cross_clock},
        "target_ratio": TARGET_RATIO,
        "medians_ms": {kind: {k: common.ms(v) for k, v in m.items()} for kind, m in medians.items()},
        "ratio_ours_over_floor": {k: round(v, 3) for k, v in ratios.items()},
        "target_met": {k: ratios[k] <= TARGET_RATIO for k in JUDGED if k in ratios},
        "samples_ms": {kind: [{k: common.ms(v) for k, v in s.items()} for s in rows]
                       for kind, rows in samples.items()},
        "ours_imports": imports,
    }


def report(result: dict[str, Any]) -> None:
    p = result["params"]
    m, r = result["medians_ms"], result["ratio_ours_over_floor"]
    print(f"runs: {p['runs']} fresh processes each (+{p['warmup']} warm-up each, not counted), "
          f"interleaved; bytecode: {p['bytecode']}; medians in ms")
    if not p["shared_monotonic_clock"]:
        print("note: perf_counter is not CLOCK_MONOTONIC here, so spawn-relative rows are not comparable")
    rows = []
    for key, label in PHASES:
        verdict = ""
        if key in result["target_met"]:
            verdict = "met" if result["target_met"][key] else "NOT met"
        rows.append([label, f"{m['ours'][key]:.1f}", f"{m['floor'][key]:.1f}",
                     f"{r.get(key, float('nan')):.2f}x", verdict])
    print(common.table(["phase", "ours", "floor", "ours/floor",
                        f"target <= {result['target_ratio']}x"], rows, right=(1, 2, 3)))
    imports = result["ours_imports"]
    print("\nheaviest imports of `ours` (python -X importtime, one extra run, cumulative; "
          "importtime itself inflates them):")
    imp_rows = []
    for row in imports["top"]:
        imp_rows.append([f"{row['cumulative_us'] / 1000:.1f}", f"{row['self_us'] / 1000:.1f}",
                         f"{row['share_of_all_imports']:.0%}", "  " * row["depth"] + row["module"]])
    print(common.table(["cumul ms", "self ms", "share", "module (indent = nesting)"],
                       imp_rows, right=(0, 1, 2)))
    lazy = ", ".join(f"{r['module']} {r['cumulative_us'] / 1000:.1f}" for r in imports["during_first_request"])
    print(f"all imports: {imports['all_imports_us'] / 1000:.1f} ms; `import app` "
          f"{(imports['import_app_us'] or 0) / 1000:.1f} ms; imported lazily during the first request "
          f"{imports['during_first_request_us'] / 1000:.1f} ms ({lazy})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per side (default 9)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs per side first (default 1)")
    parser.add_argument("--bytecode", choices=("warm", "inherit"), default="warm",
                        help="warm: cached .pyc in a temp prefix (default); inherit: the environment as is")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    common.heading("cold start: ours (import app + first init) vs floor (boto3 + one GetItem)")
    result = run(args.runs, max(0, args.warmup), args.bytecode)
    report(result)
    print(f"\nresults: {common.write_results('cold_start', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
