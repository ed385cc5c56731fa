"""Parley's models: the records that cross the data layer's boundary, and the requests.

Records (``Site``, ``Conversation``, ``Message``) are frozen dataclasses: what
the data layer hands out and takes in, never raw DynamoDB items or loose
dicts. They are built on every read, so they are plain and cheap; their
values were checked when they were first written.

Requests are pydantic models of what the HTTP contract accepts, checked
strictly: ``"text": 123`` is a client bug to report, not a number to quietly
turn into the string "123".
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Mapping

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError,
                      field_validator)

from .errors import ParleyError

MAX_TEXT = 4000
# A bot reply names at most this many knowledge entries it used ("from: <title>"), each this long at most.
MAX_SOURCES = 5
MAX_SOURCE_CHARS = 200
MAX_SUGGESTIONS = 3
SITE_KEY = r"^[A-Za-z0-9_-]{1,64}$"
CONVERSATION_ID = r"^[A-Za-z0-9_-]{1,64}$"
MAX_VISITOR_FIELDS = 20
MAX_VISITOR_VALUE = 256
# How long a conversation is kept after its last message (a site's retention_days):
# half a year by default; at least a day, at most ten years. README, "Retention".
DEFAULT_RETENTION_DAYS = 180
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
# The bounds of a site's rate-limit override (chalicelib/limits.py names the limits):
# at least one request per window, at most a million, in windows of one second to one
# day (a counter row lives a window plus a minute).
MAX_RATE_LIMIT = 1_000_000
MAX_RATE_WINDOW_SECONDS = 86_400


def site_limits(value: Any) -> dict[str, dict[str, int]]:
    """A site's rate-limit overrides, checked: ``{name: {"limit": n, "window": seconds}}``.

    Only the names of chalicelib/limits.py's limits, each with exactly ``limit``
    and ``window``, whole numbers within bounds; a ValueError names what is wrong.
    """
    from .limits import DEFAULT_LIMITS  # here, not at the top: limits imports the data layer

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("limits: must be an object of {name: {limit, window}}")
    checked: dict[str, dict[str, int]] = {}
    for name, entry in value.items():
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"limits: unknown limit {name!r}; known: {', '.join(DEFAULT_LIMITS)}")
        if not isinstance(entry, Mapping) or set(entry) != {"limit", "window"}:
            raise ValueError(f"limits.{name}: must be {{\"limit\": n, \"window\": seconds}}")
        for part, top in (("limit", MAX_RATE_LIMIT), ("window", MAX_RATE_WINDOW_SECONDS)):
            number = entry[part]
            # bool is an int in Python; True is not a limit.
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= top:
                raise ValueError(f"limits.{name}.{part}: a whole number from 1 to {top}, not {number!r}")
        checked[name] = {"limit": entry["limit"], "window": entry["window"]}
    return checked


Sender = Literal["visitor", "bot", "agent", "system"]
ConversationStatus = Literal["bot", "pending", "open", "resolved"]


def normalize_origin(origin: str) -> str:
    """``HTTP://Example.com/`` and ``http://example.com`` are one origin."""
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class Site:
    """A registered site: who may embed the widget, and how its bot and widget behave."""

    site_key: str
    origins: tuple[str, ...]
    name: str = ""
    bot: Mapping[str, Any] = field(default_factory=dict)
    widget: Mapping[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    # Rate limits of this site over the deployment's (``site_limits`` checks them).
    limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # How long its conversations are kept after their last message (README, "Retention").
    retention_days: int = DEFAULT_RETENTION_DAYS
    # Business hours, what the widget promises, notifications, pre-chat fields (chalicelib/desk.py).
    desk: Mapping[str, Any] = field(default_factory=dict)
    # The events any of its webhooks subscribe to (the webhooks themselves are rows of their own):
    # a send looks here, in the cached site, before it costs a webhook anything.
    webhook_events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "origins", tuple(self.origins))
        object.__setattr__(self, "name", self.name or self.site_key)
        object.__setattr__(self, "bot", dict(self.bot or {}))
        object.__setattr__(self, "widget", dict(self.widget or {}))
        object.__setattr__(self, "limits", site_limits(self.limits))
        from .desk import desk_settings  # here: desk is imported by models' users, not the other way

        object.__setattr__(self, "desk", desk_settings(self.desk))
        object.__setattr__(self, "webhook_events", tuple(self.webhook_events or ()))

    def lists(self, origin: str) -> bool:
        """Whether ``origin`` is one of this site's origins (compared normalized)."""
        wanted = normalize_origin(origin)
        return any(normalize_origin(o) == wanted for o in self.origins)

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86400

    def changed(self, **changes: Any) -> "Site":
        return replace(self, **changes)


AgentRole = Literal["agent", "admin"]


@dataclass(frozen=True, slots=True)
class Member:
    """An agent's membership of one site. ``agent_id`` is the Cognito user's ``sub``."""

    agent_id: str
    site_key: str
    role: AgentRole = "agent"
    name: str = ""
    email: str = ""

    @property
    def display_name(self) -> str:
        return self.name or (self.email.split("@", 1)[0] if self.email else "Agent")


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's state record: who it belongs to, where it stands in its lifecycle."""

    conversation_id: str
    site_key: str
    status: ConversationStatus = "bot"
    last_seq: int = 0
    visitor: Mapping[str, str] | None = None
    locale: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    state_rev: int = 0
    status_since: str | None = None
    resolved_at: float | None = None
    agent_read_seq: int = 0
    last_message: Mapping[str, Any] | None = None
    page: str | None = None
    user_agent: str | None = None
    token_version: int = 0  # the version a visitor token must carry (tokens.py)
    # What the visitor left for the team to answer by email: {email, name, transcript}.
    contact: Mapping[str, Any] | None = None

    def assignee_json(self) -> dict[str, str] | None:
        return {"id": self.assignee_id, "name": self.assignee_name or ""} if self.assignee_id else None

    def summary(self) -> dict[str, Any]:
        """The conversation as the agent API shows it in the inbox."""
        return {"conversation_id": self.conversation_id, "site_key": self.site_key, "status": self.status,
                "assignee": self.assignee_json(), "last_seq": self.last_seq,
                "agent_read_seq": self.agent_read_seq, "unread": max(0, self.last_seq - self.agent_read_seq),
                "last_message": dict(self.last_message) if self.last_message else None,
                "status_since": self.status_since or self.created_at, "created_at": self.created_at,
                "updated_at": self.updated_at, "visitor": dict(self.visitor) if self.visitor else None,
                "locale": self.locale, "page": self.page, "user_agent": self.user_agent,
                "contact": contact_json(self.contact)}


def contact_json(contact: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A conversation's contact as the APIs show it (None: the visitor left none)."""
    if not contact:
        return None
    return {"email": contact.get("email"), "name": contact.get("name"), "transcript": bool(contact.get("transcript"))}


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; ``seq`` is its gapless place in the conversation."""

    id: str
    conversation_id: str
    seq: int
    sender: Sender
    text: str
    created_at: str
    client_message_id: str | None = None
    sender_name: str | None = None              # an agent's display name
    event: Mapping[str, Any] | None = None      # a system message's structured change
    # A bot reply: the id its streamed deltas carried (the same before it was stored, and after),
    # and the titles of the knowledge entries it used.
    reply_id: str | None = None
    sources: tuple[str, ...] | None = None
    # A bot reply that did not know: entry questions to offer the visitor instead.
    suggestions: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The message in the HTTP contract's shape (optional fields only when set)."""
        body: dict[str, Any] = {"id": self.id, "conversation_id": self.conversation_id,
                                "seq": self.seq, "sender": self.sender, "text": self.text,
                                "created_at": self.created_at}
        if self.client_message_id is not None:
            body["client_message_id"] = self.client_message_id
        if self.sender_name is not None:
            body["sender_name"] = self.sender_name
        if self.event is not None:
            body["event"] = dict(self.event)
        if self.reply_id is not None:
            body["reply_id"] = self.reply_id
        if self.sources is not None:
            body["sources"] = list(self.sources)
        if self.suggestions is not None:
            body["suggestions"] = list(self.suggestions)
        return body


def bounded_sources(sources: Any, limit: int = MAX_SOURCES) -> tuple[str, ...]:
    """A reply's sources (or suggestions) as stored: text only, no repeats, at most ``limit`` of MAX_SOURCE_CHARS each."""
    kept: list[str] = []
    for title in sources or ():
        if isinstance(title, str) and title.strip() and title[:MAX_SOURCE_CHARS] not in kept:
            kept.append(title[:MAX_SOURCE_CHARS])
        if len(kept) == limit:
            break
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class Page:
    """A run of messages and the conversation's ``last_seq`` (the highest seq known to exist)."""

    messages: list[Message]
    last_seq: int
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        return {"messages": [m.to_json() for m in self.messages], "last_seq": self.last_seq,
                "has_more": self.has_more}


# C0 and C1 control characters but tab and newline: NUL, ESC, BEL, CR … carry no
# meaning in a chat message or a visitor fact and can upset whatever shows or
# logs them later. Refused rather than stripped, so what is stored is what was sent.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What looks like nothing: whitespace, and the invisible format characters
# (zero-width space and joiners, bidi controls, the BOM: Unicode category Cf).
def _invisible_only(value: str) -> bool:
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in value)


def _plain_text(value: str, *, newlines: bool) -> str:
    """Refuses control characters (tab and newline too, unless ``newlines``)."""
    bad = _CONTROL.search(value) if newlines else re.search(r"[\x00-\x1f\x7f-\x9f]", value)
    if bad:
        raise ValueError(f"must not contain control characters (found U+{ord(bad.group()):04X})")
    return value


def _encodable(value: str) -> str:
    # JSON may carry "\ud800", a lone surrogate: a Python str, but no UTF-8
    # text, so DynamoDB (and our own JSON answer) could not take it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value

SiteKey = Annotated[StrictStr, Field(pattern=SITE_KEY)]
ConversationId = Annotated[StrictStr, Field(pattern=CONVERSATION_ID)]


class _Body(BaseModel):
    # Unknown fields are ignored, so newer widgets can talk to older backends.
    # defer_build: a model's validator is built when first used, not at import,
    # so a cold start pays only for the model its first request needs.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, defer_build=True)


class InitRequest(_Body):
    site_key: SiteKey
    conversation_id: ConversationId | None = None
    token: Annotated[StrictStr, Field(min_length=1, max_length=1024)] | None = None
    # A few facts the site passes along (name, email, page): flat, small, text.
    visitor: dict[str, StrictStr] | None = None
    # A BCP 47 tag: "de-AT", "zh-Hant-TW"; 35 characters hold any real one.
    locale: Annotated[StrictStr, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")] | None = None
    # The page the visitor is on: a fact for the agent, shown as text, never followed.
    page: Annotated[StrictStr, Field(max_length=2000)] | None = None

    @field_validator("page")
    @classmethod
    def _page_is_text(cls, value: str | None) -> str | None:
        return _plain_text(_encodable(value), newlines=False) if value else None

    @field_validator("visitor")
    @classmethod
    def _visitor_is_small(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_VISITOR_FIELDS:
            raise ValueError(f"must have at most {MAX_VISITOR_FIELDS} fields")
        for key, item in value.items():
            if not 1 <= len(key) <= 64 or len(item) > MAX_VISITOR_VALUE:
                raise ValueError(f"names must be 1-64 and values at most {MAX_VISITOR_VALUE} characters")
            _plain_text(_encodable(key), newlines=False)
            _plain_text(_encodable(item), newlines=False)
        return value


class SendRequest(_Body):
    conversation_id: ConversationId
    text: StrictStr
    client_message_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    # The sender's Pusher socket, left out of the broadcast (it has the answer).
    socket_id: Annotated[StrictStr, Field(pattern=r"^[0-9]{1,20}\.[0-9]{1,20}$")] | None = None

    @field_validator("text")
    @classmethod
    def _text_has_content(cls, value: str) -> str:
        # Stored as typed (the visitor's own spacing), but judged by its content.
        if _invisible_only(value):
            raise ValueError("must not be empty, only whitespace or only invisible characters")
        if len(value) > MAX_TEXT:
            raise ValueError(f"must be at most {MAX_TEXT} characters")
        return _plain_text(_encodable(value), newlines=True)

    @field_validator("client_message_id")
    @classmethod
    def _cmid_is_printable(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("must be printable, without surrounding spaces")
        return _encodable(value)


class ConversationRef(_Body):
    """A visitor route about one conversation (handoff, typing)."""

    conversation_id: ConversationId


# An address a mail can go to, and no more: no display name, no comments, nothing a mail header could
# be broken with (the transcript goes to it; agents reply to it). Checked by shape only: whether
# anyone reads it is not knowable here. SES takes 7-bit local parts and punycode domains, so a
# domain in Unicode is stored as its punycode.
EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                   r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
MAX_EMAIL = 254
MAX_CONTACT_NAME = 100


def checked_email(value: str) -> str:
    """The address, trimmed (a Unicode domain as punycode); ParleyError 400 ``invalid_email`` when it is none."""
    from .errors import ParleyError

    address = value.strip()
    local, at, domain = address.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        domain = ""
    address = f"{local}{at}{domain}"
    if len(address) > MAX_EMAIL or len(local) > 64 or not EMAIL.fullmatch(address):
        raise ParleyError("invalid_email", "That does not look like an email address (name@example.com).")
    return address


class ContactRequest(_Body):
    """What a visitor leaves for the team: any of email, name and whether they want the transcript."""

    conversation_id: ConversationId
    email: Annotated[StrictStr, Field(max_length=400)] | None = None
    name: Annotated[StrictStr, Field(max_length=MAX_CONTACT_NAME)] | None = None
    transcript: StrictBool | None = None

    @field_validator("name")
    @classmethod
    def _name_is_text(cls, value: str | None) -> str | None:
        return _plain_text(_encodable(value), newlines=False).strip() if value is not None else None

    def changes(self) -> dict[str, Any]:
        """The fields the request gave (an explicit null removes one); 400 when it gives none."""
        from .errors import ParleyError

        given = {name: getattr(self, name) for name in ("email", "name", "transcript") if name in self.model_fields_set}
        if not given:
            raise ParleyError("invalid_request", "Give at least one of email, name and transcript.")
        if given.get("email"):
            given["email"] = checked_email(given["email"])
        return given


class ReplyRequest(_Body):
    """An agent's reply: text and an idempotency key, as a visitor's send."""

    text: StrictStr
    client_message_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    socket_id: Annotated[StrictStr, Field(pattern=r"^[0-9]{1,20}\.[0-9]{1,20}$")] | None = None

    _text = field_validator("text")(SendRequest._text_has_content.__func__)  # type: ignore[attr-defined]
    _cmid = field_validator("client_message_id")(SendRequest._cmid_is_printable.__func__)  # type: ignore[attr-defined]


class AssignRequest(_Body):
    agent_id: Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:+-]+$")]


class ReadRequest(_Body):
    seq: Annotated[StrictInt, Field(ge=0, le=9_999_999_999)]


InboxStatus = Literal["pending", "open", "mine", "resolved", "bot"]


class InboxQuery(_Body):
    status: InboxStatus = "pending"
    limit: Annotated[StrictInt, Field(ge=1, le=50)] = 25
    cursor: Annotated[StrictStr, Field(min_length=1, max_length=1500)] | None = None


class DeliveriesQuery(_Body):
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 50


class MessagesQuery(_Body):
    conversation_id: ConversationId
    after: Annotated[StrictInt, Field(ge=0, le=9_999_999_999)] | None = None
    before: Annotated[StrictInt, Field(ge=1, le=10_000_000_000)] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 100


class TranscriptQuery(_Body):
    conversation_id: ConversationId
    format: Literal["text", "json"] = "text"


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validates data into a model; a failure becomes one readable 400."""
    if not isinstance(data, dict):
        raise ParleyError("invalid_request", "The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "body"
            if err["type"] == "missing":
                problems.append(f"{field}: is required")
            else:
                problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
        raise ParleyError("invalid_request", "; ".join(problems)) from None
