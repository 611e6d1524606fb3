"""Per-thread settings (the turn context) and the snapshot the conduit exposes."""

from __future__ import annotations

from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from threadline.core.model_catalog import ModelInfo, ModelOverrides, model_info
from threadline.protocol.ops import TurnOverrides
from threadline.protocol.records import record

if TYPE_CHECKING:  # the tools load with a thread's tools, not with its settings
    from threadline.tools.dynamic import DynamicToolSpec

DEFAULT_BASE_INSTRUCTIONS = """\
You are threadline's coding agent. You work inside the user's project directory and help \
with software tasks: reading and explaining code, running commands, editing files and \
checking the results.

Be direct and brief. Prefer doing the work over describing it. When you run a command, \
say why in one line and report what you learned. Do not invent files, APIs or results; \
when something is unknown, look it up with the tools you have or say that you do not know. \
Keep changes minimal and in the style of the surrounding code, and stop when the task is done.
"""


@record
class ThreadSettings:
    """Everything a turn runs with. Immutable; overrides produce a new value."""

    model: str
    model_provider: str
    cwd: str
    approval_policy: str = "never"
    approvals_reviewer: str = "user"
    sandbox_mode: str = "workspace-write"
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    personality: str | None = None
    service_tier: str | None = None
    base_instructions: str = DEFAULT_BASE_INSTRUCTIONS
    developer_instructions: str | None = None
    ephemeral: bool = False
    persist_extended_history: bool = False
    session_source: str = "vscode"
    originator: str = "threadline"
    memory_mode: str | None = None
    dynamic_tools: tuple[DynamicToolSpec, ...] = ()
    collaboration_mode: str = "default"
    """``default`` or ``plan``: the last ``turn/start`` that named one decides."""
    """The client-defined tools of ``thread/start`` (kept in ``session_meta``)."""
    model_overrides: ModelOverrides = field(default_factory=ModelOverrides)
    """The config keys that adjust the model's metadata (see :attr:`model_info`)."""
    remote_compaction: bool = False
    """Compact through the provider's ``compaction_trigger`` (``core.compaction``), not locally."""
    review_model: str | None = None
    """``review_model`` from the config: the model a review samples with (``core.review``)."""
    output_schema: dict[str, Any] | None = None
    """The running turn's ``outputSchema`` (for that turn only: each ``turn/start`` sets it)."""

    @property
    def model_info(self) -> ModelInfo:
        """The metadata of :attr:`model` (``core.model_catalog``), with the overrides;
        it follows the model when a turn overrides it."""
        return model_info(self.model, self.model_overrides)

    @property
    def model_context_window(self) -> int | None:
        """The window a remote model's token usage reports (the table's effective window)."""
        return self.model_info.effective_context_window

    def for_turn(self, output_schema: dict[str, Any] | None) -> ThreadSettings:
        """These settings for one turn: its output schema (or none)."""
        return replace(self, output_schema=output_schema)

    def visible(self) -> dict[str, Any]:
        """What ``thread/settings/updated`` reports; a turn that changes any of it is
        announced (``core.session``)."""
        return {
            "model": self.model,
            "model_provider": self.model_provider,
            "cwd": self.cwd,
            "approval_policy": self.approval_policy,
            "approvals_reviewer": self.approvals_reviewer,
            "sandbox_mode": self.sandbox_mode,
            "reasoning_effort": self.reasoning_effort,
            "reasoning_summary": self.reasoning_summary,
            "personality": self.personality,
            "service_tier": self.service_tier,
            "collaboration_mode": self.collaboration_mode,
            "developer_instructions": self.developer_instructions,
        }

    def with_turn_overrides(self, o: TurnOverrides) -> ThreadSettings:
        return replace(
            self,
            cwd=o.cwd or self.cwd,
            model=o.model or self.model,
            approval_policy=o.approval_policy or self.approval_policy,
            sandbox_mode=o.sandbox_mode or self.sandbox_mode,
            reasoning_effort=o.reasoning_effort or self.reasoning_effort,
            reasoning_summary=o.reasoning_summary or self.reasoning_summary,
            personality=o.personality or self.personality,
            collaboration_mode=o.collaboration_mode or self.collaboration_mode,
        )


@record
class ConfigSnapshot:
    """What ``Thread.config_snapshot()`` returns (Codex's ``ThreadConfigSnapshot``)."""

    model: str
    model_provider_id: str
    service_tier: str | None
    approval_policy: str
    approvals_reviewer: str
    sandbox_policy: str
    cwd: str
    ephemeral: bool
    reasoning_effort: str | None
    personality: str | None
    session_source: str

    @classmethod
    def of(cls, s: ThreadSettings) -> ConfigSnapshot:
        return cls(
            model=s.model,
            model_provider_id=s.model_provider,
            service_tier=s.service_tier,
            approval_policy=s.approval_policy,
            approvals_reviewer=s.approvals_reviewer,
            sandbox_policy=s.sandbox_mode,
            cwd=s.cwd,
            ephemeral=s.ephemeral,
            reasoning_effort=s.reasoning_effort,
            personality=s.personality,
            session_source=s.session_source,
        )
