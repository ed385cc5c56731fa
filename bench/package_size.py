"""The Lambda deployment package: its size, what fills it, and cold-start import time from it.

    python -m bench.package_size [--stage prod] [--runs 9] [--no-build]

Builds the package (`chalice package`, production requirements only: what
requirements.txt names; boto3 comes with the Lambda runtime), prints its
zipped and unzipped size and the heaviest top-level packages, then imports
`app` from the unzipped package with site-packages switched off (`python -S`),
so nothing from the development venv can help, as medians over fresh
processes. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter

from . import common

IMPORT_CODE = """\
import sys, time
sys.path.insert(0, {path!r})
t0 = time.perf_counter()
import app
print((time.perf_counter() - t0) * 1000)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="prod", choices=["dev", "prod"])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args(argv)

    from infra.package import package

    out = common.ROOT / "out" / args.stage
    if not args.no_build or not (out / "deployment.zip").exists():
        package(args.stage, out)
    archive = out / "deployment.zip"
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        unzipped = sum(i.file_size for i in infos)
        by_top: Counter[str] = Counter()
        for i in infos:
            by_top[i.filename.split("/")[0].split(".dist-info")[0]] += i.file_size
        with tempfile.TemporaryDirectory() as tmp:
            z.extractall(tmp)
            env = {"PATH": os.environ.get("PATH", ""), "PARLEY_TABLE": f"parley-{args.stage}",
                   "PARLEY_TOKEN_SECRET_PARAM": f"/parley/{args.stage}/token-secret",
                   "AWS_DEFAULT_REGION": "us-east-1"}

            def import_times(extra_env: dict[str, str]) -> list[float]:
                times = []
                for _ in range(args.runs + 1):  # the first run warms the disk (and may write .pyc)
                    done = subprocess.run([sys.executable, "-S", "-c", IMPORT_CODE.format(path=tmp)],
                                          env={**env, **extra_env}, capture_output=True, text=True, timeout=120)
                    if done.returncode != 0:
                        raise RuntimeError(f"import app from the package failed:\n{done.stderr}")
                    times.append(float(done.stdout.strip()))
                return times[1:]

            # As Lambda runs it: /var/task is read-only and the package has no .pyc,
            # so every cold start compiles the sources it imports.
            times = import_times({"PYTHONDONTWRITEBYTECODE": "1"})
            compiled = import_times({})

    common.heading(f"Lambda deployment package ({args.stage}): size and import time, production requirements only")
    mib = 1024 * 1024
    print(common.table(["measure", "value"], [
        ["zipped (deployment.zip)", f"{archive.stat().st_size / mib:.1f} MiB"],
        ["unzipped", f"{unzipped / mib:.1f} MiB  (Lambda's limit: 250 MiB)"],
        ["files", str(len(infos))],
        [f"import app, no bytecode (as in Lambda today), median of {len(times)}",
         f"{statistics.median(times):.1f} ms"],
        [f"import app, with bytecode compiled once, median of {len(compiled)}",
         f"{statistics.median(compiled):.1f} ms"],
    ]))
    print("\nheaviest top-level entries (unzipped):")
    print(common.table(["entry", "MiB"], [[name, f"{size / mib:.2f}"] for name, size in by_top.most_common(10)],
                       right=[1]))
    path = common.write_results("package_size", {
        "stage": args.stage, "zipped_bytes": archive.stat().st_size, "unzipped_bytes": unzipped,
        "files": len(infos), "import_app_ms_median": statistics.median(times), "import_app_ms": times,
        "import_app_compiled_ms_median": statistics.median(compiled),
        "largest": by_top.most_common(10)})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
