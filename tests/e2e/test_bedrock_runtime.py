"""The Bedrock Runtime stand-in (infra/local/bedrock_runtime.py) driven by the real boto3 client.

Each test starts its own server on a free 127.0.0.1 port (fixtures stop it), and
talks to it with ``boto3.client("bedrock-runtime")``, retries off, as the
Bedrock engine does. Timing is asserted only as lower bounds and order.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import botocore.exceptions
import pytest
import requests
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from infra.local import ports
from infra.local.bedrock_runtime import HANDOFF_TEXT, NO_ANSWER_TEXT, BedrockRuntimeServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
               "us.anthropic.claude-3-haiku-20240307-v1:0")
HOURS = "Our shop is open Monday to Friday from nine to five, and on Saturday mornings until noon."
SYSTEM = ("You are the assistant of the Demo Shop. Answer only from the entries below.\n"
          f'<entry id="hours" title="Opening hours">\n{HOURS}\n</entry>\n'
          '<entry id="returns" title="Returns">\nReturns are free within 30 days.\n</entry>\n')
HANDOFF_TOOL = {"tools": [{"toolSpec": {
    "name": "handoff", "description": "Ask for a person from the team.",
    "inputSchema": {"json": {"type": "object", "properties": {"reason": {"type": "string"}}}}}}]}
TIMEOUT = 10  # seconds: the bound on any single wait
# A read timeout: botocore's own (a call that gets no answer) or urllib3's, unwrapped (a stream that
# goes silent: botocore iterates the raw urllib3 body). botocore's class does not derive from urllib3's.
READ_TIMEOUT = (botocore.exceptions.ReadTimeoutError, urllib3.exceptions.ReadTimeoutError)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.fixture
def bedrock() -> Iterator[BedrockRuntimeServer]:
    """A fast stand-in: no first-token delay, no pacing, short hangs."""
    server = BedrockRuntimeServer(port=ports.free_port(), first_token_ms=0, tokens_per_second=0,
                                  words_per_delta=3, hang_seconds=15)
    server.start()
    try:
        yield server
    finally:
        server.stop()


ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> ClientFactory:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def make(server: BedrockRuntimeServer | None, read_timeout: float = 5) -> Any:
        # No retries: botocore's client-config "max_attempts" counts retries (1 would mean 2 attempts);
        # "total_max_attempts" counts attempts.
        config = Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=2)
        endpoint = {"endpoint_url": server.url} if server is not None else {}
        return boto3.client("bedrock-runtime", region_name="us-east-1", config=config, **endpoint)

    return make


@pytest.fixture
def client(bedrock: BedrockRuntimeServer, make_client: ClientFactory) -> Any:
    return make_client(bedrock)


def collect(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response["stream"])


def text_of(events: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(e["contentBlockDelta"]["delta"]["text"] for e in events
                   if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == index)


def control(server: BedrockRuntimeServer, path: str, method: str = "GET", body: Any = None) -> requests.Response:
    return requests.request(method, f"{server.url}/_parley/{path}", json=body, timeout=TIMEOUT)


# --- answers ---------------------------------------------------------------------------------------

def test_converse_answers_with_the_first_entry_and_its_citation_marker(bedrock, client):
    answer = client.converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("When are you open?"),
                             toolConfig=HANDOFF_TOOL, inferenceConfig={"maxTokens": 400, "temperature": 0.2})

    assert answer["output"]["message"] == {"role": "assistant", "content": [{"text": f"{HOURS} [[hours]]"}]}
    assert answer["stopReason"] == "end_turn"
    words_in = len(SYSTEM.split()) + len("When are you open?".split())
    words_out = len(f"{HOURS} [[hours]]".split())
    assert answer["usage"] == {"inputTokens": words_in, "outputTokens": words_out,
                               "totalTokens": words_in + words_out}
    assert answer["metrics"]["latencyMs"] >= 0
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_converse_stream_sends_chunked_deltas_that_join_to_the_full_text(bedrock, client):
    events = collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}],
                                            messages=user("opening hours?"), toolConfig=HANDOFF_TOOL))

    names = [next(iter(e)) for e in events]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert names[0] == "messageStart" and events[0]["messageStart"] == {"role": "assistant"}
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert "contentBlockStart" not in names, "Bedrock sends no contentBlockStart for a text block"
    assert "".join(deltas) == f"{HOURS} [[hours]]"
    assert len(deltas) == math.ceil(len(f"{HOURS} [[hours]]".split()) / 3)
    assert all(1 <= len(d.split()) <= 3 for d in deltas)
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == len(f"{HOURS} [[hours]]".split())
    assert usage["inputTokens"] == len(SYSTEM.split()) + 2
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert "latencyMs" in events[-1]["metadata"]["metrics"]


def test_without_an_entry_it_calls_the_handoff_tool(bedrock, client):
    answer = client.converse(modelId=MODEL, system=[{"text": "You are the assistant. No entries matched."}],
                             messages=user("Do you sell bicycles?"), toolConfig=HANDOFF_TOOL)

    text, tool = answer["output"]["message"]["content"]
    assert text == {"text": HANDOFF_TEXT}
    assert tool["toolUse"]["name"] == "handoff"
    assert tool["toolUse"]["toolUseId"].startswith("tooluse_")
    assert isinstance(tool["toolUse"]["input"]["reason"], str) and tool["toolUse"]["input"]["reason"]
    assert answer["stopReason"] == "tool_use"


def test_the_streamed_handoff_has_a_tool_block_with_json_input_deltas(bedrock, client):
    events = collect(client.converse_stream(modelId=MODEL, system=[{"text": "No entries."}],
                                            messages=user("Do you sell bicycles?"), toolConfig=HANDOFF_TOOL))

    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert len(starts) == 1 and starts[0]["contentBlockIndex"] == 1
    assert starts[0]["start"]["toolUse"]["name"] == "handoff"
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                 if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == 1]
    assert len(fragments) > 1
    assert set(json.loads("".join(fragments))) == {"reason"}
    assert text_of(events) == HANDOFF_TEXT
    stops = [e["contentBlockStop"]["contentBlockIndex"] for e in events if "contentBlockStop" in e]
    assert stops == [0, 1]
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]


def test_asking_for_a_person_hands_off_even_with_an_entry(bedrock, client):
    answer = client.converse(modelId=MODEL, system=[{"text": SYSTEM}],
                             messages=user("Can I talk to a human please?"), toolConfig=HANDOFF_TOOL)

    assert answer["stopReason"] == "tool_use"
    assert answer["output"]["message"]["content"][1]["toolUse"]["name"] == "handoff"


def test_without_an_entry_or_a_handoff_tool_it_says_it_does_not_know(bedrock, client):
    answer = client.converse(modelId=MODEL, messages=user("Do you sell bicycles?"))

    assert answer["output"]["message"]["content"] == [{"text": NO_ANSWER_TEXT}]
    assert answer["stopReason"] == "end_turn"


def test_max_tokens_cuts_the_answer_and_says_so(bedrock, client):
    answer = client.converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"),
                             inferenceConfig={"maxTokens": 4})
    events = collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"),
                                            inferenceConfig={"maxTokens": 4}))

    assert answer["output"]["message"]["content"] == [{"text": "Our shop is open"}]
    assert answer["stopReason"] == "max_tokens" and answer["usage"]["outputTokens"] == 4
    assert text_of(events) == "Our shop is open"
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["max_tokens"]


def test_a_model_arn_in_the_path_is_url_decoded(bedrock, client):
    client.converse(modelId=PROFILE_ARN, messages=user("hello"))
    collect(client.converse_stream(modelId=PROFILE_ARN, messages=user("hello")))

    assert [r["model_id"] for r in bedrock.requests] == [PROFILE_ARN, PROFILE_ARN]
    assert [r["operation"] for r in bedrock.requests] == ["Converse", "ConverseStream"]


def test_boto3_finds_it_through_aws_endpoint_url_bedrock_runtime(bedrock, make_client, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)

    answer = make_client(None).converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"))

    assert answer["output"]["message"]["content"][0]["text"].endswith("[[hours]]")
    assert bedrock.request_count == 1


# --- pace ------------------------------------------------------------------------------------------

def test_first_token_delay_and_token_rate_are_roughly_respected(make_client):
    with BedrockRuntimeServer(port=ports.free_port(), first_token_ms=300, tokens_per_second=40,
                              words_per_delta=2) as slow:
        client = make_client(slow)
        started = time.monotonic()
        response = client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"))
        stamps = []
        for event in response["stream"]:
            if "contentBlockDelta" in event:
                stamps.append((time.monotonic() - started, len(event["contentBlockDelta"]["delta"]["text"].split())))
        total = time.monotonic() - started
        converse_started = time.monotonic()
        client.converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"))
        converse_took = time.monotonic() - converse_started

    words = sum(n for _, n in stamps)
    assert stamps[0][0] >= 0.29, f"first delta after {stamps[0][0]:.3f}s, expected >= 0.3s"
    assert [t for t, _ in stamps] == sorted(t for t, _ in stamps)
    # Every delta after the first waits its words / rate: the whole stream takes at least this.
    floor = 0.3 + (words - stamps[-1][1]) / 40
    assert total >= floor * 0.95, f"stream took {total:.3f}s, expected >= {floor:.3f}s"
    assert converse_took >= (0.3 + words / 40) * 0.95


# --- misbehaving -----------------------------------------------------------------------------------

def test_throttle_answers_429_throttling_exception_then_recovers(bedrock, client):
    assert control(bedrock, "mode", "POST", {"mode": "throttle", "times": 2}).json()["times"] == 2

    with pytest.raises(ClientError) as converse_error:
        client.converse(modelId=MODEL, messages=user("hours?"))
    with pytest.raises(ClientError) as stream_error:
        client.converse_stream(modelId=MODEL, messages=user("hours?"))
    answer = client.converse(modelId=MODEL, messages=user("hours?"))

    for raised in (converse_error, stream_error):
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert answer["stopReason"] == "end_turn"
    assert bedrock.request_count == 3, "one attempt each: the client does not retry"
    assert control(bedrock, "mode").json() == {"mode": "normal", "times": None,
                                               "exception": "modelStreamErrorException"}


def test_fail_midstream_sends_some_deltas_then_an_exception_frame(bedrock, client):
    bedrock.set_mode("fail_midstream", times=1)
    seen: list[dict[str, Any]] = []

    with pytest.raises(EventStreamError) as raised:
        for event in client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}],
                                            messages=user("hours?"))["stream"]:
            seen.append(event)

    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert text_of(seen) and len(text_of(seen)) < len(HOURS)
    assert not any("messageStop" in e for e in seen)
    assert bedrock.last_request["outcome"] == "failed_midstream:modelStreamErrorException"
    # The next request is back to normal, on a fresh connection.
    assert text_of(collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}],
                                                  messages=user("hours?")))).endswith("[[hours]]")


def test_fail_midstream_can_send_a_throttling_exception_frame(bedrock, client):
    control(bedrock, "mode", "POST", {"mode": "fail_midstream", "times": 1, "exception": "throttlingException"})

    with pytest.raises(EventStreamError) as raised:
        collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?")))

    assert raised.value.response["Error"]["Code"] == "throttlingException"


def test_fail_on_converse_is_a_424_model_error(bedrock, client):
    bedrock.set_mode("fail_midstream", times=1)

    with pytest.raises(ClientError) as raised:
        client.converse(modelId=MODEL, messages=user("hours?"))

    assert raised.value.response["Error"]["Code"] == "ModelErrorException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_hang_sends_the_first_delta_then_nothing_until_the_client_times_out(bedrock, make_client):
    client = make_client(bedrock, read_timeout=1)
    bedrock.set_mode("hang", times=2)
    seen: list[dict[str, Any]] = []

    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        for event in client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}],
                                            messages=user("hours?"))["stream"]:
            seen.append(event)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.converse(modelId=MODEL, messages=user("hours?"))

    assert [next(iter(e)) for e in seen] == ["messageStart", "contentBlockDelta"]
    assert time.monotonic() - started < TIMEOUT
    assert client.converse(modelId=MODEL, messages=user("hello"))["stopReason"] == "end_turn"


def test_stop_does_not_wait_for_a_hung_answer(make_client):
    server = BedrockRuntimeServer(port=ports.free_port(), first_token_ms=0, tokens_per_second=0,
                                  hang_seconds=120).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            make_client(server, read_timeout=60).converse(modelId=MODEL, messages=user("stand-in: hang"))
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the test reports it
            errors.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    try:
        caller.start()
        deadline = time.monotonic() + TIMEOUT
        while server.request_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.request_count == 1
    finally:
        started = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - started
    caller.join(TIMEOUT)

    assert stopped_in < 3, f"stop() took {stopped_in:.1f}s"
    assert not caller.is_alive(), "the hung client was not cut off by stop()"
    assert errors, "the hung call should fail once the server stops"


@pytest.mark.parametrize("phrase", ["stand-in: throttle", "Please STAND-IN:  Throttle now"])
def test_the_throttle_trigger_phrase(bedrock, client, phrase):
    with pytest.raises(ClientError) as raised:
        client.converse_stream(modelId=MODEL, messages=user(phrase))

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


def test_the_fail_and_hang_trigger_phrases(bedrock, make_client):
    client = make_client(bedrock, read_timeout=1)

    with pytest.raises(EventStreamError) as failed:
        collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("stand-in: fail")))
    with pytest.raises(READ_TIMEOUT):
        collect(client.converse_stream(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("stand-in: hang")))

    assert failed.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert [r["mode"] for r in bedrock.requests] == ["fail_midstream", "hang"]


def test_only_the_last_user_message_triggers(bedrock, client):
    messages = user("stand-in: throttle") + [{"role": "assistant", "content": [{"text": "ok"}]}] + user("hours?")

    assert client.converse(modelId=MODEL, messages=messages)["stopReason"] == "end_turn"


def test_a_trigger_phrase_does_not_use_up_the_control_mode(bedrock, client):
    bedrock.set_mode("fail_midstream", times=1)

    with pytest.raises(ClientError):
        client.converse(modelId=MODEL, messages=user("stand-in: throttle"))

    assert bedrock.mode["mode"] == "fail_midstream"


# --- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["converse", "converse_stream"])
@pytest.mark.parametrize("kwargs", [
    {},  # no messages at all
    {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
    {"messages": user("a") + user("b")},
    {"messages": user("hi"), "inferenceConfig": {"temperature": 1.5}},
], ids=["no-messages", "starts-with-assistant", "does-not-alternate", "temperature"])
def test_a_malformed_request_is_a_validation_exception(bedrock, client, call, kwargs):
    with pytest.raises(ClientError) as raised:
        getattr(client, call)(modelId=MODEL, **kwargs)

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Message"]
    assert bedrock.last_request["outcome"] == "ValidationException"


def test_unsigned_requests_and_unknown_paths_are_refused(bedrock):
    unsigned = requests.post(f"{bedrock.url}/model/{MODEL}/converse", json={"messages": user("hi")},
                             timeout=TIMEOUT)
    unknown = requests.post(f"{bedrock.url}/model/{MODEL}/invoke", data=b"{}", timeout=TIMEOUT,
                            headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    garbage = requests.post(f"{bedrock.url}/model/{MODEL}/converse", data=b"{not json", timeout=TIMEOUT,
                            headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})

    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert unknown.status_code == 404 and unknown.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert garbage.status_code == 400 and garbage.headers["x-amzn-ErrorType"] == "ValidationException"
    assert "message" in garbage.json()


# --- control endpoint ------------------------------------------------------------------------------

def test_the_control_endpoint_sets_reads_and_counts(bedrock, client):
    assert control(bedrock, "mode").json()["mode"] == "normal"
    assert control(bedrock, "mode", "POST", {"mode": "explode"}).status_code == 400
    assert control(bedrock, "mode", "POST", {"mode": "throttle", "times": 0}).status_code == 400
    assert control(bedrock, "mode", "POST", {"mode": "throttle"}).json() == {
        "mode": "throttle", "times": None, "exception": "modelStreamErrorException"}
    for _ in range(2):  # no times: until told otherwise
        with pytest.raises(ClientError):
            client.converse(modelId=MODEL, messages=user("hours?"))
    assert control(bedrock, "mode", "POST", {"mode": "normal"}).json()["mode"] == "normal"
    client.converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("what are your hours?"))

    seen = control(bedrock, "requests").json()
    assert seen["count"] == 3
    assert seen["last"]["body"]["messages"] == user("what are your hours?")
    assert seen["last"]["body"]["system"] == [{"text": SYSTEM}]
    assert [r["status"] for r in seen["recent"]] == [429, 429, 200]
    assert control(bedrock, "requests", "DELETE").json() == {"count": 0, "last": None, "recent": []}


def test_the_settings_endpoint_changes_the_pace(bedrock, client):
    assert control(bedrock, "settings", "POST", {"first_token_ms": 250}).json()["first_token_ms"] == 250
    assert control(bedrock, "settings", "POST", {"nonsense": 1}).status_code == 400

    started = time.monotonic()
    client.converse(modelId=MODEL, messages=user("hours?"))

    assert time.monotonic() - started >= 0.24
    assert control(bedrock, "settings").json()["words_per_delta"] == 3


# --- the command line ------------------------------------------------------------------------------

def test_the_command_line_prints_its_port_serves_and_stops_on_sigterm(make_client):
    env = {**os.environ, "PARLEY_BEDROCK_FIRST_TOKEN_MS": "0", "PARLEY_BEDROCK_TOKENS_PER_SECOND": "0",
           "PARLEY_BEDROCK_WORDS_PER_DELTA": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.bedrock_runtime", "--port", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(TIMEOUT)
        match = re.fullmatch(r"bedrock stand-in listening on (http://127\.0\.0\.1:(\d+))\n", lines[0] if lines else "")
        assert match, f"no ready line: {lines}"
        settings = requests.get(f"{match.group(1)}/_parley/settings", timeout=TIMEOUT).json()
        assert settings["words_per_delta"] == 5 and settings["first_token_ms"] == 0

        class Endpoint:
            url = match.group(1)

        answer = make_client(Endpoint).converse(modelId=MODEL, system=[{"text": SYSTEM}], messages=user("hours?"))
        assert answer["output"]["message"]["content"][0]["text"].endswith("[[hours]]")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
