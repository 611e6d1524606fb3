"""``update_plan``: lets the model keep a short step list for the turn."""

from __future__ import annotations

import json
from typing import Any

from threadline.tools.registry import ToolContext, ToolOutput

_STATUSES = ("pending", "in_progress", "completed")


class UpdatePlanTool:
    """Records the model's plan; the plan is echoed back so the model sees it was taken."""

    name = "update_plan"

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": (
                "Record or revise your step-by-step plan for the current task. "
                "Each step has a short description and a status; at most one step is in_progress."
            ),
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "explanation": {"type": "string"},
                    "plan": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "step": {"type": "string"},
                                "status": {"type": "string", "enum": list(_STATUSES)},
                            },
                            "required": ["step", "status"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["plan"],
                "additionalProperties": False,
            },
        }

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return ToolOutput(f"update_plan: arguments are not valid JSON: {exc}", success=False)
        plan = args.get("plan") if isinstance(args, dict) else None
        if not isinstance(plan, list) or not plan:
            return ToolOutput("update_plan: `plan` must be a non-empty list of steps", success=False)
        lines = []
        for step in plan:
            if not isinstance(step, dict) or not isinstance(step.get("step"), str):
                return ToolOutput("update_plan: every step needs a `step` string", success=False)
            status = step.get("status", "pending")
            if status not in _STATUSES:
                return ToolOutput(
                    f"update_plan: unknown status {status!r}; use one of {', '.join(_STATUSES)}",
                    success=False,
                )
            lines.append(f"[{status}] {step['step']}")
        ctx.extras["plan"] = plan
        return ToolOutput("Plan updated:\n" + "\n".join(lines))
