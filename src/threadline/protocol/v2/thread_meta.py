"""The ``thread/*`` wire types of read, name, archive and unarchive, the thread status and
name notes, and what the start, resume and fork answers share (``ThreadSessionResponse``).

Apart from ``protocol/v2/thread.py`` (the ``Thread`` object and ``thread/list``'s types) so
that a client's first list, usually its first request, neither creates nor builds these;
``protocol.v2.thread`` still names them, imported on first use. Generated from the Codex
0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import ClassVar

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.settings import (
    AbsolutePathBuf,
    ApprovalsReviewer,
    AskForApproval,
    LegacyAppPathString,
    ReasoningEffort,
    SandboxPolicy,
)
from threadline.protocol.v2.thread import Thread, ThreadStatus


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
    "ThreadArchiveParams",
    "ThreadArchiveResponse",
    "ThreadArchivedNotification",
    "ThreadNameUpdatedNotification",
    "ThreadReadParams",
    "ThreadReadResponse",
    "ThreadSessionResponse",
    "ThreadSetNameParams",
    "ThreadSetNameResponse",
    "ThreadStatusChangedNotification",
    "ThreadUnarchiveParams",
    "ThreadUnarchiveResponse",
    "ThreadUnarchivedNotification",
]
