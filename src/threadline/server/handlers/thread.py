"""``thread/*`` handlers: start, resume, fork, unsubscribe, inject items, the loaded list,
rollback, memory mode and the elicitation pause.

Listing, reading, naming and archiving (threads loaded or not) are in
:mod:`threadline.server.handlers.thread_meta`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from threadline.core.errors import InvalidRequest
from threadline.core.manager import StartOptions
from threadline.core.stored import pause_collector
from threadline.core.thread import Thread
from threadline.protocol import codes
from threadline.protocol.items import ResponseItem, parse_response_item
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.extensions import (
    ThreadElicitationParams,
    ThreadElicitationResponse,
    ThreadMemoryModeSetParams,
    ThreadMemoryModeSetResponse,
    ThreadRollbackParams,
    ThreadRollbackResponse,
)
from threadline.protocol.v2.settings import CollaborationMode, Settings
from threadline.protocol.v2.thread import ThreadStatusChangedNotification
from threadline.protocol.v2.thread_ops import (
    ThreadForkParams,
    ThreadForkResponse,
    ThreadInjectItemsParams,
    ThreadInjectItemsResponse,
    ThreadLoadedListParams,
    ThreadLoadedListResponse,
    ThreadResumeParams,
    ThreadResumeResponse,
    ThreadStartedNotification,
    ThreadStartParams,
    ThreadStartResponse,
    ThreadTurnsListParams,
    ThreadUnsubscribeParams,
    ThreadUnsubscribeResponse,
    TurnsPage,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError, format_validation_error
from threadline.server.handlers.common import Runtime, session_response, wire_thread
from threadline.server.handlers.goals import goal_notification
from threadline.server.handlers.history import newest_cursors, thread_turns_list

__all__ = [
    "thread_decrement_elicitation",
    "thread_fork",
    "thread_increment_elicitation",
    "thread_inject_items",
    "thread_loaded_list",
    "thread_memory_mode_set",
    "thread_resume",
    "thread_rollback",
    "thread_start",
    "thread_unsubscribe",
]


async def thread_start(
    rt: Runtime, ctx: RequestContext, p: ThreadStartParams
) -> ThreadStartResponse:
    approval = p.approval_policy if isinstance(p.approval_policy, str) else None
    thread = rt.manager.start_thread(
        StartOptions(
            cwd=p.cwd,
            model=p.model,
            model_provider=p.model_provider,
            approval_policy=approval,
            approvals_reviewer=p.approvals_reviewer,
            sandbox_mode=p.sandbox,
            personality=p.personality,
            service_tier=p.service_tier,
            base_instructions=p.base_instructions,
            developer_instructions=p.developer_instructions,
            ephemeral=bool(p.ephemeral),
            persist_extended_history=bool(p.persist_extended_history),
            source="vscode",
            originator=ctx.client_name or "threadline",
            dynamic_tools=tuple(p.dynamic_tools) if p.dynamic_tools is not None else None,
        )
    )
    try:
        await thread.mcp.require()  # a required MCP server that fails fails thread/start
    except InvalidRequest:
        await rt.manager.unload(thread.id)
        raise
    if ctx.client_name:
        thread.set_app_server_client_info(ctx.client_name, ctx.client_version or "")
    rt.router.subscribe(ctx.connection_id, thread.id)
    wire = wire_thread(thread, include_turns=False)
    started = dump_wire(ThreadStartedNotification(thread=wire))
    ctx.after_response(lambda: ctx.send_notification("thread/started", started) and None)
    return session_response(ThreadStartResponse, thread, wire)


def _overrides(p: ThreadResumeParams | ThreadForkParams, ctx: RequestContext) -> StartOptions:
    approval = p.approval_policy if isinstance(p.approval_policy, str) else None
    return StartOptions(
        cwd=p.cwd,
        model=p.model,
        model_provider=p.model_provider,
        approval_policy=approval,
        approvals_reviewer=p.approvals_reviewer,
        sandbox_mode=p.sandbox,
        personality=p.personality if isinstance(p, ThreadResumeParams) else None,
        service_tier=p.service_tier,
        base_instructions=p.base_instructions,
        developer_instructions=p.developer_instructions,
        persist_extended_history=bool(p.persist_extended_history),
        originator=ctx.client_name or "threadline",
    )


def _usage_owner(rt: Runtime, thread: Thread) -> str | None:
    """The turn the replayed usage belongs to; never a running turn."""
    owner = rt.manager.usage_owner(thread.id)
    active = thread.active.id if thread.active is not None else None
    known = {t.id for t in thread.turns}
    if owner is not None and owner != active and owner in known:
        return owner
    for turn in reversed(thread.turns):
        if turn.id != active and turn.status in ("completed", "failed", "interrupted"):
            return turn.id
    return None


def _send_usage_replay(rt: Runtime, ctx: RequestContext, thread: Thread) -> None:
    """``thread/tokenUsage/updated`` with the restored snapshot, to the requester only."""
    info = thread.token_usage_info()
    owner = _usage_owner(rt, thread)
    if info is None or owner is None:
        return
    from threadline.server.translate import token_usage_params  # after the answer: the event table

    ctx.send_notification("thread/tokenUsage/updated", token_usage_params(thread.id, owner, info))


async def _resume_extras(
    rt: Runtime, ctx: RequestContext, p: ThreadResumeParams, thread: Thread
) -> dict[str, Any]:
    """The members of Codex's resume answer beyond the shared ones: the collaboration
    mode, the workspace roots, the backwards cursors of paged history and, when asked
    for, the first turns page."""
    s = thread.settings
    history = await rt.manager.turn_history(thread.id)
    turns_cursor, items_cursor = await newest_cursors(history, thread.id)
    extras: dict[str, Any] = {
        "collaboration_mode": CollaborationMode(
            mode="default",
            settings=Settings(
                model=s.model,
                reasoning_effort=s.reasoning_effort,
                developer_instructions=s.developer_instructions,
            ),
        ),
        "runtime_workspace_roots": [s.cwd],
        "turns_backwards_cursor": turns_cursor,
        "items_backwards_cursor": items_cursor,
    }
    first = p.initial_turns_page
    if first is not None:
        page = await thread_turns_list(
            rt,
            ctx,
            ThreadTurnsListParams(
                thread_id=thread.id,
                limit=first.limit,
                sort_direction=first.sort_direction,
                items_view=first.items_view,
            ),
        )
        extras["initial_turns_page"] = TurnsPage(
            data=page.data, next_cursor=page.next_cursor, backwards_cursor=page.backwards_cursor
        )
    return extras


async def thread_resume(
    rt: Runtime, ctx: RequestContext, p: ThreadResumeParams
) -> ThreadResumeResponse:
    release = pause_collector()  # until the answer is serialized (see pause_collector)
    try:
        response = await _resume(rt, ctx, p)
    except BaseException:
        release()
        raise
    ctx.after_response(_settle_first_load(release))
    return response


_first_load_settled = False


def _settle_first_load(release: Callable[[], None]) -> Callable[[], None]:
    """``release`` (the end of a resume's or fork's collector pause), preceded the first
    time by a freeze of the heap.

    A process's first resume or fork builds, on first use, the validators and serializers
    of the thread, turn and item models, the thread's settings, session and tools
    factory: tens of thousands of objects that live as long as the process. The pause
    freezes only a big load's heap (``store.gc_pause``), so after a small first resume
    the next young collection walked them all (3-4 ms) and the older one in its first
    turn walked them again (about 10 ms before ``turn/started``). Frozen, as the start's
    heap is (``cli.serve.settle_heap``), they are out of the collector's way. Only once:
    a freeze also keeps whatever reference cycles other work has alive at that moment, so
    later (warm) resumes leave the heap to the collector."""

    def settle() -> None:
        global _first_load_settled
        if not _first_load_settled:
            _first_load_settled = True
            gc.freeze()  # while still paused: the release then finds nothing young to walk
        release()

    return settle


async def _resume(
    rt: Runtime, ctx: RequestContext, p: ThreadResumeParams
) -> ThreadResumeResponse:
    loaded = rt.manager.find(p.thread_id) if p.thread_id else None
    cold = loaded is None
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
        history = _response_items(p.history, "history") if p.history is not None else None
        thread = await rt.manager.resume_thread(
            p.thread_id or None,
            path=p.path,
            history=history,
            overrides=_overrides(p, ctx),
            exclude_turns=bool(p.exclude_turns),
        )
    if ctx.client_name:
        thread.set_app_server_client_info(ctx.client_name, ctx.client_version or "")
    rt.router.subscribe(ctx.connection_id, thread.id)
    wire = wire_thread(thread, include_turns=False)
    if not p.exclude_turns:  # with the items of turns an earlier excludeTurns resume left unread
        wire = wire.model_copy(update={"turns": await rt.manager.full_turns(thread)})
    extras = await _resume_extras(rt, ctx, p, thread)
    if cold:  # as Codex: every connection learns the thread is loaded, before the answer
        status = ThreadStatusChangedNotification(thread_id=thread.id, status=wire.status)
        rt.broadcast("thread/status/changed", dump_wire(status))
    goal_method, goal_note = await goal_notification(rt, thread.id)

    def after() -> None:
        _send_usage_replay(rt, ctx, thread)
        rt.broadcast(goal_method, goal_note)
        rt.router.resend_pending_approvals(ctx.connection_id, thread.id)
        # A turn cut off by a restart while it waited on a client goes on now: its
        # question reaches this connection (now subscribed) after the response.
        rt.manager.continue_cut_off_turn(thread)

    ctx.after_response(after)
    return session_response(ThreadResumeResponse, thread, wire).model_copy(update=extras)


async def thread_fork(rt: Runtime, ctx: RequestContext, p: ThreadForkParams) -> ThreadForkResponse:
    release = pause_collector()  # until the answer is serialized (see pause_collector)
    try:
        response = await _fork(rt, ctx, p)
    except BaseException:
        release()
        raise
    ctx.after_response(_settle_first_load(release))
    return response


async def _fork(rt: Runtime, ctx: RequestContext, p: ThreadForkParams) -> ThreadForkResponse:
    thread = await rt.manager.fork_thread(
        p.thread_id or None,
        path=p.path or None,
        overrides=_overrides(p, ctx),
        ephemeral=bool(p.ephemeral),
    )
    rt.router.subscribe(ctx.connection_id, thread.id)
    include = not p.exclude_turns
    wire = wire_thread(thread, include_turns=include)
    # As Codex: the announcement carries no turns (the answer has them), whatever the fork.
    started = dump_wire(ThreadStartedNotification(thread=wire.model_copy(update={"turns": []})))

    def after() -> None:
        if include:
            _send_usage_replay(rt, ctx, thread)
        rt.broadcast("thread/started", started)

    ctx.after_response(after)
    return session_response(ThreadForkResponse, thread, wire)


async def thread_unsubscribe(
    rt: Runtime, ctx: RequestContext, p: ThreadUnsubscribeParams
) -> ThreadUnsubscribeResponse:
    if rt.manager.find(p.thread_id) is None:
        return ThreadUnsubscribeResponse(status="notLoaded")
    ok = rt.router.unsubscribe(ctx.connection_id, p.thread_id)
    return ThreadUnsubscribeResponse(status="unsubscribed" if ok else "notSubscribed")


def _response_items(raw: list[Any], member: str) -> list[ResponseItem]:
    """Model items from the client; one that is not a response item is refused by index."""
    items: list[ResponseItem] = []
    for n, value in enumerate(raw):
        try:
            items.append(parse_response_item(value))
        except ValidationError as exc:
            problem = format_validation_error(exc, value)
            raise RpcError(codes.INVALID_REQUEST, f"{member}[{n}]: {problem}") from None
    return items


async def thread_inject_items(
    rt: Runtime, ctx: RequestContext, p: ThreadInjectItemsParams
) -> ThreadInjectItemsResponse:
    thread = rt.manager.get(p.thread_id)
    items = _response_items(p.items, "items")
    await thread.inject_response_items(items)
    return ThreadInjectItemsResponse()


async def thread_loaded_list(
    rt: Runtime, ctx: RequestContext, p: ThreadLoadedListParams
) -> ThreadLoadedListResponse:
    ids = rt.manager.list_loaded()
    start = 0
    if p.cursor is not None and p.cursor in ids:
        start = ids.index(p.cursor) + 1
    page = ids[start:] if p.limit is None else ids[start : start + p.limit]
    more = p.limit is not None and start + len(page) < len(ids)
    return ThreadLoadedListResponse(data=page, next_cursor=page[-1] if more and page else None)


async def thread_rollback(
    rt: Runtime, ctx: RequestContext, p: ThreadRollbackParams
) -> ThreadRollbackResponse:
    if rt.manager.find(p.thread_id) is None:
        raise InvalidRequest(f"thread not found: {p.thread_id}")
    thread = await rt.manager.rollback_thread(p.thread_id, p.num_turns)
    return ThreadRollbackResponse(thread=wire_thread(thread, include_turns=True))


async def thread_memory_mode_set(
    rt: Runtime, ctx: RequestContext, p: ThreadMemoryModeSetParams
) -> ThreadMemoryModeSetResponse:
    await rt.manager.set_memory_mode(p.thread_id, p.mode)
    return ThreadMemoryModeSetResponse()


async def thread_increment_elicitation(
    rt: Runtime, ctx: RequestContext, p: ThreadElicitationParams
) -> ThreadElicitationResponse:
    count = rt.manager.get(p.thread_id).increment_elicitation()
    return ThreadElicitationResponse(count=count, paused=count > 0)


async def thread_decrement_elicitation(
    rt: Runtime, ctx: RequestContext, p: ThreadElicitationParams
) -> ThreadElicitationResponse:
    count = rt.manager.get(p.thread_id).decrement_elicitation()
    return ThreadElicitationResponse(count=count, paused=count > 0)


# This module is the thread area's first import (``handlers._module`` pauses the collector
# while an area imports). It brings the thread code (setup, session, settings, the thread
# wire types): objects that live as long as the process, which the pause leaves young
# (it freezes only a big load's heap). Frozen here, with the start's heap, the young
# collection the first resume's parameters set off does not walk them (about 8 ms).
gc.freeze()
