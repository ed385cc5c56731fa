"""A conversation's transcript, as the visitor downloads it: plain text or JSON. No I/O.

Both are bounded in size (``MAX_BYTES``): a Lambda answers at most 6 MB, and
a transcript cut short says so (``truncated``, and a last line in the text).
"""
from __future__ import annotations

import json
from typing import Any

from .models import Conversation, Message

MAX_BYTES = 5_000_000
LABELS = {"visitor": "You", "bot": "Bot", "agent": "Agent", "system": "—"}


def _label(message: Message) -> str:
    if message.sender == "agent" and message.sender_name:
        return message.sender_name
    return LABELS.get(message.sender, message.sender)


def _line(message: Message) -> str:
    # Continuation lines are indented, so every message starts a line of its own.
    text = message.text.replace("\r\n", "\n").replace("\n", "\n    ")
    return f"[{message.created_at}] {_label(message)}: {text}\n"


def as_text(conversation: Conversation, site_name: str, messages: list[Message], truncated: bool,
            exported_at: str) -> str:
    head = (f"Conversation {conversation.conversation_id} on {site_name}\n"
            f"Started {conversation.created_at or 'unknown'}; exported {exported_at}\n\n")
    parts, size = [head], len(head.encode("utf-8"))
    for message in messages:
        line = _line(message)
        size += len(line.encode("utf-8"))
        if size > MAX_BYTES:
            truncated = True
            break
        parts.append(line)
    if truncated:
        parts.append("\n(The transcript ends here: the conversation is longer than one download holds.)\n")
    return "".join(parts)


def as_json(conversation: Conversation, site_name: str, messages: list[Message], truncated: bool,
            exported_at: str) -> dict[str, Any]:
    kept, size = [], 0
    for message in messages:
        body = message.to_json()
        size += len(json.dumps(body, ensure_ascii=False).encode("utf-8")) + 1
        if size > MAX_BYTES:
            truncated = True
            break
        kept.append(body)
    return {"conversation_id": conversation.conversation_id, "site": site_name,
            "created_at": conversation.created_at, "exported_at": exported_at,
            "messages": kept, "truncated": truncated}


def filename(conversation: Conversation, extension: str) -> str:
    return f"parley-{conversation.conversation_id}.{extension}"
