"""Model-visible history items (``ResponseItem``), as the Responses API and the rollout spell them.

Every model keeps unknown fields (``extra="allow"``) so a rollout written by a
newer Codex round-trips without loss. Items whose ``type`` we do not know are
kept as :class:`OtherItem`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    return kind if kind in _KNOWN else "other"


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
