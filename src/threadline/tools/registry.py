"""The tool registry: specs offered to the model and dispatch of calls by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from threadline.protocol import events as ev


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What goes back to the model as ``function_call_output.output``."""

    text: str
    success: bool = True
    abort_turn: bool = False
    """The user cancelled: the turn ends as interrupted once this output is recorded."""


DecisionHook = Callable[[str], Awaitable[None]]
"""Called with the decision after ``serverRequest/resolved`` and before the thread leaves
``waitingOnApproval`` (a declined command completes its item there, as Codex orders it)."""


class ApprovalRequester(Protocol):
    def __call__(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None,
        on_decision: DecisionHook | None,
    ) -> Awaitable[str]:
        """Ask the user about ``request``; ``started_item`` (a v2 item) is announced with
        ``item/started`` once the thread is waiting. Returns the decision string."""
        ...


@dataclass(slots=True)
class ToolContext:
    """Per-call context handed to a tool by the turn loop."""

    thread_id: str
    turn_id: str
    call_id: str
    cwd: Path
    emit: Callable[[Any], Awaitable[None]] | None = None
    """Sends a core event (item started/completed, output deltas) out of the turn."""
    complete_item: Callable[[Any], Awaitable[None]] | None = None
    """Completes a v2 item of the turn (``item/completed``, kept in the turn's items)."""
    request_approval: ApprovalRequester | None = None
    """Asks the user for a decision; ``None`` when nobody can be asked."""
    approval_policy: str = "never"
    sandbox_mode: str = "read-only"
    extras: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    @property
    def name(self) -> str: ...

    def spec(self) -> dict[str, Any]:
        """The Responses-API tool spec (``{"type": "function", "name", ...}``)."""
        ...

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput: ...


class UnknownTool(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported call: {name}")
        self.name = name


class ToolRegistry:
    """Holds the tools one turn may call, keyed by name."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self._tools.values()]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    async def dispatch(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutput:
        tool = self._tools.get(name)
        if tool is None:
            raise UnknownTool(name)
        return await tool.run(ctx, arguments)
