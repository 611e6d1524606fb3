"""``thread/*`` handlers backed by the rollouts: resume, fork, list, read, name, archive,
memory mode and rollback."""

from __future__ import annotations

from typing import Any

from threadline.core.errors import InvalidRequest
from threadline.core.manager import StartOptions
from threadline.core.persistence import MAX_LIST_LIMIT, ListQuery, ThreadRecord
from threadline.core.thread import Thread
from threadline.protocol.items import parse_response_item
from threadline.protocol.v2.common import WireModel, dump_wire
from threadline.protocol.v2.thread import (
    GitInfo,
    NotLoadedThreadStatus,
    ThreadArchiveParams,
    ThreadForkParams,
    ThreadListParams,
    ThreadReadParams,
    ThreadResumeParams,
    ThreadSetNameParams,
    ThreadUnarchiveParams,
)
from threadline.protocol.v2.thread import Thread as WireThread
from threadline.server.connection import Connection
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers.common import (
    Runtime,
    core_errors,
    thread_settings_response,
    wire_status,
    wire_thread,
)
from threadline.server.translate import token_usage_params

INTERACTIVE_SOURCES = ("cli", "vscode", "atlas", "chatgpt")

MAX_THREAD_NAME_CHARS = 1024
"""Longest accepted ``thread/name/set`` name, in characters, after trimming.

Codex 0.169 sets no limit; a name is a title shown in thread lists, and every rename
is appended to the rollout and to ``session_index.jsonl``, so an unbounded one would
let a client grow both by megabytes per request."""


def check_thread_name(name: str) -> str:
    """The name ``thread/name/set`` stores: trimmed, not empty (Codex's own check and
    wording), without NUL characters and at most :data:`MAX_THREAD_NAME_CHARS` long.
    Anything else is ``-32600`` naming the field."""
    clean = name.strip()
    if not clean:
        raise InvalidRequest("thread name must not be empty")
    if "\x00" in clean:
        raise InvalidRequest("Invalid request: `name` must not contain NUL (U+0000) characters")
    if len(clean) > MAX_THREAD_NAME_CHARS:
        raise InvalidRequest(
            f"Invalid request: `name` is {len(clean)} characters long; "
            f"at most {MAX_THREAD_NAME_CHARS} are allowed"
        )
    return clean
"""What ``thread/list`` shows when ``sourceKinds`` is omitted or empty (as Codex does)."""


class ThreadResumeParamsExt(ThreadResumeParams):
    """``thread/resume`` params plus the fields Codex accepts beyond its generated schema."""

    path: str | None = None
    history: list[Any] | None = None
    persist_extended_history: bool | None = None


class ThreadForkParamsExt(ThreadForkParams):
    path: str | None = None
    persist_extended_history: bool | None = None


class ThreadMemoryModeSetParams(WireModel):
    thread_id: str
    mode: str


class ThreadRollbackParams(WireModel):
    thread_id: str
    num_turns: int


def _approval(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _overrides(p: ThreadResumeParamsExt | ThreadForkParamsExt, conn: Connection) -> StartOptions:
    personality = getattr(p, "personality", None)
    return StartOptions(
        cwd=p.cwd,
        model=p.model,
        model_provider=p.model_provider,
        approval_policy=_approval(p.approval_policy),
        approvals_reviewer=p.approvals_reviewer,
        sandbox_mode=p.sandbox,
        personality=personality,
        service_tier=p.service_tier,
        base_instructions=p.base_instructions,
        developer_instructions=p.developer_instructions,
        persist_extended_history=bool(p.persist_extended_history),
        originator=conn.client_name or "threadline",
    )


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


def _broadcast(rt: Runtime, method: str, params: dict[str, Any]) -> None:
    rt.router.server.broadcast(method, params)


_SOURCES = frozenset({"cli", "vscode", "exec", "appServer", "unknown"})


def register_persistence(table: MethodTable, rt: Runtime) -> None:
    manager = rt.manager

    def owner_for(thread: Thread) -> str | None:
        """The turn the replayed usage belongs to; never a running turn."""
        owner = manager.usage_owner(thread.id)
        active = thread.active.id if thread.active is not None else None
        known = {t.id for t in thread.turns}
        if owner is not None and owner != active and owner in known:
            return owner
        for turn in reversed(thread.turns):
            if turn.id != active and turn.status in ("completed", "failed", "interrupted"):
                return turn.id
        return None

    def send_replay(conn: Connection, thread: Thread) -> None:
        info = thread.token_usage_info()
        owner = owner_for(thread)
        if info is None or owner is None:
            return
        conn.send_notification(
            "thread/tokenUsage/updated", token_usage_params(thread.id, owner, info)
        )

    @core_errors
    async def resume(ctx: RequestContext, p: ThreadResumeParamsExt) -> dict[str, Any]:
        conn = ctx.connection
        loaded = manager.find(p.thread_id) if p.thread_id else None
        if loaded is not None:
            if p.history:
                raise InvalidRequest(
                    f"cannot resume thread {loaded.id} with history while it is already running"
                )
            active_path = loaded.rollout_path()
            if p.path and (active_path is None or str(active_path) != p.path):
                raise InvalidRequest(
                    f"cannot resume running thread {loaded.id} with mismatched path: "
                    f"requested `{p.path}`, active `{active_path}`"
                )
            thread = loaded
        else:
            history = [parse_response_item(raw) for raw in p.history] if p.history is not None else None
            thread = await manager.resume_thread(
                p.thread_id or None, path=p.path, history=history, overrides=_overrides(p, conn)
            )
        if conn.client_name:
            thread.set_app_server_client_info(conn.client_name, conn.client_version or "")
        rt.router.subscribe(conn, thread.id)
        include = not p.exclude_turns
        wire = dump_wire(wire_thread(thread, include_turns=include))

        def after() -> None:
            send_replay(conn, thread)
            rt.router.resend_pending_approvals(conn, thread.id)

        ctx.after_response(after)
        return {"thread": wire, **thread_settings_response(thread)}

    @core_errors
    async def fork(ctx: RequestContext, p: ThreadForkParamsExt) -> dict[str, Any]:
        conn = ctx.connection
        thread = await manager.fork_thread(
            p.thread_id or None,
            path=p.path or None,
            overrides=_overrides(p, conn),
            ephemeral=bool(p.ephemeral),
        )
        rt.router.subscribe(conn, thread.id)
        include = not p.exclude_turns
        wire = dump_wire(wire_thread(thread, include_turns=include))
        started = dict(wire)
        if thread.settings.ephemeral:
            started["turns"] = []

        def after() -> None:
            if include:
                send_replay(conn, thread)
            rt.router.server.broadcast("thread/started", {"thread": started})

        ctx.after_response(after)
        return {"thread": wire, **thread_settings_response(thread)}

    @core_errors
    async def list_threads(ctx: RequestContext, p: ThreadListParams) -> dict[str, Any]:
        limit = p.limit if p.limit is not None else 25
        limit = max(1, min(MAX_LIST_LIMIT, limit))
        sort_key = p.sort_key or "created_at"
        if sort_key not in ("created_at", "updated_at"):
            raise InvalidRequest(f"unsupported sortKey `{sort_key}`; expected created_at or updated_at")
        if p.model_providers is None:
            providers: tuple[str, ...] | None = (manager.default_provider_id(),)
        elif p.model_providers:
            providers = tuple(p.model_providers)
        else:
            providers = None
        kinds = tuple(p.source_kinds) if p.source_kinds else INTERACTIVE_SOURCES
        cwds: tuple[str, ...] | None
        if p.cwd is None:
            cwds = None
        elif isinstance(p.cwd, str):
            cwds = (p.cwd,)
        else:
            cwds = tuple(p.cwd)
        try:
            page = await manager.list_threads(
                ListQuery(
                    limit=limit,
                    cursor=p.cursor,
                    sort_key=sort_key,  # type: ignore[arg-type]
                    sort_direction=p.sort_direction or "desc",
                    model_providers=providers,
                    source_kinds=kinds,
                    archived=bool(p.archived),
                    cwds=cwds,
                    search_term=p.search_term or None,
                    excluded_ids=tuple(p.excluded_thread_ids or ()),
                )
            )
        except Exception as exc:
            message = getattr(exc, "message", None)
            if isinstance(message, str):
                raise InvalidRequest(message) from exc
            raise
        data = [dump_wire(wire_record(r, manager.find(r.id))) for r in page.records]
        return {"data": data, "nextCursor": page.next_cursor, "backwardsCursor": page.backwards_cursor}

    @core_errors
    async def read(ctx: RequestContext, p: ThreadReadParams) -> dict[str, Any]:
        include = bool(p.include_turns)
        record, turns = await manager.read_thread(p.thread_id, include_turns=include)
        loaded = manager.find(record.id)
        wire = wire_record(record, loaded)
        wire = wire.model_copy(
            update={
                "turns": turns,
                "forked_from_id": loaded.forked_from_id if loaded else record.forked_from_id,
            }
        )
        return {"thread": dump_wire(wire)}

    @core_errors
    async def set_name(ctx: RequestContext, p: ThreadSetNameParams) -> dict[str, Any]:
        name = check_thread_name(p.name)
        await manager.set_thread_name(p.thread_id, name)
        params = {"threadId": p.thread_id, "threadName": name}
        ctx.after_response(lambda: _broadcast(rt, "thread/name/updated", params))
        return {}

    @core_errors
    async def archive(ctx: RequestContext, p: ThreadArchiveParams) -> dict[str, Any]:
        if manager.find(p.thread_id) is not None:
            rt.router.server.broadcast(
                "thread/status/changed", {"threadId": p.thread_id, "status": {"type": "notLoaded"}}
            )
        await manager.archive_thread(p.thread_id)
        rt.router.detach(p.thread_id)
        params = {"threadId": p.thread_id}
        ctx.after_response(lambda: _broadcast(rt, "thread/archived", params))
        return {}

    @core_errors
    async def unarchive(ctx: RequestContext, p: ThreadUnarchiveParams) -> dict[str, Any]:
        record = await manager.unarchive_thread(p.thread_id)
        wire = dump_wire(wire_record(record, None))
        params = {"threadId": p.thread_id}
        ctx.after_response(lambda: _broadcast(rt, "thread/unarchived", params))
        return {"thread": wire}

    @core_errors
    async def memory_mode(ctx: RequestContext, p: ThreadMemoryModeSetParams) -> dict[str, Any]:
        await manager.set_memory_mode(p.thread_id, p.mode)
        return {}

    @core_errors
    async def rollback(ctx: RequestContext, p: ThreadRollbackParams) -> dict[str, Any]:
        if manager.find(p.thread_id) is None:
            raise InvalidRequest(f"thread not found: {p.thread_id}")
        thread = await manager.rollback_thread(p.thread_id, p.num_turns)
        return {"thread": dump_wire(wire_thread(thread, include_turns=True))}

    table.register("thread/resume", ThreadResumeParamsExt, resume)
    table.register("thread/fork", ThreadForkParamsExt, fork)
    table.register("thread/list", ThreadListParams, list_threads)
    table.register("thread/read", ThreadReadParams, read)
    table.register("thread/name/set", ThreadSetNameParams, set_name)
    table.register("thread/archive", ThreadArchiveParams, archive)
    table.register("thread/unarchive", ThreadUnarchiveParams, unarchive)
    table.register("thread/memoryMode/set", ThreadMemoryModeSetParams, memory_mode)
    table.register("thread/rollback", ThreadRollbackParams, rollback)
