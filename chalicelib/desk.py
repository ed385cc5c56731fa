"""When somebody is at the desk: a site's business hours, its agents' presence, and what the widget says.

A site's ``desk`` settings (stored with the site, checked by ``desk_settings``)::

    {"timezone": "Europe/Berlin",
     "hours": {"mon": [["09:00", "17:00"]], ..., "sun": []},   # absent: no business hours, always open
     "reply_within_hours": 4,           # what the widget promises when nobody is online
     "notify_delay_seconds": 180,       # an unread conversation emails the team after this long
     "notify": true,                    # whether it does
     "prechat": {"name": "off", "email": "optional"},
     "transcripts": true}               # the visitor may ask for the transcript by email

Availability is ``online`` (an agent's console sent a heartbeat in the last
PRESENCE_TTL_SECONDS, and it is within hours), ``open`` (within hours), and
when the hours begin again. No I/O here: the count of agents online comes
from ``data.desk`` through ``Presence``, the clock from the caller.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from functools import lru_cache
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .cache import Cache

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIELD_MODES = ("off", "optional", "required")
DEFAULTS: dict[str, Any] = {"timezone": "UTC", "reply_within_hours": 24, "notify_delay_seconds": 180,
                            "notify": True, "prechat": {"name": "off", "email": "off"}, "transcripts": True}
MIN_NOTIFY_DELAY, MAX_NOTIFY_DELAY = 5, 86_400
MAX_RANGES_PER_DAY = 4
# The console beats every 30 s; a row lives three beats, so one lost request is no absence.
PRESENCE_TTL_SECONDS = 90
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _minutes(value: Any, where: str) -> int:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise ValueError(f"{where}: a time of day as HH:MM (00:00 to 24:00), not {value!r}")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def desk_settings(value: Any) -> dict[str, Any]:
    """A site's desk settings, checked and with defaults filled in; a ValueError names what is wrong."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError("desk: must be an object")
    unknown = set(value) - {*DEFAULTS, "hours"}
    if unknown:
        raise ValueError(f"desk: unknown field(s) {', '.join(sorted(unknown))}")
    desk = {**DEFAULTS, **{k: v for k, v in value.items() if v is not None}}
    zone = desk["timezone"]
    try:
        if not isinstance(zone, str) or not zone or len(zone) > 64:
            raise ValueError
        _zone(zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"desk.timezone: an IANA time zone such as Europe/Berlin, not {zone!r}") from None
    for name, low, high in (("reply_within_hours", 1, 168), ("notify_delay_seconds", MIN_NOTIFY_DELAY,
                                                             MAX_NOTIFY_DELAY)):
        number = desk[name]
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise ValueError(f"desk.{name}: a whole number from {low} to {high}, not {number!r}")
    for name in ("notify", "transcripts"):
        if not isinstance(desk[name], bool):
            raise ValueError(f"desk.{name}: true or false")
    prechat = desk["prechat"]
    if not isinstance(prechat, Mapping) or set(prechat) - {"name", "email"}:
        raise ValueError('desk.prechat: {"name": mode, "email": mode}')
    desk["prechat"] = {field: prechat.get(field, "off") for field in ("name", "email")}
    for field, mode in desk["prechat"].items():
        if mode not in FIELD_MODES:
            raise ValueError(f"desk.prechat.{field}: one of {', '.join(FIELD_MODES)}, not {mode!r}")
    if "hours" in desk:
        desk["hours"] = _hours(desk["hours"])
    return desk


def _hours(hours: Any) -> dict[str, list[list[str]]]:
    if not isinstance(hours, Mapping) or set(hours) - set(DAYS):
        raise ValueError(f"desk.hours: an object with days from {', '.join(DAYS)}")
    checked: dict[str, list[list[str]]] = {}
    for day in DAYS:
        ranges = hours.get(day) or []
        if not isinstance(ranges, list) or len(ranges) > MAX_RANGES_PER_DAY:
            raise ValueError(f"desk.hours.{day}: a list of at most {MAX_RANGES_PER_DAY} [from, to] pairs")
        spans = []
        for pair in ranges:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"desk.hours.{day}: each range is [\"HH:MM\", \"HH:MM\"]")
            start, end = _minutes(pair[0], f"desk.hours.{day}"), _minutes(pair[1], f"desk.hours.{day}")
            if start >= end:
                raise ValueError(f"desk.hours.{day}: {pair[0]}–{pair[1]} ends before it begins")
            spans.append((start, end, pair))
        spans.sort()
        for (_, end, _), (start, _, pair) in zip(spans, spans[1:]):
            if start < end:
                raise ValueError(f"desk.hours.{day}: {pair[0]}–{pair[1]} overlaps another range")
        checked[day] = [list(pair) for _, _, pair in spans]
    return checked


def _ranges(desk: Mapping[str, Any], day: int) -> list[tuple[int, int]]:
    return [(_minutes(a, ""), _minutes(b, "")) for a, b in desk["hours"].get(DAYS[day], [])]


def is_open(desk: Mapping[str, Any], now: float) -> bool:
    """Whether ``now`` (epoch seconds) is within the site's business hours (always, without hours)."""
    if "hours" not in desk:
        return True
    local = dt.datetime.fromtimestamp(now, _zone(desk["timezone"]))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in _ranges(desk, local.weekday()))


def next_open(desk: Mapping[str, Any], now: float) -> dt.datetime | None:
    """When the hours next begin after ``now`` (an aware datetime in the site's zone), or None:
    open now, no hours, or a week without any."""
    if "hours" not in desk or is_open(desk, now):
        return None
    zone = _zone(desk["timezone"])
    local = dt.datetime.fromtimestamp(now, zone)
    for ahead in range(8):
        day = (local + dt.timedelta(days=ahead)).date()
        for start, _ in _ranges(desk, day.weekday()):
            # Wall-clock time in the zone (fold=0 on a DST overlap; a gap rolls forward by itself).
            begins = dt.datetime.combine(day, dt.time(start // 60, start % 60), zone) if start < 1440 else None
            if begins is not None and begins.timestamp() > now:
                return begins
    return None


def availability(desk: Mapping[str, Any], agents_online: int, now: float) -> dict[str, Any]:
    """What the widget shows: online (a person can answer now), open, and when the team will answer."""
    open_now = is_open(desk, now)
    begins = next_open(desk, now)
    return {"online": open_now and agents_online > 0, "open": open_now,
            "reply_within_hours": desk["reply_within_hours"],
            "next_open_at": begins.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if begins else None,
            "timezone": desk["timezone"]}


def public(desk: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the desk settings the widget is told (config): its pre-chat fields, transcripts."""
    return {"prechat": dict(desk["prechat"]), "transcripts": desk["transcripts"]}



class Presence:
    """How many of a site's agents are online, cached per process for ``cache_seconds``: config, init and
    handoff all ask, and one Query per site per period serves however many visitors open the chat. A
    heartbeat or a goodbye through this process updates the count at once."""

    def __init__(self, count: Callable[[str], int], cache_seconds: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._count = count
        self._cache: Cache[str, int] = Cache(1024, cache_seconds, clock=clock)

    def online(self, site_key: str) -> int:
        return self._cache.get(site_key, self._count)

    def arrived(self, site_key: str) -> None:
        """An agent's heartbeat went through this process: at least one is online."""
        known, count = self._cache.peek(site_key)
        self._cache.put(site_key, max(count or 0, 1) if known else 1)

    def left(self, site_key: str) -> None:
        """An agent signed off through this process: count again (if the store is busy, the old
        count stands until it expires: the row is gone either way)."""
        from .errors import ParleyError

        try:
            self._cache.put(site_key, self._count(site_key))
        except ParleyError:
            pass
