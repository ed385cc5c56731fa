"""The stand-in's event-stream frames (infra/local/eventstream.py) read by botocore's own parser.

botocore's EventStreamBuffer checks the prelude CRC and the message CRC; its
EventStream, with the bedrock-runtime service model's ConverseStream output
shape, turns frames into the dicts boto3 hands out, and exception frames into
EventStreamError. No sockets here: the bytes go straight into botocore.
"""
from __future__ import annotations

import json
import struct
import uuid
from binascii import crc32
from typing import Any, Iterable, Iterator

import botocore.session
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer, EventStreamMessage
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from infra.local import eventstream


def parse_all(data: bytes, piece: int | None = None) -> list[EventStreamMessage]:
    """Every message in ``data``, fed to botocore ``piece`` bytes at a time (all at once: None)."""
    buffer = EventStreamBuffer()
    messages: list[EventStreamMessage] = []
    step = piece or len(data) or 1
    for i in range(0, len(data), step):
        buffer.add_data(data[i:i + step])
        messages.extend(buffer)
    return messages


class RawStream:
    """What botocore's EventStream reads: a body with ``stream()`` yielding byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)

    def stream(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        pass


def converse_stream(chunks: Iterable[bytes]) -> EventStream:
    """botocore's EventStream for ConverseStream over ``chunks``, exactly as boto3 builds it."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("ConverseStream").output_shape.members["stream"]
    return EventStream(RawStream(chunks), shape, EventStreamJSONParser(), "ConverseStream")


def test_an_event_frame_has_the_headers_and_payload_botocore_expects():
    frame = eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})

    [message] = parse_all(frame)

    assert message.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json",
                               ":message-type": "event"}
    assert json.loads(message.payload) == {"contentBlockIndex": 0, "delta": {"text": "Hello"}}
    assert message.prelude.total_length == len(frame)
    assert message.to_response_dict()["status_code"] == 200


def test_prelude_and_message_crcs_are_crc32_of_what_they_cover():
    frame = eventstream.event("messageStart", {"role": "assistant"})
    total, headers_length, prelude_crc = struct.unpack(">III", frame[:12])
    (message_crc,) = struct.unpack(">I", frame[-4:])

    assert total == len(frame)
    assert prelude_crc == crc32(frame[:8]) & 0xFFFFFFFF
    assert message_crc == crc32(frame[:-4]) & 0xFFFFFFFF
    assert 12 + headers_length + len(b'{"role":"assistant"}') + 4 == total


def test_frames_split_anywhere_are_reassembled_in_order():
    texts = ["Our shop", " is open", " Monday to", " Friday. ünïcode ✓"]
    data = b"".join(eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
                    for t in texts)

    for piece in (1, 7, 64, None):
        messages = parse_all(data, piece)
        assert [json.loads(m.payload)["delta"]["text"] for m in messages] == texts, f"piece={piece}"


@pytest.mark.parametrize("where", ["prelude", "prelude crc", "headers", "payload", "message crc"])
def test_a_corrupted_byte_is_rejected_by_botocore(where: str):
    frame = bytearray(eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    headers_length = struct.unpack(">I", frame[4:8])[0]
    index = {"prelude": 7, "prelude crc": 9, "headers": 12 + 3, "payload": 12 + headers_length + 2,
             "message crc": len(frame) - 1}[where]
    frame[index] ^= 0x01
    if where == "prelude":
        # A changed headers length would also make botocore read garbage; the CRC catches it first.
        assert struct.unpack(">I", bytes(frame[4:8]))[0] != headers_length

    with pytest.raises(ChecksumMismatch):
        parse_all(bytes(frame))


def test_header_value_types_round_trip_through_botocores_header_parser():
    an_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = {"yes": True, "no": False, "small": -5, "big": 2 ** 40, "raw": b"\x00\xff", "text": "héllo",
               "id": an_id}

    [message] = parse_all(eventstream.encode_message(headers, b"x"))

    assert message.headers == {"yes": True, "no": False, "small": -5, "big": 2 ** 40, "raw": b"\x00\xff",
                               "text": "héllo", "id": an_id.bytes}
    assert message.payload == b"x"


def test_limits_are_refused_when_encoding():
    with pytest.raises(ValueError):
        eventstream.encode_message({"x" * 256: "too long a name"})
    with pytest.raises(ValueError):
        eventstream.encode_message({"big": "v" * 40000})
    with pytest.raises(TypeError):
        eventstream.encode_message({"float": 1.5})  # type: ignore[dict-item]


def test_botocore_turns_a_converse_stream_into_boto3s_event_dicts():
    frames = [
        eventstream.event("messageStart", {"role": "assistant", "p": "abc"}),
        eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi there"}}),
        eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
        eventstream.event("contentBlockStart", {"contentBlockIndex": 1,
                                                "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "handoff"}}}),
        eventstream.event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}),
        eventstream.event("messageStop", {"stopReason": "tool_use"}),
        eventstream.event("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                                       "metrics": {"latencyMs": 12}}),
    ]

    events = list(converse_stream([b"".join(frames)]))

    assert events == [
        {"messageStart": {"role": "assistant"}},  # the padding field "p" is not in the model: dropped
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi there"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockStart": {"contentBlockIndex": 1,
                               "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "handoff"}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                      "metrics": {"latencyMs": 12}}},
    ]


@pytest.mark.parametrize("code", ["modelStreamErrorException", "throttlingException"])
def test_an_exception_frame_raises_event_stream_error_with_its_code(code: str):
    frames = [eventstream.event("messageStart", {"role": "assistant"}),
              eventstream.exception(code, {"message": "it broke"})]
    seen: list[Any] = []

    with pytest.raises(EventStreamError) as raised:
        for event in converse_stream(frames):
            seen.append(event)

    assert seen == [{"messageStart": {"role": "assistant"}}]
    assert raised.value.response["Error"] == {"Code": code, "Message": "it broke"}
    [message] = parse_all(frames[1])
    assert message.headers[":message-type"] == "exception"
    assert message.to_response_dict()["status_code"] == 400


def test_an_error_frame_carries_its_code_and_message_in_headers():
    with pytest.raises(EventStreamError) as raised:
        list(converse_stream([eventstream.error("InternalFailure", "something went wrong")]))

    assert raised.value.response["Error"] == {"Code": "InternalFailure", "Message": "something went wrong"}
