"""Handlers of the ``review`` methods: ``review/start`` (``core.review`` runs the review)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from threadline.core import tracing
from threadline.core.review import prepare_review
from threadline.protocol.v2.item import TextUserInput, UserMessageThreadItem
from threadline.protocol.v2.review import ReviewStartParams, ReviewStartResponse
from threadline.protocol.v2.turn import Turn
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime


async def review_start(
    rt: Runtime, ctx: RequestContext, p: ReviewStartParams
) -> ReviewStartResponse:
    """Start a review turn on the thread (inline delivery, the only one Codex 0.169 has).

    The answer is Codex's: the turn in progress, its one item the user-facing hint as a
    user message (the turn's id for its id), ``rootTurnId`` not yet known."""
    thread = rt.manager.get(p.thread_id)
    request = await prepare_review(p.target.model_dump(mode="json"), thread.settings.cwd)
    rt.router.subscribe(ctx.connection_id, thread.id)
    await thread.ensure_rollout_materialized()  # a review alone makes the thread durable
    with tracing.under(ctx.trace):
        turn_id = thread.start_review(request)
    hint = UserMessageThreadItem(id=turn_id, content=[TextUserInput(text=request.hint)])
    turn = Turn(id=turn_id, items=[hint], items_view="notLoaded", status="inProgress")
    return ReviewStartResponse(review_thread_id=thread.id, turn=turn)


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {"review/start": review_start}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""

__all__ = ["HANDLERS", "review_start"]
