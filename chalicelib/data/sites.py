"""Sites and the origin index.

* site          ``PK=SITE#<key>      SK=META``      origins, bot, widget, limits, desk; ``GSI1PK=SITE`` lists sites
* origin index  ``PK=ORIGIN#<origin> SK=SITE#<key>`` answers a preflight that names no site
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterable

from ..desk import desk_settings
from ..errors import ParleyError
from ..models import DEFAULT_RETENTION_DAYS, Site, site_limits
from .table import META_SK, Table, now_iso, translated

log = logging.getLogger("parley.sites")


def site_pk(site_key: str) -> str:
    return f"SITE#{site_key}"


def site_from(values: dict[str, Any]) -> Site:
    return Site(site_key=values["site_key"], origins=tuple(values.get("origins") or ()),
                name=values.get("name") or values["site_key"],
                bot=json.loads(values.get("bot") or "{}"), widget=json.loads(values.get("widget") or "{}"),
                created_at=values.get("created_at"), updated_at=values.get("updated_at"),
                limits=_stored_limits(values),
                retention_days=int(values.get("retention_days") or DEFAULT_RETENTION_DAYS),
                desk=_stored_desk(values), webhook_events=tuple(values.get("webhook_events") or ()))


def _stored_desk(values: dict[str, Any]) -> dict[str, Any]:
    """The site's desk settings; a stored value that is not valid is logged and the defaults used."""
    try:
        return desk_settings(json.loads(values.get("desk") or "{}"))
    except ValueError:
        log.error("site %s: stored desk settings are not valid; using the defaults", values.get("site_key"))
        return {}


def _stored_limits(values: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The site's rate-limit overrides; a stored value that is not valid (written by hand,
    say) is logged and ignored, so the site runs on the defaults instead of failing every request."""
    try:
        return site_limits(json.loads(values.get("limits") or "{}"))
    except ValueError:
        log.error("site %s: stored rate limits are not valid; using the defaults", values.get("site_key"))
        return {}


class SiteStore:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    def key(self, site_key: str) -> dict[str, Any]:
        return self.table.key(site_pk(site_key), META_SK)

    @translated
    def get(self, site_key: str) -> Site | None:
        item = self.table.client.get_item(TableName=self.table.name, Key=self.key(site_key)).get("Item")
        return site_from(self.table.plain(item)) if item else None

    @translated
    def list(self) -> list[Site]:
        """Every site, through the sparse GSI1 (keys only), then one GetItem each."""
        keys = [row["GSI1SK"] for row in self.table.query_all(
            IndexName="GSI1", KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues=self.table.values(p="SITE"))]
        return [s for s in (self.get(k) for k in keys) if s]

    @translated
    def origin_is_listed(self, origin: str) -> bool:
        """Whether any site lists this (normalized) origin."""
        items = self.table.client.query(TableName=self.table.name, Limit=1,
                                        KeyConditionExpression="PK = :pk",
                                        ExpressionAttributeValues=self.table.values(pk=f"ORIGIN#{origin}"))
        return bool(items["Items"])

    @translated
    def set_webhook_events(self, site_key: str, events: Iterable[str]) -> None:
        """Records which events the site's webhooks subscribe to (after one is added or removed)."""
        wanted = sorted(set(events))
        t = self.table
        expression = "SET webhook_events = :events" if wanted else "REMOVE webhook_events"
        t.client.update_item(TableName=t.name, Key=self.key(site_key), UpdateExpression=expression,
                             ConditionExpression="attribute_exists(PK)",
                             **({"ExpressionAttributeValues": t.values(events=wanted)} if wanted else {}))

    @translated
    def put(self, site: Site, previous_origins: Iterable[str] = (), create: bool = False) -> None:
        """Creates (``create``: only if new, else 409 ``site_exists``) or replaces a site.

        The site and its origin-index rows go in one transaction, so the index
        never lists an origin its site does not, nor misses one it does.
        """
        t = self.table
        key = site.site_key
        item = t.item(PK=site_pk(key), SK=META_SK, GSI1PK="SITE", GSI1SK=key, site_key=key,
                      name=site.name or key, origins=list(site.origins),
                      bot=json.dumps(site.bot, separators=(",", ":")),
                      widget=json.dumps(site.widget, separators=(",", ":")),
                      limits=json.dumps(site.limits, separators=(",", ":")) if site.limits else None,
                      retention_days=site.retention_days,
                      desk=json.dumps(site.desk, separators=(",", ":")),
                      webhook_events=sorted(site.webhook_events) or None,
                      created_at=site.created_at or now_iso(self._clock()), updated_at=now_iso(self._clock()))
        put: dict[str, Any] = {"TableName": t.name, "Item": item}
        if create:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        ops: list[dict[str, Any]] = [{"Put": put}]
        for origin in site.origins:
            ops.append({"Put": {"TableName": t.name, "Item": t.item(PK=f"ORIGIN#{origin}", SK=site_pk(key))}})
        for origin in set(previous_origins) - set(site.origins):
            ops.append({"Delete": {"TableName": t.name, "Key": t.key(f"ORIGIN#{origin}", site_pk(key))}})
        try:
            t.client.transact_write_items(TransactItems=ops)
        except t.client.exceptions.TransactionCanceledException as exc:
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if create and codes and codes[0] == "ConditionalCheckFailed":
                raise ParleyError("site_exists", f"Site {key!r} exists already.") from None
            raise
