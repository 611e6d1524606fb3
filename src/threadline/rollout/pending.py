"""Finding the turn a restart cut off while it waited on the client.

See :mod:`threadline.protocol.asks` for the two lines a turn writes when it asks the
client and when the answer arrives. :func:`find_cut_off` looks at the last turn of a
rollout: when it has no ending (``task_complete`` / ``turn_aborted``) and the tool call
that was running when the file stops had asked the client, it returns that call and the
calls queued after it (:class:`~threadline.protocol.asks.CutOffTurn`); otherwise
``None`` (a turn torn elsewhere is shown interrupted, as before).
"""

from __future__ import annotations

from typing import Any

from threadline.protocol.asks import (
    ASK_ANSWERED,
    ASK_OPENED,
    CallState,
    CutOffCall,
    CutOffTurn,
    ToolCallItem,
)
from threadline.protocol.items import CustomToolCallItem, FunctionCallItem
from threadline.protocol.rollout import RolloutLine

__all__ = ["TURN_ENDS", "TURN_STARTS", "find_cut_off"]

TURN_STARTS = ("task_started", "turn_started")
"""The event types that open a turn."""
TURN_ENDS = ("task_complete", "turn_complete", "turn_aborted")
"""The event types that close one."""
_CALLS = ("function_call", "custom_tool_call")
_OUTPUTS = ("function_call_output", "custom_tool_call_output")


def _last_start(lines: list[RolloutLine]) -> int | None:
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line.type != "event_msg":
            continue
        kind = line.event_type
        if kind in TURN_ENDS:
            return None
        if kind in TURN_STARTS:
            return index
    return None


def _call_of(line: RolloutLine) -> ToolCallItem | None:
    try:
        item = line.as_response_item()
    except ValueError:
        return None
    return item if isinstance(item, FunctionCallItem | CustomToolCallItem) else None


def find_cut_off(lines: list[RolloutLine]) -> CutOffTurn | None:
    """The last turn's cut-off tool calls, when it ends while a call waited on the client."""
    start = _last_start(lines)
    if start is None:
        return None
    opened = lines[start].payload
    turn_id = opened.get("turn_id") if isinstance(opened, dict) else None
    if not isinstance(turn_id, str) or not turn_id:
        return None
    calls: list[tuple[int, ToolCallItem]] = []
    outputs: dict[str, int] = {}
    asks: list[tuple[int, dict[str, Any]]] = []
    answers: dict[str, Any] = {}
    context: dict[str, Any] = {}
    for index in range(start + 1, len(lines)):
        line = lines[index]
        payload = line.payload if isinstance(line.payload, dict) else {}
        kind = payload.get("type")
        if line.type == "turn_context":
            context = payload
        elif line.type == "response_item" and kind in _CALLS:
            call = _call_of(line)
            if call is not None:
                calls.append((index, call))
        elif line.type == "response_item" and kind in _OUTPUTS:
            outputs[str(payload.get("call_id"))] = index
        elif line.type == "event_msg" and payload.get("turn_id") == turn_id:
            if kind == ASK_OPENED:
                asks.append((index, payload))
            elif kind == ASK_ANSWERED:
                answers[str(payload.get("approval_id"))] = payload.get("answer")
    waiting = [(index, call) for index, call in calls if call.call_id not in outputs]
    if not waiting:
        return None
    first_index, first = waiting[0]
    # Calls run in order and each output is written before the next call starts, so the
    # questions after the newest output (and after the running call's own line) are its.
    boundary = max([first_index, *outputs.values()])
    mine = [payload for index, payload in asks if index > boundary]
    if not mine:
        return None
    keys = [str(p.get("approval_id")) for p in mine]
    answered = [answers[key] for key in keys if key in answers]
    state: CallState = "answered" if answered else "asked"
    ask = mine[-1].get("ask")
    ask_type = ask.get("type") if isinstance(ask, dict) else None
    head = CutOffCall(
        call=first,
        state=state,
        answer=answered[-1] if answered else None,
        ask_type=ask_type if isinstance(ask_type, str) else None,
    )
    rest = tuple(CutOffCall(call=call, state="not_started") for _, call in waiting[1:])
    started_at = opened.get("started_at") if isinstance(opened, dict) else None
    sandbox = context.get("sandbox_policy")
    sandbox_mode = sandbox.get("type") if isinstance(sandbox, dict) else None
    approval = context.get("approval_policy")
    return CutOffTurn(
        turn_id=turn_id,
        started_at=started_at if isinstance(started_at, int) else None,
        calls=(head, *rest),
        approval_policy=approval if isinstance(approval, str) else None,
        sandbox_mode=sandbox_mode if isinstance(sandbox_mode, str) else None,
    )
