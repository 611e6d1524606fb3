"""Runs ``exec_command`` calls and prints their outcomes as JSON (the escape tests' driver).

The escape tests run every hostile command twice: as the user running pytest (root in
CI) and as an unprivileged user. For the second they start this file in a subprocess
with that user's uid, so the sandbox is built exactly as it would be for a threadline
run by that user. Input on stdin, one JSON object::

    {"calls": [{"cwd": "/work", "sandbox": "workspace-write", "args": {"cmd": "…"},
                "tool": {"max_processes": 64}, "cancel_after": null}]}

Output on stdout: a JSON list, one entry per call, with the tool's text, success flag
and the completed item's status and exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from threadline.tools.registry import ToolContext
from threadline.tools.shell import ExecCommandTool


async def run_call(call: dict[str, Any]) -> dict[str, Any]:
    completed: list[Any] = []

    async def emit(msg: Any) -> None:
        return None

    async def complete(item: Any) -> None:
        completed.append(item)

    ctx = ToolContext(
        thread_id="thread-escape",
        turn_id="turn-1",
        call_id="call-1",
        cwd=Path(call["cwd"]),
        emit=emit,
        complete_item=complete,
        sandbox_mode=call.get("sandbox", "workspace-write"),
        approval_policy="never",
    )
    tool = ExecCommandTool(**call.get("tool", {}))
    args = {"login": False, **call["args"]}
    task = asyncio.ensure_future(tool.run(ctx, json.dumps(args)))
    cancel_after = call.get("cancel_after")
    if cancel_after is not None:
        await asyncio.sleep(cancel_after)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return {"text": "", "success": False, "cancelled": True, "status": None, "exit_code": None}
    out = await task
    item = completed[0] if completed else None
    return {
        "text": out.text,
        "success": out.success,
        "cancelled": False,
        "status": item.status if item is not None else None,
        "exit_code": item.exit_code if item is not None else None,
    }


async def run_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [await run_call(call) for call in calls]


def main() -> None:
    request = json.load(sys.stdin)
    results = asyncio.run(run_calls(request["calls"]))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
