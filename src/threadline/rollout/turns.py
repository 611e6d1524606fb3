"""Rollout lines -> v2 turns (what ``thread/read`` and ``thread/resume`` show).

Turn boundaries:

* ``task_started`` opens an *explicit* turn (id = its ``turn_id``);
  ``task_complete`` completes it, ``turn_aborted`` marks it interrupted, an
  ``error`` whose kind affects the turn marks it failed.
* Files without ``task_started`` get *implicit* turns: each ``user_message``
  starts one, with id ``rollout-<line index>``.
* ``thread_rolled_back{num_turns}`` removes the newest turns.
* An implicit turn with no items (and no compaction) is dropped.

Items come from the conversation events of limited mode, the tool events of
extended mode, and ``item_completed`` payloads of paginated files; tool items
are upserted by id, so a later event for the same call replaces the earlier one.

The builder also remembers which turn was open when a given line was replayed,
which is how restored token usage is attributed to a turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from threadline.protocol.review_text import INTERRUPTED, NO_OUTPUT, render_review
from threadline.protocol.rollout import RolloutLine
from threadline.protocol.v2 import Turn, TurnError
from threadline.protocol.v2.item import ThreadItem, thread_item_adapter
from threadline.protocol.v2.turn_json import check_turns, stored_turns, turns_adapter
from threadline.rollout.turn_items import (
    codex_error_info_to_wire,
    core_item_to_wire,
    exec_end_to_wire,
    mcp_end_to_wire,
    patch_end_to_wire,
    user_message_to_wire,
)

__all__ = ["TurnBuilder", "TurnMark", "affects_turn_status", "build_turns", "int_or_none"]

log = logging.getLogger(__name__)

_NON_FAILING_ERRORS = frozenset({"thread_rollback_failed", "active_turn_not_steerable"})
_TOOL_END_EVENTS = {
    "exec_command_end": exec_end_to_wire,
    "patch_apply_end": patch_end_to_wire,
    "mcp_tool_call_end": mcp_end_to_wire,
}


@dataclass(slots=True)
class _TurnState:
    id: str
    explicit: bool
    status: str = "inProgress"
    items: list[dict[str, Any]] = field(default_factory=list)
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None
    root_turn_id: str | None = None
    error: dict[str, Any] | None = None
    saw_compaction: bool = False

    def upsert(self, item: dict[str, Any]) -> None:
        item_id = item.get("id")
        for index, existing in enumerate(self.items):
            if existing.get("id") == item_id and existing.get("type") == item.get("type"):
                self.items[index] = item
                return
        self.items.append(item)


@dataclass(frozen=True, slots=True)
class TurnMark:
    """Which turn was open when a line was replayed: its id and list position."""

    turn_id: str
    position: int
    rollbacks_before: int


def affects_turn_status(info: Any) -> bool:
    """Whether an ``error`` event with this ``codex_error_info`` fails the open turn."""
    if isinstance(info, str):
        return info not in _NON_FAILING_ERRORS
    if isinstance(info, dict):
        return not any(key in _NON_FAILING_ERRORS for key in info)
    return True


def int_or_none(value: Any) -> int | None:
    """``value`` when it is an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TurnBuilder:
    """Feeds rollout lines in order and produces v2 turns."""

    def __init__(self, *, item_counter: int = 0) -> None:
        """``item_counter``: where item ids continue from (a turn rebuilt alone from its
        byte range starts from the count its predecessors used)."""
        self._turns: list[_TurnState] = []
        self._open: _TurnState | None = None
        self._item_counter = item_counter
        self._rollbacks = 0
        self.marks: dict[int, TurnMark] = {}
        self.open_turn_id: str | None = None
        """Set by :meth:`finish`: the turn still in progress at the end of the rollout."""
        self.index_ids = False
        """Whether a turn took its id from a line index (``rollout-<index>``)."""

    # -- feeding -----------------------------------------------------------------------------
    def feed(self, index: int, line: RolloutLine, *, mark: bool = False) -> None:
        """Replay one line; with ``mark=True`` remember the turn open at this point."""
        self.feed_record(index, line.type, line.payload, mark)

    def feed_record(self, index: int, kind: str, payload: Any, mark: bool = False) -> None:
        """Replay the line ``index`` of type ``kind`` (a decoded record's ``type`` and
        ``payload``; no other line type or field matters to turns); ``mark`` as
        :meth:`feed`'s."""
        if kind == "event_msg" and isinstance(payload, dict):
            self._event(index, payload)
        elif kind == "compacted" and self._open is not None:
            self._open.saw_compaction = True
        if mark:
            current = self._open
            if current is not None:
                self.marks[index] = TurnMark(current.id, len(self._turns), self._rollbacks)

    def _next_item_id(self) -> str:
        self._item_counter += 1
        return f"item-{self._item_counter}"

    def _ensure_turn(self, index: int) -> _TurnState:
        if self._open is None:
            self.index_ids = True
            self._open = _TurnState(id=f"rollout-{index}", explicit=False, status="completed")
        return self._open

    def _finish_open(self) -> None:
        turn, self._open = self._open, None
        if turn is None:
            return
        if not turn.explicit and not turn.items and not turn.saw_compaction:
            return
        self._turns.append(turn)

    def _find(self, turn_id: Any) -> _TurnState | None:
        if isinstance(turn_id, str) and turn_id:
            if self._open is not None and self._open.id == turn_id:
                return self._open
            for turn in reversed(self._turns):
                if turn.id == turn_id:
                    return turn
        return None

    def _event(self, index: int, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if not isinstance(kind, str) or kind not in _TURN_EVENTS:
            # One look-up, not the whole chain below (token_count: one line in five); a
            # hostile file's unhashable type (a list) is no event, not a failed load.
            return
        if kind in ("task_started", "turn_started"):
            self._finish_open()
            turn_id = payload.get("turn_id")
            if not (isinstance(turn_id, str) and turn_id):
                self.index_ids = True
            self._open = _TurnState(
                id=turn_id if isinstance(turn_id, str) and turn_id else f"rollout-{index}",
                explicit=True,
                started_at=int_or_none(payload.get("started_at")),
                root_turn_id=payload.get("root_turn_id") if isinstance(payload.get("root_turn_id"), str) else None,
            )
        elif kind in ("task_complete", "turn_complete"):
            turn = self._find(payload.get("turn_id")) or self._open
            if turn is None:
                return
            if turn.status in ("completed", "inProgress"):
                turn.status = "completed"
            turn.completed_at = int_or_none(payload.get("completed_at")) or turn.completed_at
            turn.duration_ms = int_or_none(payload.get("duration_ms")) or turn.duration_ms
            if turn is self._open:
                self._finish_open()
        elif kind == "turn_aborted":
            turn = self._find(payload.get("turn_id")) or self._open
            if turn is None:
                return
            turn.status = "interrupted"
            turn.completed_at = int_or_none(payload.get("completed_at")) or turn.completed_at
            turn.duration_ms = int_or_none(payload.get("duration_ms")) or turn.duration_ms
            if turn is self._open:
                self._finish_open()
        elif kind == "error":
            info = payload.get("codex_error_info")
            if self._open is not None and affects_turn_status(info):
                self._open.status = "failed"
                self._open.error = {
                    "message": str(payload.get("message", "")),
                    "codexErrorInfo": codex_error_info_to_wire(info),
                }
        elif kind == "user_message":
            if self._open is not None and not self._open.explicit:
                if self._open.items or not self._open.saw_compaction:
                    self._finish_open()
            turn = self._ensure_turn(index)
            turn.items.append(user_message_to_wire(payload, self._next_item_id()))
        elif kind == "agent_message":
            message = payload.get("message")
            if isinstance(message, str) and message:
                self._ensure_turn(index).items.append(
                    {"type": "agentMessage", "id": self._next_item_id(), "text": message,
                     "phase": payload.get("phase"), "memoryCitation": None}
                )
        elif kind in ("agent_reasoning", "agent_reasoning_raw_content"):
            self._reasoning(index, kind == "agent_reasoning", str(payload.get("text", "")))
        elif kind == "item_completed":
            self._item_completed(index, payload)
        elif kind in _TOOL_END_EVENTS:
            item = _TOOL_END_EVENTS[kind](payload)
            turn = self._find(payload.get("turn_id")) or self._ensure_turn(index)
            turn.upsert(item)
        elif kind == "context_compacted":
            self._ensure_turn(index).items.append(
                {"type": "contextCompaction", "id": self._next_item_id()}
            )
        elif kind in ("entered_review_mode", "exited_review_mode"):
            self._ensure_turn(index).items.append(
                {"type": "enteredReviewMode" if kind.startswith("entered") else "exitedReviewMode",
                 "id": self._next_item_id(), "review": _review_text(kind, payload)}
            )
        elif kind == "thread_rolled_back":
            self._rollback(payload.get("num_turns"))

    def _reasoning(self, index: int, summary: bool, text: str) -> None:
        turn = self._ensure_turn(index)
        last = turn.items[-1] if turn.items else None
        if last is None or last.get("type") != "reasoning":
            last = {"type": "reasoning", "id": self._next_item_id(), "summary": [], "content": []}
            turn.items.append(last)
        last["summary" if summary else "content"].append(text)

    def _item_completed(self, index: int, payload: dict[str, Any]) -> None:
        core = payload.get("item")
        if not isinstance(core, dict):
            return
        item = core_item_to_wire(core)
        if item is None:
            return
        started = int_or_none(payload.get("started_at_ms"))
        completed = int_or_none(payload.get("completed_at_ms"))
        if started is not None:
            item["startedAtMs"] = started
        if completed is not None:
            item["completedAtMs"] = completed
        turn = self._find(payload.get("turn_id")) or self._ensure_turn(index)
        turn.upsert(item)

    def _rollback(self, num_turns: Any) -> None:
        self._finish_open()
        count = num_turns if isinstance(num_turns, int) and num_turns > 0 else 0
        if count:
            del self._turns[max(0, len(self._turns) - count) :]
            self._rollbacks += 1
        self._item_counter = 0

    # -- results -----------------------------------------------------------------------------
    @property
    def rollbacks(self) -> int:
        return self._rollbacks

    def finish(self, *, live: bool = False) -> list[Turn]:
        """Close the open turn and return validated turns.

        A turn still ``inProgress`` is shown as ``interrupted`` unless ``live``. The
        turns are validated in one call (pydantic-core's, not one per item); when any of
        them does not validate they are built again one item at a time, dropping (and
        logging) the items that do not validate, as a single item's failure must not
        cost the others. Validated turns are ``StoredTurn`` objects: their items stay
        checked JSON until Python code reads them (``protocol.v2.turn_json``), which a
        resume's answer never does (once the validator is built: see
        :data:`_BUILD_AT`).
        """
        raw = self._raw(live)
        try:
            stored = stored_turns(raw, build=len(raw) >= _BUILD_AT)
            return stored if stored is not None else turns_adapter().validate_python(raw)
        except ValidationError:
            return [_one_by_one(entry) for entry in raw]

    def finish_json(self, *, live: bool = False) -> Sequence[Turn]:
        """:meth:`finish`'s turns for an answer that only writes them out: checked by
        the same validators but kept as their wire JSON (``protocol.v2.turn_json``), not
        built into models. Turns that do not all pass (an item to drop) are
        :meth:`finish`'s models."""
        raw = self._raw(live)
        try:
            checked = check_turns(raw, build=len(raw) >= _BUILD_AT)
        except ValidationError:
            return [_one_by_one(entry) for entry in raw]
        return checked if checked is not None else turns_adapter().validate_python(raw)

    def _raw(self, live: bool) -> list[dict[str, Any]]:
        """Close the open turn; the turns as the dicts ``list[Turn]`` validates."""
        self._finish_open()
        self.open_turn_id = None
        raw: list[dict[str, Any]] = []
        for state in self._turns:
            status = state.status
            if status == "inProgress":
                self.open_turn_id = state.id
            if status == "inProgress" and not live:
                status = "interrupted"
            raw.append({
                "id": state.id, "items": state.items, "status": status, "error": state.error or None,
                "started_at": state.started_at, "completed_at": state.completed_at,
                "duration_ms": state.duration_ms, "items_view": "full",
                "root_turn_id": state.root_turn_id or (state.id if state.explicit else None),
            })
        return raw


_TURN_EVENTS = frozenset({
    "task_started", "turn_started", "task_complete", "turn_complete", "turn_aborted", "error",
    "user_message", "agent_message", "agent_reasoning", "agent_reasoning_raw_content",
    "item_completed", *_TOOL_END_EVENTS, "context_compacted", "entered_review_mode",
    "exited_review_mode", "thread_rolled_back",
})
"""Every event kind :meth:`TurnBuilder._event` acts on (a test checks the chain handles
no other)."""


_BUILD_AT = 500
"""How many turns make it worth building the checked-JSON validators (2-3 ms each, once
a process) when they are not built yet: at about 3 µs saved a turn, a first small thread
would pay more than it saves (the first resume of a small thread is a start-up row)."""


def _one_by_one(entry: dict[str, Any]) -> Turn:
    """A turn whose items are validated one at a time (see :meth:`TurnBuilder.finish`)."""
    error = entry["error"]
    return Turn(
        id=entry["id"],
        items=_validate_items(entry["items"]),
        status=entry["status"],
        error=TurnError.model_validate(error) if error else None,
        started_at=entry["started_at"],
        completed_at=entry["completed_at"],
        duration_ms=entry["duration_ms"],
        items_view="full",
        root_turn_id=entry["root_turn_id"],
    )


def _validate_items(raw: list[dict[str, Any]]) -> list[ThreadItem]:
    items: list[ThreadItem] = []
    for entry in raw:
        try:
            items.append(thread_item_adapter.validate_python(entry))
        except ValidationError as exc:
            log.warning("dropping %s item %s from rollout: %s", entry.get("type"), entry.get("id"),
                        exc.errors()[0].get("msg") if exc.errors() else exc)
    return items


def build_turns(lines: list[RolloutLine], *, live: bool = False) -> list[Turn]:
    """Turns of a whole rollout (see the module docstring)."""
    builder = TurnBuilder()
    for index, line in enumerate(lines):
        builder.feed(index, line)
    return builder.finish(live=live)


def _review_text(kind: str, payload: dict[str, Any]) -> str:
    """What a reloaded review item shows, as it did live: the hint when the review began
    (or its target's instructions), the rendered review when it ended."""
    if kind == "entered_review_mode":
        hint = payload.get("user_facing_hint")
        if isinstance(hint, str) and hint:
            return hint
        target = payload.get("target")
        instructions = target.get("instructions") if isinstance(target, dict) else None
        return instructions if isinstance(instructions, str) and instructions else NO_OUTPUT
    output = payload.get("review_output") or payload.get("review")
    if not isinstance(output, dict):
        return INTERRUPTED if output is None and "review_output" in payload else NO_OUTPUT
    try:
        return render_review(output)
    except (KeyError, TypeError, AttributeError):  # a finding without Codex's members
        text = output.get("overall_explanation")
        return text if isinstance(text, str) and text else NO_OUTPUT
