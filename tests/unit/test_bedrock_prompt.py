"""How the Bedrock stand-in (infra/local/bedrock_runtime.py) reads a prompt and plans its answer; no I/O."""
from __future__ import annotations

import json

import pytest

from infra.local.bedrock_runtime import (AFTER_HANDOFF_TEXT, HANDOFF_TEXT, NO_ANSWER_TEXT, AwsError, Entry, Settings,
                                         asks_for_person, parse_entries, plan_answer, text_chunks, trigger_in,
                                         validate)

HANDOFF = {"tools": [{"toolSpec": {"name": "handoff", "inputSchema": {"json": {"type": "object"}}}}]}


def request(text: str, system: str = "", **extra):
    body = {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}
    if system:
        body["system"] = [{"text": system}]
    return body


def test_entries_are_read_in_order_attributes_decoded_bodies_verbatim():
    system = ('Instructions first.\n<entry id="hours" title="Opening hours">\n  Open 9-5 &amp; <b>daily</b>.\n'
              '</entry>\nMore text.\n<entry title="Fish &quot;n&quot; chips &amp; more" id="menu">Fish.</entry>\n'
              '<entry title="no id">ignored</entry>')

    assert parse_entries(system) == [Entry("hours", "Opening hours", "Open 9-5 &amp; <b>daily</b>."),
                                     Entry("menu", 'Fish "n" chips & more', "Fish.")]
    assert parse_entries("no entries at all") == []


@pytest.mark.parametrize("text, expected", [
    ("Can I talk to a human?", True), ("I need someone from your staff", True), ("speak to an agent", True),
    ("What are your opening hours?", False), ("Is a person allowed to bring a dog?", False), ("", False),
])
def test_asking_for_a_person(text, expected):
    assert asks_for_person(text) is expected


def test_trigger_phrases_ignore_case_and_spacing():
    assert trigger_in("Hi! STAND-IN:   Throttle please") == "throttle"
    assert trigger_in("stand-in: fail") == "fail_midstream"
    assert trigger_in("stand-in: hang") == "hang"
    assert trigger_in("standing in: hang") is None


@pytest.mark.parametrize("text", ["one", "Our shop is open Monday to Friday.", "a  b\nc d e f g ", ""])
def test_text_chunks_join_back_to_the_text(text):
    chunks = text_chunks(text, 3)
    assert "".join(chunks) == text
    assert all(len(c.split()) <= 3 for c in chunks)


def test_the_first_entry_answers_with_its_marker():
    answer = plan_answer(request("hours?", '<entry id="a">First.</entry><entry id="b">Second.</entry>',
                                 toolConfig=HANDOFF))

    assert (answer.text, answer.tool_use, answer.stop_reason) == ("First. [[a]]", None, "end_turn")
    # Words are whitespace-separated: the system text is 3 of them, "hours?" 1.
    assert answer.usage == {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6}


def test_no_entry_or_a_person_asked_for_means_the_handoff_tool():
    no_entry = plan_answer(request("bicycles?", "Just instructions.", toolConfig=HANDOFF))
    asked = plan_answer(request("let me talk to a person", '<entry id="a">A.</entry>', toolConfig=HANDOFF))
    forced = plan_answer(request("hours?", '<entry id="a">A.</entry>',
                                 toolConfig={**HANDOFF, "toolChoice": {"tool": {"name": "handoff"}}}))

    for answer in (no_entry, asked, forced):
        assert answer.text == HANDOFF_TEXT and answer.stop_reason == "tool_use"
        assert answer.tool_use["name"] == "handoff" and set(answer.tool_use["input"]) == {"reason"}
    assert no_entry.tool_use["input"] != asked.tool_use["input"]
    assert no_entry.output_tokens == len(HANDOFF_TEXT.split()) + len(json.dumps(no_entry.tool_use["input"]).split())


def test_answers_are_deterministic():
    body = request("bicycles?", toolConfig=HANDOFF)
    assert plan_answer(body) == plan_answer(json.loads(json.dumps(body)))


def test_without_the_tool_it_says_it_does_not_know_and_after_a_tool_result_it_acknowledges():
    assert plan_answer(request("bicycles?")).text == NO_ANSWER_TEXT
    body = {"messages": [
        {"role": "user", "content": [{"text": "a person please"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "handoff", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "queued"}]}}]}]}
    assert plan_answer(body).text == AFTER_HANDOFF_TEXT


@pytest.mark.parametrize("body", [
    [], {}, {"messages": []}, {"messages": [{"role": "user", "content": []}]},
    {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]},
    {"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 0}},
    {"messages": [{"role": "user", "content": [{"text": "x"}]}], "toolConfig": {"tools": []}},
])
def test_malformed_requests_are_refused(body):
    with pytest.raises(AwsError) as raised:
        validate(body)
    assert (raised.value.status, raised.value.code) == (400, "ValidationException")


def test_settings_come_from_the_environment_and_are_checked():
    settings = Settings.from_env({"PARLEY_BEDROCK_FIRST_TOKEN_MS": "50", "PARLEY_BEDROCK_WORDS_PER_DELTA": "2"})
    assert (settings.first_token_ms, settings.words_per_delta, settings.tokens_per_second) == (50.0, 2, 40.0)
    with pytest.raises(ValueError, match="PARLEY_BEDROCK_TOKENS_PER_SECOND"):
        Settings.from_env({"PARLEY_BEDROCK_TOKENS_PER_SECOND": "fast"})
    with pytest.raises(ValueError):
        Settings(words_per_delta=0)
