"""The model's goal tools, as Codex 0.169 offers them: ``get_goal``, ``create_goal`` and
``update_goal``.

A thread has at most one goal (an objective, a status, an optional token budget and
what was spent on it). The client sets it with ``thread/goal/set``; these tools let the
model read it, start one when the user asked for it, and mark it ``complete``,
``blocked`` or ``paused``. The goals themselves are core's (persisted through the
store); a tool reaches them through a :class:`GoalBackend`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from threadline.tools.goal_error import GoalError
from threadline.tools.registry import Tool, ToolContext, ToolOutput

__all__ = [
    "MODEL_STATUSES",
    "CreateGoalTool",
    "GetGoalTool",
    "GoalBackend",
    "GoalError",
    "UpdateGoalTool",
    "goal_tools",
]

MODEL_STATUSES = ("complete", "blocked", "paused")
"""The statuses ``update_goal`` may set; resuming and the limits are the user's or the system's."""


class GoalBackend(Protocol):
    """Core's goals for one store. Each method answers the goal as a JSON-able dict
    (``None``: the thread has none) or raises :class:`GoalError`."""

    async def get_goal(self, thread_id: str) -> dict[str, Any] | None: ...

    async def create_goal(
        self, thread_id: str, turn_id: str, objective: str, token_budget: int | None
    ) -> dict[str, Any]: ...

    async def update_goal(self, thread_id: str, turn_id: str, status: str) -> dict[str, Any]: ...


def _args(arguments: str, tool: str) -> dict[str, Any] | ToolOutput:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return ToolOutput(f"{tool}: arguments are not valid JSON: {exc}", success=False)
    if not isinstance(args, dict):
        return ToolOutput(f"{tool}: arguments must be a JSON object", success=False)
    return args


def _answer(goal: dict[str, Any] | None) -> ToolOutput:
    return ToolOutput(json.dumps({"goal": goal}, ensure_ascii=False))


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }


class GetGoalTool:
    name = "get_goal"

    def __init__(self, backend: GoalBackend) -> None:
        self._backend = backend

    def spec(self) -> dict[str, Any]:
        return _spec(
            self.name,
            "Read this thread's current goal: its objective and status, the token budget if "
            "one was set, the tokens and seconds spent on it so far, and the tokens left.",
            {},
            [],
        )

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        args = _args(arguments, self.name)
        if isinstance(args, ToolOutput):
            return args
        try:
            return _answer(await self._backend.get_goal(ctx.thread_id))
        except GoalError as exc:
            return ToolOutput(f"{self.name}: {exc}", success=False)


class CreateGoalTool:
    name = "create_goal"

    def __init__(self, backend: GoalBackend) -> None:
        self._backend = backend

    def spec(self) -> dict[str, Any]:
        return _spec(
            self.name,
            "Start a goal for this thread, only when the user or the system/developer "
            "instructions explicitly ask for one; an ordinary task is not a goal.\n"
            "Give token_budget only when an explicit token budget was requested. This fails "
            "while an unfinished goal exists; change a goal's status with update_goal.",
            {
                "objective": {
                    "type": "string",
                    "description": (
                        "Required. The concrete objective to pursue. It becomes the active "
                        "goal when there is none, or replaces a goal that is complete."
                    ),
                },
                "token_budget": {
                    "type": "integer",
                    "description": (
                        "A positive number of tokens the goal may use. Leave it out unless "
                        "one was explicitly requested."
                    ),
                },
            },
            ["objective"],
        )

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        args = _args(arguments, self.name)
        if isinstance(args, ToolOutput):
            return args
        objective = args.get("objective")
        if not isinstance(objective, str) or not objective.strip():
            return ToolOutput(f"{self.name}: `objective` must be a non-empty string", success=False)
        budget = args.get("token_budget")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0
        ):
            return ToolOutput(
                f"{self.name}: `token_budget` must be a positive integer", success=False
            )
        try:
            goal = await self._backend.create_goal(
                ctx.thread_id, ctx.turn_id, objective.strip(), budget
            )
        except GoalError as exc:
            return ToolOutput(f"{self.name}: {exc}", success=False)
        return _answer(goal)


class UpdateGoalTool:
    name = "update_goal"

    def __init__(self, backend: GoalBackend) -> None:
        self._backend = backend

    def spec(self) -> dict[str, Any]:
        return _spec(
            self.name,
            "Change the status of this thread's goal.\n"
            "`paused`: only when the user explicitly asked to pause it; ask if unsure. Then "
            "report the status and stop working on the goal.\n"
            "`complete`: only when the objective is achieved and nothing required is left; "
            "not because the budget is nearly spent or because you stop. For a budgeted goal, "
            "tell the user the final token usage from the result.\n"
            "`blocked`: only after the same blocking condition came back in at least three "
            "goal turns in a row and no progress is possible without the user or a change "
            "outside; not because the work is hard, slow or unclear. A goal resumed after "
            "being blocked starts that count again.\n"
            "Resuming a goal and the budget or usage limits are not yours to set.",
            {
                "status": {
                    "type": "string",
                    "description": (
                        "Required. `complete` when achieved, `blocked` after a repeated "
                        "impasse (see above), `paused` at the user's explicit request."
                    ),
                    "enum": list(MODEL_STATUSES),
                },
            },
            ["status"],
        )

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        args = _args(arguments, self.name)
        if isinstance(args, ToolOutput):
            return args
        status = args.get("status")
        if status not in MODEL_STATUSES:
            return ToolOutput(
                f"{self.name}: `status` must be one of {', '.join(MODEL_STATUSES)}",
                success=False,
            )
        try:
            goal = await self._backend.update_goal(ctx.thread_id, ctx.turn_id, str(status))
        except GoalError as exc:
            return ToolOutput(f"{self.name}: {exc}", success=False)
        return _answer(goal)


def goal_tools(backend: GoalBackend | None) -> list[Tool]:
    """The three goal tools over ``backend`` (none without one)."""
    if backend is None:
        return []
    return [GetGoalTool(backend), CreateGoalTool(backend), UpdateGoalTool(backend)]
