"""Client-defined ("dynamic") tools: ``thread/start``'s ``dynamicTools``.

Each spec is offered to the model as a JSON function tool. A call becomes the
``item/tool/call`` server request, shown as a ``dynamicToolCall`` item (``item/started``
while the client works, ``item/completed`` with its ``contentItems``, ``success`` and
``durationMs``); the client's content items go back to the model as ``input_text`` /
``input_image`` parts. A reply that is not a ``DynamicToolCallResponse`` (``{}``) and a
failed request end the item as ``failed`` and tell the model so, in Codex's words.

As in Codex 0.169 a spec whose name is not ``^[a-zA-Z0-9_-]+$`` is refused when the
thread starts, and a spec named like a built-in tool is not offered (the built-in wins).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.items import ContentItem
from threadline.protocol.v2.item import DynamicToolCallThreadItem
from threadline.protocol.v2.item_parts import InputTextDynamicToolCallOutputContentItem
from threadline.tools.registry import ToolContext, ToolOutput
from threadline.tools.view_image import sniff_image_mime

__all__ = [
    "INVALID_RESPONSE",
    "REQUEST_FAILED",
    "DynamicTool",
    "DynamicToolSpec",
    "InvalidDynamicTool",
    "parse_dynamic_tools",
]

INVALID_RESPONSE = "dynamic tool response was invalid"
REQUEST_FAILED = "dynamic tool request failed"
IMAGE_OMITTED = "image content omitted because it could not be processed"
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


class InvalidDynamicTool(ValueError):
    """A ``dynamicTools`` entry threadline cannot offer (the message names it)."""


@dataclass(frozen=True, slots=True)
class DynamicToolSpec:
    name: str
    description: str
    input_schema: Any
    defer_loading: bool = False

    def wire(self) -> dict[str, Any]:
        """The spec as ``thread/start`` sent it (kept in ``session_meta.dynamic_tools``)."""
        out: dict[str, Any] = {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.defer_loading:
            out["deferLoading"] = True
        return out


def parse_dynamic_tools(raw: Iterable[Any] | None) -> tuple[DynamicToolSpec, ...]:
    """The specs of ``dynamicTools`` (wire JSON), checked as Codex checks them."""
    specs: list[DynamicToolSpec] = []
    seen: set[str] = set()
    for entry in raw or ():
        if not isinstance(entry, dict):
            raise InvalidDynamicTool("each dynamic tool must be an object")
        kind = entry.get("type", "function")
        name = entry.get("name")
        if kind != "function":
            raise InvalidDynamicTool(
                f"dynamic tool {name!r}: only type `function` is supported, not {kind!r}"
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidDynamicTool(
                f"dynamic tool name must match ^[a-zA-Z0-9_-]+$ to match Responses API: {name}"
            )
        if name in seen:
            raise InvalidDynamicTool(f"duplicate dynamic tool name: {name}")
        seen.add(name)
        schema = entry.get("inputSchema")
        if not isinstance(schema, dict):
            raise InvalidDynamicTool(f"dynamic tool {name}: `inputSchema` must be a JSON object")
        specs.append(
            DynamicToolSpec(
                name=name,
                description=str(entry.get("description") or ""),
                input_schema=schema,
                defer_loading=bool(entry.get("deferLoading")),
            )
        )
    return tuple(specs)


def _model_part(item: dict[str, Any]) -> ContentItem:
    """One client content item as the model gets it."""
    kind = item.get("type")
    if kind == "inputText":
        return ContentItem(type="input_text", text=str(item.get("text") or ""))
    if kind == "inputImage":
        url = str(item.get("imageUrl") or "")
        if _usable_image(url):
            return ContentItem(type="input_image", image_url=url)
    return ContentItem(
        type="input_text",
        text=IMAGE_OMITTED
        if kind == "inputImage"
        else (f"{kind} content omitted because the model cannot take it"),
    )


def _usable_image(url: str) -> bool:
    if url.startswith(("https://", "http://")):
        return True
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        return False
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return False
    return sniff_image_mime(data) is not None


class DynamicTool:
    """One client-defined tool: the client runs every call."""

    def __init__(self, spec: DynamicToolSpec) -> None:
        self._spec = spec
        self.name = spec.name

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self._spec.name,
            "description": self._spec.description,
            "strict": False,
            "parameters": self._spec.input_schema,
        }

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        try:
            args: Any = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            args = arguments
        started = now_ms()
        clock = time.monotonic()
        item = DynamicToolCallThreadItem(
            id=ctx.call_id,
            tool=self.name,
            arguments=args,
            status="inProgress",
            started_at_ms=started,
        )
        answer: Any = None
        if ctx.ask_client is not None:
            request = ev.DynamicToolCallRequest(
                approval_id=uuid.uuid4().hex,
                turn_id=ctx.turn_id,
                item_id=ctx.call_id,
                tool=self.name,
                arguments=args,
            )
            answer = await ctx.ask_client(request, item, None)
        else:
            await _emit(ctx, ev.ItemStarted(turn_id=ctx.turn_id, item=item, started_at_ms=started))
        if isinstance(answer, dict):
            items = [i for i in answer.get("contentItems") or [] if isinstance(i, dict)]
            success = bool(answer.get("success"))
            parts = [_model_part(i) for i in items]
            if len(parts) == 1 and parts[0].type == "input_text":  # one text: a plain string
                output = ToolOutput(text=parts[0].text or "", success=success)
            else:
                output = ToolOutput(text="", success=success, content=parts)
            wire_items: list[Any] = items
        else:
            failure = INVALID_RESPONSE if answer == "invalid" else REQUEST_FAILED
            success = False
            output = ToolOutput(failure, success=False)
            wire_items = [InputTextDynamicToolCallOutputContentItem(type="inputText", text=failure)]
        done = item.model_validate(
            {
                **item.model_dump(by_alias=True),
                "status": "completed" if success else "failed",
                "contentItems": wire_items,
                "success": success,
                "durationMs": int((time.monotonic() - clock) * 1000),
                "completedAtMs": now_ms(),
            }
        )
        if ctx.complete_item is not None:
            await ctx.complete_item(done)
        else:
            await _emit(
                ctx,
                ev.ItemCompleted(
                    turn_id=ctx.turn_id, item=done, completed_at_ms=done.completed_at_ms
                ),
            )
        return output


async def _emit(ctx: ToolContext, msg: ev.EventMsg) -> None:
    if ctx.emit is not None:
        await ctx.emit(msg)
