"""Runs every Parley benchmark in sequence and prints their figures.

    python -m bench.run [--runs 9] [--messages 200]

Each bench also runs alone (python -m bench.<name>) and writes
bench/results/<name>.json. A bench that fails is reported and the others still
run; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import abuse, agent_delivery, bot_eval, cold_start, common, ddb_calls, delivery, latency, package_size, streaming, widget_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="cold start: fresh processes per side")
    parser.add_argument("--messages", type=int, default=200, help="latency, delivery: measured messages")
    args = parser.parse_args(argv)

    m = common.machine()
    print(f"Parley benchmarks — {m['date']}")
    print(f"machine: nproc {m['nproc']} (cpu_count {m['cpu_count']}), {m['implementation']} {m['python']}, "
          f"{m['platform']}")

    benches = [
        ("cold_start", lambda: cold_start.main(["--runs", str(args.runs)])),
        ("ddb_calls", lambda: ddb_calls.main([])),
        ("latency", lambda: latency.main(["--messages", str(args.messages)])),
        ("delivery", lambda: delivery.main(["--messages", str(args.messages)])),
        ("agent_delivery", lambda: agent_delivery.main(["--messages", str(min(args.messages, 100))])),
        ("abuse", lambda: abuse.main([])),
        ("widget_size", lambda: widget_size.main([])),
        ("bot_eval", lambda: bot_eval.main([])),
        ("streaming", lambda: streaming.main([])),
        ("package_size", lambda: package_size.main([])),
    ]
    failed = []
    for name, bench in benches:
        started = time.monotonic()
        try:
            code = bench()
        except Exception:  # noqa: BLE001 - one broken bench must not hide the others' figures
            traceback.print_exc()
            code = 1
        if code:
            failed.append(name)
        print(f"({name}: {time.monotonic() - started:.1f}s{', FAILED' if code else ''})", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
