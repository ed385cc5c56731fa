"""Site registry admin: create, list, show and update Parley sites, and invite their agents.

    python -m infra.sites create demo --origin http://127.0.0.1:8080 --knowledge kb.json
    python -m infra.sites update demo --add-origin https://www.example.com
    python -m infra.sites update demo --engine bedrock --bedrock bedrock.json   # the LLM engine
    python -m infra.sites list
    python -m infra.sites show demo
    python -m infra.sites invite demo --email ana@example.com --name Ana [--role admin] [--password P]
    python -m infra.sites members demo
    python -m infra.sites remove-member demo ana@example.com
    python -m infra.sites set-limit demo messages 120 60     # this site: 120 messages a minute
    python -m infra.sites clear-limit demo messages          # back to the deployment's limit
    python -m infra.sites update demo --retention-days 30    # keep conversations 30 days after their last message
    python -m infra.sites update demo --desk desk.json       # business hours, notifications, pre-chat fields
    python -m infra.sites delete-conversation demo <conversation id>
    python -m infra.sites export demo [--out demo.jsonl]     # every conversation with its messages, JSON lines
    python -m infra.sites webhook-add demo https://hooks.example.com/parley [--event message.created ...]
    python -m infra.sites webhook-list demo
    python -m infra.sites webhook-remove demo <webhook id>
    python -m infra.sites webhook-log demo [--limit 20]      # the last delivery attempts, newest first

Visitors are anonymous: a conversation id is the only identity a visitor has
(the widget keeps it with its token), so deleting "a visitor's data" is
deleting their conversation(s) by id: the visitor reads it from the widget's
transcript, an agent from the console or an export.

webhook-add prints the webhook's signing secret once; it is not shown again
(webhook-list shows its last four characters). A webhook URL must be https and
resolve only to public addresses; PARLEY_WEBHOOK_ALLOW_LOOPBACK=true (the local
stage alone) also allows http and 127.0.0.1 / ::1.

It talks to the table named by PARLEY_TABLE, wherever boto3 is pointed
(AWS_ENDPOINT_URL_DYNAMODB for a local stack, your AWS profile otherwise).
Agents are users of the Cognito user pool PARLEY_COGNITO_POOL_ID (or --pool),
reached the same way (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER locally).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from chalicelib.bot import validate_bot_settings, validate_knowledge
from chalicelib.data import Data
from chalicelib.desk import desk_settings
from chalicelib.data.sites import SiteStore
from chalicelib.errors import ParleyError
from chalicelib.limits import DEFAULT_LIMITS
from chalicelib.models import (CONVERSATION_ID, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, SITE_KEY, Member, Site,
                               site_limits)

ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
MAX_ORIGINS = 40  # the origin index rows share the site's one transaction (limit 100)
WIDGET_FIELDS = ("title", "greeting", "accent", "position", "locale")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
ROLES = ("agent", "admin")
POOL_ID = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+$")
MAX_NAME = 120


class CliError(Exception):
    pass


def _origin(value: str) -> str:
    origin = value.strip().rstrip("/").lower()
    if not ORIGIN.match(origin):
        raise CliError(f"not an origin (scheme://host[:port], no path): {value!r}")
    return origin


def _retention_days(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,5}", text) or not MIN_RETENTION_DAYS <= int(text) <= MAX_RETENTION_DAYS:
        raise CliError(f"--retention-days: a whole number of days from {MIN_RETENTION_DAYS} to "
                       f"{MAX_RETENTION_DAYS}, not {value!r}")
    return int(text)


def _json_file(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {what} {path}: {exc}") from None


def _desk(path: str | None, current: dict[str, Any]) -> dict[str, Any]:
    """The site's desk settings (business hours, notifications, pre-chat fields) from --desk FILE.json,
    over what it has: fields the file leaves out keep their values; checked whole."""
    if path is None:
        return current
    given = _json_file(path, "desk settings")
    if not isinstance(given, dict):
        raise CliError(f"desk settings {path}: must be a JSON object")
    try:
        return desk_settings({**current, **given})
    except ValueError as exc:
        raise CliError(f"desk settings {path}: {exc}") from None


def _knowledge(path: str) -> dict[str, Any]:
    data = _json_file(path, "knowledge file")
    try:
        return validate_knowledge(data)
    except ValueError as exc:
        raise CliError(f"knowledge file {path}: {exc}") from None


def _bot(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    """The site's bot settings with --engine, --knowledge and --bedrock applied, validated whole."""
    bot = dict(current)
    if args.engine:
        bot["engine"] = args.engine
    bot.setdefault("engine", "knowledge")
    if args.knowledge:
        bot["knowledge"] = _knowledge(args.knowledge)
    bot.setdefault("knowledge", {"entries": []})
    if args.bedrock:
        bot["bedrock"] = _json_file(args.bedrock, "bedrock settings")
    try:
        return validate_bot_settings(bot)
    except ValueError as exc:
        raise CliError(f"bot settings: {exc}") from None


def _widget(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    widget = dict(current)
    for field in WIDGET_FIELDS:
        value = getattr(args, field, None)
        if value is not None:
            widget[field] = value
    return widget


def _data() -> Data:
    table = os.environ.get("PARLEY_TABLE")
    if not table:
        raise CliError("set PARLEY_TABLE to the table's name")
    return Data(table)


def _store() -> SiteStore:
    return _data().sites


class CognitoError(Exception):
    """Cognito could not be reached, or failed in a way that is not the input's fault."""


def _email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise CliError(f"not an email address: {value!r}")
    return email


def _pool_id(args: argparse.Namespace) -> str:
    pool = (args.pool or os.environ.get("PARLEY_COGNITO_POOL_ID") or "").strip()
    if not pool:
        raise CliError("set PARLEY_COGNITO_POOL_ID (or --pool) to the agents' Cognito user pool id")
    if not POOL_ID.match(pool):
        raise CliError(f"not a Cognito user pool id (<region>_<id>): {pool!r}")
    return pool


def _cognito(pool_id: str) -> Any:
    import boto3
    from botocore.config import Config

    # The pool id names its region; the endpoint is boto3's (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER).
    match = POOL_ID.match(pool_id)
    assert match is not None
    return boto3.client("cognito-idp", region_name=match.group(1),
                        config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3}))


def _attributes(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user.get("Attributes") or user.get("UserAttributes") or []}


def _cognito_call(call: Any, pool_id: str, **kwargs: Any) -> Any:
    """One Cognito call; its errors become CliError (the input's fault) or CognitoError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(UserPoolId=pool_id, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code == "ResourceNotFoundException":
            raise CliError(f"no Cognito user pool {pool_id!r} ({message})") from None
        if code in ("InvalidPasswordException", "InvalidParameterException", "UsernameExistsException"):
            raise CliError(f"Cognito refused: {message}") from None
        raise CognitoError(f"Cognito: {code}: {message}") from None
    except BotoCoreError as exc:  # unreachable endpoint, no credentials, ...
        raise CognitoError(f"Cognito: {exc}") from None


def _find_user(idp: Any, pool_id: str, email: str) -> dict[str, Any] | None:
    found = _cognito_call(idp.list_users, pool_id, Filter=f'email = "{email}"', Limit=2)["Users"]
    if not found:
        return None
    if len(found) > 1:
        raise CliError(f"more than one user of pool {pool_id!r} has the email {email}; add them by hand")
    return found[0]


def _site_or_fail(store: SiteStore, site_key: str) -> Site:
    site = store.get(site_key)
    if site is None:
        raise CliError(f"no site {site_key!r}")
    return site


def _member_out(member: Member) -> dict[str, Any]:
    return {"id": member.agent_id, "name": member.name, "email": member.email, "role": member.role}


def invite(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    """Creates the Cognito user (unless it exists) and makes it a member of the site."""
    email = _email(args.email)
    role = (args.role or "agent").strip().lower()
    if role not in ROLES:
        raise CliError(f"role must be one of {', '.join(ROLES)}, not {args.role!r}")
    name = (args.name or "").strip()
    if len(name) > MAX_NAME:
        raise CliError(f"name: up to {MAX_NAME} characters")
    if args.password is not None and not args.password:
        raise CliError("--password is empty")
    pool_id = _pool_id(args)
    _site_or_fail(data.sites, args.site_key)
    idp = _cognito(pool_id)
    user = _find_user(idp, pool_id, email)
    created, notes = user is None, []
    if user is None:
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        if name:
            attributes.append({"Name": "name", "Value": name})
        options: dict[str, Any] = ({"MessageAction": "SUPPRESS"} if args.password
                                   else {"DesiredDeliveryMediums": ["EMAIL"]})
        user = _cognito_call(idp.admin_create_user, pool_id, Username=email, UserAttributes=attributes,
                             **options)["User"]
        if args.password:
            try:
                _cognito_call(idp.admin_set_user_password, pool_id, Username=user["Username"],
                              Password=args.password, Permanent=True)
            except (CliError, CognitoError):
                # A refused password (the pool's policy) leaves no half-made user behind.
                _cognito_call(idp.admin_delete_user, pool_id, Username=user["Username"])
                raise
        else:
            notes.append("Cognito emails the invitation with a temporary password")
    elif args.password:
        notes.append("the user exists already: the password is unchanged")
    attrs = _attributes(user)
    sub = attrs.get("sub") or ""
    if not sub:
        raise CognitoError(f"Cognito answered no sub for {email}")
    current = data.agents.membership(sub, args.site_key)
    name = name or (current.name if current else "") or attrs.get("name", "")
    member = data.agents.put_member(Member(agent_id=sub, site_key=args.site_key, role=role, name=name,
                                           email=email))
    return {"member": _member_out(member), "site_key": args.site_key, "pool_id": pool_id,
            "user_created": created, "was_member": current is not None, "notes": notes}


def members(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    _site_or_fail(data.sites, args.site_key)
    found = sorted(data.agents.members_of(args.site_key), key=lambda m: (m.email, m.agent_id))
    return {"site_key": args.site_key, "members": [_member_out(m) for m in found]}


def remove_member(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    """Ends a membership; the Cognito user stays (it may belong to other sites)."""
    _site_or_fail(data.sites, args.site_key)
    who = args.agent.strip()
    found = [m for m in data.agents.members_of(args.site_key)
             if m.agent_id == who or (m.email and m.email.lower() == who.lower())]
    if not found:
        raise CliError(f"{who!r} is not a member of site {args.site_key!r}")
    if len(found) > 1:
        raise CliError(f"{who!r} names more than one member of {args.site_key!r}; give the id")
    data.agents.remove_member(args.site_key, found[0].agent_id)
    return {"site_key": args.site_key, "removed": _member_out(found[0])}


def create(args: argparse.Namespace, store: SiteStore) -> Site:
    if not re.match(SITE_KEY, args.site_key):
        raise CliError("site key: letters, digits, _ and - only, up to 64")
    origins = sorted({_origin(o) for o in args.origin})
    if not origins or len(origins) > MAX_ORIGINS:
        raise CliError(f"give 1 to {MAX_ORIGINS} --origin values")
    bot = _bot(args, {})
    retention = _retention_days(args.retention_days)
    site = Site(args.site_key, tuple(origins), name=args.name or args.site_key, bot=bot,
                widget=_widget(args, {}), desk=_desk(args.desk, {}),
                **({"retention_days": retention} if retention else {}))
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
    bot = _bot(args, site.bot) if (args.knowledge or args.engine or args.bedrock) else site.bot
    changed = site.changed(origins=tuple(sorted(origins)), bot=bot, name=args.name or site.name,
                           widget=_widget(args, site.widget), desk=_desk(args.desk, dict(site.desk)),
                           retention_days=_retention_days(args.retention_days) or site.retention_days)
    store.put(changed, previous_origins=site.origins)
    return store.get(args.site_key) or changed


def _whole(value: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        raise CliError(f"{what}: a whole number, not {value!r}")
    return int(value)


def set_limit(args: argparse.Namespace, store: SiteStore) -> Site:
    """Gives the site its own rate limit NAME: LIMIT requests per WINDOW seconds (over the deployment's)."""
    site = _site_or_fail(store, args.site_key)
    entry = {"limit": _whole(args.limit, "limit"), "window": _whole(args.window, "window")}
    try:
        limits = site_limits({**site.limits, args.name: entry})  # the site model's own checks
    except ValueError as exc:
        raise CliError(str(exc)) from None
    store.put(site.changed(limits=limits), previous_origins=site.origins)
    return store.get(args.site_key) or site.changed(limits=limits)


def clear_limit(args: argparse.Namespace, store: SiteStore) -> Site:
    """Takes the site's own rate limit NAME away: the deployment's applies again."""
    site = _site_or_fail(store, args.site_key)
    if args.name not in DEFAULT_LIMITS:
        raise CliError(f"unknown limit {args.name!r}; known: {', '.join(DEFAULT_LIMITS)}")
    if args.name not in site.limits:
        return site
    limits = {k: v for k, v in site.limits.items() if k != args.name}
    store.put(site.changed(limits=limits), previous_origins=site.origins)
    return store.get(args.site_key) or site.changed(limits=limits)


def delete_conversation(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    """Deletes one conversation of the site and every item under it; its visitor's tokens stop working."""
    _site_or_fail(data.sites, args.site_key)
    if not re.fullmatch(CONVERSATION_ID, args.conversation_id):
        raise CliError(f"not a conversation id: {args.conversation_id!r}")
    # Expired, or half deleted by its visitor: still the operator's to delete.
    if data.messages.site_of(args.conversation_id) != args.site_key:
        raise CliError(f"no conversation {args.conversation_id!r} on site {args.site_key!r}")
    finished = False
    deleted = 0
    while not finished:  # a very long conversation takes more than one round (each is time-bounded)
        finished, count, _ = data.messages.delete_conversation(args.conversation_id, None)
        deleted += count
    return {"site_key": args.site_key, "conversation_id": args.conversation_id, "deleted": True,
            "items_deleted": deleted}


def export(args: argparse.Namespace, data: Data, out: Any) -> dict[str, Any]:
    """Writes one JSON line per live conversation of the site: ``{"conversation": …, "messages": […]}``.

    Conversations come from the inbox index (GSI2), one status partition after
    another, paginated; messages from one paged Query each. Nothing scans.
    """
    _site_or_fail(data.sites, args.site_key)
    conversations = messages = 0
    for conversation in data.messages.site_conversations(args.site_key):
        try:
            _, history, _ = data.messages.history(conversation.conversation_id)
        except ParleyError as exc:
            if exc.code == "conversation_not_found":
                continue  # expired or deleted since the index was read
            raise
        out.write(json.dumps({"conversation": conversation.summary(), "messages": [m.to_json() for m in history]},
                             ensure_ascii=False, separators=(",", ":")) + "\n")
        conversations += 1
        messages += len(history)
    return {"site_key": args.site_key, "conversations": conversations, "messages": messages}


WEBHOOK_ERRORS = ("invalid_webhook_url", "invalid_request", "too_many_webhooks", "webhook_not_found",
                  "unknown_site")


def _webhooks(data: Data) -> Any:
    """The webhook service on the CLI's table; it queues nothing (the CLI never emits events)."""
    from chalicelib.data.webhooks import WebhookStore
    from chalicelib.webhooks import Webhooks

    def no_queue(job: dict[str, Any], delay: int) -> None:
        raise RuntimeError("the site CLI queues no webhook jobs")

    allow_loopback = os.environ.get("PARLEY_WEBHOOK_ALLOW_LOOPBACK", "").strip().lower() == "true"
    return Webhooks(WebhookStore(data.table), no_queue, allow_loopback=allow_loopback)


def _webhook_call(call: Any, *args: Any) -> Any:
    """A webhook service call; the input's faults (a refused URL, an unknown id) become CliError."""
    try:
        return call(*args)
    except ParleyError as exc:
        if exc.code in WEBHOOK_ERRORS:
            raise CliError(exc.message) from None
        raise


def webhook_add(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    """Registers a webhook (the URL checked, its host resolved); prints its secret this once."""
    _site_or_fail(data.sites, args.site_key)
    hook, secret = _webhook_call(_webhooks(data).add, args.site_key, args.url, args.event or None)
    return {"site_key": args.site_key, "webhook": hook.to_json(), "secret": secret,
            "notes": ["the secret is shown this once: keep it where the receiver verifies signatures"]}


def webhook_list(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    _site_or_fail(data.sites, args.site_key)
    return {"site_key": args.site_key, "webhooks": [h.to_json() for h in _webhooks(data).list(args.site_key)]}


def webhook_remove(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    _site_or_fail(data.sites, args.site_key)
    _webhook_call(_webhooks(data).remove, args.site_key, args.webhook_id.strip())
    return {"site_key": args.site_key, "removed": args.webhook_id.strip()}


def webhook_log(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    _site_or_fail(data.sites, args.site_key)
    limit = _whole(args.limit, "--limit")
    if not 1 <= limit <= 100:
        raise CliError(f"--limit: 1 to 100, not {limit}")
    return {"site_key": args.site_key, "deliveries": _webhooks(data).deliveries(args.site_key, limit)}


WEBHOOK_COMMANDS = {"webhook-add": webhook_add, "webhook-list": webhook_list, "webhook-remove": webhook_remove,
                    "webhook-log": webhook_log}


def _summary(site: Site) -> dict[str, Any]:
    entries = len((site.bot or {}).get("knowledge", {}).get("entries", []))
    return {"site_key": site.site_key, "name": site.name, "origins": list(site.origins),
            "bot_engine": site.bot.get("engine", "knowledge"), "knowledge_entries": entries,
            "retention_days": site.retention_days,
            "widget": site.widget, "updated_at": site.updated_at}


def _full(site: Site) -> dict[str, Any]:
    return {"site_key": site.site_key, "name": site.name, "origins": list(site.origins), "bot": site.bot,
            "widget": site.widget, "limits": dict(site.limits), "retention_days": site.retention_days,
            "desk": dict(site.desk), "webhook_events": list(site.webhook_events), "created_at": site.created_at,
            "updated_at": site.updated_at}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.sites", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def widget_options(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--name")
        cmd.add_argument("--knowledge", help="path to a knowledge JSON file (the offline bot's, and what "
                                             "the bedrock engine retrieves from and falls back to)")
        cmd.add_argument("--engine", choices=("knowledge", "bedrock"), help="the bot engine (default knowledge)")
        cmd.add_argument("--bedrock", help='path to a JSON file of bedrock settings: {"model_id", "temperature", '
                                           '"max_tokens", "instructions", "daily_calls", "daily_tokens", ...}')
        for field in WIDGET_FIELDS:
            cmd.add_argument(f"--{field}", help=f"widget {field}")
        cmd.add_argument("--retention-days", help=f"keep a conversation this many days after its last message "
                                                  f"({MIN_RETENTION_DAYS}-{MAX_RETENTION_DAYS}; default 180)")
        cmd.add_argument("--desk", help='path to a JSON file of desk settings: {"timezone", "hours", '
                                        '"reply_within_hours", "notify_delay_seconds", "notify", "prechat", '
                                        '"transcripts"} (README, "When nobody is at the desk")')

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
    i = sub.add_parser("invite", help="create an agent's Cognito user (unless it exists) and add it to a site")
    i.add_argument("site_key")
    i.add_argument("--email", required=True)
    i.add_argument("--name", help="the agent's display name")
    i.add_argument("--role", default="agent", help="agent (default) or admin")
    i.add_argument("--password", help="a permanent password, and no invitation email "
                                      "(without it Cognito emails a temporary one)")
    i.add_argument("--pool", help="the Cognito user pool id (default: PARLEY_COGNITO_POOL_ID)")
    m = sub.add_parser("members", help="list a site's agents")
    m.add_argument("site_key")
    r = sub.add_parser("remove-member", help="take an agent off a site (the Cognito user stays)")
    r.add_argument("site_key")
    r.add_argument("agent", metavar="email-or-id")
    sl = sub.add_parser("set-limit", help="give a site its own rate limit (over the deployment's)")
    sl.add_argument("site_key")
    sl.add_argument("name", help=f"one of {', '.join(DEFAULT_LIMITS)}")
    sl.add_argument("limit", help="requests per window (1 to 1000000)")
    sl.add_argument("window", help="the window in seconds (1 to 86400)")
    cl = sub.add_parser("clear-limit", help="take a site's own rate limit away (the deployment's applies)")
    cl.add_argument("site_key")
    cl.add_argument("name", help=f"one of {', '.join(DEFAULT_LIMITS)}")
    dc = sub.add_parser("delete-conversation",
                        help="delete a conversation (a visitor's data: visitors are known by conversation id only)")
    dc.add_argument("site_key")
    dc.add_argument("conversation_id")
    ex = sub.add_parser("export", help="every conversation of a site with its messages, as JSON lines")
    ex.add_argument("site_key")
    ex.add_argument("--out", help="the file to write (default: standard output)")
    wa = sub.add_parser("webhook-add", help="register a webhook (prints its signing secret once)")
    wa.add_argument("site_key")
    wa.add_argument("url", help="https://… (every address its host resolves to must be public)")
    wa.add_argument("--event", action="append", default=[],
                    help="an event to send (repeatable; default all): conversation.created, "
                         "conversation.handoff, conversation.resolved, message.created")
    wl = sub.add_parser("webhook-list", help="list a site's webhooks (never their secrets)")
    wl.add_argument("site_key")
    wr = sub.add_parser("webhook-remove", help="remove a webhook (its queued deliveries are dropped)")
    wr.add_argument("site_key")
    wr.add_argument("webhook_id")
    wg = sub.add_parser("webhook-log", help="a site's last webhook delivery attempts, newest first")
    wg.add_argument("site_key")
    wg.add_argument("--limit", default="20", help="how many (1 to 100; default 20)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "export":
            data = _data()
            if not args.out:
                export(args, data, sys.stdout)
                return 0
            with open(args.out, "w", encoding="utf-8") as out:
                summary = {**export(args, data, out), "out": args.out}
            print(json.dumps(summary, indent=2, ensure_ascii=False))
            return 0
        if args.command in ("invite", "members", "remove-member", "delete-conversation", *WEBHOOK_COMMANDS):
            data = _data()
            command = {"invite": invite, "members": members, "remove-member": remove_member,
                       "delete-conversation": delete_conversation, **WEBHOOK_COMMANDS}[args.command]
            print(json.dumps(command(args, data), indent=2, ensure_ascii=False))
            return 0
        store = _store()
        if args.command == "create":
            result: Any = _summary(create(args, store))
        elif args.command == "update":
            result = _summary(update(args, store))
        elif args.command in ("set-limit", "clear-limit"):
            changed = (set_limit if args.command == "set-limit" else clear_limit)(args, store)
            result = {"site_key": changed.site_key, "limits": dict(changed.limits)}
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
    except CognitoError as exc:  # Cognito is unreachable, or failed
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
