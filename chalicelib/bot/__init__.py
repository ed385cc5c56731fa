"""Bot engines behind one small interface, chosen per site by its bot settings.

A site's bot settings look like ``{"engine": "knowledge", "knowledge": {...}}``:
``engine`` names the engine (``knowledge`` when missing) and the engine's own
settings sit under a key of the same name. Engines are imported only when a
site first asks for one, so importing this package stays cheap at cold start.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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

    Attributes:
        text: The reply text.
        matched: Id of the knowledge entry that answered, None if none did.
        confident: False when the bot says it does not know.
    """

    text: str
    matched: str | None
    confident: bool


class BotEngine(Protocol):
    """What the chat service needs from a bot."""

    def reply(self, text: str, history: Sequence[Mapping[str, Any]]) -> BotReply:
        """Answers one visitor message; ``history`` is the conversation so far."""
        ...


# Building an engine has a cost (the knowledge index), and one warm Lambda
# answers the same few sites again and again: keep the last few, LRU.
_engines: OrderedDict[str, BotEngine] = OrderedDict()
_engines_lock = threading.Lock()


def get_engine(bot_config: Mapping[str, Any] | None) -> BotEngine:
    """The engine for a site's bot settings, built once and cached.

    None, or settings without ``engine``, mean the knowledge bot. An unknown
    engine, or invalid settings for it, raise ValueError.
    """
    config = bot_config or {}
    name = config.get("engine") or DEFAULT_ENGINE
    if not isinstance(name, str) or name not in ENGINES:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown bot engine {name!r} (known: {known})")
    settings = config.get(name) or {}
    # sort_keys makes equal settings hash equal whatever order they were
    # written in; default=str tolerates a stray Decimal from DynamoDB.
    blob = json.dumps([name, settings], sort_keys=True, separators=(",", ":"), default=str)
    key = hashlib.sha256(blob.encode("utf-8")).hexdigest()

    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine

    # Built outside the lock so one slow build does not stall other sites;
    # if two threads race, the first one stored wins and both return it.
    built = _load(name)(settings)
    with _engines_lock:
        engine = _engines.setdefault(key, built)
        _engines.move_to_end(key)
        while len(_engines) > _CACHE_SIZE:
            _engines.popitem(last=False)
    return engine


def _load(name: str) -> Any:
    """Imports the engine class registered under ``name``."""
    module_name, _, class_name = ENGINES[name].partition(":")
    module = importlib.import_module(module_name, package=__name__)
    return getattr(module, class_name)


_ENTRY_FIELDS = {"id", "questions", "keywords", "answer"}
_DOCUMENT_FIELDS = {"entries", "fallback"}


def validate_knowledge(data: Any, *, allow_empty: bool = False) -> dict[str, Any]:
    """Checks a knowledge document and returns a clean copy (strings stripped).

    ``allow_empty`` accepts a document without entries (a bot that only
    greets and falls back); the admin CLI leaves it off. A ValueError says
    which entry and field is wrong.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"knowledge must be a JSON object, not {type(data).__name__}")
    # Unknown fields are refused so a typo ("answers", "keyword") is caught
    # by the CLI instead of silently leaving an entry unreachable.
    unknown = sorted(set(data) - _DOCUMENT_FIELDS)
    if unknown:
        raise ValueError(f"knowledge has unknown field(s) {unknown}; allowed: entries, fallback")
    clean: dict[str, Any] = {}
    if "fallback" in data:
        clean["fallback"] = _text(data["fallback"], "knowledge 'fallback'")

    entries = data.get("entries", [])
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"knowledge 'entries' must be a list, not {type(entries).__name__}")
    if not entries and not allow_empty:
        raise ValueError("knowledge 'entries' is empty: add at least one entry")

    clean["entries"] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"entries[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be an object, not {type(entry).__name__}")
        entry_id = _text(entry.get("id"), f"{where} 'id'")
        where = f"{where} (id {entry_id!r})"
        if entry_id in seen:
            raise ValueError(f"{where}: duplicate id, first used by entries[{seen[entry_id]}]")
        seen[entry_id] = index
        unknown = sorted(set(entry) - _ENTRY_FIELDS)
        if unknown:
            raise ValueError(f"{where} has unknown field(s) {unknown}; allowed: {sorted(_ENTRY_FIELDS)}")
        questions = _texts(entry.get("questions", []), f"{where} 'questions'")
        keywords = _texts(entry.get("keywords", []), f"{where} 'keywords'")
        if not questions and not keywords:
            raise ValueError(f"{where} needs at least one question or keyword, or nothing can reach it")
        answer = _text(entry.get("answer"), f"{where} 'answer'")
        clean["entries"].append(
            {"id": entry_id, "questions": questions, "keywords": keywords, "answer": answer})
    return clean


def _text(value: Any, what: str) -> str:
    """A non-empty string, stripped."""
    if value is None:
        raise ValueError(f"{what} is missing")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")
    return value.strip()


def _texts(value: Any, what: str) -> list[str]:
    """A list of non-empty strings, stripped."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{what} must be a list of strings, not {type(value).__name__}")
    return [_text(item, f"{what}[{i}]") for i, item in enumerate(value)]
