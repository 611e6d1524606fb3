"""The tool registry: specs offered to the model and dispatch of calls by name.

A tool is offered either as a JSON ``function`` (its call carries JSON ``arguments``) or
as a freeform ``custom`` tool (its call carries raw ``input`` text); the turn loop hands
either string to :meth:`Tool.run` and answers with the matching output item
(``function_call_output`` / ``custom_tool_call_output``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from threadline.protocol import events as ev
from threadline.protocol.items import ContentItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What goes back to the model as the call's output item.

    ``content`` (Responses ``input_text`` / ``input_image`` parts) replaces ``text`` as
    the output when given: that is how an image reaches the model."""

    text: str
    success: bool = True
    abort_turn: bool = False
    """The user cancelled: the turn ends as interrupted once this output is recorded."""
    content: list[ContentItem] | None = None


DecisionHook = Callable[[str], Awaitable[None]]
"""Called with the decision after ``serverRequest/resolved`` and before the thread leaves
``waitingOnApproval`` (a declined command completes its item there, as Codex orders it)."""

AnswerHook = Callable[[Any], Awaitable[None]]
""":data:`DecisionHook` for any kind of question: called with the answer object."""


class ClientAsker(Protocol):
    def __call__(
        self,
        request: ev.ClientAsk,
        started_item: Any | None,
        on_decision: AnswerHook | None,
    ) -> Awaitable[Any]:
        """Ask the client ``request`` (any :class:`~threadline.protocol.events.ClientAsk`);
        returns the answer object that kind defines."""
        ...


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
    ask_client: ClientAsker | None = None
    """Asks the client any other question (patch approval, user input, a client-side tool)."""
    approval_policy: str = "never"
    sandbox_mode: str = "read-only"
    extras: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    @property
    def name(self) -> str: ...

    def spec(self) -> dict[str, Any]:
        """The Responses-API tool spec: ``{"type": "function", "name", ...}`` or a freeform
        ``{"type": "custom", "name", "format", ...}``."""
        ...

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        """Run one call; ``arguments`` is the JSON arguments of a function call or the
        raw input of a custom-tool call."""
        ...


class StreamingInput(Protocol):
    """A tool that wants to see its (custom-tool) input while the model still streams it."""

    async def input_progress(self, ctx: ToolContext, partial_input: str) -> None:
        """Called with everything received so far, after each delta."""
        ...


class Closable(Protocol):
    async def aclose(self) -> None:
        """Release what the tool holds for its thread (processes, sessions)."""
        ...


class UnknownTool(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported call: {name}")
        self.name = name


ToolSource = Callable[[], Sequence[Tool]]
"""Tools that come and go while the thread lives (an MCP server's listing), asked for
each time the registry is consulted."""

SpecsOf = Callable[[Sequence[Tool]], list[dict[str, Any]]]
"""How a source's tools are offered (e.g. grouped into namespaces); default: each spec."""


class ToolRegistry:
    """Holds the tools one turn may call, keyed by name: the fixed ones registered, then
    those of a changing source (a registered tool wins a name clash)."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._source: ToolSource | None = None
        self._specs_of: SpecsOf | None = None
        for tool in tools or []:
            self.register(tool)

    def set_source(self, source: ToolSource | None, specs_of: SpecsOf | None = None) -> None:
        """Offer ``source``'s tools too, listed anew for every request."""
        self._source = source
        self._specs_of = specs_of

    def _sourced(self) -> list[Tool]:
        if self._source is None:
            return []
        try:
            listed = self._source()
        except Exception:  # a failing source offers nothing rather than break the turn
            log.exception("listing the changing tools failed")
            return []
        return [tool for tool in listed if tool.name not in self._tools]

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted([*self._tools, *(t.name for t in self._sourced())])

    def specs(self) -> list[dict[str, Any]]:
        fixed = [tool.spec() for tool in self._tools.values()]
        sourced = self._sourced()
        if not sourced:
            return fixed
        if self._specs_of is not None:
            return fixed + self._specs_of(sourced)
        return fixed + [tool.spec() for tool in sourced]

    def get(self, name: str) -> Tool | None:
        tool = self._tools.get(name)
        if tool is not None:
            return tool
        return next((t for t in self._sourced() if t.name == name), None)

    async def dispatch(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutput:
        tool = self.get(name)
        if tool is None:
            raise UnknownTool(name)
        return await tool.run(ctx, arguments)

    async def input_progress(self, name: str, ctx: ToolContext, partial_input: str) -> None:
        """Hand a streaming custom-tool call's input so far to its tool, if it wants it."""
        tool = self._tools.get(name)
        hook = getattr(tool, "input_progress", None)
        if hook is not None:
            await hook(ctx, partial_input)

    async def aclose(self) -> None:
        """Close every tool that holds resources (the thread is unloading)."""
        for tool in self._tools.values():
            close = getattr(tool, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:  # one tool's failure must not keep the others open
                log.exception("closing tool %s failed", tool.name)
