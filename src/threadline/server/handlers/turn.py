"""``turn/*`` handlers: start, steer, interrupt."""

from __future__ import annotations

from threadline.core import tracing
from threadline.core.errors import InvalidRequest
from threadline.core.relay_thread import start_turn, steer_input
from threadline.protocol.ops import TurnOverrides, UserTurn
from threadline.protocol.v2.settings import SandboxPolicy
from threadline.protocol.v2.turn import (
    Turn,
    TurnInterruptParams,
    TurnInterruptResponse,
    TurnStartParams,
    TurnStartResponse,
    TurnSteerParams,
    TurnSteerResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["turn_interrupt", "turn_start", "turn_steer"]

_SANDBOX_MODES = {
    "dangerFullAccess": "danger-full-access",
    "readOnly": "read-only",
    "workspaceWrite": "workspace-write",
}


def _sandbox_mode(policy: SandboxPolicy | None) -> str | None:
    kind = getattr(policy, "type", None)
    return _SANDBOX_MODES.get(kind or "")


async def turn_start(rt: Runtime, ctx: RequestContext, p: TurnStartParams) -> TurnStartResponse:
    thread = rt.manager.get(p.thread_id)
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
            collaboration_mode=p.collaboration_mode.mode if p.collaboration_mode else None,
        ),
        client_user_message_id=p.client_user_message_id,
    )
    rt.router.subscribe(ctx.connection_id, thread.id)
    if p.output_schema is not None and not isinstance(p.output_schema, dict):
        raise InvalidRequest("outputSchema must be a JSON object (a JSON Schema)")
    with tracing.under(ctx.trace):  # the turn continues the caller's trace
        turn_id, _started = await start_turn(thread, op, p.output_schema)
    turn = Turn(
        id=turn_id, root_turn_id=turn_id, items=[], items_view="notLoaded", status="inProgress"
    )
    return TurnStartResponse(turn=turn)


async def turn_steer(rt: Runtime, ctx: RequestContext, p: TurnSteerParams) -> TurnSteerResponse:
    thread = rt.manager.get(p.thread_id)
    turn_id = await steer_input(thread, list(p.input), p.expected_turn_id, p.client_user_message_id)
    return TurnSteerResponse(turn_id=turn_id)


async def turn_interrupt(
    rt: Runtime, ctx: RequestContext, p: TurnInterruptParams
) -> TurnInterruptResponse:
    await rt.manager.get(p.thread_id).interrupt(p.turn_id)
    return TurnInterruptResponse()
