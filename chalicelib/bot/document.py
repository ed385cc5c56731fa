"""The knowledge file, as a pydantic model: what the default bot answers from.

``{"fallback"?, "synonyms"?, "entries": [{"id", "title"?, "questions", "keywords", "answer", "handoff"?}]}``.
``synonyms`` is a list of groups of words that mean the same on this site
(``[["bike", "bicycle", "cycle"]]``), added to the bot's own.
Unknown fields are refused so a typo ("answers", "keyword") is caught by the
site CLI instead of silently leaving an entry unreachable. Errors are turned
into one line that names the entry and the field.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    # strict: 7 is not the string "7"; strip: "  " is empty, not an answer.
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, defer_build=True)


class Entry(_Strict):
    id: Text
    # What the widget shows under an answer ("from: Opening hours"); the first question when missing.
    title: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    questions: list[Text] = []
    keywords: list[Text] = []
    answer: Text
    # Answering with this entry also asks for a person (the lifecycle's handoff).
    handoff: bool = False

    @model_validator(mode="after")
    def _reachable(self) -> "Entry":
        if not self.questions and not self.keywords:
            raise ValueError("needs at least one question or keyword, or nothing can reach it")
        return self


Word = Annotated[str, Field(min_length=1, max_length=40)]


class KnowledgeDocument(_Strict):
    fallback: Text | None = None
    # At most 200 groups of 2 to 20 words: a thesaurus for the site, not a second knowledge file.
    synonyms: Annotated[list[Annotated[list[Word], Field(min_length=2, max_length=20)]],
                        Field(max_length=200)] | None = None
    entries: list[Entry] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> "KnowledgeDocument":
        seen: dict[str, int] = {}
        for index, entry in enumerate(self.entries):
            if entry.id in seen:
                raise ValueError(f"entries[{index}] (id {entry.id!r}): duplicate id, "
                                 f"first used by entries[{seen[entry.id]}]")
            seen[entry.id] = index
        return self


_ALLOWED = {"document": sorted(KnowledgeDocument.model_fields), "entry": sorted(Entry.model_fields)}


def parse_knowledge(data: Any, *, allow_empty: bool = False) -> KnowledgeDocument:
    """The document, validated; a ValueError names the entry and field that are wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"knowledge must be a JSON object, not {type(data).__name__}")
    try:
        document = KnowledgeDocument.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(_describe(err, data) for err in exc.errors())) from None
    if not document.entries and not allow_empty:
        raise ValueError("knowledge 'entries' is empty: add at least one entry")
    return document


def _describe(err: Any, data: dict[str, Any]) -> str:
    """One pydantic error as "entries[1] (id 'hours') 'answer' is missing"."""
    loc = list(err["loc"])
    if err["type"] == "value_error":
        where = _where(loc, data)
        message = err["msg"].removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    if err["type"] == "extra_forbidden":
        kind = "entry" if len(loc) > 1 else "document"
        where = _where(loc[:-1], data) or "knowledge"
        return f"{where} has unknown field(s) {[loc[-1]]}; allowed: {_ALLOWED[kind]}"
    where = _where(loc, data)
    if err["type"] == "missing":
        return f"{where} is missing"
    if err["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return f"{where} must be an object, not {type(err['input']).__name__}"
    if err["type"] in ("too_short", "too_long", "string_too_long"):
        return f"{where}: {err['msg']}"
    if err["type"] == "list_type":
        what = "a list" if loc == ["entries"] else "a list of strings"
        return f"{where} must be {what}, not {type(err['input']).__name__}"
    return f"{where} must be a non-empty string, not {err['input']!r}"


def _where(loc: list[Any], data: dict[str, Any]) -> str:
    """``['entries', 1, 'answer']`` as ``entries[1] (id 'hours') 'answer'``."""
    if not loc:
        return ""
    if loc[0] != "entries":
        return f"knowledge '{loc[0]}'" + "".join(f"[{p}]" for p in loc[1:])
    if len(loc) == 1:
        return "knowledge 'entries'"
    index = loc[1]
    where = f"entries[{index}]"
    entries = data.get("entries")
    entry = entries[index] if isinstance(entries, list) and isinstance(index, int) else None
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"].strip():
        where += f" (id {entry['id'].strip()!r})"
    for part in loc[2:]:
        where += f"[{part}]" if isinstance(part, int) else f" '{part}'"
    return where
