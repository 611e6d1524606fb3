"""The typed tables of the config (providers, sandbox, limits, MCP servers) and the small
helpers they share with :mod:`threadline.core.config`, which parses the file into them."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from threadline.protocol.records import record
from threadline.sandbox import DEFAULT_MAX_PROCESSES
from threadline.tools.defaults import DEFAULT_TIMEOUT_S

WireApi = Literal["responses", "chat"]
WIRE_APIS: tuple[WireApi, ...] = ("responses", "chat")

ApplyPatchConfig = Literal["freeform", "function", "none"]
"""What the ``apply_patch_tool_type`` config key accepts (``none``: no ``apply_patch`` tool);
here, not in ``core.model_catalog`` (which re-exports it), so the config loads without it."""

APPLY_PATCH_TOOL_TYPES: tuple[ApplyPatchConfig, ...] = ("freeform", "function", "none")

_T = TypeVar("_T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def no_entries() -> Mapping[str, Any]:
    return _EMPTY


def frozen_copy(value: Mapping[str, _T]) -> Mapping[str, _T]:
    return MappingProxyType(dict(value))


@record
class ModelProviderConfig:
    """One ``[model_providers.<id>]`` table as written; ``None`` means "not set here"."""

    name: str | None = None
    base_url: str | None = None
    env_key: str | None = None
    wire_api: WireApi | None = None
    query_params: Mapping[str, str] = field(default_factory=no_entries)
    http_headers: Mapping[str, str] = field(default_factory=no_entries)
    request_max_retries: int | None = None
    stream_max_retries: int | None = None
    stream_idle_timeout_ms: int | None = None
    model_path: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=no_entries)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "base_url": self.base_url,
            "env_key": self.env_key,
            "wire_api": self.wire_api,
            "query_params": dict(self.query_params) or None,
            "http_headers": dict(self.http_headers) or None,
            "request_max_retries": self.request_max_retries,
            "stream_max_retries": self.stream_max_retries,
            "stream_idle_timeout_ms": self.stream_idle_timeout_ms,
            "model_path": str(self.model_path) if self.model_path else None,
        }
        out = {k: v for k, v in out.items() if v is not None}
        out.update(jsonable(dict(self.extra)))
        return out


@record
class SandboxWorkspaceWrite:
    """``[sandbox_workspace_write]``: extra writable roots and network access for workspace-write."""

    writable_roots: tuple[str, ...] = ()
    network_access: bool = False
    exclude_tmpdir_env_var: bool = False
    exclude_slash_tmp: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "writable_roots": list(self.writable_roots),
            "network_access": self.network_access,
            "exclude_tmpdir_env_var": self.exclude_tmpdir_env_var,
            "exclude_slash_tmp": self.exclude_slash_tmp,
        }


@record
class SandboxLimits:
    """``[sandbox_limits]`` (threadline's own table): bounds on every command the model runs.

    ``max_processes`` is how many processes (threads included) a sandboxed command may
    have at once; ``0`` switches the bound off, which is the only way to run sandboxed
    commands as root on a machine without a writable ``pids`` cgroup.
    ``command_timeout_sec`` bounds the wall time of a command's whole process tree.
    """

    max_processes: int = DEFAULT_MAX_PROCESSES
    command_timeout_sec: float = DEFAULT_TIMEOUT_S

    def to_json(self) -> dict[str, Any]:
        return {
            "max_processes": self.max_processes,
            "command_timeout_sec": self.command_timeout_sec,
        }


@record
class McpServerConfig:
    """One ``[mcp_servers.<name>]`` table: a stdio ``command`` or a streamable-HTTP ``url``."""

    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=no_entries)
    url: str | None = None
    enabled: bool = True
    extra: Mapping[str, Any] = field(default_factory=no_entries)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.command is not None:
            out["command"] = self.command
            out["args"] = list(self.args)
            if self.env:
                out["env"] = dict(self.env)
        if self.url is not None:
            out["url"] = self.url
        out.update(jsonable(dict(self.extra)))
        return out


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


__all__ = [
    "APPLY_PATCH_TOOL_TYPES", "WIRE_APIS", "ApplyPatchConfig","McpServerConfig", "ModelProviderConfig", "SandboxLimits", "SandboxWorkspaceWrite", "WireApi", "frozen_copy", "jsonable", "no_entries"]
