"""A local stand-in for Amazon Bedrock Runtime's Converse and ConverseStream, for the real boto3 client.

    python -m infra.local.bedrock_runtime --host 127.0.0.1 --port 5006 \\
        [--first-token-ms 300] [--tokens-per-second 40] [--words-per-delta 3] \\
        [--hang-seconds 120] [--mode normal] [--verbose]

moto's bedrock-runtime implements only ``invoke_model``. This serves Bedrock's
own wire protocol (rest-json, botocore's ``bedrock-runtime`` service model), so
the app's unchanged ``boto3.client("bedrock-runtime")`` reaches it through
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:5006`` (or ``endpoint_url=``).
When it listens it prints one line, ``bedrock stand-in listening on
http://HOST:PORT``; ``--port 0`` picks a free port (the line names it);
SIGTERM or Ctrl-C stop it. In-process (tests)::

    with BedrockRuntimeServer(first_token_ms=0, tokens_per_second=0) as bedrock:
        client = boto3.client("bedrock-runtime", endpoint_url=bedrock.url, ...)

Every flag defaults to an environment variable: ``--port`` PARLEY_BEDROCK_PORT
(5006), ``--first-token-ms`` PARLEY_BEDROCK_FIRST_TOKEN_MS (300),
``--tokens-per-second`` PARLEY_BEDROCK_TOKENS_PER_SECOND (40; 0 = no pacing),
``--words-per-delta`` PARLEY_BEDROCK_WORDS_PER_DELTA (3), ``--hang-seconds``
PARLEY_BEDROCK_HANG_SECONDS (120), ``--mode`` PARLEY_BEDROCK_MODE (normal).

Routes
------
``POST /model/{modelId}/converse``
    JSON in, JSON out: ``output.message.content`` (a ``text`` block, and a
    ``toolUse`` block when it hands off), ``stopReason`` (``end_turn``,
    ``tool_use``, ``max_tokens``), ``usage`` and ``metrics.latencyMs``.
``POST /model/{modelId}/converse-stream``
    ``application/vnd.amazon.eventstream`` over chunked HTTP/1.1, one HTTP chunk
    per event (infra/local/eventstream.py has the framing). Events, as Bedrock
    sends them for a Claude model: ``messageStart``; text as ``contentBlockDelta``
    events on block 0 (no ``contentBlockStart`` for text), ``contentBlockStop``;
    for a tool call ``contentBlockStart`` (toolUseId, name) on block 1, its input
    JSON in ``contentBlockDelta`` ``toolUse.input`` fragments, ``contentBlockStop``;
    then ``messageStop`` (stopReason) and ``metadata`` (usage, metrics). Like
    Bedrock, every event payload carries a meaningless padding field ``p``.

The model id is the URL-encoded path segment (ARNs with ``:`` and ``/`` work);
any id is accepted. Any request with an ``Authorization`` header (SigV4
``AWS4-HMAC-SHA256 ...`` or a Bedrock API key's ``Bearer ...``) is accepted;
the signature is not checked. No header: 403 MissingAuthenticationTokenException.

Errors before a stream starts are AWS rest-json errors: the status, an
``x-amzn-ErrorType`` header and ``{"message": ...}``, so botocore raises a
``ClientError`` with that code: 429 ThrottlingException, 400 ValidationException
(unreadable JSON, no ``messages``, a message without ``content``, roles that do
not start with ``user`` and alternate, ``maxTokens`` < 1, ``temperature`` or
``topP`` outside 0..1, a tool without a name), 424 ModelErrorException, 404
UnknownOperationException for any other path.

How it answers (deterministic)
------------------------------
It reads the prompt the Bedrock engine (chalicelib/bot/bedrock.py) builds. The
system prompt (the ``text`` of all ``system`` blocks, joined with newlines)
holds the site's instructions and zero or more retrieved knowledge entries,
best first, each in exactly this form::

    <entry id="hours" title="Opening hours">
    Our shop is open Monday to Friday, 9 to 5.
    </entry>

Attributes are double-quoted, in any order (``id`` is required, ``title``
optional; a block without an id is skipped); in attribute values the five XML
entities (``&amp; &lt; &gt; &quot; &apos;``) are decoded. The body is the text
between the tags, verbatim apart from surrounding whitespace (no entities
decoded), and cannot contain ``</entry>`` (the engine writes ``</ entry``).
The request's ``toolConfig`` may offer a tool named
``handoff`` (inputSchema ``{"type": "object", "properties": {"reason":
{"type": "string"}}}``). From the LAST user message's text:

1. a stand-in trigger phrase (below) picks a failure;
2. if the system prompt holds an entry and the message does not ask for a
   person, the answer is the first entry's body followed by `` [[<id>]]`` (the
   citation marker the engine strips and turns into a source), ``end_turn``;
3. otherwise, if the ``handoff`` tool is offered, the answer is the text
   ``Let me find someone from the team for you.`` plus a ``toolUse`` block
   ``{"name": "handoff", "input": {"reason": "..."}}``, ``tool_use``;
   (a ``toolChoice`` naming ``handoff``, or ``any``, forces this step);
4. otherwise ``I'm sorry, I don't know the answer to that.``, ``end_turn``.

A last user message holding only ``toolResult`` blocks (the answer to a
handoff call) gets ``Someone from the team will be with you shortly.``.
"Asks for a person": the message has a person word (human, person, agent,
someone, somebody, staff, operator, representative, people, real) and an asking
word (talk, speak, need, want, chat, connect, reach, get). A token is a
whitespace-separated word: ``usage.inputTokens`` counts the words of the system
text and of every message (text, tool input JSON, tool results),
``outputTokens`` those of the answer text and the tool input JSON.
``inferenceConfig.maxTokens`` below the answer's word count cuts the text to
that many words, drops the tool call and stops with ``max_tokens``.

Pace: the first text delta leaves ``first_token_ms`` after the request, then
each delta (``words_per_delta`` words) waits its words / ``tokens_per_second``
after the one before. Converse answers at once after first_token_ms + output
words / tokens_per_second.

Misbehaving on purpose
----------------------
Trigger phrases, anywhere in the last user message (case-insensitive), so a
person in a browser can demo each failure:

``stand-in: throttle``
    429 ThrottlingException before anything is streamed.
``stand-in: fail``
    ConverseStream: two text deltas (one if the text has fewer chunks), then an
    ``exception`` frame ``:exception-type: modelStreamErrorException`` and the
    end of the stream; botocore raises ``EventStreamError``. Converse: 424
    ModelErrorException, which is what Bedrock answers when the model fails.
``stand-in: hang``
    ConverseStream: headers, ``messageStart`` and the first text delta, then
    silence; Converse: silence from the start. It ends after ``hang_seconds``
    (then the connection is closed), when the client goes away, or on stop(),
    whichever comes first: never forever.

What boto3 raises, for whoever handles it: throttle, ``ClientError``
(ThrottlingException, 429; botocore retries it unless told not to, and note
that client-config ``retries={"max_attempts": 1}`` means one *retry*:
``total_max_attempts`` counts attempts); fail, ``EventStreamError`` while
iterating the stream; a hang, ``botocore.exceptions.ReadTimeoutError`` from
``converse`` or from ``converse_stream`` before its headers, but urllib3's own
``ReadTimeoutError`` once the stream is being iterated (botocore reads the raw
urllib3 body there, and its class does not derive from urllib3's); a server
stopped mid-stream, urllib3's ``ProtocolError``.

The same by the control endpoint, for tests and the local stack:

``POST /_parley/mode`` ``{"mode": "normal"|"throttle"|"fail_midstream"|"hang", "times": N, "exception": E}``
    applies to the next N model requests, then back to normal (``times``
    absent or null: until set again). ``exception`` (fail_midstream only) is the
    stream exception to send: modelStreamErrorException (default),
    throttlingException, internalServerException, serviceUnavailableException
    or validationException. A request with a trigger phrase does not use up
    one of the N. Answers the new state; ``GET /_parley/mode`` reads it:
    ``{"mode", "times" (left, or null), "exception"}``.
``GET|POST /_parley/settings``
    reads or changes ``first_token_ms``, ``tokens_per_second``,
    ``words_per_delta`` and ``hang_seconds`` (POST any of them as JSON).
``GET /_parley/requests``
    ``{"count": N, "last": record|null, "recent": [record, ...]}`` (last 50,
    oldest first); a record is ``{"n", "operation" ("Converse" or
    "ConverseStream"), "model_id", "body" (the parsed JSON, or the raw text),
    "mode", "status", "outcome"}``. ``DELETE`` clears them.

Left out: InvokeModel and the other operations, the Converse fields the
answer does not need (guardrails, images, documents, prompt management,
reasoning), signature checks, quotas, HTTP/2, and real model behaviour.
"""
from __future__ import annotations

import argparse
import copy
import base64
import dataclasses
import hashlib
import json
import logging
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping
from urllib.parse import unquote

from infra.local import eventstream

log = logging.getLogger("parley.bedrock")

HOST = "127.0.0.1"
DEFAULT_PORT = 5006
READY_LINE = "bedrock stand-in listening on http://{host}:{port}"

MODES = ("normal", "throttle", "fail_midstream", "hang")
TRIGGERS = {"stand-in: throttle": "throttle", "stand-in: fail": "fail_midstream", "stand-in: hang": "hang"}
STREAM_EXCEPTIONS = ("modelStreamErrorException", "throttlingException", "internalServerException",
                     "serviceUnavailableException", "validationException")
HANDOFF_TOOL = "handoff"
HANDOFF_TEXT = "Let me find someone from the team for you."
NO_ANSWER_TEXT = "I'm sorry, I don't know the answer to that."
AFTER_HANDOFF_TEXT = "Someone from the team will be with you shortly."
REASON_ASKED = "The visitor asked to talk to a person."
REASON_UNKNOWN = "No knowledge entry answers the question."
PERSON_WORDS = frozenset({"human", "humans", "person", "agent", "agents", "someone", "somebody", "staff",
                          "operator", "representative", "people", "real"})
ASK_WORDS = frozenset({"talk", "speak", "need", "want", "chat", "connect", "reach", "get"})

MAX_BODY_BYTES = 16 * 1024 * 1024
RECENT_REQUESTS = 50
FAIL_AFTER_DELTAS = 2
IDLE_CONNECTION_SECONDS = 120  # a keep-alive connection with no request for this long is closed
HANG_POLL_SECONDS = 0.2

MODEL_ROUTE = re.compile(r"/model/(?P<model>.+)/(?P<op>converse|converse-stream)")
ENTRY = re.compile(r"<entry\b(?P<attrs>[^>]*)>(?P<body>.*?)</entry>", re.DOTALL)
ATTR = re.compile(r'(?P<name>[A-Za-z_][\w.-]*)\s*=\s*"(?P<value>[^"]*)"')
XML_ENTITIES = re.compile(r"&(amp|lt|gt|quot|apos);")
XML_CHARS = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
WORD = re.compile(r"\s*\S+")  # a word with the whitespace before it: pieces join back to the text


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    first_token_ms: float = 300.0
    tokens_per_second: float = 40.0   # 0 or less: no pacing at all
    words_per_delta: int = 3
    hang_seconds: float = 120.0

    ENV = {"first_token_ms": "PARLEY_BEDROCK_FIRST_TOKEN_MS",
           "tokens_per_second": "PARLEY_BEDROCK_TOKENS_PER_SECOND",
           "words_per_delta": "PARLEY_BEDROCK_WORDS_PER_DELTA",
           "hang_seconds": "PARLEY_BEDROCK_HANG_SECONDS"}

    def __post_init__(self) -> None:
        if self.first_token_ms < 0:
            raise ValueError("first_token_ms must be 0 or more")
        if self.words_per_delta < 1:
            raise ValueError("words_per_delta must be 1 or more")
        if not 0 <= self.hang_seconds <= 3600:
            raise ValueError("hang_seconds must be between 0 and 3600")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = cls.ENV[field.name]
            if env.get(name):
                try:
                    values[field.name] = int(env[name]) if field.type == "int" else float(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number: {env[name]!r}") from None
        return cls(**values)

    def updated(self, changes: Mapping[str, Any]) -> "Settings":
        unknown = set(changes) - set(self.ENV)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        values = {}
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number")
            values[name] = int(value) if name == "words_per_delta" else float(value)
        return dataclasses.replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- reading the prompt ------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    id: str
    title: str | None
    text: str


def _xml_unescape(text: str) -> str:
    return XML_ENTITIES.sub(lambda m: XML_CHARS[m.group(1)], text)


def parse_entries(system_text: str) -> list[Entry]:
    """The ``<entry id=".." title="..">body</entry>`` blocks of a system prompt, in order."""
    entries = []
    for match in ENTRY.finditer(system_text):
        attrs = {m.group("name"): _xml_unescape(m.group("value")) for m in ATTR.finditer(match.group("attrs"))}
        if attrs.get("id"):
            entries.append(Entry(id=attrs["id"], title=attrs.get("title"),
                                 text=match.group("body").strip()))
    return entries


def asks_for_person(text: str) -> bool:
    words = {w.strip(".,;:!?\"'()[]") for w in text.lower().split()}
    return bool(words & PERSON_WORDS) and bool(words & ASK_WORDS)


def trigger_in(text: str) -> str | None:
    """The failure mode a trigger phrase in ``text`` asks for, if any."""
    lowered = " ".join(text.lower().split())
    for phrase, mode in TRIGGERS.items():
        if phrase in lowered:
            return mode
    return None


def word_count(text: str) -> int:
    return len(text.split())


def _block_text(block: Mapping[str, Any]) -> str:
    """The words a content block contributes to the input token count."""
    if isinstance(block.get("text"), str):
        return block["text"]
    if isinstance(block.get("toolUse"), Mapping):
        return json.dumps(block["toolUse"].get("input"))
    if isinstance(block.get("toolResult"), Mapping):
        parts = []
        for item in block["toolResult"].get("content") or []:
            if isinstance(item, Mapping):
                parts.append(item["text"] if isinstance(item.get("text"), str) else json.dumps(item.get("json")))
        return " ".join(parts)
    return ""


def system_text(body: Mapping[str, Any]) -> str:
    return "\n".join(b["text"] for b in body.get("system") or [] if isinstance(b, Mapping)
                     and isinstance(b.get("text"), str))


def last_user_message(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return message
    return None


def message_text(message: Mapping[str, Any] | None) -> str:
    if message is None:
        return ""
    return "\n".join(b["text"] for b in message.get("content") or [] if isinstance(b.get("text"), str))


def input_tokens(body: Mapping[str, Any]) -> int:
    count = word_count(system_text(body))
    for message in body.get("messages") or []:
        for block in message.get("content") or []:
            count += word_count(_block_text(block))
    return count


def offered_tools(body: Mapping[str, Any]) -> set[str]:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    return {t["toolSpec"]["name"] for t in tools if isinstance(t, Mapping) and isinstance(t.get("toolSpec"), Mapping)
            and isinstance(t["toolSpec"].get("name"), str)}


def forces_handoff(body: Mapping[str, Any]) -> bool:
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    return "any" in choice or (choice.get("tool") or {}).get("name") == HANDOFF_TOOL


@dataclass(frozen=True)
class Answer:
    """What the stand-in says: text, maybe a tool call, why it stopped, and the token counts."""

    text: str
    tool_use: dict[str, Any] | None
    stop_reason: str
    input_tokens: int
    output_tokens: int

    @property
    def usage(self) -> dict[str, int]:
        return {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens,
                "totalTokens": self.input_tokens + self.output_tokens}

    def content(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [{"text": self.text}] if self.text else []
        if self.tool_use is not None:
            blocks.append({"toolUse": self.tool_use})
        return blocks


def tool_use_id(body: Mapping[str, Any]) -> str:
    """``tooluse_`` and 22 URL-safe characters, like Bedrock's, but derived from the request."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    return "tooluse_" + base64.urlsafe_b64encode(digest).decode()[:22]


def plan_answer(body: Mapping[str, Any]) -> Answer:
    """The deterministic answer to a (valid) Converse request; the module docstring has the rules."""
    last = last_user_message(body)
    text = message_text(last)
    entries = parse_entries(system_text(body))
    tool_use = None
    only_tool_results = last is not None and not text and any("toolResult" in b for b in last.get("content") or [])
    wants_person = asks_for_person(text)
    if only_tool_results:
        answer = AFTER_HANDOFF_TEXT
    elif entries and not wants_person and not forces_handoff(body):
        answer = f"{entries[0].text} [[{entries[0].id}]]"
    elif HANDOFF_TOOL in offered_tools(body):
        answer = HANDOFF_TEXT
        tool_use = {"toolUseId": tool_use_id(body), "name": HANDOFF_TOOL,
                    "input": {"reason": REASON_ASKED if wants_person else REASON_UNKNOWN}}
    else:
        answer = NO_ANSWER_TEXT
    stop_reason = "tool_use" if tool_use else "end_turn"
    output = word_count(answer) + (word_count(json.dumps(tool_use["input"])) if tool_use else 0)
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    if isinstance(max_tokens, int) and output > max_tokens:
        answer = "".join(WORD.findall(answer)[:max_tokens]).strip()
        tool_use, stop_reason, output = None, "max_tokens", max_tokens
    return Answer(text=answer, tool_use=tool_use, stop_reason=stop_reason,
                  input_tokens=input_tokens(body), output_tokens=output)


def text_chunks(text: str, words_per_delta: int) -> list[str]:
    """``text`` in pieces of ``words_per_delta`` words that join back to exactly ``text``."""
    words = WORD.findall(text)
    if not words:
        return [text] if text else []
    chunks = ["".join(words[i:i + words_per_delta]) for i in range(0, len(words), words_per_delta)]
    chunks[-1] += text[len("".join(words)):]  # trailing whitespace, if any
    return chunks


def json_chunks(text: str, pieces: int = 3) -> list[str]:
    """A tool's input JSON in a few fragments, as Bedrock streams it."""
    size = max(1, -(-len(text) // pieces))
    return [text[i:i + size] for i in range(0, len(text), size)]


# --- validation ----------------------------------------------------------------------------------

class AwsError(Exception):
    """An AWS rest-json error answer: status, ``x-amzn-ErrorType`` and ``{"message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> AwsError:
    return AwsError(400, "ValidationException", message)


def validate(body: Any) -> None:
    """Raises ValidationException for a request Bedrock would refuse (the subset the answer relies on)."""
    if not isinstance(body, dict):
        raise invalid("Malformed input request, please reformat your input and try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("A conversation must start with a user message. Try again with a conversation "
                      "that starts with a user message.")
    previous = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"The role in the Message object at messages.{i} must be user or assistant.")
        content = message.get("content")
        if not isinstance(content, list) or not content or not all(isinstance(b, dict) for b in content):
            raise invalid(f"The content field in the Message object at messages.{i} is empty. Add a "
                          "ContentBlock object to the content field and try again.")
        if (i == 0 and message["role"] != "user") or message["role"] == previous:
            raise invalid("A conversation must alternate between user and assistant roles. Make sure the "
                          "conversation alternates between user and assistant roles and try again.")
        previous = message["role"]
    system = body.get("system", [])
    if not isinstance(system, list) or not all(isinstance(b, dict) for b in system):
        raise invalid("The system field must be a list of SystemContentBlock objects.")
    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict):
        raise invalid("inferenceConfig must be an object.")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise invalid("The maximum tokens you requested exceeds the model limit or is below 1. Try again "
                      "with a maximum tokens value between 1 and the model's limit.")
    for name in ("temperature", "topP"):
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= 1):
            raise invalid(f"The value of {name} must be between 0 and 1.")
    tool_config = body.get("toolConfig")
    if tool_config is not None:
        tools = tool_config.get("tools") if isinstance(tool_config, dict) else None
        if not isinstance(tools, list) or not tools:
            raise invalid("The toolConfig field must be defined with at least one tool.")
        for i, tool in enumerate(tools):
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if spec is not None and (not isinstance(spec, dict) or not spec.get("name")
                                     or not isinstance(spec.get("inputSchema"), dict)):
                raise invalid(f"The toolSpec at toolConfig.tools.{i} needs a name and an inputSchema.")


# --- the server ----------------------------------------------------------------------------------

class _Closed(Exception):
    """The client went away, or the server is stopping: end this answer, close the connection."""


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads never hold up stop(): a hung answer is cut off, not waited for.
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], stand_in: "BedrockRuntimeServer") -> None:
        self.stand_in = stand_in
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def cut_all(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked streams as Bedrock sends them
    server_version = "ParleyBedrockStandIn/1"
    timeout = IDLE_CONNECTION_SECONDS
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.stand_in.dispatch(self)

    do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def log_message(self, fmt: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % args)


class BedrockRuntimeServer:
    """Bedrock Runtime's Converse and ConverseStream on ``host:port`` (0: any free port), in threads.

    ``start()`` binds and serves (returns self), ``stop()`` ends it without
    waiting for hung answers; also a context manager. ``url`` is the
    ``endpoint_url`` for boto3. ``set_mode()`` / ``mode`` and ``requests`` are
    the control endpoint's in-process twins.
    """

    def __init__(self, host: str = HOST, port: int = 0, *, first_token_ms: float = 300.0,
                 tokens_per_second: float = 40.0, words_per_delta: int = 3, hang_seconds: float = 120.0,
                 settings: Settings | None = None) -> None:
        self.host = host
        self._requested_port = port
        self.settings = settings or Settings(first_token_ms=first_token_ms, tokens_per_second=tokens_per_second,
                                             words_per_delta=words_per_delta, hang_seconds=hang_seconds)
        self._lock = threading.Lock()
        self._mode = "normal"
        self._times: int | None = None
        self._exception = STREAM_EXCEPTIONS[0]
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
        self._count = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle

    def start(self) -> "BedrockRuntimeServer":
        if self._httpd is not None or self._stopping.is_set():
            raise RuntimeError("a BedrockRuntimeServer starts once")
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bedrock-stand-in:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and cuts every open connection; hung or slow answers end at once."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.cut_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "BedrockRuntimeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- control

    def set_mode(self, mode: str, times: int | None = None, exception: str | None = None) -> dict[str, Any]:
        """Misbehave for the next ``times`` model requests (None: until told otherwise)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        if exception is not None and exception not in STREAM_EXCEPTIONS:
            raise ValueError(f"exception must be one of {', '.join(STREAM_EXCEPTIONS)}")
        with self._lock:
            self._mode = mode
            self._times = None if mode == "normal" else times
            self._exception = exception or STREAM_EXCEPTIONS[0]
        return self.mode

    @property
    def mode(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self._mode, "times": self._times, "exception": self._exception}

    def _take_mode(self) -> tuple[str, str]:
        with self._lock:
            mode, exception = self._mode, self._exception
            if mode != "normal" and self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._mode, self._times = "normal", None
            return mode, exception

    def update_settings(self, changes: Mapping[str, Any]) -> Settings:
        with self._lock:
            self.settings = self.settings.updated(changes)
            return self.settings

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._count

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The last model requests received, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._recent))

    @property
    def last_request(self) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._recent[-1]) if self._recent else None

    def clear_requests(self) -> None:
        with self._lock:
            self._recent.clear()
            self._count = 0

    def _record(self, operation: str, model_id: str) -> dict[str, Any]:
        with self._lock:
            self._count += 1
            record = {"n": self._count, "operation": operation, "model_id": model_id, "body": None,
                      "mode": "normal", "status": None, "outcome": None}
            self._recent.append(record)
            return record

    # --- HTTP

    def dispatch(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        try:
            body = self._read_body(h)
        except AwsError as exc:
            h.close_connection = True
            self._send_error(h, exc)
            return
        route = MODEL_ROUTE.fullmatch(path)
        try:
            if route and h.command == "POST":
                self._model_request(h, unquote(route.group("model")), route.group("op"), body)
            elif path == "/_parley/mode" and h.command in ("GET", "POST"):
                if h.command == "POST":
                    changes = self._control_json(body)
                    self.set_mode(changes.get("mode", "normal"), changes.get("times"), changes.get("exception"))
                self._send_json(h, 200, self.mode)
            elif path == "/_parley/settings" and h.command in ("GET", "POST"):
                if h.command == "POST":
                    self.update_settings(self._control_json(body))
                self._send_json(h, 200, self.settings.as_dict())
            elif path == "/_parley/requests" and h.command in ("GET", "DELETE"):
                if h.command == "DELETE":
                    self.clear_requests()
                recent = self.requests
                self._send_json(h, 200, {"count": self.request_count, "last": recent[-1] if recent else None,
                                         "recent": recent})
            else:
                self._send_error(h, AwsError(404, "UnknownOperationException",
                                             f"No operation answers {h.command} {path}"))
        except ValueError as exc:  # a bad control request
            self._send_json(h, 400, {"message": str(exc)})
        except (_Closed, OSError):
            h.close_connection = True

    @staticmethod
    def _control_json(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ValueError("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    @staticmethod
    def _read_body(h: _Handler) -> bytes:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            parts, size = [], 0
            while True:
                line = h.rfile.readline(65537)
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise invalid("Malformed chunked request body.") from None
                if length == 0:
                    while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                size += length
                if size > MAX_BODY_BYTES:
                    raise invalid("Input is too long for requested model.")
                parts.append(h.rfile.read(length))
                h.rfile.readline(3)
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            raise invalid("Malformed Content-Length.") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise invalid("Input is too long for requested model.")
        return h.rfile.read(length) if length else b""

    def _model_request(self, h: _Handler, model_id: str, op: str, raw: bytes) -> None:
        started = time.monotonic()
        stream = op == "converse-stream"
        record = self._record("ConverseStream" if stream else "Converse", model_id)
        try:
            record["body"] = json.loads(raw)
        except ValueError:
            record["body"] = raw.decode("utf-8", "replace")
        try:
            if not h.headers.get("Authorization"):
                raise AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
            if not isinstance(record["body"], dict):
                raise invalid("Malformed input request, please reformat your input and try again.")
            body = record["body"]
            validate(body)
            mode = trigger_in(message_text(last_user_message(body)))
            exception = STREAM_EXCEPTIONS[0]
            if mode is None:
                mode, exception = self._take_mode()
            record["mode"] = mode
            if mode == "throttle":
                raise AwsError(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        except AwsError as exc:
            record.update(status=exc.status, outcome=exc.code)
            self._send_error(h, exc)
            return
        answer = plan_answer(body)
        settings = self.settings
        record["status"] = 200
        try:
            if stream:
                record["outcome"] = self._stream(h, answer, settings, mode, exception, started, record)
            else:
                record["outcome"] = self._converse(h, answer, settings, mode, started)
                record["status"] = {"fail_midstream": 424, "hang": None}.get(mode, 200)
        except (_Closed, OSError):
            h.close_connection = True
            record["outcome"] = "stopped" if self._stopping.is_set() else "client_gone"

    def _converse(self, h: _Handler, answer: Answer, settings: Settings, mode: str, started: float) -> str:
        if mode == "hang":
            self._hang(h, settings)
            return "hung"
        self._sleep(settings.first_token_ms / 1000)
        if mode == "fail_midstream":
            self._send_error(h, AwsError(424, "ModelErrorException",
                                         "The model encountered an error processing the request. Try again."))
            return "ModelErrorException"
        if settings.tokens_per_second > 0:
            self._sleep(answer.output_tokens / settings.tokens_per_second)
        self._send_json(h, 200, {
            "output": {"message": {"role": "assistant", "content": answer.content()}},
            "stopReason": answer.stop_reason, "usage": answer.usage,
            "metrics": {"latencyMs": _elapsed_ms(started)},
        })
        return "answered"

    def _stream(self, h: _Handler, answer: Answer, settings: Settings, mode: str, exception: str,
                started: float, record: dict[str, Any]) -> str:
        """Streams the answer; the request's ``record`` gets its outcome before the last frame goes,
        so a client that has read that frame finds the outcome in ``GET /_parley/requests``."""
        h.send_response(200)
        h.send_header("Content-Type", eventstream.CONTENT_TYPE)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if mode != "normal":
            # The connection is not reused after a broken answer; saying so keeps the client's pool clean.
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        events = _Events(h)
        events.send("messageStart", {"role": "assistant"})
        chunks = text_chunks(answer.text, settings.words_per_delta)
        delay = settings.first_token_ms / 1000
        fail_after = max(1, min(FAIL_AFTER_DELTAS, len(chunks) - 1))
        for i, chunk in enumerate(chunks):
            self._sleep(delay)
            events.send("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": chunk}})
            delay = _pace(word_count(chunk), settings)
            if mode == "hang":
                self._hang(h, settings)
                return "hung"
            if mode == "fail_midstream" and i + 1 >= fail_after:
                record["outcome"] = f"failed_midstream:{exception}"
                events.send_exception(exception, {
                    "message": "The model stream failed while generating a response. Try your request again.",
                    **({"originalStatusCode": 500} if exception == "modelStreamErrorException" else {})})
                events.end()
                return f"failed_midstream:{exception}"
        index = 0
        if chunks:
            events.send("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if answer.tool_use is not None:
            tool = answer.tool_use
            events.send("contentBlockStart", {"contentBlockIndex": index,
                                              "start": {"toolUse": {"toolUseId": tool["toolUseId"],
                                                                    "name": tool["name"]}}})
            for fragment in json_chunks(json.dumps(tool["input"])):
                self._sleep(delay)
                events.send("contentBlockDelta", {"contentBlockIndex": index,
                                                  "delta": {"toolUse": {"input": fragment}}})
                delay = _pace(word_count(fragment), settings)
            events.send("contentBlockStop", {"contentBlockIndex": index})
        record["outcome"] = "answered"
        events.send("messageStop", {"stopReason": answer.stop_reason})
        events.send("metadata", {"usage": answer.usage, "metrics": {"latencyMs": _elapsed_ms(started)}})
        events.end()
        return "answered"

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Closed()

    def _hang(self, h: _Handler, settings: Settings) -> None:
        """Says nothing until hang_seconds pass, the client leaves or the server stops; then closes."""
        h.close_connection = True
        deadline = time.monotonic() + settings.hang_seconds
        sock = h.connection
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([sock], [], [], min(HANG_POLL_SECONDS, remaining))
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return  # the client closed its end (its read timed out)
            except (OSError, ValueError):
                return

    def _send_json(self, h: _Handler, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)

    def _send_error(self, h: _Handler, exc: AwsError) -> None:
        # botocore's rest-json parser takes the error code from this header.
        self._send_json(h, exc.status, {"message": exc.message}, {"x-amzn-ErrorType": exc.code})


class _Events:
    """Writes event-stream messages to a chunked response, one HTTP chunk each."""

    PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def __init__(self, h: _Handler) -> None:
        self.h = h
        self.sent = 0

    def _padding(self) -> str:
        # Bedrock pads each event with a "p" field of varying length so sizes do not leak the text.
        self.sent += 1
        return self.PADDING[:1 + (self.sent * 7) % len(self.PADDING)]

    def _write(self, data: bytes) -> None:
        self.h.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def send(self, event_type: str, body: dict[str, Any]) -> None:
        self._write(eventstream.event(event_type, {**body, "p": self._padding()}))

    def send_exception(self, exception_type: str, body: dict[str, Any]) -> None:
        self._write(eventstream.exception(exception_type, body))

    def end(self) -> None:
        self.h.wfile.write(b"0\r\n\r\n")


def _pace(words: int, settings: Settings) -> float:
    return words / settings.tokens_per_second if settings.tokens_per_second > 0 else 0.0


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- running it ----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    env = os.environ if env is None else env
    try:
        defaults = Settings.from_env(env)
    except ValueError as exc:
        raise SystemExit(f"bedrock stand-in: {exc}") from None
    parser = argparse.ArgumentParser(prog="python -m infra.local.bedrock_runtime",
                                     description="A local Amazon Bedrock Runtime (Converse, ConverseStream).")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=int(env.get("PARLEY_BEDROCK_PORT") or DEFAULT_PORT),
                        help="0 picks a free port (printed in the ready line); env PARLEY_BEDROCK_PORT")
    parser.add_argument("--first-token-ms", type=float, default=defaults.first_token_ms,
                        help="delay before the first text; env PARLEY_BEDROCK_FIRST_TOKEN_MS")
    parser.add_argument("--tokens-per-second", type=float, default=defaults.tokens_per_second,
                        help="words a second after the first (0: no pacing); env PARLEY_BEDROCK_TOKENS_PER_SECOND")
    parser.add_argument("--words-per-delta", type=int, default=defaults.words_per_delta,
                        help="words in each contentBlockDelta; env PARLEY_BEDROCK_WORDS_PER_DELTA")
    parser.add_argument("--hang-seconds", type=float, default=defaults.hang_seconds,
                        help="longest a 'hang' lasts before the connection is closed; env PARLEY_BEDROCK_HANG_SECONDS")
    parser.add_argument("--mode", choices=MODES, default=env.get("PARLEY_BEDROCK_MODE") or "normal",
                        help="misbehave from the start, until changed; env PARLEY_BEDROCK_MODE")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        args.settings = Settings(first_token_ms=args.first_token_ms, tokens_per_second=args.tokens_per_second,
                                 words_per_delta=args.words_per_delta, hang_seconds=args.hang_seconds)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="bedrock stand-in: %(message)s", stream=sys.stderr)
    stop = threading.Event()
    # Before the ready line: whoever reads it may send SIGTERM at once.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = BedrockRuntimeServer(args.host, args.port, settings=args.settings)
    try:
        server.start()
    except OSError as exc:
        print(f"bedrock stand-in: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if args.mode != "normal":
        server.set_mode(args.mode)
    print(READY_LINE.format(host=args.host, port=server.port), flush=True)
    try:
        while not stop.wait(1):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
