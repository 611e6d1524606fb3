"""What the handlers share: the :class:`Runtime` (``handlers/runtime.py``) and the
builders of wire objects from live threads."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, TypeVar

from threadline.core.storage import ThreadRecord
from threadline.protocol.v2.thread import (
    ActiveThreadStatus,
    GitInfo,
    IdleThreadStatus,
    NotLoadedThreadStatus,
    SystemErrorThreadStatus,
    ThreadStatus,
)
from threadline.protocol.v2.thread import Thread as WireThread
from threadline.server.handlers.runtime import Runtime

if TYPE_CHECKING:  # core.thread loads with the first thread; the rest with the first start
    from threadline.core.thread import Thread
    from threadline.protocol.v2.settings import SandboxPolicy
    from threadline.protocol.v2.thread_meta import ThreadSessionResponse

__all__ = [
    "Runtime",
    "listed_thread",
    "sandbox_policy",
    "session_response",
    "wire_record",
    "wire_status",
    "wire_thread",
]


def wire_status(thread: Thread) -> ThreadStatus:
    status = thread.agent_status()
    if status == "active":
        return ActiveThreadStatus(active_flags=thread.active_flags())  # type: ignore[arg-type]
    if status == "systemError":
        return SystemErrorThreadStatus()
    return IdleThreadStatus()


def sandbox_policy(mode: str) -> SandboxPolicy:
    # Imported here: a list (whose handler module this is too) uses no setting type.
    from threadline.protocol.v2.settings import (
        DangerFullAccessSandboxPolicy,
        ReadOnlySandboxPolicy,
        WorkspaceWriteSandboxPolicy,
    )

    if mode == "danger-full-access":
        return DangerFullAccessSandboxPolicy()
    if mode == "read-only":
        return ReadOnlySandboxPolicy()
    return WorkspaceWriteSandboxPolicy()


def wire_thread(thread: Thread, *, include_turns: bool) -> WireThread:
    s = thread.settings
    path = thread.rollout_path()
    return WireThread(
        id=thread.id,
        session_id=thread.id,
        forked_from_id=thread.forked_from_id,
        preview=thread.preview,
        ephemeral=s.ephemeral,
        history_mode="legacy",
        model_provider=s.model_provider,
        model=s.model,
        reasoning_effort=s.reasoning_effort,
        created_at=int(thread.created_at),
        updated_at=int(thread.updated_at),
        recency_at=int(thread.updated_at),
        status=wire_status(thread),
        path=str(path) if path is not None else None,
        cwd=s.cwd,
        cli_version=_version(),
        originator=s.originator,
        source=s.session_source,  # type: ignore[arg-type]
        name=thread.name,
        turns=list(thread.turns) if include_turns else [],
    )


_SOURCES = frozenset({"cli", "vscode", "exec", "appServer", "unknown"})


def wire_record(record: ThreadRecord, loaded: Thread | None) -> WireThread:
    """A list/read entry built from an index row (``turns`` filled by the caller)."""
    git = record.git
    return WireThread(
        id=record.id,
        session_id=record.id,
        preview=record.preview,
        ephemeral=False,
        history_mode="legacy",
        model_provider=record.model_provider,
        model=record.model,
        reasoning_effort=record.reasoning_effort,  # type: ignore[arg-type]
        created_at=record.created_at_ms // 1000,
        updated_at=record.updated_at_ms // 1000,
        recency_at=record.updated_at_ms // 1000,
        status=wire_status(loaded) if loaded is not None else NotLoadedThreadStatus(),
        path=str(record.rollout_path),
        cwd=record.cwd,
        cli_version=record.cli_version,
        originator=record.originator or None,
        source=record.source if record.source in _SOURCES else "unknown",  # type: ignore[arg-type]
        name=record.name,
        forked_from_id=None,
        git_info=GitInfo(sha=git.sha, branch=git.branch, origin_url=git.origin_url) if git else None,
        turns=[],
    )


@functools.lru_cache(maxsize=1024)
def listed_thread(record: ThreadRecord) -> WireThread:
    """:func:`wire_record` of a thread that is not loaded, the same object for an equal
    record: a client lists the same newest threads again and again, and building the model
    is most of what a warm ``thread/list`` costs once its page is read (the index hands
    back the same record for an unchanged row, so the lookup finds it by identity). The
    object is shared, so only ``thread/list`` uses it, and it never changes one (a section
    is added to a copy, ``with_section``)."""
    return wire_record(record, None)


R = TypeVar("R", bound="ThreadSessionResponse")


def session_response(response: type[R], thread: Thread, wire: WireThread) -> R:
    """A ``thread/start``, ``thread/resume`` or ``thread/fork`` answer: ``wire`` and the
    settings ``thread`` runs with."""
    s = thread.settings
    return response(
        thread=wire,
        model=s.model,
        model_provider=s.model_provider,
        service_tier=s.service_tier,
        disabled_plugin_ids=[],
        cwd=s.cwd,
        instruction_sources=[],
        approval_policy=s.approval_policy,  # type: ignore[arg-type]
        approvals_reviewer=s.approvals_reviewer,  # type: ignore[arg-type]
        sandbox=sandbox_policy(s.sandbox_mode),
        reasoning_effort=s.reasoning_effort,  # type: ignore[arg-type]
    )


def _version() -> str:
    from threadline import __version__

    return __version__
