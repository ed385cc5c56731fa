"""Bot engines behind one small interface, chosen per site by its bot settings.

A site's bot settings look like ``{"engine": "knowledge", "knowledge": {...}}``:
``engine`` names the engine (``knowledge`` when missing) and the engine's own
settings sit under a key of the same name. ``BotRegistry`` builds and keeps
them; engines are imported only when a site first asks for one, so importing
this package stays cheap at cold start.

An engine answers inline (``streams = False``: fast, in the request that
stored the visitor's message) or off the request path (``streams = True``:
``stream()`` yields its text as it is written). ``context`` carries what an
engine needs from the request beyond the text: the site and its budget.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..cache import Cache

DEFAULT_ENGINE = "knowledge"

# name -> "module:Class", the module relative to this package. An engine is a
# class built with its settings mapping; add one here to make it selectable.
# An engine class with a ``from_bot_settings(bot_config, **options)`` classmethod is
# built from the site's whole bot settings instead (the Bedrock engine needs its
# own settings and the knowledge document it retrieves from and falls back to).
ENGINES: dict[str, str] = {
    "knowledge": ".knowledge:KnowledgeBot",
    "bedrock": ".bedrock:BedrockBot",
}

_CACHE_SIZE = 64


@dataclass(frozen=True)
class BotReply:
    """One bot answer, ready to be stored as a bot message.

    ``matched`` is the id of the knowledge entry that answered (None if none
    did); ``confident`` is False when the bot says it does not know.
    """

    text: str
    matched: str | None
    confident: bool
    # The visitor asked for a person: the chat service hands the conversation
    # to the team (a lifecycle change, never a phrase in the text).
    handoff: bool = False
    # Titles of the knowledge entries the answer used (the widget's "from: <title>").
    sources: tuple[str, ...] = ()
    # When it does not know: entry questions it might have meant, to offer as one-tap
    # questions (the widget's "Did you mean:"), best first. Empty when it answered.
    suggestions: tuple[str, ...] = ()
    # Which engine produced it: "knowledge" also when a bedrock engine fell back.
    engine: str = "knowledge"
    # Why a bedrock engine fell back to the knowledge bot: "over_budget",
    # "throttled", "error" or "timeout"; None when it did not.
    fallback_reason: str | None = None


class Budget(Protocol):
    """A site's daily budget of engine calls (``chalicelib.data.budgets.BudgetStore``)."""

    def take(self, site_key: str, daily_calls: int, daily_tokens: int) -> Any | None:
        """Counts one call, or answers None when the day's calls or tokens are spent."""
        ...

    def spend(self, grant: Any, tokens: int) -> None:
        """Adds the tokens a counted call used."""
        ...


@dataclass(frozen=True)
class BotContext:
    """What the caller knows about the request: the site, and its budget (None: unlimited)."""

    site_key: str
    budget: Budget | None = None


class BotEngine(Protocol):
    """What the chat service needs from a bot.

    ``history`` is the recent conversation without the current message, oldest
    first: ``{"sender": "visitor"|"bot"|"agent"|"system", "text": ...}`` dicts.
    """

    # False: fast, answered inline in /send. True: answered off the request path.
    streams: bool

    def reply(self, text: str, history: Sequence[Mapping[str, Any]],
              context: BotContext | None = None) -> BotReply:
        """Answers one visitor message."""
        ...

    def stream(self, text: str, history: Sequence[Mapping[str, Any]],
               context: BotContext | None = None) -> Iterator[str | BotReply]:
        """Yields text chunks as they are written, then exactly one BotReply (the whole answer).

        A failure midway is not raised: the engine falls back itself and yields
        the fallback BotReply last; its text replaces everything streamed so far.
        """
        ...


class BotRegistry:
    """Builds each site's engine once and keeps the last ``size`` of them.

    Building an engine has a cost (the knowledge index), and one warm Lambda
    answers the same few sites again and again: keep the last few, LRU.
    """

    def __init__(self, engines: Mapping[str, str] | None = None, size: int = _CACHE_SIZE,
                 options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """``options``: keyword arguments per engine name for engines built with
        ``from_bot_settings`` (``{"bedrock": {"client": fake}}`` in tests)."""
        self.engines = dict(ENGINES if engines is None else engines)
        self.options = {name: dict(opts) for name, opts in (options or {}).items()}
        self._built: Cache[str, BotEngine] = Cache(size)

    def engine_for(self, bot_config: Mapping[str, Any] | None) -> BotEngine:
        """The engine for a site's bot settings, built once and cached.

        None, or settings without ``engine``, mean the knowledge bot. An unknown
        engine, or invalid settings for it, raise ValueError.
        """
        config = bot_config or {}
        name = config.get("engine") or DEFAULT_ENGINE
        if not isinstance(name, str) or name not in self.engines:
            known = ", ".join(sorted(self.engines))
            raise ValueError(f"unknown bot engine {name!r} (known: {known})")
        settings = config.get(name) or {}
        cls = self._load(name)
        factory = getattr(cls, "from_bot_settings", None)
        # sort_keys makes equal settings hash equal whatever order they were
        # written in; default=str tolerates a stray Decimal from DynamoDB.
        blob = json.dumps([name, config if factory else settings], sort_keys=True,
                          separators=(",", ":"), default=str)
        key = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        known_engine, engine = self._built.peek(key)
        if known_engine:
            return engine  # type: ignore[return-value]
        # Built outside any lock so one slow build does not stall other sites;
        # two threads racing both build, and the last one stored stays.
        engine = factory(config, **self.options.get(name, {})) if factory else cls(settings)
        self._built.put(key, engine)
        return engine

    def _load(self, name: str) -> Any:
        """Imports the engine class registered under ``name``."""
        module_name, _, class_name = self.engines[name].partition(":")
        module = importlib.import_module(module_name, package=__name__)
        return getattr(module, class_name)


def validate_knowledge(data: Any, *, allow_empty: bool = False) -> dict[str, Any]:
    """Checks a knowledge document and returns a clean copy (strings stripped).

    ``allow_empty`` accepts a document without entries (a bot that only
    greets and falls back); the admin CLI leaves it off. A ValueError says
    which entry and field is wrong (``document.KnowledgeDocument`` is the model).
    """
    from .document import parse_knowledge  # pydantic's model is built on first use

    return parse_knowledge(data, allow_empty=allow_empty).model_dump(exclude_none=True)


def validate_bot_settings(bot: Any) -> dict[str, Any]:
    """Checks a site's whole bot settings and returns a clean copy.

    ``engine`` must be a registered one (``knowledge`` when missing); the
    knowledge document is checked as ``validate_knowledge`` does (it may be
    empty); with ``engine: "bedrock"`` the ``bedrock`` settings are checked too
    (``bedrock.BedrockSettings``). A ValueError names the field that is wrong.
    """
    if bot is None:
        bot = {}
    if not isinstance(bot, Mapping):
        raise ValueError(f"bot settings must be a JSON object, not {type(bot).__name__}")
    clean = dict(bot)
    name = clean.get("engine") or DEFAULT_ENGINE
    if not isinstance(name, str) or name not in ENGINES:
        raise ValueError(f"bot.engine: unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    clean["engine"] = name
    clean["knowledge"] = validate_knowledge(clean.get("knowledge") or {}, allow_empty=True)
    if name == "bedrock" or "bedrock" in clean:
        from .bedrock import validate_bedrock  # boto3 and pydantic only when a site uses it

        clean["bedrock"] = validate_bedrock(clean.get("bedrock"))
    return clean
