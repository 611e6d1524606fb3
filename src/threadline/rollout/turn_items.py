"""Rollout events -> v2 ``ThreadItem`` JSON (camelCase dicts, validated by the builder).

Two sources feed the same item kinds:

* legacy ``event_msg`` payloads (``user_message``, ``agent_message``,
  ``agent_reasoning``, extended-mode ``exec_command_end`` / ``patch_apply_end`` /
  ``mcp_tool_call_end`` ...), snake_case as Codex writes them;
* paginated ``event_msg/item_completed`` payloads, whose ``item`` is Codex's
  core item (``UserMessage``, ``AgentMessage``, ``Reasoning``,
  ``CommandExecution`` ...).

Functions return plain dicts so one validation step (``thread_item_adapter``)
decides what is kept.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from threadline.protocol.tool_items import dynamic_tool_to_wire, image_view_to_wire

__all__ = [
    "camel",
    "camel_keys",
    "codex_error_info_to_wire",
    "core_item_to_wire",
    "exec_end_to_wire",
    "mcp_end_to_wire",
    "patch_end_to_wire",
    "user_message_to_wire",
]


def camel(name: str) -> str:
    """``snake_case`` (or ``PascalCase``) -> ``camelCase``."""
    if "_" not in name:
        return name[:1].lower() + name[1:]
    head, *rest = name.split("_")
    return head.lower() + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def codex_error_info_to_wire(info: Any) -> Any:
    """Rollout ``codex_error_info`` (snake_case) -> v2 ``codexErrorInfo`` (camelCase)."""
    if isinstance(info, str):
        return camel(info)
    if isinstance(info, dict):
        return camel_keys(info)
    return None


def _duration_ms(value: Any) -> int | None:
    if isinstance(value, dict):
        secs = value.get("secs", 0) or 0
        nanos = value.get("nanos", 0) or 0
        return int(secs) * 1000 + int(nanos) // 1_000_000
    if isinstance(value, int | float):
        return int(value)
    return None


def _path_string(value: Any) -> str:
    text = str(value or "")
    return text[len("file://") :] if text.startswith("file://") else text


def _command_string(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(part) for part in value)
    return str(value or "")


def _command_actions(parsed: Any, cwd: str = "") -> list[dict[str, Any]]:
    """The v2 ``commandActions`` of a rollout's ``parsed_cmd``: a ``read`` names its file by
    absolute path (joined to the command's ``cwd``, as the live item does)."""
    actions: list[dict[str, Any]] = []
    for entry in parsed if isinstance(parsed, list) else []:
        if not isinstance(entry, dict):
            continue
        kind = camel(str(entry.get("type", "unknown")))
        command = str(entry.get("cmd", entry.get("command", "")))
        if kind == "read":
            path = _path_string(entry.get("path"))
            if path and cwd and not os.path.isabs(path):
                path = os.path.join(cwd, path)
            actions.append(
                {"type": "read", "command": command, "name": entry.get("name", ""), "path": path}
            )
        elif kind == "listFiles":
            actions.append({"type": "listFiles", "command": command, "path": entry.get("path")})
        elif kind == "search":
            actions.append(
                {"type": "search", "command": command, "query": entry.get("query"),
                 "path": entry.get("path")}
            )
        else:
            actions.append({"type": "unknown", "command": command})
    return actions


def _exec_status(payload: dict[str, Any]) -> str:
    status = payload.get("status")
    if isinstance(status, str):
        return camel(status)
    return "completed" if payload.get("exit_code") == 0 else "failed"


def exec_end_to_wire(payload: dict[str, Any]) -> dict[str, Any]:
    """``exec_command_end`` (legacy) or a ``CommandExecution`` core item -> ``commandExecution``."""
    source = payload.get("source")
    return {
        "type": "commandExecution",
        "id": str(payload.get("call_id") or payload.get("id") or ""),
        "command": _command_string(payload.get("command")),
        "cwd": _path_string(payload.get("cwd")),
        "processId": payload.get("process_id"),
        "source": camel(source) if isinstance(source, str) else "agent",
        "status": _exec_status(payload),
        "commandActions": _command_actions(
            payload.get("parsed_cmd"), _path_string(payload.get("cwd"))
        ),
        "aggregatedOutput": payload.get("aggregated_output"),
        "exitCode": payload.get("exit_code"),
        "durationMs": _duration_ms(payload.get("duration")),
    }


def _file_changes(changes: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(changes, list):
        return [camel_keys(c) for c in changes if isinstance(c, dict)]
    if not isinstance(changes, dict):
        return out
    for path, change in changes.items():
        if not isinstance(change, dict):
            continue
        kind = str(change.get("type", "update"))
        if kind == "add":
            out.append({"path": path, "kind": {"type": "add"}, "diff": change.get("content", "")})
        elif kind == "delete":
            out.append({"path": path, "kind": {"type": "delete"}, "diff": change.get("content", "")})
        else:
            out.append(
                {"path": path, "kind": {"type": "update", "move_path": change.get("move_path")},
                 "diff": change.get("unified_diff", change.get("diff", ""))}
            )
    return out


def patch_end_to_wire(payload: dict[str, Any]) -> dict[str, Any]:
    """``patch_apply_end`` -> ``fileChange``."""
    status = payload.get("status")
    if isinstance(status, str):
        wire_status = camel(status)
    else:
        wire_status = "completed" if payload.get("success") else "failed"
    return {
        "type": "fileChange",
        "id": str(payload.get("call_id") or payload.get("id") or ""),
        "changes": _file_changes(payload.get("changes")),
        "status": wire_status,
    }


def mcp_end_to_wire(payload: dict[str, Any]) -> dict[str, Any]:
    """``mcp_tool_call_end`` -> ``mcpToolCall``."""
    invocation = payload.get("invocation") if isinstance(payload.get("invocation"), dict) else payload
    assert isinstance(invocation, dict)
    result = payload.get("result")
    wire_result: Any = None
    error: Any = None
    if isinstance(result, dict) and "Ok" in result:
        wire_result = camel_keys(result["Ok"])
    elif isinstance(result, dict) and "Err" in result:
        error = {"message": str(result["Err"])}
    elif isinstance(result, dict):
        wire_result = camel_keys(result)
    if isinstance(payload.get("error"), dict):  # a core McpToolCall item that failed
        error = {"message": str(payload["error"].get("message", ""))}
    if isinstance(wire_result, dict) and wire_result.get("isError") and payload.get("status") is None:
        error = error or {"message": "tool reported an error"}
    return {
        "type": "mcpToolCall",
        "id": str(payload.get("call_id") or payload.get("id") or ""),
        "server": str(invocation.get("server", "")),
        "tool": str(invocation.get("tool", "")),
        "arguments": invocation.get("arguments"),
        "status": str(payload.get("status") or ("failed" if error else "completed")),
        "result": wire_result if not error else None,
        "error": error,
        "durationMs": _duration_ms(payload.get("duration")),
        **({"readOnlyHint": payload["readOnlyHint"]} if "readOnlyHint" in payload else {}),
    }


def user_message_to_wire(payload: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Legacy ``user_message`` event -> ``userMessage``."""
    content: list[dict[str, Any]] = []
    message = payload.get("message")
    if isinstance(message, str) and message:
        content.append(
            {"type": "text", "text": message, "text_elements": payload.get("text_elements") or []}
        )
    # Most messages have no images: no generator is made for them (a long thread's read
    # converts thousands).
    # (A hostile file's non-list images are no images, not a failed load.)
    images = payload.get("images")
    if images and isinstance(images, list):
        content.extend({"type": "image", "url": url} for url in images if isinstance(url, str))
    local_images = payload.get("local_images")
    if local_images and isinstance(local_images, list):
        content.extend(
            {"type": "localImage", "path": path} for path in local_images if isinstance(path, str)
        )
    return {"type": "userMessage", "id": item_id, "clientId": payload.get("client_id"),
            "content": content}


def _core_user_content(parts: Any) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            content.append(
                {"type": "text", "text": part.get("text", ""),
                 "text_elements": part.get("text_elements") or []}
            )
        elif kind == "image":
            content.append({"type": "image", "url": part.get("image_url", part.get("url"))})
        elif kind == "local_image":
            content.append({"type": "localImage", "path": part.get("path", "")})
        elif isinstance(kind, str):
            content.append(camel_keys({**part, "type": camel(kind)}))
    return content


def core_item_to_wire(item: dict[str, Any]) -> dict[str, Any] | None:
    """A paginated ``item_completed`` core item -> v2 item dict (``None`` if unknown)."""
    kind = item.get("type")
    item_id = str(item.get("id", ""))
    if kind == "UserMessage":
        return {"type": "userMessage", "id": item_id, "clientId": item.get("client_id"),
                "content": _core_user_content(item.get("content"))}
    if kind == "AgentMessage":
        text = "".join(
            p.get("text", "") for p in item.get("content") or [] if isinstance(p, dict)
        )
        return {"type": "agentMessage", "id": item_id, "text": text, "phase": item.get("phase"),
                "memoryCitation": camel_keys(item.get("memory_citation"))}
    if kind == "Reasoning":
        return {"type": "reasoning", "id": item_id,
                "summary": list(item.get("summary_text") or []),
                "content": list(item.get("raw_content") or [])}
    if kind == "CommandExecution":
        return exec_end_to_wire(item)
    if kind == "Plan":
        return {"type": "plan", "id": item_id, "text": str(item.get("text", ""))}
    if kind == "ContextCompaction":
        return {"type": "contextCompaction", "id": item_id}
    if kind == "FileChange":
        return patch_end_to_wire(item)
    if kind == "McpToolCall":
        return mcp_end_to_wire(item)
    if kind == "ImageView":
        return image_view_to_wire(item)
    if kind == "DynamicToolCall":
        return dynamic_tool_to_wire(item)
    if isinstance(kind, str) and kind:
        generic = camel_keys(item)
        generic["type"] = camel(kind)
        return dict(generic)
    return None
