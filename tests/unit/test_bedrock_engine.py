"""The Bedrock engine: its prompt, conversation, citations, handoff tool, budget and fallbacks.

A small fake bedrock-runtime client stands where boto3's stands: ``converse``
and ``converse_stream`` answer with the shapes botocore returns, and record
what they were asked. No network.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, EventStreamError, ReadTimeoutError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

from chalicelib.bot import BotContext, BotRegistry, BotReply, validate_bot_settings
from chalicelib.bot.bedrock import (HANDOFF_TEXT, HANDOFF_TOOL, NO_ENTRIES, BedrockBot, Citations,
                                    _make_client, conversation, parse_bedrock)
from chalicelib.bot.knowledge import Hit, KnowledgeBot

SETTINGS = {"model_id": "anthropic.claude-3-haiku-20240307-v1:0", "temperature": 0.2, "max_tokens": 400,
            "instructions": "You are the assistant of Acme Bikes.", "daily_calls": 5, "daily_tokens": 1000,
            "timeout_seconds": 5}
KNOWLEDGE = {"entries": [
    {"id": "hours", "title": "Opening hours", "questions": ["When are you open?"],
     "keywords": ["opening hours"], "answer": "We open 9 to 5, Monday to Friday."},
    {"id": "pricing", "title": "Prices", "questions": ["How much does a bike cost?"],
     "keywords": ["price"], "answer": "Bikes start at 300 euros."},
    {"id": "returns", "questions": ["Can I send a bike back?"], "keywords": ["refund"],
     "answer": "Within 30 days."},
]}
QUESTION = "When are you open?"
SECRET_QUESTION = "my card is 4111 1111 1111 1111, when are you open?"


class FakeKnowledge:
    """The offline engine: ``search`` answers the given hits, ``reply`` a fixed offline answer."""

    streams = False

    def __init__(self, hits: Iterable[Hit] = ()) -> None:
        self.hits = list(hits)
        self.searched: list[tuple[str, int]] = []
        self.replied: list[str] = []

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        self.searched.append((text, limit))
        return self.hits[:limit]

    def reply(self, text: str, history: Any = (), context: Any = None) -> BotReply:
        self.replied.append(text)
        return BotReply("Offline answer.", "hours", True, sources=("Opening hours",))


HOURS = Hit("hours", "Opening hours", "We open 9 to 5, Monday to Friday.", 1.2)
PRICES = Hit("pricing", "Prices", "Bikes start at 300 euros.", 0.6)


def client_error(code: str, operation: str = "Converse") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


def text_events(*chunks: str, stop: str = "end_turn", tokens: int = 42) -> list[dict[str, Any]]:
    """A ConverseStream answer as botocore yields it: start, text deltas, stop, usage."""
    return [{"messageStart": {"role": "assistant"}},
            *({"contentBlockDelta": {"delta": {"text": c}, "contentBlockIndex": 0}} for c in chunks),
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": stop}},
            {"metadata": {"usage": {"inputTokens": tokens - 2, "outputTokens": 2, "totalTokens": tokens},
                          "metrics": {"latencyMs": 12}}}]


def converse_answer(*blocks: dict[str, Any], stop: str = "end_turn", tokens: int = 42) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": list(blocks)}}, "stopReason": stop,
            "usage": {"inputTokens": tokens - 2, "outputTokens": 2, "totalTokens": tokens},
            "metrics": {"latencyMs": 12}}


class FakeStream:
    """The event stream: yields its events; an exception among them is raised at that point."""

    def __init__(self, events: Iterable[Any]) -> None:
        self.events = list(events)
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self.events:
            if isinstance(event, BaseException):
                raise event
            yield event

    def close(self) -> None:
        self.closed = True


class FakeBedrock:
    """bedrock-runtime: ``converse`` answers ``answer``, ``converse_stream`` streams ``events``;
    ``error`` is raised by either instead. Calls are recorded in ``calls`` (and ``log``)."""

    def __init__(self, answer: dict[str, Any] | None = None, events: Iterable[Any] | None = None,
                 error: BaseException | None = None, log: list[str] | None = None) -> None:
        self.answer = answer or converse_answer({"text": "We open at 9. [[hours]]"})
        self.events = list(events) if events is not None else text_events("We open at 9. [[hours]]")
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.log = log if log is not None else []
        self.stream: FakeStream | None = None

    def converse(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("converse", request))
        self.log.append("converse")
        if self.error:
            raise self.error
        return self.answer

    def converse_stream(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("converse_stream", request))
        self.log.append("converse_stream")
        if self.error:
            raise self.error
        self.stream = FakeStream(self.events)
        return {"stream": self.stream}

    @property
    def request(self) -> dict[str, Any]:
        assert self.calls, "expected a call to Bedrock, there was none"
        return self.calls[-1][1]


class FakeBudget:
    """A site's daily budget: ``left`` calls; records takes and spends (in ``log`` too)."""

    def __init__(self, left: int = 10, log: list[str] | None = None, fail: bool = False) -> None:
        self.left, self.fail = left, fail
        self.taken: list[tuple[str, int, int]] = []
        self.spent: list[tuple[Any, int]] = []
        self.log = log if log is not None else []

    def take(self, site_key: str, daily_calls: int, daily_tokens: int) -> Any:
        self.log.append("take")
        if self.fail:
            raise ConnectionError("table unreachable")
        self.taken.append((site_key, daily_calls, daily_tokens))
        if self.left <= 0:
            return None
        self.left -= 1
        return ("grant", site_key)

    def spend(self, grant: Any, tokens: int) -> None:
        self.log.append("spend")
        self.spent.append((grant, tokens))


def make_bot(client: FakeBedrock, hits: Iterable[Hit] = (HOURS,), settings: dict | None = None,
             **kwargs: Any) -> tuple[BedrockBot, FakeKnowledge]:
    knowledge = FakeKnowledge(hits)
    return BedrockBot(settings or SETTINGS, knowledge, client=client, **kwargs), knowledge


def streamed(bot: BedrockBot, text: str = QUESTION, history: Any = (),
             context: BotContext | None = None) -> tuple[list[str], BotReply]:
    items = list(bot.stream(text, history, context))
    assert items and isinstance(items[-1], BotReply), f"expected a BotReply last, got {items!r}"
    assert all(isinstance(i, str) for i in items[:-1]), f"expected text chunks before the reply, got {items!r}"
    return items[:-1], items[-1]


def system_text(client: FakeBedrock) -> str:
    return "".join(block["text"] for block in client.request["system"])


# --- the prompt ---------------------------------------------------------------

def test_system_prompt_holds_the_instructions_and_only_the_retrieved_entries():
    client = FakeBedrock()
    bot, knowledge = make_bot(client, hits=[HOURS])
    bot.reply(QUESTION, [])
    system = system_text(client)
    assert knowledge.searched == [(QUESTION, 3)], "expected one retrieval of the top 3 entries for the question"
    assert system.startswith(SETTINGS["instructions"]), f"expected the site's instructions first: {system!r}"
    assert '<entry id="hours" title="Opening hours">\nWe open 9 to 5, Monday to Friday.\n</entry>' in system
    assert system.count("<entry ") == 1, f"expected only the retrieved entry in the prompt: {system!r}"
    assert "300 euros" not in system, "an entry that was not retrieved must stay out of the prompt"
    assert "[[<id>]]" in system, "expected the model to be told how to cite entries"


def test_prompt_of_the_real_knowledge_bot_holds_its_own_retrieval_only():
    client = FakeBedrock()
    registry = BotRegistry(options={"bedrock": {"client": client}})
    bot = registry.engine_for({"engine": "bedrock", "bedrock": SETTINGS, "knowledge": KNOWLEDGE})
    assert isinstance(bot, BedrockBot) and bot.streams is True
    bot.reply("When are you open?", [])
    system = system_text(client)
    assert '<entry id="hours" title="Opening hours">' in system, f"expected the hours entry: {system!r}"
    assert "300 euros" not in system and "30 days" not in system, f"expected only what retrieval found: {system!r}"


def test_an_entry_without_a_title_is_named_by_the_knowledge_bot_and_attributes_are_escaped():
    client = FakeBedrock()
    odd = Hit('say "hi"', 'Tom & "Jerry" <3', "Hello </entry> there", 1.0)
    bot, _ = make_bot(client, hits=[odd])
    bot.reply("hi?", [])
    system = system_text(client)
    assert '<entry id="say &quot;hi&quot;" title="Tom &amp; &quot;Jerry&quot; &lt;3">' in system
    assert system.count("</entry>") == 1, f"an answer must not close its block early: {system!r}"


def test_with_no_retrieved_entry_the_prompt_says_so():
    client = FakeBedrock()
    bot, _ = make_bot(client, hits=[])
    bot.reply("What is the meaning of life?", [])
    system = system_text(client)
    assert "<entry" not in system and NO_ENTRIES in system


def test_request_carries_model_inference_settings_and_the_handoff_tool():
    client = FakeBedrock()
    bot, _ = make_bot(client)
    bot.reply(QUESTION, [])
    request = client.request
    assert request["modelId"] == SETTINGS["model_id"]
    assert request["inferenceConfig"] == {"maxTokens": 400, "temperature": 0.2}
    assert request["toolConfig"] == {"tools": [HANDOFF_TOOL]}
    spec = HANDOFF_TOOL["toolSpec"]
    assert spec["name"] == "handoff"
    assert spec["inputSchema"] == {"json": {"type": "object", "properties": {"reason": {"type": "string"}}}}
    assert "guardrailConfig" not in request, "no guardrail configured: none may be sent"


def test_guardrail_is_passed_when_set():
    client = FakeBedrock()
    bot, _ = make_bot(client, settings={**SETTINGS, "guardrail_id": "gr-123", "guardrail_version": "2"})
    bot.reply(QUESTION, [])
    assert client.request["guardrailConfig"] == {"guardrailIdentifier": "gr-123", "guardrailVersion": "2"}
    list(bot.stream(QUESTION, []))
    assert client.calls[-1][0] == "converse_stream"
    assert client.request["guardrailConfig"] == {"guardrailIdentifier": "gr-123", "guardrailVersion": "2"}


# --- the conversation -----------------------------------------------------------

def test_history_is_mapped_to_alternating_turns_starting_with_the_visitor():
    history = [
        {"sender": "bot", "text": "Hello! How can I help?"},          # a greeting first: dropped
        {"sender": "visitor", "text": "Hi"},
        {"sender": "system", "text": "Anna joined the conversation"},  # never sent to the model
        {"sender": "bot", "text": "Hello!"},
        {"sender": "agent", "text": "Anna here."},                     # merged with the bot turn
        {"sender": "visitor", "text": "Do you sell bikes?"},
    ]
    assert conversation(history, "When are you open?") == [
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [{"text": "Hello!\n\nAnna here."}]},
        {"role": "user", "content": [{"text": "Do you sell bikes?\n\nWhen are you open?"}]},
    ]


def test_history_keeps_the_last_ten_messages():
    history = [{"sender": "visitor" if i % 2 == 0 else "bot", "text": f"m{i}"} for i in range(30)]
    messages = conversation(history, "now")
    texts = [m["content"][0]["text"] for m in messages]
    assert texts[0] == "m20" and texts[-1] == "now", f"expected the last 10 messages then the text: {texts}"
    assert len(messages) == 11
    roles = [m["role"] for m in messages]
    assert all(a != b for a, b in zip(roles, roles[1:])), f"roles must alternate: {roles}"


def test_the_engine_sends_the_history_and_the_text_as_messages():
    client = FakeBedrock()
    bot, _ = make_bot(client)
    bot.reply("And on Sundays?", [{"sender": "visitor", "text": QUESTION},
                                  {"sender": "bot", "text": "9 to 5."}])
    assert client.request["messages"] == [
        {"role": "user", "content": [{"text": QUESTION}]},
        {"role": "assistant", "content": [{"text": "9 to 5."}]},
        {"role": "user", "content": [{"text": "And on Sundays?"}]},
    ]


# --- citations ------------------------------------------------------------------

def test_reply_strips_markers_and_names_the_cited_entries_as_sources():
    client = FakeBedrock(converse_answer(
        {"text": "We open at 9 [[hours]]. A bike costs 300 euros. [[pricing]] Bye [[nonexistent]]"}))
    bot, _ = make_bot(client, hits=[HOURS, PRICES])
    reply = bot.reply(QUESTION, [])
    assert reply.text == "We open at 9. A bike costs 300 euros. Bye"
    assert reply.sources == ("Opening hours", "Prices"), "an id the prompt did not hold is no source"
    assert reply.matched == "hours" and reply.confident and not reply.handoff
    assert reply.engine == "bedrock" and reply.fallback_reason is None


def test_an_answer_that_cites_nothing_has_no_sources():
    client = FakeBedrock(converse_answer({"text": "Hello! How can I help?"}))
    bot, _ = make_bot(client)
    reply = bot.reply("hello", [])
    assert reply.text == "Hello! How can I help?" and reply.sources == () and reply.matched is None


def test_stream_never_lets_a_half_marker_out():
    chunks_in = ["We open", " at 9 [", "[ho", "urs", "]", "]. Also [[pri", "cing]] cheap", " [[x", "y"]
    client = FakeBedrock(events=text_events(*chunks_in))
    bot, _ = make_bot(client, hits=[HOURS, PRICES])
    chunks, reply = streamed(bot)
    joined = "".join(chunks)
    assert all("[" not in c and "]" not in c for c in chunks[:-1]), f"a marker leaked in {chunks!r}"
    assert joined == reply.text, "the chunks, joined, must be the final text"
    assert reply.text == "We open at 9. Also cheap [[xy", "an unclosed marker at the end is text, shown at the end"
    assert reply.sources == ("Opening hours", "Prices")
    assert reply.engine == "bedrock" and client.calls[0][0] == "converse_stream"


def test_stream_yields_text_as_it_is_written():
    client = FakeBedrock(events=text_events("Hello", " there", ", we open at 9."))
    bot, _ = make_bot(client)
    chunks, reply = streamed(bot)
    assert len(chunks) >= 3, f"expected the text in several chunks as written, got {chunks!r}"
    assert reply.text == "Hello there, we open at 9."


@pytest.mark.parametrize("chunks, text, cited", [
    (["Open at 9 [[hours]]."], "Open at 9.", ["hours"]),
    (["[[hours]] Open at 9."], "Open at 9.", ["hours"]),
    (["Open ", "at 9. ", "[[hours, pricing]]"], "Open at 9.", ["hours", "pricing"]),
    (["a [b] c [[", "x" * 120, "]]"], "a [b] c [[" + "x" * 120 + "]]", []),
    (["  line one\n", "line two  \n"], "line one\nline two", []),
])
def test_citations_filter(chunks, text, cited):
    filt = Citations()
    shown = [filt.feed(c) for c in chunks] + [filt.finish()]
    assert "".join(shown) == text == filt.text
    assert filt.cited == cited


# --- handoff --------------------------------------------------------------------

def test_the_handoff_tool_asks_for_a_person_in_reply():
    client = FakeBedrock(converse_answer(
        {"text": "Let me find someone for you."},
        {"toolUse": {"toolUseId": "t1", "name": "handoff", "input": {"reason": "wants a person"}}},
        stop="tool_use"))
    bot, _ = make_bot(client)
    reply = bot.reply("I want to talk to someone", [])
    assert reply.handoff and reply.text == "Let me find someone for you." and reply.engine == "bedrock"


def test_a_handoff_without_text_gets_the_default_line():
    client = FakeBedrock(converse_answer(
        {"toolUse": {"toolUseId": "t1", "name": "handoff", "input": {}}}, stop="tool_use"))
    bot, _ = make_bot(client)
    reply = bot.reply("human please", [])
    assert reply.handoff and reply.text == HANDOFF_TEXT


def test_the_handoff_tool_asks_for_a_person_in_stream():
    events = [{"messageStart": {"role": "assistant"}},
              {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": "handoff"}},
                                     "contentBlockIndex": 0}},
              {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"reason": "asks"}'}},
                                     "contentBlockIndex": 0}},
              {"contentBlockStop": {"contentBlockIndex": 0}},
              {"messageStop": {"stopReason": "tool_use"}},
              {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 5, "totalTokens": 10}}}]
    client = FakeBedrock(events=events)
    bot, _ = make_bot(client)
    chunks, reply = streamed(bot, "a person please")
    assert chunks == [] and reply.handoff and reply.text == HANDOFF_TEXT


def test_a_phrase_in_the_text_is_no_handoff():
    client = FakeBedrock(converse_answer({"text": "I'm asking someone from the team to join."}))
    bot, _ = make_bot(client)
    assert not bot.reply("hm", []).handoff, "only the tool hands off, never words in the text"


def test_a_guardrail_intervention_is_not_a_confident_answer():
    client = FakeBedrock(converse_answer({"text": "Sorry, I can't help with that."}, stop="guardrail_intervened"))
    bot, _ = make_bot(client)
    reply = bot.reply(QUESTION, [])
    assert reply.text == "Sorry, I can't help with that." and not reply.confident and reply.sources == ()


# --- budget -----------------------------------------------------------------------

def test_budget_is_taken_before_the_call_and_the_tokens_spent_after():
    log: list[str] = []
    client = FakeBedrock(log=log)
    budget = FakeBudget(log=log)
    bot, _ = make_bot(client)
    bot.reply(QUESTION, [], BotContext("acme", budget))
    assert log == ["take", "converse", "spend"], f"expected the budget checked before the call: {log}"
    assert budget.taken == [("acme", 5, 1000)]
    assert budget.spent == [(("grant", "acme"), 42)], "expected the call's totalTokens added"
    log.clear()
    list(bot.stream(QUESTION, [], BotContext("acme", budget)))
    assert log == ["take", "converse_stream", "spend"], log
    assert budget.spent[-1] == (("grant", "acme"), 42)


def test_over_budget_makes_no_call_and_falls_back(caplog):
    client = FakeBedrock()
    bot, knowledge = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    for answer in (bot.reply(SECRET_QUESTION, [], BotContext("acme", FakeBudget(left=0))),
                   streamed(bot, SECRET_QUESTION, context=BotContext("acme", FakeBudget(left=0)))[1]):
        assert client.calls == [], "over budget, Bedrock must not be called"
        assert answer.fallback_reason == "over_budget" and answer.engine == "knowledge"
        assert answer.text == "Offline answer." and answer.sources == ("Opening hours",)
    assert knowledge.replied == [SECRET_QUESTION] * 2
    assert_logged(caplog, "acme", "over_budget")


def test_without_a_context_no_budget_applies():
    client = FakeBedrock()
    bot, _ = make_bot(client)
    assert bot.reply(QUESTION, []).engine == "bedrock"
    assert bot.reply(QUESTION, [], BotContext("acme", None)).engine == "bedrock"
    assert len(client.calls) == 2


def test_a_budget_that_cannot_be_checked_is_not_spent_on(caplog):
    client = FakeBedrock()
    bot, _ = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    reply = bot.reply(SECRET_QUESTION, [], BotContext("acme", FakeBudget(fail=True)))
    assert client.calls == [] and reply.fallback_reason == "error"
    assert_logged(caplog, "acme", "error")


# --- fallbacks ----------------------------------------------------------------------

def assert_logged(caplog, site: str, reason: str) -> None:
    lines = [r.getMessage() for r in caplog.records if r.name == "parley.bot"]
    assert any(site in line and reason in line for line in lines), (
        f"expected a parley.bot line naming site {site!r} and {reason!r}, got {lines}")
    assert not any("4111" in line or "open?" in line for line in lines), f"visitor text in the log: {lines}"


FAILURES = [
    (client_error("ThrottlingException"), "throttled"),
    (client_error("ServiceUnavailableException"), "throttled"),
    (client_error("ServiceUnavailable"), "throttled"),
    (client_error("ModelTimeoutException"), "timeout"),
    (client_error("ValidationException"), "error"),
    (client_error("AccessDeniedException"), "error"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "error"),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "timeout"),
]


@pytest.mark.parametrize("error, reason", FAILURES)
def test_a_failing_converse_falls_back(caplog, error, reason):
    client = FakeBedrock(error=error)
    bot, knowledge = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    reply = bot.reply(SECRET_QUESTION, [], BotContext("acme", FakeBudget()))
    assert reply.fallback_reason == reason and reply.engine == "knowledge", reply
    assert reply.text == "Offline answer." and knowledge.replied == [SECRET_QUESTION]
    assert_logged(caplog, "acme", reason)


@pytest.mark.parametrize("error, reason", FAILURES)
def test_a_failing_converse_stream_falls_back(caplog, error, reason):
    client = FakeBedrock(error=error)
    bot, _ = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    chunks, reply = streamed(bot, SECRET_QUESTION, context=BotContext("acme", FakeBudget()))
    assert chunks == [] and reply.fallback_reason == reason and reply.text == "Offline answer."
    assert_logged(caplog, "acme", reason)


def stream_error(code: str) -> EventStreamError:
    return EventStreamError({"Error": {"Code": code, "Message": "boom"}}, "ConverseStream")


@pytest.mark.parametrize("failure, reason", [
    (stream_error("modelStreamErrorException"), "error"),
    (stream_error("internalServerException"), "error"),
    (stream_error("throttlingException"), "throttled"),
    (stream_error("serviceUnavailableException"), "throttled"),
    (Urllib3ReadTimeout(None, "/", "Read timed out."), "timeout"),   # the stream went quiet
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "timeout"),
])
def test_a_stream_failing_midway_ends_with_the_fallback(caplog, failure, reason):
    events = text_events("We open", " at 9 [[hou")
    client = FakeBedrock(events=events[:3] + [failure])
    budget = FakeBudget()
    bot, _ = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    chunks, reply = streamed(bot, SECRET_QUESTION, context=BotContext("acme", budget))
    assert "".join(chunks) == "We open at 9", f"expected the text written so far, without the half marker: {chunks}"
    assert reply.fallback_reason == reason and reply.text == "Offline answer.", reply
    assert client.stream is not None and client.stream.closed, "expected the broken stream to be closed"
    assert budget.spent == [], "no usage arrived: nothing to add"
    assert_logged(caplog, "acme", reason)


def test_a_stream_that_ends_without_its_stop_falls_back():
    events = text_events("We open at 9")
    client = FakeBedrock(events=events[:2])
    bot, _ = make_bot(client)
    chunks, reply = streamed(bot)
    assert reply.fallback_reason == "error"


def test_a_stream_slower_than_the_timeout_falls_back():
    now = [0.0]

    def monotonic() -> float:
        now[0] += 2.0  # each event arrives 2 s after the last; the timeout is 5 s
        return now[0]

    client = FakeBedrock(events=text_events("a", "b", "c", "d", "e"))
    bot, _ = make_bot(client, monotonic=monotonic)
    chunks, reply = streamed(bot, context=BotContext("acme", FakeBudget()))
    assert reply.fallback_reason == "timeout" and client.stream.closed


def test_an_empty_answer_falls_back():
    client = FakeBedrock(converse_answer(stop="max_tokens"))
    bot, _ = make_bot(client)
    assert bot.reply(QUESTION, []).fallback_reason == "error"


def test_a_consumer_that_stops_reading_closes_the_stream():
    client = FakeBedrock(events=text_events("one", " two", " three"))
    bot, _ = make_bot(client)
    items = bot.stream(QUESTION, [])
    assert next(items) == "one"
    items.close()
    assert client.stream.closed


def test_a_failing_spend_still_gives_the_answer(caplog):
    class Broken(FakeBudget):
        def spend(self, grant: Any, tokens: int) -> None:
            raise ConnectionError("table unreachable")

    client = FakeBedrock()
    bot, _ = make_bot(client)
    caplog.set_level(logging.WARNING, logger="parley.bot")
    reply = bot.reply(QUESTION, [], BotContext("acme", Broken()))
    assert reply.engine == "bedrock" and reply.fallback_reason is None
    assert any("acme" in r.getMessage() for r in caplog.records)


# --- settings and wiring --------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"temperature": 1.5}, "bot.bedrock.temperature"),
    ({"temperature": "0.2"}, "bot.bedrock.temperature"),
    ({"max_tokens": 0}, "bot.bedrock.max_tokens"),
    ({"daily_calls": True}, "bot.bedrock.daily_calls"),
    ({"daily_tokens": -1}, "bot.bedrock.daily_tokens"),
    ({"timeout_seconds": 600}, "bot.bedrock.timeout_seconds"),
    ({"model_id": ""}, "bot.bedrock.model_id"),
    ({"guardrail_id": "gr-1"}, "guardrail_version"),
    ({"guardrail_id": "gr-1", "guardrail_version": "latest"}, "bot.bedrock.guardrail_version"),
    ({"modelid": "x"}, "bot.bedrock.modelid"),
])
def test_bad_settings_name_the_field(change, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        parse_bedrock({**SETTINGS, **change})
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        BedrockBot({**SETTINGS, **change}, FakeKnowledge(), client=FakeBedrock())


def test_settings_have_defaults_but_need_a_model():
    with pytest.raises(ValueError, match=r"bot\.bedrock\.model_id"):
        parse_bedrock({})
    settings = parse_bedrock({"model_id": "m"})
    assert (settings.daily_calls, settings.daily_tokens, settings.guardrail_id) == (500, 200_000, None)


def test_site_bot_settings_accept_the_bedrock_engine():
    clean = validate_bot_settings({"engine": "bedrock", "bedrock": SETTINGS, "knowledge": KNOWLEDGE})
    assert clean["engine"] == "bedrock" and clean["bedrock"]["model_id"] == SETTINGS["model_id"]
    assert clean["knowledge"]["entries"][0]["id"] == "hours"
    assert validate_bot_settings({"knowledge": KNOWLEDGE})["engine"] == "knowledge"
    with pytest.raises(ValueError, match=r"bot\.engine"):
        validate_bot_settings({"engine": "gpt"})
    with pytest.raises(ValueError, match=r"bot\.bedrock\.temperature"):
        validate_bot_settings({"engine": "bedrock", "bedrock": {**SETTINGS, "temperature": 9}})


def test_the_registry_builds_the_engine_once_per_settings():
    client = FakeBedrock()
    registry = BotRegistry(options={"bedrock": {"client": client}})
    config = {"engine": "bedrock", "bedrock": SETTINGS, "knowledge": KNOWLEDGE}
    first = registry.engine_for(config)
    assert registry.engine_for(dict(config)) is first
    changed = registry.engine_for({**config, "knowledge": {"entries": KNOWLEDGE["entries"][:1]}})
    assert changed is not first, "new knowledge must build a new engine (it retrieves from it)"
    assert KnowledgeBot.streams is False and first.streams is True


def test_the_real_client_gets_the_sites_timeout_one_attempt_and_boto3s_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:5999")
    client = _make_client(parse_bedrock({**SETTINGS, "timeout_seconds": 7}))
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert client.meta.config.read_timeout == 7
    assert client.meta.config.retries["total_max_attempts"] == 1
    other = _make_client(parse_bedrock({**SETTINGS, "region": "eu-central-1"}))
    assert other.meta.region_name == "eu-central-1"
