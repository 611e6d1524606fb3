"""Core submissions: the operations a client submits to a thread."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from threadline.protocol.records import record


@record
class TurnOverrides:
    """Per-turn settings that replace the thread's for this and later turns."""

    cwd: str | None = None
    model: str | None = None
    approval_policy: str | None = None
    sandbox_mode: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    personality: str | None = None
    collaboration_mode: str | None = None
    """``plan`` or ``default`` (``turn/start``'s ``collaborationMode.mode``)."""


@record
class UserTurn:
    """Start a turn with user input (v2 ``UserInput`` items)."""

    items: list[Any]
    overrides: TurnOverrides = field(default_factory=TurnOverrides)
    client_user_message_id: str | None = None


@record
class Interrupt:
    """Stop the running turn; it ends ``interrupted``."""


@record
class ExecApproval:
    """The decision for a pending command approval (``accept``, ``acceptForSession``, ``decline``, ``cancel``)."""

    approval_id: str
    decision: str


@record
class ResolveAsk:
    """The answer to any pending ``events.ClientAsk``: the object that ask's kind defines
    (a decision string for approvals; see each ask class)."""

    approval_id: str
    answer: Any


@record
class ThreadRollback:
    num_turns: int


@record
class RunUserShellCommand:
    """A command the user runs in the thread (``thread/shellCommand``, the TUI's ``!cmd``):
    through the shell, with full access, recorded in the thread for the model to see."""

    command: str
    timeout_ms: int | None = None


@record
class Shutdown:
    """Finish the running turn's bookkeeping, flush the rollout and stop the thread task."""


Op = (
    UserTurn
    | Interrupt
    | ExecApproval
    | ResolveAsk
    | ThreadRollback
    | RunUserShellCommand
    | Shutdown
)
