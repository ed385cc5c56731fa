"""Encodes AWS event-stream messages (``application/vnd.amazon.eventstream``), as Bedrock sends them.

The framing, as botocore's ``botocore/eventstream.py`` reads it (all integers big-endian)::

    [total length: uint32][headers length: uint32][prelude CRC: uint32]
    [headers ...][payload ...]
    [message CRC: uint32]

The prelude CRC is the CRC32 of the first 8 bytes; the message CRC is the CRC32
of everything before it, prelude CRC included (botocore computes it as
``crc32(message[8:-4], prelude_crc)``, which equals ``crc32(message[:-4])``).
A header is ``[name length: uint8][name][type: uint8][value]``; a string value
(type 7) is ``[length: uint16][utf-8 bytes]``.

Three kinds of message, told apart by the ``:message-type`` header:

- ``event``: ``:event-type`` names a member of the operation's event-stream
  shape (``contentBlockDelta`` ...), ``:content-type`` is ``application/json``
  and the payload is that member's JSON;
- ``exception``: ``:exception-type`` names one of the stream's exception members
  (``modelStreamErrorException``, ``throttlingException`` ...), payload
  ``{"message": ...}``; botocore raises ``EventStreamError`` with that code;
- ``error``: ``:error-code`` and ``:error-message`` headers, empty payload.

Only encoding lives here: the tests decode with botocore's own parser.
"""
from __future__ import annotations

import json
import struct
import uuid
from binascii import crc32
from typing import Any, Mapping

CONTENT_TYPE = "application/vnd.amazon.eventstream"

PRELUDE_LENGTH = 12
# The limits botocore enforces when it reads (botocore/eventstream.py).
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 16 * 1024 ** 2
MAX_HEADER_NAME = 255
MAX_STRING_VALUE = 2 ** 15 - 1

# Header value types.
TRUE, FALSE, BYTE, SHORT, INTEGER, LONG, BYTE_ARRAY, STRING, TIMESTAMP, UUID = range(10)

HeaderValue = str | bytes | bool | int | uuid.UUID


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if not 0 < len(raw_name) <= MAX_HEADER_NAME:
        raise ValueError(f"header name must be 1-{MAX_HEADER_NAME} bytes: {name!r}")
    out = struct.pack(">B", len(raw_name)) + raw_name
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return out + struct.pack(">B", TRUE if value else FALSE)
    if isinstance(value, int):
        if -2 ** 31 <= value < 2 ** 31:
            return out + struct.pack(">Bi", INTEGER, value)
        return out + struct.pack(">Bq", LONG, value)
    if isinstance(value, uuid.UUID):
        return out + struct.pack(">B", UUID) + value.bytes
    if isinstance(value, str):
        type_, data = STRING, value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        type_, data = BYTE_ARRAY, bytes(value)
    else:
        raise TypeError(f"unsupported header value for {name!r}: {type(value).__name__}")
    if len(data) > MAX_STRING_VALUE:
        raise ValueError(f"header {name!r} is over {MAX_STRING_VALUE} bytes")
    return out + struct.pack(">BH", type_, len(data)) + data


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    data = b"".join(_encode_header(name, value) for name, value in headers.items())
    if len(data) > MAX_HEADERS_LENGTH:
        raise ValueError(f"headers are over {MAX_HEADERS_LENGTH} bytes")
    return data


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """One complete event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    header_bytes = encode_headers(headers)
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise ValueError(f"payload is over {MAX_PAYLOAD_LENGTH} bytes")
    total = PRELUDE_LENGTH + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    head = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF) + header_bytes + payload
    return head + struct.pack(">I", crc32(head) & 0xFFFFFFFF)


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event(event_type: str, body: Any) -> bytes:
    """An ``event`` message whose payload is ``body`` as JSON."""
    return encode_message({":event-type": event_type, ":content-type": "application/json",
                           ":message-type": "event"}, _json(body))


def exception(exception_type: str, body: Any) -> bytes:
    """An ``exception`` message: botocore raises ``EventStreamError`` with code ``exception_type``."""
    return encode_message({":exception-type": exception_type, ":content-type": "application/json",
                           ":message-type": "exception"}, _json(body))


def error(code: str, message: str) -> bytes:
    """An ``error`` message (codes and text in headers, no payload)."""
    return encode_message({":error-code": code, ":error-message": message, ":message-type": "error"})
