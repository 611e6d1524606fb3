"""Which rollout items are written to disk (Codex's persistence policy).

``session_meta``, ``turn_context``, ``compacted`` and every ``response_item``
except unknown ones are always written. Of the ``event_msg`` payloads, the
*limited* mode (the default) keeps the conversation, turn boundaries, token
counts and markers; *extended* mode (``persist_extended_history=True``) adds
errors and tool results. Deltas, begin events, approvals, warnings and the
like are never written.

``item_completed`` is kept, in every mode, for the items Codex 0.169 records that way:
plans, context compactions, and finished command executions and file changes (Codex's
core ``CommandExecution`` / ``FileChange`` items), so a reload shows them. A command or
patch the user declined is not written (Codex does not write it either).

Two lines of threadline's own are always kept: ``client_ask_opened`` (a turn asked the
client something and waits) and ``client_ask_answered`` (the answer, synced before the
asking tool acts on it). They let a restarted server ask again, or know not to act
twice (``rollout.pending``); Codex skips them as event types it does not know.

The policy is the one place that decides: a live session offers the rollout every
event that has an ``event_msg`` form (all but the streamed deltas), and
:class:`PersistencePolicy` is applied once, where ``RolloutWriter`` turns items into
lines.
"""

from __future__ import annotations

from typing import Any

from threadline.protocol.asks import ASK_ANSWERED, ASK_OPENED
from threadline.protocol.items import OtherItem
from threadline.protocol.rollout import EventMsg, RolloutItem, RolloutLine, line_from_item

__all__ = [
    "EXTENDED_EVENT_TYPES",
    "LIMITED_EVENT_TYPES",
    "PersistencePolicy",
    "is_persisted_event",
    "is_persisted_item",
    "is_persisted_line",
    "sanitize_event",
]

LIMITED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "user_message",
        "injected_message",
        "agent_message",
        "agent_reasoning",
        "agent_reasoning_raw_content",
        "token_count",
        "thread_name_updated",
        "context_compacted",
        "entered_review_mode",
        "exited_review_mode",
        "thread_rolled_back",
        "undo_completed",
        "turn_aborted",
        "task_started",
        "turn_started",
        "task_complete",
        "turn_complete",
        "image_generation_end",
        ASK_OPENED,
        ASK_ANSWERED,
    }
)

EXTENDED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "error",
        "guardian_assessment",
        "web_search_end",
        "exec_command_end",
        "patch_apply_end",
        "mcp_tool_call_end",
        "view_image_tool_call",
        "collab_agent_spawn_end",
        "collab_agent_interaction_end",
        "collab_waiting_end",
        "collab_close_end",
        "collab_resume_end",
        "dynamic_tool_call_request",
        "dynamic_tool_call_response",
    }
)

_ALWAYS_LINE_TYPES = frozenset({"session_meta", "turn_context", "compacted"})
_EXEC_OUTPUT_LIMIT = 10_000


_KEPT_CORE_ITEMS = frozenset(
    {
        "plan",
        "contextcompaction",
        "commandexecution",
        "filechange",
        "imageview",
        "dynamictoolcall",
        "mcptoolcall",
    }
)
"""Core item kinds whose ``item_completed`` is written (lower-cased ``type``)."""


def _is_kept_item_completed(payload: dict[str, Any]) -> bool:
    item = payload.get("item")
    if not isinstance(item, dict):
        return False
    if str(item.get("type", "")).lower() not in _KEPT_CORE_ITEMS:
        return False
    return item.get("status") != "declined"


def is_persisted_event(payload: dict[str, Any], *, extended: bool = False) -> bool:
    """Whether an ``event_msg`` payload (a dict with ``type``) is written."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        return False
    if kind in LIMITED_EVENT_TYPES:
        return True
    if kind == "item_completed":
        return _is_kept_item_completed(payload)
    return extended and kind in EXTENDED_EVENT_TYPES


def is_persisted_item(item: RolloutItem, *, extended: bool = False) -> bool:
    """Whether a typed rollout item is written under the given mode."""
    if isinstance(item, EventMsg):
        # ``is_persisted_event(item.dump())`` without dumping: only the type and, for
        # ``item_completed``, the item's kind and status matter.
        kind = item.type
        if kind in LIMITED_EVENT_TYPES:
            return True
        if kind == "item_completed":
            return _is_kept_item_completed({"item": item.get("item")})
        return extended and kind in EXTENDED_EVENT_TYPES
    # Unknown response items are never persisted (Codex's ``Other``).
    return not isinstance(item, OtherItem)


def is_persisted_line(line: RolloutLine, *, extended: bool = False) -> bool:
    """Same decision for an already-built line (used when copying history into a fork)."""
    if line.type in _ALWAYS_LINE_TYPES:
        return True
    if line.type == "response_item":
        payload = line.payload
        return isinstance(payload, dict) and isinstance(payload.get("type"), str)
    if line.type == "event_msg":
        return isinstance(line.payload, dict) and is_persisted_event(line.payload, extended=extended)
    # Line types from newer Codex versions are kept as they are.
    return True


def _middle_truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = limit // 2
    return text[:keep] + "\n…\n" + text[len(text) - keep :]


def sanitize_event(payload: dict[str, Any]) -> dict[str, Any]:
    """Shrink bulky events before writing (``exec_command_end`` output)."""
    if payload.get("type") != "exec_command_end":
        return payload
    out = dict(payload)
    aggregated = out.get("aggregated_output")
    if isinstance(aggregated, str):
        out["aggregated_output"] = _middle_truncate(aggregated, _EXEC_OUTPUT_LIMIT)
    for key in ("stdout", "stderr", "formatted_output"):
        if key in out:
            out[key] = ""
    return out


class PersistencePolicy:
    """The mode of one thread's recorder: limited (default) or extended."""

    __slots__ = ("extended",)

    def __init__(self, *, extended: bool = False) -> None:
        self.extended = extended

    def keeps(self, item: RolloutItem) -> bool:
        return is_persisted_item(item, extended=self.extended)

    def keeps_line(self, line: RolloutLine) -> bool:
        return is_persisted_line(line, extended=self.extended)

    def line_for(self, item: RolloutItem | RolloutLine) -> RolloutLine | None:
        """The line this thread's rollout gets for ``item``, or ``None`` when it is not kept
        (the one place the decision is made, for every sink)."""
        if isinstance(item, RolloutLine):
            return item if self.keeps_line(item) else None
        if not self.keeps(item):
            return None
        if isinstance(item, EventMsg) and item.type == "exec_command_end":
            item = EventMsg.model_validate(sanitize_event(item.dump()))
        return line_from_item(item)
