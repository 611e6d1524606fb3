"""Questions a turn put to the client, as the rollout remembers them across a restart.

Two ``event_msg`` payloads of threadline's own (Codex has no such event types, so a
Codex reading the file skips the lines, as it skips any line it cannot parse):

* ``client_ask_opened`` — written when a turn asks the client (an approval, the user's
  input, a client-side tool call), before the question is sent::

      {"type": "client_ask_opened", "turn_id", "approval_id", "item_id",
       "ask": {<the question's own payload, e.g. "type": "exec_approval_request", ...>}}

* ``client_ask_answered`` — written and synced to disk when the answer arrives, before
  the asking tool acts on it::

      {"type": "client_ask_answered", "turn_id", "approval_id", "item_id", "answer": <JSON>}

A turn's tool calls run one after another, each call's output recorded before the next
starts. So when a rollout ends inside a turn (no ``task_complete`` / ``turn_aborted``),
the first call of that turn without an output was the one running when the server
stopped, and the calls after it never started. If that call had asked the client, the
turn can be continued (:class:`CutOffTurn`): an unanswered question is asked again by
running the call again (same call id); an answered one is not run again, since it may
already have acted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from threadline.protocol.items import (
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    ResponseItem,
)

__all__ = [
    "ASK_ANSWERED",
    "ASK_OPENED",
    "CutOffCall",
    "CutOffTurn",
    "ask_answered_payload",
    "ask_opened_payload",
    "json_answer",
    "resumed_calls",
    "unknown_outcome_text",
]

ASK_OPENED = "client_ask_opened"
ASK_ANSWERED = "client_ask_answered"

CallState = Literal["asked", "answered", "not_started"]


def json_answer(answer: Any) -> Any:
    """An answer object as JSON (pydantic models dumped, anything else by ``repr``)."""
    dump = getattr(answer, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True)
    try:
        json.dumps(answer)
    except (TypeError, ValueError):
        return repr(answer)
    return answer


def ask_opened_payload(
    turn_id: str, approval_id: str, item_id: str, ask: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": ASK_OPENED,
        "turn_id": turn_id,
        "approval_id": approval_id,
        "item_id": item_id,
        "ask": ask,
    }


def ask_answered_payload(turn_id: str, approval_id: str, item_id: str, answer: Any) -> dict[str, Any]:
    return {
        "type": ASK_ANSWERED,
        "turn_id": turn_id,
        "approval_id": approval_id,
        "item_id": item_id,
        "answer": json_answer(answer),
    }


ToolCallItem = FunctionCallItem | CustomToolCallItem


@dataclass(frozen=True, slots=True)
class CutOffCall:
    """One tool call of a cut-off turn that has no output yet.

    ``asked``: it was waiting for the client's answer (run it again: it asks again);
    ``answered``: the answer was recorded, so it may have acted (never run it again);
    ``not_started``: a later call of the same model response (run it).
    """

    call: ToolCallItem
    state: CallState
    answer: Any = None
    ask_type: str | None = None


@dataclass(frozen=True, slots=True)
class CutOffTurn:
    """A turn a restart interrupted while one of its tool calls had asked the client."""

    turn_id: str
    started_at: int | None
    calls: tuple[CutOffCall, ...] = field(default_factory=tuple)
    approval_policy: str | None = None
    """The approval policy and sandbox the turn ran under (its ``turn_context``): the
    continued turn keeps them, so a question asked before the restart is asked again."""
    sandbox_mode: str | None = None


def unknown_outcome_text(call: CutOffCall) -> str:
    """What the model is told for a call whose answer was recorded before the server
    stopped: it is not run again, and its outcome is unknown."""
    answer = json.dumps(call.answer, ensure_ascii=False)
    return (
        f"The server stopped after the client answered this {call.call.name} call "
        f"(answer: {answer}) and before its result was recorded. It was not run again, "
        "so whether it ran and what it did is unknown; check before repeating it."
    )


def resumed_calls(cut: CutOffTurn) -> tuple[list[ResponseItem], list[ToolCallItem]]:
    """How a continued turn treats its cut-off calls: the outputs to record for the ones
    whose answer was recorded (never run again), and the calls to run again."""
    settled: list[ResponseItem] = []
    again: list[ToolCallItem] = []
    for pending in cut.calls:
        if pending.state != "answered":
            again.append(pending.call)
        elif isinstance(pending.call, CustomToolCallItem):
            text = unknown_outcome_text(pending)
            settled.append(CustomToolCallOutputItem(call_id=pending.call.call_id, output=text))
        else:
            text = unknown_outcome_text(pending)
            settled.append(FunctionCallOutputItem(call_id=pending.call.call_id, output=text))
    return settled, again
