"""Threads: the ``Thread`` object, its status and sources, and ``thread/list``'s params and
answer: what a client's first request, usually a list, needs (``server/handlers/thread_list.py``).
The types of read, name, archive and unarchive, the status and name notes and
``ThreadSessionResponse`` are in ``protocol/v2/thread_meta.py``, and the other ``thread/*``
wire types (start, resume, fork, the turn and item pages, ...) in
``protocol/v2/thread_ops.py``; this module still names the first group (imported on first
use, :func:`__getattr__`), so a first list neither creates nor builds them.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

import importlib
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.lazy_fields import LazyTurnList

if TYPE_CHECKING:  # defined there, named here too (see __getattr__)
    from threadline.protocol.v2.thread_meta import (
        ThreadArchivedNotification as ThreadArchivedNotification,
    )
    from threadline.protocol.v2.thread_meta import ThreadArchiveParams as ThreadArchiveParams
    from threadline.protocol.v2.thread_meta import (
        ThreadArchiveResponse as ThreadArchiveResponse,
    )
    from threadline.protocol.v2.thread_meta import (
        ThreadNameUpdatedNotification as ThreadNameUpdatedNotification,
    )
    from threadline.protocol.v2.thread_meta import ThreadReadParams as ThreadReadParams
    from threadline.protocol.v2.thread_meta import ThreadReadResponse as ThreadReadResponse
    from threadline.protocol.v2.thread_meta import (
        ThreadSessionResponse as ThreadSessionResponse,
    )
    from threadline.protocol.v2.thread_meta import ThreadSetNameParams as ThreadSetNameParams
    from threadline.protocol.v2.thread_meta import (
        ThreadSetNameResponse as ThreadSetNameResponse,
    )
    from threadline.protocol.v2.thread_meta import (
        ThreadStatusChangedNotification as ThreadStatusChangedNotification,
    )
    from threadline.protocol.v2.thread_meta import (
        ThreadUnarchivedNotification as ThreadUnarchivedNotification,
    )
    from threadline.protocol.v2.thread_meta import (
        ThreadUnarchiveParams as ThreadUnarchiveParams,
    )
    from threadline.protocol.v2.thread_meta import (
        ThreadUnarchiveResponse as ThreadUnarchiveResponse,
    )

# The aliases of protocol.v2.settings this module's fields use, as they are defined there
# (tests/protocol/test_thread_meta_split.py checks it): importing settings would create its
# models (about 3 ms) in every first list, which needs none of them.
AbsolutePathBuf = str
ReasoningEffort = str
SortDirection = Literal["asc", "desc"]
ThreadId = str

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


_ELSEWHERE = frozenset({
    "ThreadArchiveParams", "ThreadArchiveResponse", "ThreadArchivedNotification",
    "ThreadNameUpdatedNotification", "ThreadReadParams", "ThreadReadResponse",
    "ThreadSessionResponse", "ThreadSetNameParams", "ThreadSetNameResponse",
    "ThreadStatusChangedNotification", "ThreadUnarchiveParams", "ThreadUnarchiveResponse",
    "ThreadUnarchivedNotification",
})
"""The public names of ``protocol.v2.thread_meta``: still looked up here (``from
threadline.protocol.v2.thread import ThreadReadParams``, the v2 package's re-exports)."""


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:  # by name: that module imports this one
        value = getattr(importlib.import_module("threadline.protocol.v2.thread_meta"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
