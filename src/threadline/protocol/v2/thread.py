"""Threads: the ``Thread`` object and its status, and the ``thread/*`` requests and
notifications a ``thread/list``'s handler module (``server/handlers/thread_meta.py``) names:
list, read, name, archive, unarchive. The other ``thread/*`` wire types (start, resume,
fork, the turn and item pages, ...) are in ``protocol/v2/thread_ops.py``, so that a
client's first list builds only these models.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.lazy_fields import LazyTurnList
from threadline.protocol.v2.settings import (
    AbsolutePathBuf,
    ApprovalsReviewer,
    AskForApproval,
    LegacyAppPathString,
    ReasoningEffort,
    SandboxPolicy,
    SortDirection,
    ThreadId,
)

AgentPath = str


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


class ThreadNameUpdatedNotification(WireModel):
    thread_id: str
    thread_name: str | None = None


class ThreadReadParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"include_turns"})
    thread_id: str
    include_turns: bool | None = None


class ThreadReadResponse(WireModel):
    thread: Thread


class ThreadSetNameParams(WireModel):
    name: str
    thread_id: str


class ThreadSetNameResponse(WireModel):
    """The empty ``ThreadSetNameResponse`` object."""


class ThreadStatusChangedNotification(WireModel):
    thread_id: str
    status: ThreadStatus


class ThreadUnarchiveParams(WireModel):
    thread_id: str


class ThreadUnarchiveResponse(WireModel):
    thread: Thread


class ThreadUnarchivedNotification(WireModel):
    thread_id: str


__all__ = [
    "ActiveThreadStatus", "AgentPath", "CustomSessionSource", "GitInfo", "IdleThreadStatus",
    "NotLoadedThreadStatus", "OtherSubAgentSource", "SessionSource", "SubAgentSessionSource",
    "SubAgentSource", "SystemErrorThreadStatus", "Thread", "ThreadActiveFlag",
    "ThreadArchiveParams", "ThreadArchiveResponse", "ThreadArchivedNotification",
    "ThreadHistoryMode", "ThreadListCwdFilter", "ThreadListParams", "ThreadListResponse",
    "ThreadNameUpdatedNotification", "ThreadReadParams", "ThreadReadResponse", "ThreadSection",
    "ThreadSectionAppearance", "ThreadSessionResponse", "ThreadSetNameParams",
    "ThreadSetNameResponse", "ThreadSortKey", "ThreadSource", "ThreadSourceKind",
    "ThreadSpawnDetails", "ThreadSpawnSubAgentSource", "ThreadStatus",
    "ThreadStatusChangedNotification", "ThreadUnarchiveParams", "ThreadUnarchiveResponse",
    "ThreadUnarchivedNotification",
]
