"""Threads: the ``Thread`` object, its status, ``thread/*`` requests and notifications.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.lazy_fields import LazyThreadItem, LazyTurnList, TurnItemsView
from threadline.protocol.v2.settings import (
    AbsolutePathBuf,
    ApprovalsReviewer,
    AskForApproval,
    CollaborationMode,
    LegacyAppPathString,
    Personality,
    ReasoningEffort,
    SandboxMode,
    SandboxPolicy,
    SortDirection,
    ThreadId,
)

AgentPath = str


class ContextCompactedNotification(WireModel):
    thread_id: str
    turn_id: str


class GitInfo(WireModel):
    branch: str | None = None
    origin_url: str | None = None
    sha: str | None = None


class CustomSessionSource(WireModel):
    custom: str


class OtherSubAgentSource(WireModel):
    other: str


class ThreadSpawnDetails(WireModel):
    depth: int
    parent_thread_id: ThreadId = Field(alias="parent_thread_id")
    agent_nickname: str | None = Field(default=None, alias="agent_nickname")
    agent_path: AgentPath | None = Field(default=None, alias="agent_path")
    agent_role: str | None = Field(default=None, alias="agent_role")


class ThreadSpawnSubAgentSource(WireModel):
    thread_spawn: ThreadSpawnDetails = Field(alias="thread_spawn")


SubAgentSource = (
    Literal["review", "compact", "memory_consolidation"]
    | ThreadSpawnSubAgentSource
    | OtherSubAgentSource
)


class SubAgentSessionSource(WireModel):
    sub_agent: SubAgentSource


SessionSource = (
    Literal["cli", "vscode", "exec", "appServer", "unknown"]
    | CustomSessionSource
    | SubAgentSessionSource
)


ThreadHistoryMode = Literal["legacy", "paginated"]


class ThreadSectionAppearance(WireModel):
    color: str | None = None
    icon: str | None = None


class ThreadSection(WireModel):
    id: str
    name: str
    appearance: ThreadSectionAppearance | None = None


ThreadSource = str


ThreadActiveFlag = Literal["waitingOnApproval", "waitingOnUserInput"]


class ActiveThreadStatus(WireModel):
    active_flags: list[ThreadActiveFlag]
    type: Literal["active"] = "active"


class IdleThreadStatus(WireModel):
    type: Literal["idle"] = "idle"


class NotLoadedThreadStatus(WireModel):
    type: Literal["notLoaded"] = "notLoaded"


class SystemErrorThreadStatus(WireModel):
    type: Literal["systemError"] = "systemError"


ThreadStatus = Annotated[
    NotLoadedThreadStatus | IdleThreadStatus | SystemErrorThreadStatus | ActiveThreadStatus,
    Field(discriminator="type"),
]


class Thread(WireModel):
    cli_version: str
    created_at: int
    cwd: AbsolutePathBuf
    ephemeral: bool
    id: str
    model_provider: str
    preview: str
    project_id: str | None = None
    session_id: str
    source: SessionSource
    status: ThreadStatus
    turns: LazyTurnList
    updated_at: int
    agent_nickname: str | None = None
    agent_role: str | None = None
    forked_from_id: str | None = None
    git_info: GitInfo | None = None
    history_mode: ThreadHistoryMode = "legacy"
    model: str | None = None
    name: str | None = None
    originator: str | None = None
    parent_thread_id: str | None = None
    path: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    recency_at: int | None = None
    section: ThreadSection | None = None
    section_entered_at: int | None = None
    thread_source: ThreadSource | None = None


class ThreadArchiveParams(WireModel):
    thread_id: str


class ThreadArchiveResponse(WireModel):
    """The empty ``ThreadArchiveResponse`` object."""


class ThreadArchivedNotification(WireModel):
    thread_id: str


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


class ThreadSessionResponse(WireModel):
    """The members ``thread/start``, ``thread/resume`` and ``thread/fork`` answers share:
    the thread and the settings it runs with."""

    approval_policy: AskForApproval
    approvals_reviewer: ApprovalsReviewer
    cwd: AbsolutePathBuf
    model: str
    model_provider: str
    sandbox: SandboxPolicy
    thread: Thread
    disabled_plugin_ids: list[str] = Field(default_factory=list)
    instruction_sources: list[LegacyAppPathString] = Field(default_factory=list)
    reasoning_effort: ReasoningEffort | None = None
    service_tier: str | None = None


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


ThreadListCwdFilter = str | list[str]


ThreadSortKey = Literal["created_at", "updated_at", "recency_at", "section_position"]


ThreadSourceKind = Literal[
    "cli",
    "vscode",
    "exec",
    "appServer",
    "subAgent",
    "subAgentReview",
    "subAgentCompact",
    "subAgentThreadSpawn",
    "subAgentOther",
    "unknown",
]


class ThreadListParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"current_account_only", "use_state_db_only"}
    )
    archived: bool | None = None
    current_account_only: bool | None = None
    cursor: str | None = None
    cwd: ThreadListCwdFilter | None = None
    excluded_thread_ids: list[str] | None = None
    included_thread_ids: list[str] | None = None
    """0.171: only these threads (an empty list matches none)."""
    limit: int | None = None
    model_providers: list[str] | None = None
    originators: list[str] | None = None
    search_term: str | None = None
    section_id: str | None = None
    sort_direction: SortDirection | None = None
    sort_key: ThreadSortKey | None = None
    source_kinds: list[ThreadSourceKind] | None = None
    use_state_db_only: bool | None = None


class ThreadListResponse(WireModel):
    data: list[Thread]
    backwards_cursor: str | None = None
    next_cursor: str | None = None


class ThreadLoadedListParams(WireModel):
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=0)


class ThreadLoadedListResponse(WireModel):
    data: list[str]
    next_cursor: str | None = None


class ThreadNameUpdatedNotification(WireModel):
    thread_id: str
    thread_name: str | None = None


class ThreadReadParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"include_turns"})
    thread_id: str
    include_turns: bool | None = None


class ThreadReadResponse(WireModel):
    thread: Thread


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


class ThreadSetNameParams(WireModel):
    name: str
    thread_id: str


class ThreadSetNameResponse(WireModel):
    """The empty ``ThreadSetNameResponse`` object."""


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


class ThreadStatusChangedNotification(WireModel):
    thread_id: str
    status: ThreadStatus


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


class ThreadUnarchiveParams(WireModel):
    thread_id: str


class ThreadUnarchiveResponse(WireModel):
    thread: Thread


class ThreadUnarchivedNotification(WireModel):
    thread_id: str


class ThreadUnsubscribeParams(WireModel):
    thread_id: str


ThreadUnsubscribeStatus = Literal["notLoaded", "notSubscribed", "unsubscribed"]


class ThreadUnsubscribeResponse(WireModel):
    status: ThreadUnsubscribeStatus


__all__ = [
    "ActiveThreadStatus", "AgentPath", "ContextCompactedNotification", "CustomSessionSource",
    "GitInfo", "IdleThreadStatus", "ItemThreadItemsListAnchor", "NotLoadedThreadStatus",
    "OtherSubAgentSource", "SessionSource", "SubAgentSessionSource", "SubAgentSource",
    "SystemErrorThreadStatus", "Thread", "ThreadActiveFlag", "ThreadArchiveParams",
    "ThreadArchiveResponse", "ThreadArchivedNotification", "ThreadClosedNotification",
    "ThreadCompactStartParams", "ThreadCompactStartResponse", "ThreadDeleteParams",
    "ThreadDeleteResponse", "ThreadDeletedNotification", "ThreadForkParams",
    "ThreadForkResponse", "ThreadGoalClearedNotification", "ThreadHistoryMode",
    "ThreadInjectItemsParams", "ThreadInjectItemsResponse", "ThreadItemEntry",
    "ThreadItemOutputDeferral", "ThreadItemsListAnchor", "ThreadItemsListCursor",
    "ThreadItemsListParams", "ThreadItemsListResponse", "ThreadListCwdFilter",
    "ThreadListParams", "ThreadListResponse", "ThreadLoadedListParams",
    "ThreadLoadedListResponse", "ThreadNameUpdatedNotification", "ThreadReadParams",
    "ThreadReadResponse", "ThreadReadState", "ThreadReadStateChangedNotification",
    "ThreadResumeInitialTurnsPageParams", "ThreadResumeParams", "ThreadResumeResponse", "ThreadSection", "ThreadSectionAppearance",
    "ThreadSetNameParams", "ThreadSetNameResponse", "ThreadSortKey", "ThreadSource",
    "ThreadSourceKind", "ThreadSpawnDetails", "ThreadSpawnSubAgentSource", "ThreadStartParams",
    "ThreadStartResponse", "ThreadStartSource", "ThreadStartThreadUnreadPosition",
    "ThreadStartedNotification", "ThreadStatus", "ThreadStatusChangedNotification",
    "ThreadTurnsListParams", "ThreadTurnsListResponse", "ThreadUnarchiveParams",
    "ThreadUnarchiveResponse", "ThreadUnarchivedNotification", "ThreadUnreadPosition",
    "ThreadUnsubscribeParams", "ThreadUnsubscribeResponse", "ThreadUnsubscribeStatus",
    "TurnThreadUnreadPosition", "TurnsPage",
]
