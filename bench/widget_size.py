"""The widget's transfer size against its budgets.

    python -m bench.widget_size [--no-build]

Builds the widget (``npm run build`` in widget/), which writes three bundles:
dist/parley.js, what every page view loads (the bubble and the loader; budget
12 KB gzipped, the critical path), dist/parley-app.js, the chat, fetched when
the visitor shows interest or has a conversation to resume, and
dist/parley-pusher.js, pusher-js, fetched when the Pusher transport first
connects. Prints each file's raw and gzipped size, a visitor's total with
and without Pusher (budget for everything: 40 KB), and pusher-js's own
minified build gzipped, for reference. KB here is 1,024 bytes; gzip is
level 9, as a static host or CDN serves pre-compressed files. Writes
bench/results/widget_size.json. Prints figures; the exit status is 0 whether
or not a budget is met (it is 1 only when the build fails).
"""
from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import common

WIDGET = common.ROOT / "widget"
DIST = WIDGET / "dist"
PUSHER_MIN = WIDGET / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"
KB = 1024
BUNDLES = {  # file -> (what it is, gzip budget or None)
    "parley.js": ("page view: bubble + loader (critical path)", 12 * KB),
    "parley-app.js": ("the chat, on interest or to resume", None),
    "parley-pusher.js": ("pusher-js, when Pusher connects", None),
}
TOTAL_BUDGET = 40 * KB  # all three: a visitor who chats through Pusher


def gz_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def measure(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"file": str(path.relative_to(common.ROOT)), "raw_bytes": len(data), "gzip_bytes": gz_size(data)}


def kb(n: int) -> str:
    return f"{n / KB:.1f} KB"


def build() -> bool:
    common.heading("building (npm run build)")
    done = subprocess.run(["npm", "run", "--silent", "build"], cwd=WIDGET)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-build", action="store_true", help="measure dist/ as it is")
    args = parser.parse_args(argv)

    if not args.no_build and not build():
        print("widget build failed", file=sys.stderr)
        return 1
    missing = [name for name in BUNDLES if not (DIST / name).is_file()]
    if missing:
        print(f"missing in widget/dist: {', '.join(missing)} (run without --no-build)", file=sys.stderr)
        return 1

    files: dict[str, dict[str, Any]] = {}
    rows = []

    def row(label: str, name: str, m: dict[str, Any], budget: int | None) -> None:
        if budget is not None:
            m.update(budget_gzip_bytes=budget, within_budget=m["gzip_bytes"] <= budget,
                     headroom_gzip_bytes=budget - m["gzip_bytes"])
        rows.append([label, name, kb(m["raw_bytes"]), kb(m["gzip_bytes"]),
                     f"≤ {kb(budget)}" if budget else "", ("ok" if m["within_budget"] else "OVER") if budget else "",
                     kb(m["headroom_gzip_bytes"]) if budget else ""])

    for name, (label, budget) in BUNDLES.items():
        files[name] = measure(DIST / name)
        row(label, files[name]["file"], files[name], budget)
    totals = {}
    for label, names, budget in (("visitor on WebSocket/polling", ("parley.js", "parley-app.js"), None),
                                 ("visitor on Pusher", tuple(BUNDLES), TOTAL_BUDGET)):
        totals[label] = {k: sum(files[n][k] for n in names) for k in ("raw_bytes", "gzip_bytes")}
        row(label, " + ".join(names), totals[label], budget)
    pusher = measure(PUSHER_MIN) if PUSHER_MIN.is_file() else None
    if pusher:
        rows.append(["pusher-js 8 alone (reference)", pusher["file"], kb(pusher["raw_bytes"]),
                     kb(pusher["gzip_bytes"]), "", "", ""])

    common.heading("widget size (gzip -9; KB = 1,024 bytes)")
    print(common.table(["what", "file", "raw", "gzip", "budget", "status", "headroom"], rows, right=(2, 3, 6)))
    print("\nFor comparison: Chatwoot's widget transfers about 170 KiB.")

    path = common.write_results("widget_size", {
        "gzip_level": 9,
        "kb": KB,
        "files": files,
        "totals": totals,
        "pusher_js_reference": pusher,
    })
    print(f"\nwrote {path.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
