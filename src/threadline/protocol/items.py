"""Model-visible history items (``ResponseItem``), as the Responses API and the rollout spell them.

Every model keeps unknown fields (``extra="allow"``) so a rollout written by a
newer Codex round-trips without loss. Items whose ``type`` we do not know are
kept as :class:`OtherItem`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Discriminator, Tag

from threadline.protocol.lazy_adapter import LazyTypeAdapter


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # built on first use, not at import (start-up)


class ContentItem(_Open):
    """One part of a message: ``input_text``, ``output_text`` or ``input_image``."""

    type: str
    text: str | None = None
    image_url: str | None = None


class SummaryText(_Open):
    type: str = "summary_text"
    text: str = ""


class MessageItem(_Open):
    type: Literal["message"] = "message"
    role: str
    content: list[ContentItem]
    id: str | None = None

    def text(self) -> str:
        return "".join(part.text or "" for part in self.content)


class ReasoningItem(_Open):
    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    summary: list[SummaryText] = []
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None


class FunctionCallItem(_Open):
    type: Literal["function_call"] = "function_call"
    name: str
    arguments: str
    call_id: str
    id: str | None = None


class FunctionCallOutputItem(_Open):
    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: Any


class CustomToolCallItem(_Open):
    type: Literal["custom_tool_call"] = "custom_tool_call"
    name: str
    input: str
    call_id: str
    id: str | None = None


class CustomToolCallOutputItem(_Open):
    type: Literal["custom_tool_call_output"] = "custom_tool_call_output"
    call_id: str
    output: Any


class OtherItem(_Open):
    """Any item type threadline does not interpret; kept verbatim."""

    type: str


_KNOWN = {
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
}


def _item_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if isinstance(value, OtherItem):
        return "other"
    return kind if isinstance(kind, str) and kind in _KNOWN else "other"  # a list: unhashable


ResponseItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[CustomToolCallItem, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutputItem, Tag("custom_tool_call_output")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(_item_tag),
]

response_item_adapter: LazyTypeAdapter[ResponseItem] = LazyTypeAdapter(ResponseItem)
"""Validates any ``ResponseItem`` variant; built on first use, not at import."""


def parse_response_item(data: Any) -> ResponseItem:
    return response_item_adapter.validate_python(data)


_items_adapter: LazyTypeAdapter[list[ResponseItem]] = LazyTypeAdapter(list[ResponseItem])
log = logging.getLogger(__name__)

_REQUIRED_STR: dict[str, tuple[str, ...]] = {
    "reasoning": (),
    "function_call": ("name", "arguments", "call_id"),
    "function_call_output": ("call_id",),
    "custom_tool_call": ("name", "input", "call_id"),
    "custom_tool_call_output": ("call_id",),
}
_OPTIONAL_STR: dict[str, tuple[str, ...]] = {
    "reasoning": ("id", "encrypted_content"),
    "function_call": ("id",),
    "custom_tool_call": ("id",),
}


def _str_fields(part: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> bool:
    if not isinstance(part, dict):
        return False
    for key in required:
        if not isinstance(part.get(key), str):
            return False
    for key in optional:
        value = part.get(key)
        if value is not None and not isinstance(value, str):
            return False
    return True


def validates_as_item(data: Any) -> bool:
    """Whether :func:`parse_response_item` surely accepts ``data`` (decoded JSON), told
    by a look at the members the models require: ``False`` means "validate to know",
    never "invalid". A history holds such values as they are until first read
    (:class:`DeferredItems`)."""
    if type(data) is not dict:
        return False
    kind = data.get("type")
    if kind == "message":  # most of a history: checked inline, for speed
        role, content, ident = data.get("role"), data.get("content"), data.get("id")
        if type(role) is not str or type(content) is not list or (
            ident is not None and type(ident) is not str
        ):
            return False
        for part in content:
            if type(part) is not dict or type(part.get("type")) is not str:
                return False
            text, url = part.get("text"), part.get("image_url")
            if (text is not None and type(text) is not str) or (
                url is not None and type(url) is not str
            ):
                return False
        return True
    if not isinstance(kind, str):
        return False
    required = _REQUIRED_STR.get(kind)
    if required is None:
        return True  # any other type is an OtherItem: its type is all it needs
    if not _str_fields(data, required, _OPTIONAL_STR.get(kind, ())):
        return False
    if kind == "reasoning":
        summary = data.get("summary", [])
        if not isinstance(summary, list) or not all(
            isinstance(part, dict)
            and isinstance(part.get("type", ""), str)
            and isinstance(part.get("text", ""), str)
            for part in summary
        ):
            return False
        content = data.get("content")
        return content is None or (
            isinstance(content, list) and all(isinstance(part, dict) for part in content)
        )
    if kind in ("function_call_output", "custom_tool_call_output"):
        return "output" in data  # required, of any type
    return True


class DeferredItems(Sequence[ResponseItem]):
    """A model history held as decoded JSON until it is first read: each entry is a value
    :func:`validates_as_item` vouches for, or an item already built. Reading it (any
    sequence access, :meth:`build`) validates them all at once, into the items
    :func:`parse_response_item` makes of them, and keeps those. A resumed thread's
    history waits so until its first model request: the resume answers without it."""

    __slots__ = ("_built", "_entries", "_lock")

    def __init__(self, entries: list[Any]) -> None:
        self._entries: list[Any] | None = entries
        self._built: list[ResponseItem] | None = None
        self._lock = threading.Lock()  # two first readers get the same list

    @property
    def pending(self) -> int:
        """How many entries are not built yet (0 once read)."""
        return len(self._entries) if self._entries is not None else 0

    def build(self) -> list[ResponseItem]:
        """The items (built on the first call; the same list on every later one)."""
        built = self._built
        if built is None:
            with self._lock:
                built = self._built
                if built is None:
                    built = _build_entries(self._entries or [])
                    self._built, self._entries = built, None
        return built

    def __len__(self) -> int:
        # Every raw entry is vouched for, so it becomes exactly one item.
        return len(self._entries) if self._entries is not None else len(self.build())

    def __iter__(self) -> Iterator[ResponseItem]:
        return iter(self.build())

    @overload
    def __getitem__(self, index: int) -> ResponseItem: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ResponseItem]: ...
    def __getitem__(self, index: int | slice) -> ResponseItem | Sequence[ResponseItem]:
        return self.build()[index]


def _build_entries(entries: list[Any]) -> list[ResponseItem]:
    raw = [entry for entry in entries if type(entry) is dict]
    if not raw:
        return list(entries)
    try:
        made = iter(_items_adapter.validate_python(raw))
    except ValueError:  # not expected of vouched-for values: one at a time, as a replay does
        out: list[ResponseItem] = []
        for entry in entries:
            if type(entry) is not dict:
                out.append(entry)
                continue
            try:
                out.append(parse_response_item(entry))
            except ValueError:
                log.warning("skipping response_item that does not validate")
        return out
    return [next(made) if type(entry) is dict else entry for entry in entries]


def dump_response_item(item: ResponseItem) -> dict[str, Any]:
    """Serialize for the model request and the rollout (``None`` ids are omitted)."""
    out = item.model_dump(mode="json")
    if out.get("id") is None:
        out.pop("id", None)
    content = out.get("content")
    if isinstance(item, MessageItem) and isinstance(content, list):
        # Codex writes content parts without null members.
        out["content"] = [
            {k: v for k, v in part.items() if v is not None} if isinstance(part, dict) else part
            for part in content
        ]
    return out


def user_text_message(text: str) -> MessageItem:
    return MessageItem(role="user", content=[ContentItem(type="input_text", text=text)])


def developer_text_message(text: str) -> MessageItem:
    return MessageItem(role="developer", content=[ContentItem(type="input_text", text=text)])


def assistant_text_message(text: str, id: str | None = None) -> MessageItem:
    return MessageItem(
        role="assistant", content=[ContentItem(type="output_text", text=text)], id=id
    )
