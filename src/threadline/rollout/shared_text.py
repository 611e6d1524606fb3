"""One string for the two copies of a long message a rollout holds.

Codex writes each message twice: the model's ``response_item`` and the event a turn
shows (``agent_message``, ``user_message``). A load that keeps both (the history one, the
turns the other) would hold every long reply twice; :func:`share_text` makes the second
copy the same string object as the first, as lines are fed in order.
"""

from __future__ import annotations

from typing import Any

from threadline.protocol.rollout import RolloutLine

__all__ = ["share_payload_text", "share_text"]

_SHARED_TEXT_MIN = 256
"""Texts at least this long are worth sharing between a message item and its event."""


def share_text(line: RolloutLine, last: str | None) -> str | None:
    """Codex records a message twice, as the model's ``response_item`` and as the event a
    turn shows (``agent_message``, ``user_message``); they decode as two equal strings,
    and the history keeps one while the turns keep the other. When a long text equals
    the newest long text before it, the line is made to hold that same string (equal,
    so nothing changes but the memory held: one copy of each reply instead of two).
    Returns the newest long text."""
    return share_payload_text(line.type, line.payload, last)


def share_payload_text(kind: str, payload: Any, last: str | None) -> str | None:
    """:func:`share_text` of a line of type ``kind`` with this payload."""
    if not isinstance(payload, dict):
        return last
    if kind == "event_msg":
        if payload.get("type") not in ("agent_message", "user_message"):
            return last
        text = payload.get("message")
        if not isinstance(text, str) or len(text) < _SHARED_TEXT_MIN:
            return last
        if last is not None and text is not last and text == last:
            payload["message"] = last
            return last
        return text
    if payload.get("type") != "message":
        return last
    content = payload.get("content")
    for part in content if isinstance(content, list) else ():
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str) and len(text) >= _SHARED_TEXT_MIN:
            if last is not None and text is not last and text == last:
                part["text"] = last
            else:
                last = text
    return last
