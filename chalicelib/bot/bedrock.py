"""The Amazon Bedrock engine: a grounded LLM answer through the Converse API, with an honest fallback.

A site chooses it with ``{"engine": "bedrock", "bedrock": {...}, "knowledge": {...}}``
(``BedrockSettings`` lists the settings). Per visitor message:

1. **Retrieval.** The offline engine (a ``KnowledgeBot`` on the same site's
   knowledge document) finds the few entries that fit the question
   (``search(text, limit=3)``). Only those go into the system prompt, after the
   site's instructions, each as ``<entry id="…" title="…">answer</entry>``; the
   model is told to answer from them only and to cite each one it used with
   ``[[<id>]]``. The markers are taken out of the text (also mid-stream, where
   a marker may be split over chunks) and become the reply's ``sources``.
2. **Conversation.** The last ``MAX_TURNS`` messages go in as Converse messages
   (visitor -> user, bot and agent -> assistant, system messages dropped,
   consecutive turns of one role merged, starting with a user turn, as
   Converse requires), then the visitor's text.
3. **Handoff.** A ``handoff`` tool the model calls to ask for a person; the
   reply then has ``handoff=True``. Never a phrase spotted in the text.
4. **Budget.** Before each call one conditional write counts it against the
   site's daily calls and tokens (``context.budget``, a
   ``chalicelib.data.budgets.BudgetStore``); the call's tokens are added after.
5. **Fallback.** Over budget, throttled, any AWS error, a timeout (no byte for
   ``timeout_seconds``, or the whole answer taking longer than that) or a
   stream that breaks midway: the knowledge bot answers the same text instead,
   with ``fallback_reason`` set and one log line saying why and for which site
   (never the visitor's text).

The client is boto3's ``bedrock-runtime``, made on first use (or injected), its
endpoint boto3's own (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` locally), its read
timeout the site's ``timeout_seconds`` and a single attempt: a throttled call
is answered offline at once rather than retried while the visitor waits.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..lazy import Lazy
from . import BotContext, BotReply
from .knowledge import HANDOFF as HANDOFF_TEXT  # one wording for a handoff, whichever engine answers
from .knowledge import SEARCH_LIMIT, KnowledgeBot

log = logging.getLogger("parley.bot")

ENGINE = "bedrock"
MAX_TURNS = 10            # recent messages sent with the question: enough for "and on Sundays?"
MAX_TURN_CHARS = 2000     # one earlier message's share of the prompt
CONNECT_TIMEOUT_SECONDS = 2.0
MAX_CITATION_CHARS = 100  # longer than this between [[ and ]] is text, not a marker
DEFAULT_INSTRUCTIONS = "You are the friendly assistant of this website. Keep answers short and plain."

# The rules the engine relies on (markers, handoff) come after the site's instructions.
RULES = (
    "Answer the visitor's last message briefly, in the language they wrote it in, using only the "
    "knowledge entries below. Never make up facts (prices, dates, promises) the entries do not state. "
    "After each sentence that uses an entry, write the marker [[<id>]] with that entry's id in place "
    "of <id>. If the entries do not answer the question, say honestly that you do not know and offer "
    "to bring in a person from the team. When the visitor asks for a person, or you cannot help with "
    "what they need, call the handoff tool (you may also write one short line to the visitor). "
    "Greetings and thanks need no entry."
)
NO_ENTRIES = "No knowledge entry matches this question."

HANDOFF_TOOL = {"toolSpec": {
    "name": "handoff",
    "description": ("Ask for a person from the site's team to join this conversation: when the visitor "
                    "asks for a human, or when you cannot help with what they need."),
    "inputSchema": {"json": {"type": "object", "properties": {"reason": {"type": "string"}}}},
}}

# Error codes that mean "busy, try later"; an event-stream error names its
# exception in camelCase (throttlingException), an API error in PascalCase.
_THROTTLE_CODES = frozenset({"throttlingexception", "serviceunavailable", "serviceunavailableexception",
                             "toomanyrequestsexception"})
_TIMEOUT_CODES = frozenset({"modeltimeoutexception"})
_ROLES = {"visitor": "user", "bot": "assistant", "agent": "assistant"}
# Stop reasons whose text is a guardrail's or a filter's, not an answer.
_FILTERED = frozenset({"guardrail_intervened", "content_filtered"})

Text = Annotated[str, Field(min_length=1, max_length=2048)]


class BedrockSettings(BaseModel):
    """A site's ``bot.bedrock`` settings. Limits fit one short chat answer inside a Lambda."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, frozen=True,
                              defer_build=True)

    model_id: Text
    # The model's region, when it is not the Lambda's own (None: boto3's region).
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")] | None = None
    temperature: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 400
    guardrail_id: Text | None = None
    guardrail_version: Annotated[str, Field(pattern=r"^([1-9][0-9]{0,7}|DRAFT)$")] | None = None
    instructions: Annotated[str, Field(max_length=4000)] = DEFAULT_INSTRUCTIONS
    daily_calls: Annotated[int, Field(ge=1, le=10_000_000)] = 500
    daily_tokens: Annotated[int, Field(ge=1, le=10_000_000_000)] = 200_000
    # The longest wait for the model: for any one read, and for the whole answer.
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 20

    @model_validator(mode="after")
    def _guardrail_pair(self) -> "BedrockSettings":
        if (self.guardrail_id is None) != (self.guardrail_version is None):
            raise ValueError("guardrail_id and guardrail_version: give both or neither")
        return self


def parse_bedrock(data: Any) -> BedrockSettings:
    """The settings, validated; a ValueError names the field (``bot.bedrock.temperature: …``)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"bot.bedrock must be a JSON object, not {type(data).__name__}")
    try:
        return BedrockSettings.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown field; allowed: {sorted(BedrockSettings.model_fields)}"
            problems.append(f"bot.bedrock.{field}: {message}" if field else f"bot.bedrock: {message}")
        raise ValueError("; ".join(problems)) from None


def validate_bedrock(data: Any) -> dict[str, Any]:
    """A clean copy of valid ``bot.bedrock`` settings, defaults filled in (see ``parse_bedrock``)."""
    return parse_bedrock(data if data is not None else {}).model_dump()


def _make_client(settings: BedrockSettings) -> Any:
    from .. import aws  # boto3 is loaded by the first answer, not at import

    extra = {"region_name": settings.region} if settings.region else {}
    # One attempt: a throttle or a 5xx falls back to the knowledge bot at once, which
    # answers in milliseconds, instead of backing off while the visitor waits.
    return aws.client("bedrock-runtime", connect_timeout=CONNECT_TIMEOUT_SECONDS,
                      read_timeout=settings.timeout_seconds,
                      retries={"mode": "standard", "total_max_attempts": 1}, **extra)


# --- the prompt ---------------------------------------------------------------

def _attribute(value: str) -> str:
    return (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))


def entry_block(entry_id: str, title: str, answer: str) -> str:
    """One retrieved entry as the prompt holds it (the local stand-in parses exactly this)."""
    # An answer cannot close its own block early and smuggle in text that looks like an entry.
    body = re.sub(r"</entry", "</ entry", answer.strip(), flags=re.IGNORECASE)
    return f'<entry id="{_attribute(entry_id)}" title="{_attribute(title)}">\n{body}\n</entry>'


def system_prompt(instructions: str, hits: Sequence[Any]) -> str:
    """The site's instructions, the rules, and only the entries retrieved for this question."""
    parts = [p for p in (instructions.strip(), RULES) if p]
    if hits:
        parts.append("Knowledge entries:\n\n" + "\n\n".join(
            entry_block(h.entry_id, h.title, h.answer) for h in hits))
    else:
        parts.append(NO_ENTRIES)
    return "\n\n".join(parts)


def conversation(history: Iterable[Mapping[str, Any]], text: str,
                 turns: int = MAX_TURNS) -> list[dict[str, Any]]:
    """The recent conversation and the visitor's text as Converse messages.

    Converse wants user and assistant turns alternating and a user turn first:
    system messages are dropped, consecutive turns of one role merged (two
    visitor messages in a row, a bot answer then an agent's), and an opening
    bot greeting left out.
    """
    recent = [m for m in history
              if m.get("sender") in _ROLES and isinstance(m.get("text"), str) and m["text"].strip()]
    said = [(_ROLES[m["sender"]], m["text"].strip()[:MAX_TURN_CHARS]) for m in recent[-turns:]]
    messages: list[dict[str, Any]] = []
    for role, words in [*said, ("user", text.strip())]:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"][0]["text"] += "\n\n" + words
        else:
            messages.append({"role": role, "content": [{"text": words}]})
    while messages and messages[0]["role"] != "user":
        messages.pop(0)
    return messages


# --- citations ------------------------------------------------------------------

# A marker, and the spaces before it ("open at 9 [[hours]]." -> "open at 9.").
_MARKER = re.compile(r"[ \t]*\[\[([^\[\]\n]{1,%d})\]\]" % MAX_CITATION_CHARS)
# What may still become a marker: "[", "[[", "[[hou", "[[hours]".
_PARTIAL = re.compile(r"[ \t]*\[(\[[^\[\]\n]{0,%d}\]?)?$" % MAX_CITATION_CHARS)
_TRAILING_SPACE = re.compile(r"\s+$")


class Citations:
    """Takes ``[[<id>]]`` markers out of text that arrives in chunks, and keeps the ids.

    ``feed`` returns what can be shown now; it holds back a tail that may
    still turn into a marker (``"[[ho"``) and trailing whitespace (a marker
    may follow and take it). The pieces ``feed`` and ``finish`` return, joined,
    are exactly ``text`` (leading and trailing whitespace dropped).
    """

    def __init__(self) -> None:
        self.cited: list[str] = []
        self._pending = ""
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, chunk: str) -> str:
        self._pending += chunk
        return self._drain(final=False)

    def finish(self) -> str:
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        pending, shown, pos = self._pending, [], 0
        for marker in _MARKER.finditer(pending):
            shown.append(pending[pos:marker.start()])
            for cited in marker.group(1).split(","):
                if cited.strip() and cited.strip() not in self.cited:
                    self.cited.append(cited.strip())
            pos = marker.end()
        rest = pending[pos:]
        if final:
            held = len(rest) - len(rest.rstrip())
        else:
            partial = _PARTIAL.search(rest) or _TRAILING_SPACE.search(rest)
            held = len(rest) - partial.start() if partial else 0
        shown.append(rest[:len(rest) - held])
        self._pending = rest[len(rest) - held:] if held else ""
        out = "".join(shown)
        if not self._parts:
            out = out.lstrip()  # nothing shown yet: no leading whitespace
        if final:
            out = out.rstrip()
            self._pending = ""
        if out:
            self._parts.append(out)
        return out


# --- the engine -----------------------------------------------------------------

class _Fallback(Exception):
    """Ends an answer early: the knowledge bot answers instead, for ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def _failure(exc: BaseException) -> _Fallback:
    """Why a call failed, as a fallback reason and a detail safe to log (a class or an error code)."""
    if isinstance(exc, _Fallback):
        return exc
    from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError,
                                     ReadTimeoutError)
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
        if code.lower() in _THROTTLE_CODES:
            return _Fallback("throttled", code)
        if code.lower() in _TIMEOUT_CODES:
            return _Fallback("timeout", code)
        return _Fallback("error", code)
    # The event stream reads urllib3's response directly: a quiet socket raises
    # urllib3's ReadTimeoutError there, not botocore's.
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, Urllib3ReadTimeout, TimeoutError)):
        return _Fallback("timeout", type(exc).__name__)
    if isinstance(exc, (BotoCoreError, Urllib3Error, OSError)):
        return _Fallback("error", type(exc).__name__)
    return _Fallback("error", f"unexpected {type(exc).__name__}")


class _Answer:
    """One answer as it is written: its text (markers out), whether it handed off, its usage."""

    def __init__(self, hits: Sequence[Any]) -> None:
        self.hits = {h.entry_id: h for h in hits}
        self.citations = Citations()
        self.handoff = False
        self.stop_reason: str | None = None
        self.tokens = 0
        self._block: Any = None

    def text_block(self, index: Any, text: str) -> str:
        """Adds text of content block ``index``; a new block starts a new paragraph."""
        if self._block is not None and index != self._block and self.citations.text:
            text = "\n\n" + text
        self._block = index
        return self.citations.feed(text)

    def tool(self, name: Any) -> None:
        if name == "handoff":
            self.handoff = True

    def usage(self, usage: Mapping[str, Any] | None) -> None:
        usage = usage or {}
        total = usage.get("totalTokens")
        if total is None:
            total = int(usage.get("inputTokens") or 0) + int(usage.get("outputTokens") or 0)
        self.tokens = int(total)

    def reply(self) -> BotReply:
        self.citations.finish()
        text = self.citations.text
        if not text and not self.handoff:
            raise _Fallback("error", f"empty answer (stop reason {self.stop_reason})")
        used = [self.hits[i] for i in self.citations.cited if i in self.hits]
        filtered = self.stop_reason in _FILTERED
        return BotReply(text or HANDOFF_TEXT, None if filtered or not used else used[0].entry_id,
                        confident=not filtered, handoff=self.handoff,
                        sources=() if filtered else tuple(dict.fromkeys(h.title for h in used)),
                        engine=ENGINE)


class BedrockBot:
    """Answers through Bedrock's Converse API, grounded in the site's knowledge; see the module docstring."""

    streams = True

    def __init__(self, settings: Mapping[str, Any] | BedrockSettings, knowledge: Any = None, *,
                 client: Any = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        """``knowledge``: the site's knowledge document, or a ready knowledge bot (anything with
        ``search`` and ``reply``). ``client``: a bedrock-runtime client (made on first use if None).
        Invalid settings raise ValueError naming the field."""
        self.settings = settings if isinstance(settings, BedrockSettings) else parse_bedrock(settings)
        self.knowledge = knowledge if hasattr(knowledge, "reply") else KnowledgeBot(knowledge or {})
        self._client = Lazy(lambda: _make_client(self.settings), client)
        self._monotonic = monotonic

    @classmethod
    def from_bot_settings(cls, bot: Mapping[str, Any], **options: Any) -> "BedrockBot":
        """Built from a site's whole bot settings (its ``bedrock`` and ``knowledge``), by the registry."""
        return cls(bot.get("bedrock") or {}, bot.get("knowledge") or {}, **options)

    # -- the two ways to answer --

    def reply(self, text: str, history: Sequence[Mapping[str, Any]] = (),
              context: BotContext | None = None) -> BotReply:
        """One answer through Converse, or the knowledge bot's when that fails (see the module docstring)."""
        if not (text or "").strip():
            return self.knowledge.reply(text, history)
        grant = answer = None
        try:
            hits, request = self._request(text, history)
            grant = self._take(context)
            response = self._client.get().converse(**request)
            answer = _Answer(hits)
            answer.usage(response.get("usage"))
            answer.stop_reason = response.get("stopReason")
            for index, block in enumerate(response["output"]["message"]["content"]):
                if "text" in block:
                    answer.text_block(index, block["text"])
                elif "toolUse" in block:
                    answer.tool(block["toolUse"].get("name"))
            result = answer.reply()
        except Exception as exc:  # noqa: BLE001 - every failure is answered offline, and logged
            self._spend(context, grant, answer)
            return self._fall_back(text, history, context, _failure(exc))
        self._spend(context, grant, answer)
        return result

    def stream(self, text: str, history: Sequence[Mapping[str, Any]] = (),
               context: BotContext | None = None) -> Iterator[str | BotReply]:
        """Text chunks through ConverseStream as the model writes them, then the whole BotReply.

        A failure midway is not raised: the knowledge bot's reply comes last
        instead, and its text replaces whatever was streamed.
        """
        if not (text or "").strip():
            yield self.knowledge.reply(text, history)
            return
        grant = answer = events = result = None
        failed: _Fallback | None = None
        try:
            hits, request = self._request(text, history)
            grant = self._take(context)
            deadline = self._monotonic() + self.settings.timeout_seconds
            events = self._client.get().converse_stream(**request)["stream"]
            answer = _Answer(hits)
            stopped = False
            for event in events:
                if self._monotonic() > deadline:
                    raise _Fallback("timeout", f"answer took over {self.settings.timeout_seconds:g} s")
                chunk = self._event(answer, event)
                if chunk:
                    yield chunk
                stopped = stopped or "messageStop" in event
            if not stopped:
                raise _Fallback("error", "stream ended without messageStop")
            tail = answer.citations.finish()  # what was held back in case a marker followed
            if tail:
                yield tail
            result = answer.reply()
        except Exception as exc:  # noqa: BLE001 - every failure is answered offline, and logged
            failed = _failure(exc)
        finally:
            # An answer cut short (or a consumer that stopped reading) frees its connection now.
            close = getattr(events, "close", None)
            if close is not None:
                close()
        self._spend(context, grant, answer)
        yield result if failed is None else self._fall_back(text, history, context, failed)

    # -- the parts --

    def _request(self, text: str, history: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
        """The retrieved entries, and the Converse request built around them."""
        hits = list(self.knowledge.search(text, limit=SEARCH_LIMIT))
        s = self.settings
        request: dict[str, Any] = {
            "modelId": s.model_id,
            "messages": conversation(history, text),
            "system": [{"text": system_prompt(s.instructions, hits)}],
            "inferenceConfig": {"maxTokens": s.max_tokens, "temperature": s.temperature},
            "toolConfig": {"tools": [HANDOFF_TOOL]},
        }
        if s.guardrail_id:
            request["guardrailConfig"] = {"guardrailIdentifier": s.guardrail_id,
                                          "guardrailVersion": s.guardrail_version}
        return hits, request

    def _take(self, context: BotContext | None) -> Any:
        """Counts the call against the site's budget before it is made (no budget: no count)."""
        budget = context.budget if context is not None else None
        if budget is None:
            return None
        try:
            grant = budget.take(context.site_key, self.settings.daily_calls,  # type: ignore[union-attr]
                                self.settings.daily_tokens)
        except Exception as exc:  # noqa: BLE001 - a budget that cannot be checked is not spent on
            raise _Fallback("error", f"budget check failed ({type(exc).__name__})") from exc
        if grant is None:
            raise _Fallback("over_budget", "daily calls or tokens spent")
        return grant

    def _spend(self, context: BotContext | None, grant: Any, answer: _Answer | None) -> None:
        """Adds the call's tokens to the day's count; a failure here costs the visitor nothing."""
        if grant is None or answer is None or not answer.tokens or context is None or context.budget is None:
            return
        try:
            context.budget.spend(grant, answer.tokens)
        except Exception as exc:  # noqa: BLE001 - the answer is already paid for and given
            log.warning("bedrock bot, site %s: could not add %d tokens to the budget (%s)",
                        context.site_key, answer.tokens, type(exc).__name__)

    @staticmethod
    def _event(answer: _Answer, event: Mapping[str, Any]) -> str:
        """One ConverseStream event: the text it adds (after markers are taken out), if any."""
        if "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta") or {}
            if "text" in delta:
                return answer.text_block(block.get("contentBlockIndex"), delta["text"])
        elif "contentBlockStart" in event:
            tool = (event["contentBlockStart"].get("start") or {}).get("toolUse")
            if tool:
                answer.tool(tool.get("name"))
        elif "messageStop" in event:
            answer.stop_reason = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            answer.usage(event["metadata"].get("usage"))
        return ""

    def _fall_back(self, text: str, history: Sequence[Mapping[str, Any]], context: BotContext | None,
                   why: _Fallback) -> BotReply:
        site = context.site_key if context is not None else "-"
        log.warning("bedrock bot, site %s: answered by the knowledge bot instead (%s: %s)",
                    site, why.reason, why.detail)
        answer = self.knowledge.reply(text, history)
        return dataclasses.replace(answer, engine="knowledge", fallback_reason=why.reason)
