"""The ``thread/*`` requests, answers and notifications of the methods that run or page a
thread: start, resume, fork, the turn and item pages, compaction, unsubscribe, delete,
the read state. Apart from ``protocol/v2/thread.py`` (the ``Thread`` object and the list's
types) because a client's first request is usually ``thread/list``, and building these
models too would cost that answer several milliseconds.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.lazy_fields import LazyThreadItem, LazyTurnList, TurnItemsView
from threadline.protocol.v2.settings import (
    ApprovalsReviewer,
    AskForApproval,
    CollaborationMode,
    Personality,
    SandboxMode,
    SortDirection,
)
from threadline.protocol.v2.thread import (
    Thread,
    ThreadSessionResponse,
    ThreadSource,
)


class ContextCompactedNotification(WireModel):
    thread_id: str
    turn_id: str


class ThreadClosedNotification(WireModel):
    thread_id: str


class ThreadCompactStartParams(WireModel):
    thread_id: str


class ThreadCompactStartResponse(WireModel):
    """The empty ``ThreadCompactStartResponse`` object."""


class ThreadDeleteParams(WireModel):
    thread_id: str


class ThreadDeleteResponse(WireModel):
    """The empty ``ThreadDeleteResponse`` object."""


class ThreadDeletedNotification(WireModel):
    thread_id: str


class ThreadForkParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"ephemeral", "exclude_turns", "path", "persist_extended_history"}
    )
    thread_id: str
    approval_policy: AskForApproval | None = None
    approvals_reviewer: ApprovalsReviewer | None = None
    base_instructions: str | None = None
    config: dict[str, Any] | None = None
    cwd: str | None = None
    developer_instructions: str | None = None
    ephemeral: bool | None = None
    exclude_turns: bool | None = None
    last_turn_id: str | None = None
    model: str | None = None
    model_provider: str | None = None
    sandbox: SandboxMode | None = None
    service_tier: str | None = None
    thread_source: ThreadSource | None = None
    # Accepted by Codex beyond its generated schema (experimental):
    path: str | None = None
    persist_extended_history: bool | None = None


class ThreadForkResponse(ThreadSessionResponse):
    """The ``thread/fork`` answer (no members beyond the shared ones)."""


class ThreadGoalClearedNotification(WireModel):
    thread_id: str


class ThreadInjectItemsParams(WireModel):
    items: list[Any]
    thread_id: str


class ThreadInjectItemsResponse(WireModel):
    """The empty ``ThreadInjectItemsResponse`` object."""


class ThreadItemEntry(WireModel):
    item: LazyThreadItem
    turn_id: str
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


ThreadItemOutputDeferral = dict[str, Any]


class ItemThreadItemsListAnchor(WireModel):
    item_id: str
    type: Literal["item"] = "item"


ThreadItemsListAnchor = ItemThreadItemsListAnchor


ThreadItemsListCursor = str | ThreadItemsListAnchor


class ThreadItemsListParams(WireModel):
    thread_id: str
    cursor: ThreadItemsListCursor | None = None
    defer_output: ThreadItemOutputDeferral | None = None
    limit: int | None = None
    sort_direction: SortDirection | None = None
    turn_id: str | None = None


class ThreadItemsListResponse(WireModel):
    data: list[ThreadItemEntry]
    backwards_cursor: str | None = None
    next_cursor: str | None = None


class ThreadLoadedListParams(WireModel):
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=0)


class ThreadLoadedListResponse(WireModel):
    data: list[str]
    next_cursor: str | None = None


class ThreadStartThreadUnreadPosition(WireModel):
    type: Literal["threadStart"] = "threadStart"


class TurnThreadUnreadPosition(WireModel):
    turn_id: str
    type: Literal["turn"] = "turn"


ThreadUnreadPosition = Annotated[
    ThreadStartThreadUnreadPosition | TurnThreadUnreadPosition, Field(discriminator="type")
]


class ThreadReadState(WireModel):
    revision: str
    first_unread: ThreadUnreadPosition | None = None


class ThreadReadStateChangedNotification(WireModel):
    read_state: ThreadReadState
    thread_id: str


class ThreadResumeInitialTurnsPageParams(WireModel):
    """The first ``thread/turns/list`` page a resume should carry (experimental)."""

    items_view: TurnItemsView | None = None
    limit: int | None = Field(default=None, ge=0)
    sort_direction: SortDirection | None = None


class TurnsPage(WireModel):
    data: LazyTurnList
    backwards_cursor: str | None = None
    next_cursor: str | None = None


class ThreadResumeParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"exclude_turns", "path", "history", "persist_extended_history", "initial_turns_page"}
    )
    thread_id: str
    approval_policy: AskForApproval | None = None
    approvals_reviewer: ApprovalsReviewer | None = None
    base_instructions: str | None = None
    config: dict[str, Any] | None = None
    cwd: str | None = None
    developer_instructions: str | None = None
    exclude_turns: bool | None = None
    model: str | None = None
    model_provider: str | None = None
    personality: Personality | None = None
    sandbox: SandboxMode | None = None
    service_tier: str | None = None
    # Accepted by Codex beyond its generated schema (experimental):
    path: str | None = None
    history: list[Any] | None = None
    persist_extended_history: bool | None = None
    initial_turns_page: ThreadResumeInitialTurnsPageParams | None = None


class ThreadResumeResponse(ThreadSessionResponse):
    """The ``thread/resume`` answer. Beyond the 0.169 schema's members, the ones real
    Codex 0.169 sends too: ``runtimeWorkspaceRoots``, ``activePermissionProfile``,
    ``multiAgentMode`` and ``initialTurnsPage``."""

    collaboration_mode: CollaborationMode | None = None
    items_backwards_cursor: str | None = None
    turns_backwards_cursor: str | None = None
    runtime_workspace_roots: list[str] = Field(default_factory=list)
    active_permission_profile: dict[str, Any] | None = None
    multi_agent_mode: str = "explicitRequestOnly"
    initial_turns_page: TurnsPage | None = None


ThreadStartSource = Literal["startup", "clear"]


class ThreadStartParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"persist_extended_history"})
    approval_policy: AskForApproval | None = None
    approvals_reviewer: ApprovalsReviewer | None = None
    base_instructions: str | None = None
    config: dict[str, Any] | None = None
    cwd: str | None = None
    developer_instructions: str | None = None
    ephemeral: bool | None = None
    model: str | None = None
    model_provider: str | None = None
    personality: Personality | None = None
    sandbox: SandboxMode | None = None
    service_name: str | None = None
    service_tier: str | None = None
    session_start_source: ThreadStartSource | None = None
    thread_source: ThreadSource | None = None
    # Accepted by Codex beyond its generated schema (experimental):
    persist_extended_history: bool | None = None
    dynamic_tools: list[Any] | None = None


class ThreadStartResponse(ThreadSessionResponse):
    """The ``thread/start`` answer (no members beyond the shared ones)."""


class ThreadStartedNotification(WireModel):
    thread: Thread


class ThreadTurnsListParams(WireModel):
    thread_id: str
    cursor: str | None = None
    items_view: TurnItemsView | None = None
    limit: int | None = None
    sort_direction: SortDirection | None = None


class ThreadTurnsListResponse(WireModel):
    data: LazyTurnList
    backwards_cursor: str | None = None
    next_cursor: str | None = None


class ThreadUnsubscribeParams(WireModel):
    thread_id: str


ThreadUnsubscribeStatus = Literal["notLoaded", "notSubscribed", "unsubscribed"]


class ThreadUnsubscribeResponse(WireModel):
    status: ThreadUnsubscribeStatus


__all__ = [
    "ContextCompactedNotification", "ItemThreadItemsListAnchor", "ThreadClosedNotification",
    "ThreadCompactStartParams", "ThreadCompactStartResponse", "ThreadDeleteParams",
    "ThreadDeleteResponse", "ThreadDeletedNotification", "ThreadForkParams", "ThreadForkResponse",
    "ThreadGoalClearedNotification", "ThreadInjectItemsParams", "ThreadInjectItemsResponse",
    "ThreadItemEntry", "ThreadItemOutputDeferral", "ThreadItemsListAnchor",
    "ThreadItemsListCursor", "ThreadItemsListParams", "ThreadItemsListResponse",
    "ThreadLoadedListParams", "ThreadLoadedListResponse", "ThreadReadState",
    "ThreadReadStateChangedNotification", "ThreadResumeInitialTurnsPageParams",
    "ThreadResumeParams", "ThreadResumeResponse", "ThreadStartParams", "ThreadStartResponse",
    "ThreadStartSource", "ThreadStartThreadUnreadPosition", "ThreadStartedNotification",
    "ThreadTurnsListParams", "ThreadTurnsListResponse", "ThreadUnreadPosition",
    "ThreadUnsubscribeParams", "ThreadUnsubscribeResponse", "ThreadUnsubscribeStatus",
    "TurnThreadUnreadPosition", "TurnsPage",
]
