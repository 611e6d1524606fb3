"""The ``imageView`` and ``dynamicToolCall`` items in the rollout: Codex's core
``ImageView`` / ``DynamicToolCall`` turn items of ``event_msg/item_completed``, and back.

Codex 0.169 writes ``{"type": "ImageView", "id", "path": "file:///…"}`` and
``{"type": "DynamicToolCall", "id", "tool", "arguments", "status", "content_items",
"success", "duration": {"secs", "nanos"}}`` (``namespace`` when the tool has one).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from threadline.protocol.v2.item import (
    DynamicToolCallThreadItem,
    ImageViewThreadItem,
    McpToolCallThreadItem,
)

__all__ = [
    "dynamic_tool_to_wire",
    "dynamic_tool_turn_item",
    "image_view_to_wire",
    "image_view_turn_item",
]


def image_view_turn_item(item: ImageViewThreadItem) -> dict[str, Any]:
    path = PurePosixPath(item.path)
    uri = path.as_uri() if path.is_absolute() else item.path
    return {"type": "ImageView", "id": item.id, "path": uri}


def image_view_to_wire(core: dict[str, Any]) -> dict[str, Any]:
    raw = str(core.get("path") or "")
    path = unquote(urlparse(raw).path) if raw.startswith("file://") else raw
    return {"type": "imageView", "id": str(core.get("id", "")), "path": path}


def dynamic_tool_turn_item(item: DynamicToolCallThreadItem) -> dict[str, Any]:
    ms = item.duration_ms or 0
    core: dict[str, Any] = {
        "type": "DynamicToolCall",
        "id": item.id,
        "tool": item.tool,
        "arguments": item.arguments,
        "status": item.status,
        "content_items": [
            c.model_dump(mode="json", by_alias=True) for c in item.content_items or []
        ],
        "success": item.success,
        "duration": {"secs": ms // 1000, "nanos": (ms % 1000) * 1_000_000},
    }
    if item.namespace is not None:
        core["namespace"] = item.namespace
    return core


def mcp_tool_call_turn_item(item: McpToolCallThreadItem) -> dict[str, Any]:
    """Codex's core ``McpToolCall`` turn item, as its rollout's ``item_completed`` holds it:
    the call, ``status``, ``result`` (``content``, ``structuredContent``, ``isError``) or
    ``error``, and the ``duration``."""
    ms = item.duration_ms or 0
    core: dict[str, Any] = {
        "type": "McpToolCall",
        "id": item.id,
        "server": item.server,
        "tool": item.tool,
        "arguments": item.arguments,
        "readOnlyHint": item.read_only_hint,
        "status": item.status,
    }
    if item.result is not None:
        dumped = item.result.model_dump(mode="json", by_alias=True)
        core["result"] = {
            "content": dumped.get("content") or [],
            "structuredContent": dumped.get("structuredContent"),
            "isError": item.status == "failed",
        }
    if item.error is not None:
        core["error"] = item.error.model_dump(mode="json", by_alias=True)
    core["duration"] = {"secs": ms // 1000, "nanos": (ms % 1000) * 1_000_000}
    return core


def dynamic_tool_to_wire(core: dict[str, Any]) -> dict[str, Any]:
    duration = core.get("duration")
    ms: int | None = None
    if isinstance(duration, dict):
        ms = int(duration.get("secs") or 0) * 1000 + int(duration.get("nanos") or 0) // 1_000_000
    return {
        "type": "dynamicToolCall",
        "id": str(core.get("id", "")),
        "namespace": core.get("namespace"),
        "tool": str(core.get("tool", "")),
        "arguments": core.get("arguments"),
        "status": core.get("status") or "completed",
        "contentItems": core.get("content_items"),
        "success": core.get("success"),
        "durationMs": ms,
    }
