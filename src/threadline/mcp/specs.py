"""What the connection manager needs to know about one configured MCP server.

`McpServerSpec` is built from the JSON form of a ``[mcp_servers.<name>]`` table (what
`McpServerConfig.to_json()` gives, unknown keys included), so this package never imports the
config code of `threadline.core`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STARTUP_TIMEOUT_SEC = 10.0
DEFAULT_TOOL_TIMEOUT_SEC = 60.0


class McpSpecError(ValueError):
    """A ``[mcp_servers.<name>]`` table this package cannot use."""


def _empty() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class McpServerSpec:
    """One server: stdio (``command``) or streamable HTTP (``url``), plus the common knobs."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_empty)
    env_vars: tuple[str, ...] = ()
    cwd: str | None = None
    url: str | None = None
    bearer_token_env_var: str | None = None
    http_headers: Mapping[str, str] = field(default_factory=_empty)
    env_http_headers: Mapping[str, str] = field(default_factory=_empty)
    startup_timeout_sec: float = DEFAULT_STARTUP_TIMEOUT_SEC
    tool_timeout_sec: float = DEFAULT_TOOL_TIMEOUT_SEC
    enabled: bool = True
    enabled_tools: tuple[str, ...] | None = None
    disabled_tools: tuple[str, ...] = ()
    required: bool = False
    tool_approval: Mapping[str, str] = field(default_factory=_empty)
    """Per tool, ``[mcp_servers.<name>.tools.<tool>] approval_mode``: ``auto`` (the
    annotations decide), ``prompt`` (always ask) or ``approve`` (never ask)."""
    oauth_access_token: str | None = None
    """A token from an OAuth login (``mcpServer/oauth/login``), sent when no
    ``bearer_token_env_var`` is configured."""
    default_tools_approval_mode: str | None = None
    """The server's ``default_tools_approval_mode``, for tools without their own."""

    def approval_mode(self, tool: str) -> str | None:
        return self.tool_approval.get(tool, self.default_tools_approval_mode)

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "streamable_http"

    def tool_enabled(self, tool: str) -> bool:
        if self.enabled_tools is not None and tool not in self.enabled_tools:
            return False
        return tool not in self.disabled_tools

    def process_env(self) -> dict[str, str]:
        """Extra environment for a stdio server: ``env_vars`` copied from ours, then ``env``."""
        out = {k: os.environ[k] for k in self.env_vars if k in os.environ}
        out.update(self.env)
        return out

    def request_headers(self) -> dict[str, str]:
        """Headers for a streamable-HTTP server; a named variable that is unset is left out."""
        out = dict(self.http_headers)
        for header, var in self.env_http_headers.items():
            value = os.environ.get(var)
            if value:
                out[header] = value
        if self.bearer_token_env_var is not None:
            token = os.environ.get(self.bearer_token_env_var)
            if not token:
                raise McpSpecError(
                    f"MCP server {self.name!r}: environment variable "
                    f"{self.bearer_token_env_var} (bearer_token_env_var) is not set"
                )
            out["Authorization"] = f"Bearer {token}"
        elif self.oauth_access_token:
            out["Authorization"] = f"Bearer {self.oauth_access_token}"
        return out

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any]) -> McpServerSpec:
        command = _opt_str(raw, "command", name)
        url = _opt_str(raw, "url", name)
        if (command is None) == (url is None):
            raise McpSpecError(
                f"MCP server {name!r}: set exactly one of command (stdio) or url (HTTP)"
            )
        enabled_tools = raw.get("enabled_tools")
        return cls(
            name=name,
            command=command,
            args=_str_tuple(raw, "args", name),
            env=_str_map(raw, "env", name),
            env_vars=_str_tuple(raw, "env_vars", name),
            cwd=_opt_str(raw, "cwd", name),
            url=url,
            bearer_token_env_var=_opt_str(raw, "bearer_token_env_var", name),
            http_headers=_str_map(raw, "http_headers", name),
            env_http_headers=_str_map(raw, "env_http_headers", name),
            startup_timeout_sec=_seconds(
                raw, "startup_timeout_sec", name, DEFAULT_STARTUP_TIMEOUT_SEC
            ),
            tool_timeout_sec=_seconds(raw, "tool_timeout_sec", name, DEFAULT_TOOL_TIMEOUT_SEC),
            enabled=bool(raw.get("enabled", True)),
            enabled_tools=None if enabled_tools is None else _str_tuple(raw, "enabled_tools", name),
            disabled_tools=_str_tuple(raw, "disabled_tools", name),
            required=bool(raw.get("required", False)),
            tool_approval=_tool_approval(raw, name),
            default_tools_approval_mode=_approval_mode(
                raw.get("default_tools_approval_mode"), name, "default_tools_approval_mode"
            ),
        )


APPROVAL_MODES = ("auto", "prompt", "approve")


def _tool_approval(raw: Mapping[str, Any], name: str) -> Mapping[str, str]:
    tools = raw.get("tools")
    if tools is None:
        return {}
    if not isinstance(tools, Mapping):
        raise McpSpecError(f"MCP server {name!r}: tools must be a table of tool tables")
    out: dict[str, str] = {}
    for tool, table in tools.items():
        raw_mode = table.get("approval_mode") if isinstance(table, Mapping) else None
        mode = _approval_mode(raw_mode, name, f"tools.{tool}.approval_mode")
        if mode is not None:
            out[str(tool)] = mode
    return out


def _approval_mode(mode: Any, name: str, key: str) -> str | None:
    if mode is None:
        return None
    if mode not in APPROVAL_MODES:
        raise McpSpecError(
            f"MCP server {name!r}: {key} must be one of {', '.join(APPROVAL_MODES)} (got {mode!r})"
        )
    return str(mode)


def _opt_str(raw: Mapping[str, Any], key: str, name: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise McpSpecError(f"MCP server {name!r}: {key} must be a string")


def _str_tuple(raw: Mapping[str, Any], key: str, name: str) -> tuple[str, ...]:
    value = raw.get(key) or ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise McpSpecError(f"MCP server {name!r}: {key} must be a list of strings")
    return tuple(value)


def _str_map(raw: Mapping[str, Any], key: str, name: str) -> Mapping[str, str]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise McpSpecError(f"MCP server {name!r}: {key} must be a table of strings")
    return dict(value)


def _seconds(raw: Mapping[str, Any], key: str, name: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        # Codex also accepts the millisecond spelling of the startup timeout.
        ms = raw.get(key.replace("_sec", "_ms"))
        if isinstance(ms, int | float) and not isinstance(ms, bool) and ms > 0:
            return float(ms) / 1000.0
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise McpSpecError(f"MCP server {name!r}: {key} must be a positive number")
    return float(value)


__all__ = [
    "DEFAULT_STARTUP_TIMEOUT_SEC",
    "DEFAULT_TOOL_TIMEOUT_SEC",
    "McpServerSpec",
    "McpSpecError",
]
