"""Helpers shared by the thread and turn handlers: error mapping and wire builders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from threadline.core.errors import CoreError, ThreadNotFound
from threadline.core.manager import ThreadManager
from threadline.core.thread import Thread
from threadline.protocol import codes
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.settings import (
    DangerFullAccessSandboxPolicy,
    ReadOnlySandboxPolicy,
    SandboxPolicy,
    WorkspaceWriteSandboxPolicy,
)
from threadline.protocol.v2.thread import (
    ActiveThreadStatus,
    IdleThreadStatus,
    SystemErrorThreadStatus,
    ThreadStatus,
)
from threadline.protocol.v2.thread import Thread as WireThread
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.router import ThreadRouter

P = TypeVar("P")
R = TypeVar("R")


def core_errors(
    fn: Callable[[RequestContext, P], Awaitable[R]],
) -> Callable[[RequestContext, P], Awaitable[R]]:
    """Map core errors to JSON-RPC ``-32600`` with the core's message and structured data."""

    @wraps(fn)
    async def wrapper(ctx: RequestContext, params: P) -> R:
        try:
            return await fn(ctx, params)
        except CoreError as exc:
            raise RpcError(codes.INVALID_REQUEST, exc.message, exc.data) from exc

    return wrapper


class Runtime:
    """What the handlers share: the thread manager and the event router."""

    def __init__(self, manager: ThreadManager, router: ThreadRouter) -> None:
        self.manager = manager
        self.router = router

    def loaded(self, thread_id: str) -> Thread:
        thread = self.manager.find(thread_id)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread


def wire_status(thread: Thread) -> ThreadStatus:
    status = thread.agent_status()
    if status == "active":
        return ActiveThreadStatus(active_flags=thread.active_flags())  # type: ignore[arg-type]
    if status == "systemError":
        return SystemErrorThreadStatus()
    return IdleThreadStatus()


def sandbox_policy(mode: str) -> SandboxPolicy:
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


def thread_settings_response(thread: Thread) -> dict[str, Any]:
    """The fields ``thread/start``, ``thread/resume`` and ``thread/fork`` responses share."""
    s = thread.settings
    return {
        "model": s.model,
        "modelProvider": s.model_provider,
        "serviceTier": s.service_tier,
        "disabledPluginIds": [],
        "cwd": s.cwd,
        "instructionSources": [],
        "approvalPolicy": s.approval_policy,
        "approvalsReviewer": s.approvals_reviewer,
        "sandbox": dump_wire(sandbox_policy(s.sandbox_mode)),
        "reasoningEffort": s.reasoning_effort,
    }


def _version() -> str:
    from threadline import __version__

    return __version__
