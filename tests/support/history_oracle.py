"""The model-history replay as threadline did it before it deferred building the items:
each ``response_item`` validated as it is met (and dropped when it fails), then
compactions and rollbacks applied to the built items. The oracle the deferred replay
(``threadline.rollout.history``) is compared with, on whole rollouts."""

from __future__ import annotations

from typing import Any

from threadline.protocol.items import (
    MessageItem,
    ResponseItem,
    parse_response_item,
    user_text_message,
)
from threadline.protocol.rollout import RolloutLine
from threadline.rollout.history import history_start, is_contextual_user_message

__all__ = ["validating_replay"]



def _real_user(item: ResponseItem) -> bool:
    return isinstance(item, MessageItem) and item.role == "user" and (
        not is_contextual_user_message(item)
    )


def validating_replay(lines: list[RolloutLine]) -> list[ResponseItem]:
    history: list[ResponseItem] = []
    units: list[tuple[list[ResponseItem], int, list[bool]]] = []
    explicit = False
    for line in lines[history_start(lines):]:
        payload = line.payload
        if line.type == "response_item":
            try:
                item = parse_response_item(payload)
            except ValueError:
                continue
            if _real_user(item):
                if explicit and units:
                    units[-1][2][0] = True
                else:
                    units.append((history, len(history), [True]))
            history.append(item)
        elif line.type == "event_msg" and isinstance(payload, dict):
            kind = payload.get("type")
            if kind in ("task_started", "turn_started"):
                explicit = True
                units.append((history, len(history), [False]))
            elif kind == "thread_rolled_back":
                count = payload.get("num_turns")
                if isinstance(count, int) and count > 0:
                    history = _oracle_roll_back(history, units, count)
        elif line.type == "compacted":
            try:
                compacted = line.as_compacted()
            except ValueError:
                continue
            if compacted.replacement_history is not None:
                history = list(compacted.replacement_history)
            else:
                kept = [i for i in history if _real_user(i)]
                budget, out = 80_000, []
                for item in reversed(kept):
                    assert isinstance(item, MessageItem)
                    if len(item.text()) > budget:
                        break
                    budget -= len(item.text())
                    out.append(item)
                history = [*reversed(out), user_text_message(compacted.message)]
    return history


def _oracle_roll_back(history: list[ResponseItem], units: list[Any], count: int) -> list[Any]:
    if not units:
        seen = 0
        for index in range(len(history) - 1, -1, -1):
            if _real_user(history[index]):
                seen += 1
                if seen == count:
                    return history[:index]
        return [] if seen else history
    cut = None
    while units and count > 0:
        cut = units.pop()
        if cut[2][0]:
            count -= 1
    assert cut is not None
    return cut[0][: cut[1]]
