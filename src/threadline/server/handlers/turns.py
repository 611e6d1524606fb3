"""``turn/start``, ``turn/steer`` and ``turn/interrupt``."""

from __future__ import annotations

from typing import Any

from threadline.protocol.ops import TurnOverrides, UserTurn
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.turn import (
    Turn,
    TurnInterruptParams,
    TurnStartParams,
    TurnSteerParams,
)
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers.common import Runtime, core_errors


def _sandbox_mode(policy: Any) -> str | None:
    kind = getattr(policy, "type", None)
    return {
        "dangerFullAccess": "danger-full-access",
        "readOnly": "read-only",
        "workspaceWrite": "workspace-write",
    }.get(kind or "")


def register_turns(table: MethodTable, rt: Runtime) -> None:
    @core_errors
    async def start(ctx: RequestContext, p: TurnStartParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        approval = p.approval_policy if isinstance(p.approval_policy, str) else None
        op = UserTurn(
            items=list(p.input),
            overrides=TurnOverrides(
                cwd=p.cwd,
                model=p.model,
                approval_policy=approval,
                sandbox_mode=_sandbox_mode(p.sandbox_policy),
                reasoning_effort=p.effort,
                reasoning_summary=p.summary,
                personality=p.personality,
            ),
            client_user_message_id=p.client_user_message_id,
        )
        if ctx.connection.id not in {c.id for c in rt.router.subscribers(thread.id)}:
            rt.router.subscribe(ctx.connection, thread.id)
        turn_id, _started = thread.start_turn(op)
        turn = Turn(
            id=turn_id,
            root_turn_id=turn_id,
            items=[],
            items_view="notLoaded",
            status="inProgress",
        )
        return {"turn": dump_wire(turn)}

    @core_errors
    async def steer(ctx: RequestContext, p: TurnSteerParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        turn_id = thread.steer_input(list(p.input), p.expected_turn_id, p.client_user_message_id)
        return {"turnId": turn_id}

    @core_errors
    async def interrupt(ctx: RequestContext, p: TurnInterruptParams) -> dict[str, Any]:
        thread = rt.loaded(p.thread_id)
        await thread.interrupt(p.turn_id)
        return {}

    table.register("turn/start", TurnStartParams, start)
    table.register("turn/steer", TurnSteerParams, steer)
    table.register("turn/interrupt", TurnInterruptParams, interrupt)
