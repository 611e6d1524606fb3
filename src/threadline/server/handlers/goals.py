"""Goal notifications outside the goal requests: the relay of the goal changes the
model's tools make, and the goal notification after a ``thread/resume`` answer.

Apart from the thread-state area (``handlers/thread_state.py``) so that loading a thread,
or resuming one that has no goal, loads none of that area's wire types
(``protocol/v2/thread_state.py``); a goal's own models load with the first goal.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.thread_ops import ThreadGoalClearedNotification
from threadline.server.handlers.runtime import Runtime

if TYPE_CHECKING:
    from threadline.core.thread_state import GoalChange, GoalRecord, ThreadStateService
    from threadline.protocol.v2.thread_state import ThreadGoal

__all__ = ["attach", "goal_notification", "service", "wire_goal"]

_subscribed: weakref.WeakSet[ThreadStateService] = weakref.WeakSet()


def attach(rt: Runtime) -> None:
    """Relay the goal changes the model's tools make to every connection
    (``thread/goal/updated`` with the turn's id). Idempotent; done by the first request
    of the thread-state area at the latest, and when a thread is loaded
    (``build_app_server``), so that a client that never asked about goals hears of them."""
    service(rt)


def service(rt: Runtime) -> ThreadStateService:
    """The manager's thread state, its goal changes relayed (see :func:`attach`)."""
    svc = rt.manager.thread_state
    if svc not in _subscribed:
        _subscribed.add(svc)
        broadcast = rt.broadcast

        def relay(change: GoalChange) -> None:
            if change.goal is None:
                note: BaseModel = ThreadGoalClearedNotification(thread_id=change.thread_id)
                broadcast("thread/goal/cleared", dump_wire(note))
                return
            from threadline.protocol.v2.thread_state import ThreadGoalUpdatedNotification

            note = ThreadGoalUpdatedNotification(
                thread_id=change.thread_id, turn_id=change.turn_id, goal=wire_goal(change.goal)
            )
            broadcast("thread/goal/updated", dump_wire(note))

        svc.on_goal_changed(relay)
    return svc


def wire_goal(goal: GoalRecord) -> ThreadGoal:
    from threadline.protocol.v2.thread_state import ThreadGoal

    return ThreadGoal(
        thread_id=goal.thread_id,
        objective=goal.objective,
        status=goal.status,  # type: ignore[arg-type]
        token_budget=goal.token_budget,
        tokens_used=goal.tokens_used,
        time_used_seconds=goal.time_used_seconds,
        created_at=goal.created_at_ms // 1000,
        updated_at=goal.updated_at_ms // 1000,
    )


async def goal_notification(rt: Runtime, thread_id: str) -> tuple[str, dict[str, Any]]:
    """What Codex sends after a ``thread/resume`` answer: ``thread/goal/updated`` with
    the thread's goal, or ``thread/goal/cleared`` when it has none."""
    goal = await service(rt).goal(thread_id)
    if goal is None:
        return "thread/goal/cleared", dump_wire(ThreadGoalClearedNotification(thread_id=thread_id))
    from threadline.protocol.v2.thread_state import ThreadGoalUpdatedNotification

    note = ThreadGoalUpdatedNotification(thread_id=thread_id, turn_id=None, goal=wire_goal(goal))
    return "thread/goal/updated", dump_wire(note)
