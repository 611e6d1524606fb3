"""Wire types of the ``skills`` area (Codex 0.169 schema): skills and hooks, and their
rows of the method table."""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from threadline.protocol.v2.common import Empty, WireModel

SkillScope = Literal["user", "repo", "system", "admin"]
HookEventName = Literal[
    "preModelRequest",
    "postModelRequest",
    "preToolUse",
    "permissionRequest",
    "postToolUse",
    "preCompact",
    "postCompact",
    "sessionStart",
    "sessionEnd",
    "userPromptSubmit",
    "subagentStart",
    "subagentStop",
    "stop",
    "interrupt",
]
HookRunStatus = Literal["running", "completed", "failed", "blocked", "stopped"]
HookOutputEntryKind = Literal["warning", "stop", "feedback", "context", "error"]
HookSource = Literal[
    "system",
    "user",
    "project",
    "mdm",
    "sessionFlags",
    "plugin",
    "cloudRequirements",
    "cloudManagedConfig",
    "legacyManagedConfigFile",
    "legacyManagedConfigMdm",
    "unknown",
]
HookTrustStatus = Literal["managed", "untrusted", "trusted", "modified"]


# ---- skills ---------------------------------------------------------------------------


class SkillsListParams(WireModel):
    cwds: list[str] = Field(default_factory=list)
    force_reload: bool = False


class SkillInterface(WireModel):
    display_name: str | None = None
    short_description: str | None = None
    icon_small: str | None = None
    icon_large: str | None = None
    icon_small_url: str | None = None
    icon_large_url: str | None = None
    brand_color: str | None = None
    default_prompt: str | None = None


class SkillToolDependency(WireModel):
    type: str
    value: str
    description: str | None = None
    transport: str | None = None
    command: str | None = None
    url: str | None = None

    # Codex leaves out the members a dependency does not set.
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"description", "transport", "command", "url"}
    )


class SkillDependencies(WireModel):
    tools: list[SkillToolDependency]


class SkillMetadata(WireModel):
    name: str
    description: str
    short_description: str | None = None
    interface: SkillInterface | None = None
    dependencies: SkillDependencies | None = None
    path: str
    scope: SkillScope
    enabled: bool
    plugin_id: str | None = None

    # Codex leaves these out when it has none (``pluginId`` it sends as null).
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"short_description", "interface", "dependencies"}
    )


class SkillErrorInfo(WireModel):
    path: str
    message: str


class SkillsListEntry(WireModel):
    cwd: str
    skills: list[SkillMetadata]
    errors: list[SkillErrorInfo]


class SkillsListResponse(WireModel):
    data: list[SkillsListEntry]


class SkillsExtraRootsSetParams(WireModel):
    extra_roots: list[str]


class SkillsExtraRootsSetResponse(Empty):
    """``skills/extraRoots/set`` answers an empty object."""


class SkillsConfigWriteParams(WireModel):
    enabled: bool
    name: str | None = None
    path: str | None = None


class SkillsConfigWriteResponse(WireModel):
    effective_enabled: bool


class SkillsChangedNotification(Empty):
    """An invalidation signal: the client lists the skills again when it needs them."""


# ---- hooks ----------------------------------------------------------------------------


class HooksListParams(WireModel):
    cwds: list[str] = Field(default_factory=list)
    thread_id: str | None = None


class HookMetadata(WireModel):
    key: str
    event_name: HookEventName
    handler_type: Literal["command"] = "command"
    command: str
    async_: bool = Field(default=False, alias="async")
    matcher: str | None = None
    timeout_sec: int
    status_message: str | None = None
    additional_context_limit: int | None = None
    source_path: str
    source: HookSource
    plugin_id: str | None = None
    environment_id: str | None = None
    display_order: int
    enabled: bool
    is_managed: bool
    current_hash: str
    trust_status: HookTrustStatus


class HookErrorInfo(WireModel):
    path: str
    message: str


class HooksListEntry(WireModel):
    cwd: str
    hooks: list[HookMetadata]
    warnings: list[str]
    errors: list[HookErrorInfo]


class HooksListResponse(WireModel):
    data: list[HooksListEntry]


class HookOutputEntry(WireModel):
    kind: HookOutputEntryKind
    text: str


class HookRunSummary(WireModel):
    id: str
    event_name: HookEventName
    handler_type: Literal["command", "mcpTool", "prompt", "agent"] = "command"
    execution_mode: Literal["sync", "async"] = "sync"
    scope: Literal["thread", "turn"]
    source_path: str
    source: HookSource = "unknown"
    display_order: int
    status: HookRunStatus
    status_message: str | None = None
    started_at: int
    completed_at: int | None = None
    duration_ms: int | None = None
    entries: list[HookOutputEntry]


class HookStartedNotification(WireModel):
    thread_id: str
    turn_id: str | None = None
    run: HookRunSummary


class HookCompletedNotification(WireModel):
    thread_id: str
    turn_id: str | None = None
    run: HookRunSummary


def hook_run_summary(data: dict[str, Any]) -> HookRunSummary:
    """A run summary from core's plain dict (``core.hooks`` speaks no wire types)."""
    return HookRunSummary.model_validate(data)


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "skills/list": (SkillsListParams, SkillsListResponse),
    "skills/extraRoots/set": (SkillsExtraRootsSetParams, SkillsExtraRootsSetResponse),
    "skills/config/write": (SkillsConfigWriteParams, SkillsConfigWriteResponse),
    "hooks/list": (HooksListParams, HooksListResponse),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {
    "skills/changed": SkillsChangedNotification,
    "hook/started": HookStartedNotification,
    "hook/completed": HookCompletedNotification,
}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "NOTIFICATIONS",
    "REQUESTS",
    "HookCompletedNotification",
    "HookErrorInfo",
    "HookMetadata",
    "HookOutputEntry",
    "HookRunSummary",
    "HookStartedNotification",
    "HooksListEntry",
    "HooksListParams",
    "HooksListResponse",
    "SkillDependencies",
    "SkillErrorInfo",
    "SkillInterface",
    "SkillMetadata",
    "SkillToolDependency",
    "SkillsChangedNotification",
    "SkillsConfigWriteParams",
    "SkillsConfigWriteResponse",
    "SkillsExtraRootsSetParams",
    "SkillsExtraRootsSetResponse",
    "SkillsListEntry",
    "SkillsListParams",
    "SkillsListResponse",
    "hook_run_summary",
]
