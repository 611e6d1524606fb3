"""What a running turn is and what it sees of its owner.

:class:`ActiveTurn` is the state of the one turn a session runs (its signals, queued
input and items so far); :class:`TurnHost` is the session as the turn loop
(:class:`~threadline.core.turn.TurnRunner`) sees it, Codex's ``SessionTaskContext``.
``core.session.Session`` implements it; tests use a recording fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from threadline.core.settings import ThreadSettings
from threadline.model.base import ModelClient
from threadline.protocol import events as ev
from threadline.protocol.items import ResponseItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import ThreadItem, UserInput
from threadline.protocol.v2.turn import Turn

if TYPE_CHECKING:  # the tools load with a thread's tools, after its turn has started
    from threadline.tools.registry import AnswerHook, DecisionHook, ToolRegistry


@dataclass(slots=True)
class ActiveTurn:
    id: str
    started_at: float
    kind: str = "regular"
    pending_input: list[tuple[list[UserInput], str | None]] = field(default_factory=list)
    pending_items: list[ResponseItem] = field(default_factory=list)
    """Model-visible items that join the history before the next sampling (a user shell
    command's record); unlike steered input they do not cut the running stream."""
    steer: asyncio.Event = field(default_factory=asyncio.Event)
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Future[Turn] | None = None
    abort_ack: asyncio.Future[None] | None = None
    """Resolved once an interrupt has been accounted for (or the turn ended anyway)."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the interrupter once it has answered; the interrupted turn then ends."""
    closing: bool = False
    """The turn is writing its ending; new input can no longer join it."""
    abort_reason: str = "interrupted"
    """Why an interrupt ends the turn: ``replaced`` when a compaction turn took its place
    (then, as in Codex, no ``<turn_aborted>`` message joins the history)."""
    items: list[ThreadItem] = field(default_factory=list)
    last_agent_message: str | None = None
    first_token_at: float | None = None


class TurnHost(Protocol):
    """What a running turn may see and do of the session that owns it."""

    @property
    def thread_id(self) -> str: ...

    @property
    def settings(self) -> ThreadSettings: ...

    @property
    def history(self) -> Sequence[ResponseItem]:
        """The model-visible history; the next request sends all of it."""
        ...

    @property
    def tools(self) -> ToolRegistry: ...

    @property
    def model(self) -> ModelClient: ...

    @property
    def token_info(self) -> TokenUsageInfo | None: ...

    def new_id(self) -> str:
        """A fresh id for an item the model left unnamed."""
        ...

    async def emit(self, turn_id: str, msg: ev.EventMsg) -> None:
        """Send an event out (persisted when the rollout policy keeps it); may hold the
        loop back while a slow consumer catches up."""
        ...

    async def record(self, items: list[ResponseItem]) -> None:
        """Append items to the model-visible history (and the rollout)."""
        ...

    async def turn_started(self, turn: ActiveTurn) -> None: ...

    async def record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        """Record one user message of ``turn`` (its first input, or a steer)."""
        ...

    async def complete_item(self, turn: ActiveTurn, item: ThreadItem) -> None:
        """Keep ``item`` in the turn's items and announce it completed."""
        ...

    async def add_usage(self, turn_id: str, usage: TokenUsage) -> None:
        """Add one response's usage to the thread's token usage and report it."""
        ...

    async def request_approval(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None,
        on_decision: DecisionHook | None,
    ) -> str:
        """Ask the client(s) about ``request`` and wait for the decision."""
        ...

    async def ask(
        self,
        request: ev.ClientAsk,
        started_item: Any | None,
        on_decision: AnswerHook | None,
    ) -> Any:
        """Ask the client(s) any question and wait for the answer its kind defines."""
        ...

    async def wait_unpaused(self) -> None:
        """Return once no out-of-band elicitation holds the thread."""
        ...

    async def turn_finished(self, turn: ActiveTurn, snapshot: Turn) -> Turn:
        """Account for the turn's end (flush, status idle, ``turn_completed``)."""
        ...


__all__ = ["ActiveTurn", "TurnHost"]
