"""A streaming bot engine for tests: its site's bot settings say what it writes, chunk by chunk.

Registered under ``ENGINE`` (``BotRegistry(engines={**ENGINES, ENGINE: PATH})``, or
``PARLEY_BOT_ENGINES=test-stream=tests.streaming_engine:StreamingEngine`` for a
process of the local stack). A site's settings::

    {"engine": "test-stream", "knowledge": {...},
     "test-stream": {"chunks": ["Open ", "9 to 5."], "seconds_per_chunk": 0.05,
                     "sources": ["Opening hours"], "handoff": false, "confident": true,
                     "fail_after": null, "raise_after": null}}

Between chunks it waits ``seconds_per_chunk`` on ``advance`` (a fake clock's, in
tests) or, without one, really sleeps. ``fail_after: n`` gives up after n
chunks the way a real engine does (its fallback BotReply last, text replacing
what was streamed); ``raise_after: n`` raises instead (an engine bug).
Without chunks it echoes the visitor's text. ``calls`` records each call.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable

from chalicelib.bot import BotReply

ENGINE = "test-stream"
PATH = "tests.streaming_engine:StreamingEngine"
FALLBACK_TEXT = "Sorry, I could not finish that answer. Someone from the team can help."


class StreamingEngine:
    streams = True

    def __init__(self, settings: Mapping[str, Any] | None = None, *, advance: Callable[[float], None] | None = None,
                 calls: list[dict[str, Any]] | None = None) -> None:
        self.settings = dict(settings or {})
        self.advance = advance or time.sleep
        self.calls = calls if calls is not None else []

    @classmethod
    def from_bot_settings(cls, bot_config: Mapping[str, Any], **options: Any) -> "StreamingEngine":
        return cls(bot_config.get(ENGINE) or {}, **options)

    def _chunks(self, text: str) -> list[str]:
        return list(self.settings.get("chunks") or [f"You said: {text}"])

    def _final(self, text: str) -> BotReply:
        s = self.settings
        return BotReply("".join(self._chunks(text)), "entry", bool(s.get("confident", True)),
                        handoff=bool(s.get("handoff", False)), sources=tuple(s.get("sources") or ()), engine=ENGINE)

    def reply(self, text: str, history: Sequence[Mapping[str, Any]] = (), context: Any = None) -> BotReply:
        self.calls.append({"kind": "reply", "text": text, "history": list(history), "context": context})
        return self._final(text)

    def stream(self, text: str, history: Sequence[Mapping[str, Any]] = (),
               context: Any = None) -> Iterator[str | BotReply]:
        self.calls.append({"kind": "stream", "text": text, "history": list(history), "context": context})
        s = self.settings
        for i, chunk in enumerate(self._chunks(text)):
            if s.get("fail_after") is not None and i == s["fail_after"]:
                yield BotReply(FALLBACK_TEXT, None, False, engine="knowledge", fallback_reason="error")
                return
            if s.get("raise_after") is not None and i == s["raise_after"]:
                raise RuntimeError("the test engine broke mid-stream")
            self.advance(float(s.get("seconds_per_chunk", 0.0)))
            yield chunk
        yield self._final(text)
