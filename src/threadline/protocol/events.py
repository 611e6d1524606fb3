"""Core events: what a running thread reports (the event queue of the conduit).

Events that Codex persists keep Codex's ``event_msg`` payload shape exactly
(snake_case, ``type`` tag), so ``model_dump(mode="json")`` is the rollout
payload. Runtime-only events (deltas, item lifecycle carrying v2 items,
approval requests, status) are never persisted; ``rollout.policy`` decides.
"""

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.protocol.core_items import command_execution_turn_item
from threadline.protocol.tool_items import (
    dynamic_tool_turn_item,
    image_view_turn_item,
    mcp_tool_call_turn_item,
)
from threadline.protocol.usage import TokenUsageInfo
from threadline.protocol.v2.item import (
    CommandExecutionThreadItem,
    ContextCompactionThreadItem,
    DynamicToolCallThreadItem,
    FileChangeThreadItem,
    ImageViewThreadItem,
    McpToolCallThreadItem,
    PlanThreadItem,
)
from threadline.protocol.v2.item_parts import CommandAction, FileUpdateChange


class _Msg(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # built on first use, not at import (start-up)

    def payload(self) -> dict[str, Any]:
        """The rollout ``event_msg`` payload."""
        return self.model_dump(mode="json", exclude_none=False)

    def rollout_payload(self, thread_id: str) -> dict[str, Any]:
        """The ``event_msg`` payload this event is written as, should the rollout policy
        keep it (``rollout.policy`` decides; this only gives the shape)."""
        return self.payload()


# ---- persisted (Codex event_msg shapes) ---------------------------------------


class TaskStarted(_Msg):
    type: Literal["task_started"] = "task_started"
    turn_id: str
    started_at: int | None = None
    model_context_window: int | None = None
    collaboration_mode_kind: str = "default"


class TaskComplete(_Msg):
    type: Literal["task_complete"] = "task_complete"
    turn_id: str
    last_agent_message: str | None = None
    completed_at: int | None = None
    duration_ms: int | None = None


class TurnAborted(_Msg):
    type: Literal["turn_aborted"] = "turn_aborted"
    turn_id: str | None = None
    reason: str = "interrupted"
    completed_at: int | None = None
    duration_ms: int | None = None


class UserMessage(_Msg):
    type: Literal["user_message"] = "user_message"
    message: str
    images: list[str] | None = None
    local_images: list[str] = []
    text_elements: list[Any] = []


class AgentMessage(_Msg):
    type: Literal["agent_message"] = "agent_message"
    message: str
    phase: str | None = None


class AgentReasoning(_Msg):
    type: Literal["agent_reasoning"] = "agent_reasoning"
    text: str


class TokenCount(_Msg):
    type: Literal["token_count"] = "token_count"
    info: TokenUsageInfo | None = None
    rate_limits: dict[str, Any] | None = None


class ThreadNameUpdated(_Msg):
    type: Literal["thread_name_updated"] = "thread_name_updated"
    thread_id: str
    thread_name: str | None = None


class ThreadRolledBack(_Msg):
    type: Literal["thread_rolled_back"] = "thread_rolled_back"
    num_turns: int


class ContextCompacted(_Msg):
    type: Literal["context_compacted"] = "context_compacted"


class EnteredReviewMode(_Msg):
    """A review began (Codex's ``ReviewRequest``: the target and the hint a UI shows)."""

    type: Literal["entered_review_mode"] = "entered_review_mode"
    target: dict[str, Any]
    user_facing_hint: str | None = None


class SettingsUpdated(_Msg):
    """A turn changed the thread's settings (``ThreadSettings.visible()``: model, provider,
    cwd, approval, sandbox, effort, summary, personality, tier, collaboration mode)."""

    type: Literal["settings_updated"] = "settings_updated"
    settings: dict[str, Any]


class ReadStateChanged(_Msg):
    """The thread's read state after a turn: its first unread turn, and a new revision."""

    type: Literal["read_state_changed"] = "read_state_changed"
    first_unread_turn_id: str | None = None
    revision: str


class ExitedReviewMode(_Msg):
    """A review ended: its parsed output (``None`` when it was interrupted)."""

    type: Literal["exited_review_mode"] = "exited_review_mode"
    review_output: dict[str, Any] | None = None


class ErrorEvent(_Msg):
    """A turn-ending error (persisted only in extended mode)."""

    type: Literal["error"] = "error"
    message: str
    codex_error_info: Any = None


class ExecCommandEnd(_Msg):
    """A finished command (persisted only in extended mode)."""

    type: Literal["exec_command_end"] = "exec_command_end"
    call_id: str
    turn_id: str
    command: list[str]
    cwd: str
    exit_code: int | None = None
    aggregated_output: str = ""
    stdout: str = ""
    stderr: str = ""
    formatted_output: str = ""
    duration: dict[str, int] | None = None


# ---- runtime only -------------------------------------------------------------


class ItemStarted(_Msg):
    """A v2 ``ThreadItem`` began (``item`` is a ``threadline.protocol.v2`` item model)."""

    type: Literal["item_started"] = "item_started"
    turn_id: str
    item: Any
    started_at_ms: int | None = None


class ItemCompleted(_Msg):
    type: Literal["item_completed"] = "item_completed"
    turn_id: str
    item: Any
    completed_at_ms: int | None = None

    def rollout_payload(self, thread_id: str) -> dict[str, Any]:
        """Codex's ``item_completed`` (``thread_id``, ``turn_id``, its core ``TurnItem``).

        Items Codex records this way get its core shape (``Plan``, ``ContextCompaction``,
        ``FileChange``, ``CommandExecution``, ...); which of them are written is the
        rollout policy's decision. Other kinds keep their v2 dump (never written).
        """
        item = self.item
        if isinstance(item, PlanThreadItem):
            core: Any = {"type": "Plan", "id": item.id, "text": item.text}
            started = item.started_at_ms
        elif isinstance(item, ContextCompactionThreadItem):
            core = {"type": "ContextCompaction", "id": item.id}
            started = item.started_at_ms
        elif isinstance(item, FileChangeThreadItem):
            core = file_change_turn_item(item)
            started = item.started_at_ms
        elif isinstance(item, CommandExecutionThreadItem):
            core = command_execution_turn_item(item)
            started = item.started_at_ms
        elif isinstance(item, ImageViewThreadItem):
            core = image_view_turn_item(item)
            started = item.started_at_ms
        elif isinstance(item, DynamicToolCallThreadItem):
            core = dynamic_tool_turn_item(item)
            started = item.started_at_ms
        elif isinstance(item, McpToolCallThreadItem):
            core = mcp_tool_call_turn_item(item)
            started = item.started_at_ms
        else:
            core = self.payload()["item"]
            started = getattr(item, "started_at_ms", None)
        payload: dict[str, Any] = {
            "type": self.type,
            "thread_id": thread_id,
            "turn_id": self.turn_id,
            "item": core,
        }
        if started is not None:
            payload["started_at_ms"] = started
        payload["completed_at_ms"] = self.completed_at_ms
        return payload


class FileChangeOutcome(FileChangeThreadItem):
    """A finished ``fileChange`` item as the apply_patch tool completes it: the v2 item
    plus what the patch run printed, which Codex keeps in the rollout's ``FileChange``
    item. ``stdout`` and ``stderr`` never go on the wire."""

    stdout: str = Field(default="", exclude=True)
    stderr: str = Field(default="", exclude=True)


def file_change_turn_item(item: FileChangeThreadItem) -> dict[str, Any]:
    """Codex's core ``FileChange`` turn item (the rollout's ``item_completed`` form):
    ``changes`` keyed by path, add/delete carrying the ``content``, update its
    ``unified_diff`` (without the v2 diff's ``Moved to:`` trailer) and ``move_path``."""
    changes: dict[str, Any] = {}
    for change in item.changes:
        kind = change.kind
        if kind.type == "update":
            diff = change.diff
            trailer = f"\n\nMoved to: {kind.move_path}"
            if kind.move_path is not None and diff.endswith(trailer):
                diff = diff[: -len(trailer)]
            changes[change.path] = {
                "type": "update",
                "unified_diff": diff,
                "move_path": kind.move_path,
            }
        else:
            changes[change.path] = {"type": kind.type, "content": change.diff}
    return {
        "type": "FileChange",
        "id": item.id,
        "changes": changes,
        "status": item.status,
        "stdout": getattr(item, "stdout", ""),
        "stderr": getattr(item, "stderr", ""),
    }


class PatchApplyUpdated(_Msg):
    """The changes an ``apply_patch`` call has streamed so far (Codex's
    ``patch_apply_updated``): paths as the patch writes them, never persisted."""

    type: Literal["patch_apply_updated"] = "patch_apply_updated"
    turn_id: str
    item_id: str
    changes: list[FileUpdateChange]


class TurnDiff(_Msg):
    """The turn's aggregated git-style diff changed (Codex's ``turn_diff``); never persisted."""

    type: Literal["turn_diff"] = "turn_diff"
    turn_id: str
    unified_diff: str


# Streamed deltas are the hot path (one per model token) and never persisted or
# validated from outside, so they are plain slotted records rather than pydantic models:
# building one costs a tenth of a validated model.


@dataclass(slots=True, kw_only=True)
class StreamDelta:
    """A streamed fragment: a runtime record with no ``event_msg`` form (Codex never writes
    a delta, in any mode), so a session never offers one to its rollout."""

    turn_id: str
    item_id: str
    delta: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True, kw_only=True)
class AgentMessageDelta(StreamDelta):
    type: Literal["agent_message_delta"] = "agent_message_delta"


@dataclass(slots=True, kw_only=True)
class ReasoningSummaryDelta(StreamDelta):
    summary_index: int = 0
    type: Literal["reasoning_summary_delta"] = "reasoning_summary_delta"


class ReasoningSummaryPartAdded(_Msg):
    type: Literal["reasoning_summary_part_added"] = "reasoning_summary_part_added"
    turn_id: str
    item_id: str
    summary_index: int = 0


@dataclass(slots=True, kw_only=True)
class CommandOutputDelta(StreamDelta):
    type: Literal["command_output_delta"] = "command_output_delta"


class TurnStartedEvent(_Msg):
    """The turn began (runtime view: carries the v2 turn snapshot)."""

    type: Literal["turn_started"] = "turn_started"
    turn: Any


class TurnCompletedEvent(_Msg):
    """The turn ended in any status (runtime view: carries the final v2 turn)."""

    type: Literal["turn_completed"] = "turn_completed"
    turn: Any


class TokenUsageUpdated(_Msg):
    """Live usage after one model response (runtime mirror of ``token_count``)."""

    type: Literal["token_usage_updated"] = "token_usage_updated"
    turn_id: str
    info: TokenUsageInfo


class StreamRetry(_Msg):
    """The model stream failed and will be retried."""

    type: Literal["stream_retry"] = "stream_retry"
    turn_id: str
    message: str
    attempt: int
    max_attempts: int
    delay_s: float


class WarningEvent(_Msg):
    type: Literal["warning"] = "warning"
    message: str


class StatusChanged(_Msg):
    """The thread's agent status changed (``idle`` / ``active`` + flags / ``systemError``)."""

    type: Literal["status_changed"] = "status_changed"
    status: str
    active_flags: list[str] = []


class ClientAsk(_Msg):
    """A question the turn waits on: the server turns it into a server request to the
    client(s) and answers with ``ops.ResolveAsk`` (``ops.ExecApproval`` for commands).

    ``approval_id`` keys the answer. Each subclass is one kind of question; the server's
    request table says which JSON-RPC method it becomes and how the client's result is
    read back into the answer object the asking tool expects.
    """

    WAITING_FLAG: ClassVar[str | None] = "waitingOnApproval"
    """The thread's active flag while the question is open (``None``: no flag)."""

    approval_id: str
    turn_id: str
    item_id: str

    def waiting_flag(self) -> str | None:  # the kind's flag unless the question says more
        return self.WAITING_FLAG


class ExecApprovalRequest(ClientAsk):
    """The turn waits for a decision on a command; answer with ``ops.ExecApproval``."""

    type: Literal["exec_approval_request"] = "exec_approval_request"
    command: str
    cwd: str
    reason: str | None = None
    proposed_amendment: list[str] | None = None
    started_at_ms: int | None = None
    """When the command item started (the request's ``startedAtMs``; else when it is sent)."""
    command_actions: list[CommandAction] | None = None
    """The parsed command for display (else one ``unknown`` action)."""


class UserInputRequest(ClientAsk):
    """``request_user_input``: the turn waits for the user's answers to ``questions``
    (Codex's question objects: id, header, question, isOther, isSecret, options). The
    answer is ``{question id: [answer, ...]}``; ``None`` when nobody answered."""

    WAITING_FLAG: ClassVar[str | None] = "waitingOnUserInput"

    type: Literal["user_input_request"] = "user_input_request"
    questions: list[dict[str, Any]]


class DynamicToolCallRequest(ClientAsk):
    """A call of a client-defined tool: the client runs it. The answer is the client's
    ``{"contentItems": [...], "success": bool}``; ``None`` when the request failed."""

    WAITING_FLAG: ClassVar[str | None] = None

    type: Literal["dynamic_tool_call_request"] = "dynamic_tool_call_request"
    tool: str
    namespace: str | None = None
    arguments: Any = None


class McpElicitationRequest(ClientAsk):
    """An MCP server asks the user for input (``elicitation/create``), during the model's
    call ``item_id`` of ``turn_id`` (both ``""`` outside a turn). The answer is
    ``{"action": "accept" | "decline" | "cancel", "content": ..., "_meta": ...}``; a reply
    that is not one (``{}``) counts as ``decline``."""

    WAITING_FLAG: ClassVar[str | None] = "waitingOnUserInput"

    type: Literal["mcp_elicitation_request"] = "mcp_elicitation_request"
    server_name: str
    mode: str = "form"
    message: str
    requested_schema: Any = None
    url: str | None = None
    elicitation_id: str | None = None
    meta: Any = None

    def waiting_flag(self) -> str | None:
        """An MCP tool call's approval (``codex_approval_kind`` meta) waits on approval."""
        kind = self.meta.get("codex_approval_kind") if isinstance(self.meta, dict) else None
        return "waitingOnApproval" if kind == "mcp_tool_call" else self.WAITING_FLAG


class PermissionsRequest(ClientAsk):
    """``request_permissions``: the model asks for more sandbox access (camelCase
    ``permissions`` profile as the wire sends it). The answer is the client's
    ``{"permissions": {...}, "scope": "turn" | "session"}``; ``None``: nothing granted."""

    type: Literal["permissions_request"] = "permissions_request"
    cwd: str
    reason: str | None = None
    permissions: dict[str, Any]
    started_at_ms: int | None = None


class PatchApprovalRequest(ClientAsk):
    """The turn waits for a decision on a patch (``item/fileChange/requestApproval``); the
    answer is the decision string (``accept``, ``acceptForSession``, ``decline``,
    ``cancel``). ``changes`` (v2 ``FileUpdateChange`` dumps) are for a terminal to show."""

    type: Literal["apply_patch_approval_request"] = "apply_patch_approval_request"
    reason: str | None = None
    grant_root: str | None = None
    started_at_ms: int | None = None
    changes: list[dict[str, Any]] = []


class TerminalInteraction(_Msg):
    """The model wrote to (or polled) an exec session: ``write_stdin`` on the session's
    commandExecution item ``item_id``; ``process_id`` is the session id."""

    type: Literal["terminal_interaction"] = "terminal_interaction"
    turn_id: str
    item_id: str
    process_id: str
    stdin: str


class McpToolCallProgress(_Msg):
    """An MCP server reported progress on the call behind the ``mcpToolCall`` item
    ``item_id`` (``notifications/progress``, its message or ``progress/total``)."""

    type: Literal["mcp_tool_call_progress"] = "mcp_tool_call_progress"
    turn_id: str
    item_id: str
    message: str


class McpStartupUpdate(_Msg):
    """A configured MCP server's startup moved on (``starting``, ``ready``, ``failed``,
    ``cancelled``); ``error`` says why it failed."""

    type: Literal["mcp_startup_update"] = "mcp_startup_update"
    server: str
    status: Literal["starting", "ready", "failed", "cancelled"]
    error: str | None = None


class HookStarted(_Msg):
    """A configured hook began running (``core.hooks_run``); ``run`` is the
    ``HookRunSummary`` members in snake_case."""

    type: Literal["hook_started"] = "hook_started"
    turn_id: str | None = None
    run: dict[str, Any]


class SkillsChanged(_Msg):
    """A ``SKILL.md`` under a loaded thread's skill roots changed on disk
    (``core.skills_watch``)."""

    type: Literal["skills_changed"] = "skills_changed"


class HookCompleted(_Msg):
    """A hook finished: ``run`` carries its status and output entries."""

    type: Literal["hook_completed"] = "hook_completed"
    turn_id: str | None = None
    run: dict[str, Any]


class ApprovalResolved(_Msg):
    type: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str


class ShutdownComplete(_Msg):
    type: Literal["shutdown_complete"] = "shutdown_complete"


EventMsg = (
    TaskStarted
    | TaskComplete
    | TurnAborted
    | UserMessage
    | AgentMessage
    | AgentReasoning
    | TokenCount
    | ThreadNameUpdated
    | ThreadRolledBack
    | ContextCompacted
    | EnteredReviewMode
    | ExitedReviewMode
    | SettingsUpdated
    | ReadStateChanged
    | ErrorEvent
    | ExecCommandEnd
    | ItemStarted
    | ItemCompleted
    | AgentMessageDelta
    | ReasoningSummaryDelta
    | ReasoningSummaryPartAdded
    | CommandOutputDelta
    | TerminalInteraction
    | McpToolCallProgress
    | McpStartupUpdate
    | TurnStartedEvent
    | TurnCompletedEvent
    | TokenUsageUpdated
    | StreamRetry
    | WarningEvent
    | StatusChanged
    | ExecApprovalRequest
    | PatchApprovalRequest
    | PatchApplyUpdated
    | TurnDiff
    | UserInputRequest
    | DynamicToolCallRequest
    | PermissionsRequest
    | McpElicitationRequest
    | ApprovalResolved
    | HookStarted
    | HookCompleted
    | SkillsChanged
    | ShutdownComplete
)


@dataclass(slots=True)
class Event:
    """One entry of a thread's event queue: ``id`` is the submission (turn) id it belongs to.

    A plain slotted record, not a pydantic model: it is never serialized (``msg`` is),
    and one is built for every streamed delta.
    """

    id: str
    msg: EventMsg
