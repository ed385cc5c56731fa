"""Site registry admin: create, list, show and update Parley sites.

    python -m infra.sites create demo --origin http://127.0.0.1:8080 --knowledge kb.json
    python -m infra.sites update demo --add-origin https://www.example.com
    python -m infra.sites list
    python -m infra.sites show demo

It talks to the table named by PARLEY_TABLE, wherever boto3 is pointed
(AWS_ENDPOINT_URL_DYNAMODB for a local stack, your AWS profile otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from chalicelib.bot import validate_knowledge
from chalicelib.data import Data
from chalicelib.data.sites import SiteStore
from chalicelib.errors import ParleyError
from chalicelib.models import SITE_KEY, Site

ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
MAX_ORIGINS = 40  # the origin index rows share the site's one transaction (limit 100)
WIDGET_FIELDS = ("title", "greeting", "accent", "position", "locale")


class CliError(Exception):
    pass


def _origin(value: str) -> str:
    origin = value.strip().rstrip("/").lower()
    if not ORIGIN.match(origin):
        raise CliError(f"not an origin (scheme://host[:port], no path): {value!r}")
    return origin


def _knowledge(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read knowledge file {path}: {exc}") from None
    try:
        return validate_knowledge(data)
    except ValueError as exc:
        raise CliError(f"knowledge file {path}: {exc}") from None


def _widget(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    widget = dict(current)
    for field in WIDGET_FIELDS:
        value = getattr(args, field, None)
        if value is not None:
            widget[field] = value
    return widget


def _store() -> SiteStore:
    table = os.environ.get("PARLEY_TABLE")
    if not table:
        raise CliError("set PARLEY_TABLE to the table's name")
    return Data(table).sites


def create(args: argparse.Namespace, store: SiteStore) -> Site:
    if not re.match(SITE_KEY, args.site_key):
        raise CliError("site key: letters, digits, _ and - only, up to 64")
    origins = sorted({_origin(o) for o in args.origin})
    if not origins or len(origins) > MAX_ORIGINS:
        raise CliError(f"give 1 to {MAX_ORIGINS} --origin values")
    bot = {"engine": "knowledge", "knowledge": _knowledge(args.knowledge) if args.knowledge else {"entries": []}}
    site = Site(args.site_key, tuple(origins), name=args.name or args.site_key, bot=bot,
                widget=_widget(args, {}))
    try:
        store.put(site, create=True)
    except ParleyError as exc:
        if exc.code != "site_exists":
            raise
        raise CliError(f"site {args.site_key!r} exists; use update") from None
    return site


def update(args: argparse.Namespace, store: SiteStore) -> Site:
    site = store.get(args.site_key)
    if site is None:
        raise CliError(f"no site {args.site_key!r}; use create")
    origins = set(site.origins) | {_origin(o) for o in args.add_origin}
    origins -= {_origin(o) for o in args.remove_origin}
    if not origins or len(origins) > MAX_ORIGINS:
        raise CliError(f"a site needs 1 to {MAX_ORIGINS} origins")
    bot = site.bot
    if args.knowledge:
        bot = {**bot, "engine": bot.get("engine", "knowledge"), "knowledge": _knowledge(args.knowledge)}
    changed = site.changed(origins=tuple(sorted(origins)), bot=bot, name=args.name or site.name,
                           widget=_widget(args, site.widget))
    store.put(changed, previous_origins=site.origins)
    return store.get(args.site_key) or changed


def _summary(site: Site) -> dict[str, Any]:
    entries = len((site.bot or {}).get("knowledge", {}).get("entries", []))
    return {"site_key": site.site_key, "name": site.name, "origins": list(site.origins),
            "bot_engine": site.bot.get("engine", "knowledge"), "knowledge_entries": entries,
            "widget": site.widget, "updated_at": site.updated_at}


def _full(site: Site) -> dict[str, Any]:
    return {"site_key": site.site_key, "name": site.name, "origins": list(site.origins), "bot": site.bot,
            "widget": site.widget, "created_at": site.created_at, "updated_at": site.updated_at}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.sites", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def widget_options(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--name")
        cmd.add_argument("--knowledge", help="path to a knowledge JSON file for the default bot")
        for field in WIDGET_FIELDS:
            cmd.add_argument(f"--{field}", help=f"widget {field}")

    c = sub.add_parser("create", help="register a new site")
    c.add_argument("site_key")
    c.add_argument("--origin", action="append", default=[], required=True,
                   help="an allowed origin, e.g. https://www.example.com (repeatable)")
    widget_options(c)
    u = sub.add_parser("update", help="change an existing site")
    u.add_argument("site_key")
    u.add_argument("--add-origin", action="append", default=[])
    u.add_argument("--remove-origin", action="append", default=[])
    widget_options(u)
    sub.add_parser("list", help="list all sites")
    s = sub.add_parser("show", help="show one site")
    s.add_argument("site_key")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        store = _store()
        if args.command == "create":
            result: Any = _summary(create(args, store))
        elif args.command == "update":
            result = _summary(update(args, store))
        elif args.command == "list":
            result = [_summary(s) for s in store.list()]
        else:
            site = store.get(args.site_key)
            if site is None:
                raise CliError(f"no site {args.site_key!r}")
            result = _full(site)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ParleyError as exc:  # the table is busy or unreachable
        print(f"error: {exc.message}", file=sys.stderr)
        return 3
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
