"""The Bedrock engine with the real boto3 client against the local Bedrock stand-in.

The engine makes its own ``bedrock-runtime`` client (nothing injected): the
endpoint comes from boto3's ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, the timeout
from the site's ``timeout_seconds``. Each test starts its own stand-in on a
free 127.0.0.1 port; the fixture stops it. Times are bounds, never targets.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.bot import BotContext, BotRegistry, BotReply
from chalicelib.bot.bedrock import BedrockBot
from infra.local import ports
from infra.local.bedrock_runtime import BedrockRuntimeServer

from ..unit.test_bedrock_engine import FakeBudget

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = json.loads((ROOT / "infra/local/demo-knowledge.json").read_text(encoding="utf-8"))
SETTINGS = {"model_id": "anthropic.claude-3-haiku-20240307-v1:0", "instructions": "You are Parley's assistant.",
            "timeout_seconds": 2, "daily_calls": 100, "daily_tokens": 100000}
QUESTION = "How much does Parley cost?"


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockRuntimeServer]:
    server = BedrockRuntimeServer(port=ports.free_port(), first_token_ms=0, tokens_per_second=0,
                                  words_per_delta=2, hang_seconds=10)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield server
    finally:
        server.stop()


def engine(**settings: Any) -> BedrockBot:
    bot = BotRegistry().engine_for({"engine": "bedrock", "bedrock": {**SETTINGS, **settings},
                                    "knowledge": KNOWLEDGE})
    assert isinstance(bot, BedrockBot)
    return bot


def streamed(bot: BedrockBot, text: str, context: BotContext | None = None) -> tuple[list[str], BotReply]:
    items = list(bot.stream(text, [], context))
    assert isinstance(items[-1], BotReply), f"expected a BotReply last, got {items!r}"
    return items[:-1], items[-1]


def pricing_entry() -> dict[str, Any]:
    return next(e for e in KNOWLEDGE["entries"] if e["id"] == "pricing")


def test_reply_answers_from_the_retrieved_entry_and_names_it(bedrock):
    reply = engine().reply(QUESTION, [{"sender": "visitor", "text": "hi"}, {"sender": "bot", "text": "Hello!"}])
    assert reply.engine == "bedrock" and reply.fallback_reason is None, reply
    assert reply.text == pricing_entry()["answer"], "the stand-in answers with the first entry, marker stripped"
    assert reply.sources and reply.matched == "pricing" and "[[" not in reply.text
    body = bedrock.last_request["body"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_stream_grows_the_answer_and_ends_with_the_whole_reply(bedrock):
    chunks, reply = streamed(engine(), QUESTION)
    assert len(chunks) > 2, f"expected the answer in several chunks, got {chunks!r}"
    assert "".join(chunks) == reply.text == pricing_entry()["answer"]
    assert not any("[" in c for c in chunks), f"a citation marker leaked: {chunks!r}"
    assert reply.sources and reply.engine == "bedrock"


def test_asking_for_a_person_calls_the_handoff_tool(bedrock):
    bot = engine()
    assert bot.reply("I want to talk to a real person", []).handoff
    chunks, reply = streamed(bot, "I want to talk to a real person")
    assert reply.handoff and reply.engine == "bedrock" and "".join(chunks) == reply.text


def test_a_throttle_falls_back_to_the_knowledge_bot_at_once(bedrock):
    bedrock.set_mode("throttle", times=2)
    bot = engine()
    started = time.monotonic()
    reply = bot.reply(QUESTION, [], BotContext("demo-llm", FakeBudget()))
    _, streamed_reply = streamed(bot, QUESTION, BotContext("demo-llm", FakeBudget()))
    for answer in (reply, streamed_reply):
        assert answer.fallback_reason == "throttled" and answer.engine == "knowledge"
        assert answer.matched == "pricing", "the knowledge bot answers the same question"
    assert time.monotonic() - started < 2, "a throttle must not be retried while the visitor waits"
    assert bedrock.request_count == 2, "one attempt each: no retries"


@pytest.mark.parametrize("exception, reason", [("modelStreamErrorException", "error"),
                                               ("throttlingException", "throttled")])
def test_a_stream_failing_midway_ends_with_the_fallback(bedrock, exception, reason):
    bedrock.set_mode("fail_midstream", times=1, exception=exception)
    chunks, reply = streamed(engine(), QUESTION)
    assert chunks, "expected some text before the failure"
    assert reply.fallback_reason == reason and reply.engine == "knowledge"


def test_a_hanging_model_times_out_into_the_fallback(bedrock):
    bedrock.set_mode("hang")
    bot = engine(timeout_seconds=1)
    started = time.monotonic()
    assert bot.reply(QUESTION, []).fallback_reason == "timeout"
    chunks, reply = streamed(bot, QUESTION)
    assert reply.fallback_reason == "timeout" and reply.engine == "knowledge"
    assert time.monotonic() - started < 8, "each wait is bounded by timeout_seconds"


def test_over_budget_sends_nothing_to_bedrock(bedrock):
    reply = engine().reply(QUESTION, [], BotContext("demo-llm", FakeBudget(left=0)))
    assert reply.fallback_reason == "over_budget" and bedrock.request_count == 0
