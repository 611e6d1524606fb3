"""``thread/*`` handlers for live threads: start, unsubscribe, inject items, elicitation pause."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from threadline.core.manager import StartOptions
from threadline.protocol.items import parse_response_item
from threadline.protocol.v2.common import WireModel, dump_wire
from threadline.protocol.v2.thread import (
    ThreadInjectItemsParams,
    ThreadStartParams,
    ThreadUnsubscribeParams,
)
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers.common import (
    Runtime,
    core_errors,
    thread_settings_response,
    wire_thread,
)


class ThreadStartParamsExt(ThreadStartParams):
    """``thread/start`` params plus ``persistExtendedHistory`` (accepted by Codex, not in its schema)."""

    persist_extended_history: bool | None = None


class ElicitationParams(WireModel):
    thread_id: str


class _Unused(WireModel):
    extra: dict[str, Any] = Field(default_factory=dict)


def register_threads(table: MethodTable, rt: Runtime) -> None:
    @core_errors
    async def start(ctx: RequestContext, p: ThreadStartParamsExt) -> dict[str, Any]:
        conn = ctx.connection
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
                originator=conn.client_name or "threadline",
            )
        )
        if conn.client_name:
            thread.set_app_server_client_info(conn.client_name, conn.client_version or "")
        rt.router.subscribe(conn, thread.id)
        wire = dump_wire(wire_thread(thread, include_turns=False))
        ctx.after_response(lambda: conn.send_notification("thread/started", {"thread": wire}) and None)
        return {"thread": wire, **thread_settings_response(thread)}

    async def unsubscribe(ctx: RequestContext, p: ThreadUnsubscribeParams) -> dict[str, Any]:
        if rt.manager.find(p.thread_id) is None:
            return {"status": "notLoaded"}
        ok = rt.router.unsubscribe(ctx.connection, p.thread_id)
        return {"status": "unsubscribed" if ok else "notSubscribed"}

    @core_errors
    async def inject_items(ctx: RequestContext, p: ThreadInjectItemsParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        items = [parse_response_item(raw) for raw in p.items]
        await thread.inject_response_items(items)
        return {}

    @core_errors
    async def increment(ctx: RequestContext, p: ElicitationParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        count = thread.increment_elicitation()
        return {"count": count, "paused": count > 0}

    @core_errors
    async def decrement(ctx: RequestContext, p: ElicitationParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        count = thread.decrement_elicitation()
        return {"count": count, "paused": count > 0}

    table.register("thread/start", ThreadStartParamsExt, start)
    table.register("thread/unsubscribe", ThreadUnsubscribeParams, unsubscribe)
    table.register("thread/inject_items", ThreadInjectItemsParams, inject_items)
    table.register("thread/increment_elicitation", ElicitationParams, increment)
    table.register("thread/decrement_elicitation", ElicitationParams, decrement)
