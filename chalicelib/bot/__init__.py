"""Bot engines behind one small interface, chosen per site by its bot settings.

A site's bot settings look like ``{"engine": "knowledge", "knowledge": {...}}``:
``engine`` names the engine (``knowledge`` when missing) and the engine's own
settings sit under a key of the same name. ``BotRegistry`` builds and keeps
them; engines are imported only when a site first asks for one, so importing
this package stays cheap at cold start.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..cache import Cache

DEFAULT_ENGINE = "knowledge"

# name -> "module:Class", the module relative to this package. An engine is a
# class built with its settings mapping; add one here to make it selectable.
ENGINES: dict[str, str] = {
    "knowledge": ".knowledge:KnowledgeBot",
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


class BotEngine(Protocol):
    """What the chat service needs from a bot."""

    def reply(self, text: str, history: Sequence[Mapping[str, Any]]) -> BotReply:
        """Answers one visitor message; ``history`` is the conversation so far."""
        ...


class BotRegistry:
    """Builds each site's engine once and keeps the last ``size`` of them.

    Building an engine has a cost (the knowledge index), and one warm Lambda
    answers the same few sites again and again: keep the last few, LRU.
    """

    def __init__(self, engines: Mapping[str, str] | None = None, size: int = _CACHE_SIZE) -> None:
        self.engines = dict(ENGINES if engines is None else engines)
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
        # sort_keys makes equal settings hash equal whatever order they were
        # written in; default=str tolerates a stray Decimal from DynamoDB.
        blob = json.dumps([name, settings], sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        known_engine, engine = self._built.peek(key)
        if known_engine:
            return engine  # type: ignore[return-value]
        # Built outside any lock so one slow build does not stall other sites;
        # two threads racing both build, and the last one stored stays.
        engine = self._load(name)(settings)
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
