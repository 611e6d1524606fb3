"""The event table: which v2 message each core event becomes, and who gets it.

:data:`EVENT_TABLE` maps a core event class (``protocol.events``) to its routes: the
notification method, its v2 params model (the one ``protocol.methods`` names for that
method) and the :data:`Scope`. :data:`NOT_SENT` lists every other core event class with
the reason it sends nothing; a test walks both against the ``EventMsg`` union and the
reference schema. The command approval request is a server request, not a
notification: :func:`approval_request` builds its typed params.

The three streamed deltas are the hot path (one per model token): their rows build
the params dict directly, in exactly the shape of the row's model, instead of
validating a model per token. Every other row builds its v2 model and dumps it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from threadline.protocol import events as ev
from threadline.protocol.usage import TokenUsageInfo
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.item import (
    AgentMessageDeltaNotification,
    CommandExecutionOutputDeltaNotification,
    CommandExecutionThreadItem,
    FileChangePatchUpdatedNotification,
    ItemCompletedNotification,
    ItemStartedNotification,
    McpToolCallProgressNotification,
    ReasoningSummaryPartAddedNotification,
    ReasoningSummaryTextDeltaNotification,
    TerminalInteractionNotification,
)
from threadline.protocol.v2.item_parts import ReadCommandAction
from threadline.protocol.v2.settings import (
    CollaborationMode,
    DangerFullAccessSandboxPolicy,
    ReadOnlySandboxPolicy,
    SandboxPolicy,
    Settings,
    WorkspaceWriteSandboxPolicy,
)
from threadline.protocol.v2.thread import (
    ActiveThreadStatus,
    IdleThreadStatus,
    NotLoadedThreadStatus,
    SystemErrorThreadStatus,
)
from threadline.protocol.v2.thread_meta import ThreadStatusChangedNotification
from threadline.protocol.v2.thread_ops import (
    ContextCompactedNotification,
    ThreadReadState,
    ThreadReadStateChangedNotification,
    TurnThreadUnreadPosition,
)
from threadline.protocol.v2.turn import (
    ThreadSettings,
    ThreadSettingsUpdatedNotification,
    TurnCompletedNotification,
    TurnDiffUpdatedNotification,
    TurnError,
    TurnStartedNotification,
)
from threadline.protocol.v2.usage import ThreadTokenUsage, ThreadTokenUsageUpdatedNotification

if TYPE_CHECKING:  # the rarer rows' models (~70 classes) load with their first event
    from threadline.protocol.v2.misc import (
        AccountRateLimitsUpdatedNotification,
        ErrorNotification,
        McpServerStatusUpdatedNotification,
        WarningNotification,
    )
    from threadline.protocol.v2.skills import (
        HookCompletedNotification,
        HookStartedNotification,
        SkillsChangedNotification,
    )

Scope = Literal["subscribers", "requester", "all"]
"""Who gets a notification: ``subscribers`` of the thread; the ``requester`` only (the
connection whose request caused it: the usage replay after ``thread/resume`` and
``thread/fork``, sent by the handler); ``all`` initialized connections."""

Notification = tuple[str, dict[str, Any], Scope]
"""``(method, params, scope)``: what :func:`translate` hands the router."""

Build = Callable[[str, Any], dict[str, Any] | None]
"""``(thread_id, event) -> params`` (``None``: nothing to send for this event)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the table: a core event becomes ``method`` with ``params`` to ``scope``."""

    method: str
    model: type[BaseModel] | str
    """The v2 params model of ``method`` (the built params always have its shape), or
    ``"area.Name"``: the model ``Name`` of ``protocol/v2/<area>.py``, loaded when needed."""
    scope: Scope
    build: Build

    @property
    def params(self) -> type[BaseModel]:
        """The v2 params model of ``method``."""
        if isinstance(self.model, str):
            area, name = self.model.split(".")
            model: type[BaseModel] = getattr(
                importlib.import_module(f"threadline.protocol.v2.{area}"), name
            )
            return model
        return self.model


def _typed(fn: Callable[[str, Any], BaseModel | None]) -> Build:
    def build(thread_id: str, event: Any) -> dict[str, Any] | None:
        model = fn(thread_id, event)
        return None if model is None else dump_wire(model)

    return build


# ---- the hot path: streamed deltas ------------------------------------------------------


def _delta(thread_id: str, event: ev.Event) -> dict[str, Any]:
    msg: Any = event.msg
    return {"threadId": thread_id, "turnId": msg.turn_id, "itemId": msg.item_id, "delta": msg.delta}


def _summary_delta(thread_id: str, event: ev.Event) -> dict[str, Any]:
    msg: Any = event.msg
    return {
        "threadId": thread_id,
        "turnId": msg.turn_id,
        "itemId": msg.item_id,
        "delta": msg.delta,
        "summaryIndex": msg.summary_index,
    }


# ---- typed rows -------------------------------------------------------------------------


def _summary_part(thread_id: str, event: ev.Event) -> ReasoningSummaryPartAddedNotification:
    msg: Any = event.msg
    return ReasoningSummaryPartAddedNotification(
        thread_id=thread_id,
        turn_id=msg.turn_id,
        item_id=msg.item_id,
        summary_index=msg.summary_index,
    )


def _wire_item(item: Any) -> Any:
    """``item`` as the wire shows it: a command's ``read`` actions name the file by its
    absolute path (resolved against the command's cwd), as Codex's app-server does; the
    core item (and the rollout's ``parsed_cmd``) keep the path the command gave."""
    if not isinstance(item, CommandExecutionThreadItem) or not item.cwd:
        return item
    actions = [
        a.model_copy(update={"path": os.path.join(item.cwd, a.path)})
        if isinstance(a, ReadCommandAction) and a.path and not os.path.isabs(a.path)
        else a
        for a in item.command_actions
    ]
    return item.model_copy(update={"command_actions": actions})


def _item_started(thread_id: str, event: ev.Event) -> ItemStartedNotification:
    msg: Any = event.msg
    return ItemStartedNotification(
        item=_wire_item(msg.item),
        thread_id=thread_id,
        turn_id=msg.turn_id,
        started_at_ms=msg.started_at_ms or 0,
    )


def _item_completed(thread_id: str, event: ev.Event) -> ItemCompletedNotification:
    msg: Any = event.msg
    return ItemCompletedNotification(
        item=_wire_item(msg.item),
        thread_id=thread_id,
        turn_id=msg.turn_id,
        content_token_count=None,
        completed_at_ms=msg.completed_at_ms or 0,
    )


_STATUS_TYPES: dict[str, type[BaseModel]] = {
    "idle": IdleThreadStatus,
    "notLoaded": NotLoadedThreadStatus,
    "systemError": SystemErrorThreadStatus,
}


def status_notification(
    thread_id: str, status: str, flags: list[str]
) -> ThreadStatusChangedNotification:
    """``thread/status/changed`` for an agent status (``active`` carries its flags)."""
    if status == "active":
        body: BaseModel = ActiveThreadStatus.model_validate({"activeFlags": list(flags)})
    else:
        body = _STATUS_TYPES[status]()
    return ThreadStatusChangedNotification.model_validate({"threadId": thread_id, "status": body})


def _status(thread_id: str, event: ev.Event) -> ThreadStatusChangedNotification:
    msg: Any = event.msg
    return status_notification(thread_id, msg.status, msg.active_flags)


def _turn_started(thread_id: str, event: ev.Event) -> TurnStartedNotification:
    msg: Any = event.msg
    return TurnStartedNotification(thread_id=thread_id, turn=msg.turn)


def _turn_completed(thread_id: str, event: ev.Event) -> TurnCompletedNotification:
    msg: Any = event.msg
    return TurnCompletedNotification(thread_id=thread_id, turn=msg.turn)


def token_usage_notification(
    thread_id: str, turn_id: str, info: TokenUsageInfo
) -> ThreadTokenUsageUpdatedNotification:
    """``thread/tokenUsage/updated`` with the session's usage snapshot."""
    return ThreadTokenUsageUpdatedNotification(
        thread_id=thread_id, turn_id=turn_id, token_usage=ThreadTokenUsage.from_info(info)
    )


def _token_usage(thread_id: str, event: ev.Event) -> ThreadTokenUsageUpdatedNotification:
    msg: Any = event.msg
    return token_usage_notification(thread_id, msg.turn_id, msg.info)


def empty_rate_limits() -> AccountRateLimitsUpdatedNotification:
    """The rate limits threadline reports: Codex's ``codex`` limit with nothing known."""
    from threadline.protocol.v2.misc import AccountRateLimitsUpdatedNotification, RateLimitSnapshot

    return AccountRateLimitsUpdatedNotification(rate_limits=RateLimitSnapshot(limit_id="codex"))


def _rate_limits(thread_id: str, event: ev.Event) -> AccountRateLimitsUpdatedNotification:
    return empty_rate_limits()


def _usage_less_count(
    thread_id: str, event: ev.Event
) -> AccountRateLimitsUpdatedNotification | None:
    # With usage, ``token_usage_updated`` (sent alongside) carries it to clients; a
    # usage-less count (a steer cut the stream, or an interrupt before any usage)
    # still refreshes rate limits, as Codex does.
    msg: Any = event.msg
    return empty_rate_limits() if msg.info is None else None


def _stream_retry(thread_id: str, event: ev.Event) -> ErrorNotification:
    from threadline.protocol.v2.misc import ErrorNotification

    msg: Any = event.msg
    error = TurnError(
        message=msg.message,
        codex_error_info={"responseStreamDisconnected": {"httpStatusCode": None}},
        additional_details=f"retry {msg.attempt}/{msg.max_attempts} in {msg.delay_s:.2f}s",
    )
    return ErrorNotification(error=error, will_retry=True, thread_id=thread_id, turn_id=msg.turn_id)


def _error(thread_id: str, event: ev.Event) -> ErrorNotification:
    from threadline.protocol.v2.misc import ErrorNotification

    msg: Any = event.msg
    error = TurnError(message=msg.message, codex_error_info=msg.codex_error_info)
    return ErrorNotification(error=error, will_retry=False, thread_id=thread_id, turn_id=event.id)


def _warning(thread_id: str, event: ev.Event) -> WarningNotification:
    from threadline.protocol.v2.misc import WarningNotification

    msg: Any = event.msg
    return WarningNotification(thread_id=thread_id, message=msg.message)


def _compacted(thread_id: str, event: ev.Event) -> ContextCompactedNotification:
    return ContextCompactedNotification(thread_id=thread_id, turn_id=event.id)


def _patch_updated(thread_id: str, event: ev.Event) -> FileChangePatchUpdatedNotification:
    msg: Any = event.msg
    return FileChangePatchUpdatedNotification(
        thread_id=thread_id, turn_id=msg.turn_id, item_id=msg.item_id, changes=msg.changes
    )


def _turn_diff(thread_id: str, event: ev.Event) -> TurnDiffUpdatedNotification:
    msg: Any = event.msg
    return TurnDiffUpdatedNotification(
        thread_id=thread_id, turn_id=msg.turn_id, diff=msg.unified_diff
    )


def _terminal_interaction(thread_id: str, event: ev.Event) -> TerminalInteractionNotification:
    msg: Any = event.msg
    return TerminalInteractionNotification(
        thread_id=thread_id,
        turn_id=msg.turn_id,
        item_id=msg.item_id,
        process_id=msg.process_id,
        stdin=msg.stdin,
    )


def _mcp_progress(thread_id: str, event: ev.Event) -> McpToolCallProgressNotification:
    msg: Any = event.msg
    return McpToolCallProgressNotification(
        thread_id=thread_id, turn_id=msg.turn_id, item_id=msg.item_id, message=msg.message
    )


def _mcp_startup(thread_id: str, event: ev.Event) -> McpServerStatusUpdatedNotification:
    from threadline.protocol.v2.misc import McpServerStatusUpdatedNotification

    msg: Any = event.msg
    return McpServerStatusUpdatedNotification(
        thread_id=thread_id, name=msg.server, status=msg.status, error=msg.error
    )


def _hook_started(thread_id: str, event: ev.Event) -> HookStartedNotification:
    from threadline.protocol.v2.skills import HookStartedNotification, hook_run_summary

    msg: Any = event.msg
    return HookStartedNotification(
        thread_id=thread_id, turn_id=msg.turn_id, run=hook_run_summary(msg.run)
    )


def _skills_changed(thread_id: str, event: ev.Event) -> SkillsChangedNotification:
    from threadline.protocol.v2.skills import SkillsChangedNotification

    return SkillsChangedNotification()


def _hook_completed(thread_id: str, event: ev.Event) -> HookCompletedNotification:
    from threadline.protocol.v2.skills import HookCompletedNotification, hook_run_summary

    msg: Any = event.msg
    return HookCompletedNotification(
        thread_id=thread_id, turn_id=msg.turn_id, run=hook_run_summary(msg.run)
    )


_SANDBOXES: dict[str, Callable[[], SandboxPolicy]] = {
    "danger-full-access": DangerFullAccessSandboxPolicy,
    "read-only": ReadOnlySandboxPolicy,
    "workspace-write": WorkspaceWriteSandboxPolicy,
}


def _settings_updated(thread_id: str, event: ev.Event) -> ThreadSettingsUpdatedNotification:
    s: dict[str, Any] = event.msg.settings  # type: ignore[union-attr]
    mode = Settings(
        model=s["model"],
        developer_instructions=s.get("developer_instructions"),
        reasoning_effort=s.get("reasoning_effort"),
    )
    wire = ThreadSettings(
        approval_policy=s["approval_policy"],
        approvals_reviewer=s["approvals_reviewer"],
        collaboration_mode=CollaborationMode(mode=s["collaboration_mode"], settings=mode),
        cwd=s["cwd"],
        model=s["model"],
        model_provider=s["model_provider"],
        sandbox_policy=_SANDBOXES.get(s["sandbox_mode"], WorkspaceWriteSandboxPolicy)(),
        effort=s.get("reasoning_effort"),
        personality=s.get("personality"),
        service_tier=s.get("service_tier"),
        summary=s.get("reasoning_summary"),
    )
    return ThreadSettingsUpdatedNotification(thread_id=thread_id, thread_settings=wire)


def _read_state(thread_id: str, event: ev.Event) -> ThreadReadStateChangedNotification:
    msg: Any = event.msg
    first = msg.first_unread_turn_id
    position = TurnThreadUnreadPosition(turn_id=first) if first else None
    state = ThreadReadState(revision=msg.revision, first_unread=position)
    return ThreadReadStateChangedNotification(thread_id=thread_id, read_state=state)


def _row(
    method: str,
    params: type[BaseModel] | str,
    fn: Callable[[str, Any], BaseModel | None],
    scope: Scope = "subscribers",
) -> Route:
    return Route(method, params, scope, _typed(fn))


_RATE_LIMITS = _row(
    "account/rateLimits/updated", "misc.AccountRateLimitsUpdatedNotification", _rate_limits
)

EVENT_TABLE: dict[type, tuple[Route, ...]] = {
    ev.AgentMessageDelta: (
        Route("item/agentMessage/delta", AgentMessageDeltaNotification, "subscribers", _delta),
    ),
    ev.ReasoningSummaryDelta: (
        Route(
            "item/reasoning/summaryTextDelta",
            ReasoningSummaryTextDeltaNotification,
            "subscribers",
            _summary_delta,
        ),
    ),
    ev.CommandOutputDelta: (
        Route(
            "item/commandExecution/outputDelta",
            CommandExecutionOutputDeltaNotification,
            "subscribers",
            _delta,
        ),
    ),
    ev.TerminalInteraction: (
        _row(
            "item/commandExecution/terminalInteraction",
            TerminalInteractionNotification,
            _terminal_interaction,
        ),
    ),
    ev.McpToolCallProgress: (
        _row("item/mcpToolCall/progress", McpToolCallProgressNotification, _mcp_progress),
    ),
    ev.McpStartupUpdate: (
        _row(
            "mcpServer/startupStatus/updated",
            "misc.McpServerStatusUpdatedNotification",
            _mcp_startup,
        ),
    ),
    ev.ReasoningSummaryPartAdded: (
        _row(
            "item/reasoning/summaryPartAdded", ReasoningSummaryPartAddedNotification, _summary_part
        ),
    ),
    ev.ItemStarted: (_row("item/started", ItemStartedNotification, _item_started),),
    ev.ItemCompleted: (_row("item/completed", ItemCompletedNotification, _item_completed),),
    ev.PatchApplyUpdated: (
        _row("item/fileChange/patchUpdated", FileChangePatchUpdatedNotification, _patch_updated),
    ),
    ev.TurnDiff: (_row("turn/diff/updated", TurnDiffUpdatedNotification, _turn_diff),),
    ev.StatusChanged: (
        _row("thread/status/changed", ThreadStatusChangedNotification, _status, "all"),
    ),
    ev.TurnStartedEvent: (_row("turn/started", TurnStartedNotification, _turn_started),),
    ev.TurnCompletedEvent: (_row("turn/completed", TurnCompletedNotification, _turn_completed),),
    ev.TokenUsageUpdated: (
        _row("thread/tokenUsage/updated", ThreadTokenUsageUpdatedNotification, _token_usage),
        _RATE_LIMITS,
    ),
    ev.TokenCount: (
        _row(
            "account/rateLimits/updated",
            "misc.AccountRateLimitsUpdatedNotification",
            _usage_less_count,
        ),
    ),
    ev.StreamRetry: (_row("error", "misc.ErrorNotification", _stream_retry),),
    ev.ErrorEvent: (_row("error", "misc.ErrorNotification", _error),),
    ev.WarningEvent: (_row("warning", "misc.WarningNotification", _warning),),
    ev.ContextCompacted: (_row("thread/compacted", ContextCompactedNotification, _compacted),),
    ev.SettingsUpdated: (
        _row("thread/settings/updated", ThreadSettingsUpdatedNotification, _settings_updated),
    ),
    ev.ReadStateChanged: (
        _row("thread/readState/changed", ThreadReadStateChangedNotification, _read_state),
    ),
    ev.HookStarted: (_row("hook/started", "skills.HookStartedNotification", _hook_started),),
    ev.HookCompleted: (
        _row("hook/completed", "skills.HookCompletedNotification", _hook_completed),
    ),
    ev.SkillsChanged: (
        _row("skills/changed", "skills.SkillsChangedNotification", _skills_changed, "all"),
    ),
}
"""Core event class → the notifications it becomes, in the order they are sent."""

NOT_SENT: dict[type, str] = {
    ev.TaskStarted: "turn/started is sent from TurnStartedEvent",
    ev.TaskComplete: "turn/completed is sent from TurnCompletedEvent",
    ev.TurnAborted: "turn/completed (status interrupted) is sent from TurnCompletedEvent",
    ev.UserMessage: "the userMessage item's item/started and item/completed carry it",
    ev.AgentMessage: "the agentMessage item's item/completed carries it",
    ev.AgentReasoning: "the reasoning item's item/completed carries it",
    ev.ThreadNameUpdated: "thread/name/set broadcasts thread/name/updated itself",
    ev.ThreadRolledBack: "the thread/rollback response carries the remaining turns",
    ev.ExecCommandEnd: "the commandExecution item's item/completed carries the result",
    ev.ApprovalResolved: "the router sends serverRequest/resolved to the connections it asked",
    ev.ShutdownComplete: "the conduit's own end; the server learns it from the thread",
    ev.EnteredReviewMode: "the enteredReviewMode item's item/started and item/completed carry it",
    ev.ExitedReviewMode: "the exitedReviewMode item's item/started and item/completed carry it",
}
"""Every other core event class, and why it sends nothing."""


def translate(thread_id: str, event: ev.Event) -> list[Notification]:
    """The notifications ``event`` becomes (none for the classes in :data:`NOT_SENT`)."""
    routes = EVENT_TABLE.get(type(event.msg))
    if routes is None:
        return []
    out: list[Notification] = []
    for route in routes:
        params = route.build(thread_id, event)
        if params is not None:
            out.append((route.method, params, route.scope))
    return out


__all__ = [
    "EVENT_TABLE",
    "NOT_SENT",
    "Notification",
    "Route",
    "Scope",
    "empty_rate_limits",
    "status_notification",
    "token_usage_notification",
    "translate",
]
