"""Core events → v2 notifications. The only place core events meet the wire.

``translate`` returns ``(method, params, scope)`` triples; ``scope`` is
``"all"`` for messages every initialized connection gets
(``thread/status/changed``) and ``"subscribers"`` for the rest. Hot-path
events (deltas) are built as plain dicts; everything else goes through the v2
models so the output always matches the schema.
"""

from __future__ import annotations

from typing import Any, Literal

from threadline.protocol import events as ev
from threadline.protocol.usage import TokenUsageInfo
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.turn import TurnError
from threadline.protocol.v2.usage import ThreadTokenUsage

Scope = Literal["all", "subscribers"]
Notification = tuple[str, dict[str, Any], Scope]

EMPTY_RATE_LIMITS: dict[str, Any] = {
    "rateLimits": {
        "limitId": "codex",
        "limitName": None,
        "normalModelSlug": None,
        "primary": None,
        "secondary": None,
        "credits": None,
        "individualLimit": None,
        "spendControlReached": None,
        "planType": None,
        "rateLimitReachedType": None,
    }
}


def status_params(thread_id: str, status: str, flags: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": status}
    if status == "active":
        body["activeFlags"] = list(flags)
    return {"threadId": thread_id, "status": body}


def token_usage_params(thread_id: str, turn_id: str, info: TokenUsageInfo) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "turnId": turn_id,
        "tokenUsage": dump_wire(ThreadTokenUsage.from_info(info)),
    }


_DELTA_METHODS = {
    "agent_message_delta": "item/agentMessage/delta",
    "reasoning_summary_delta": "item/reasoning/summaryTextDelta",
    "command_output_delta": "item/commandExecution/outputDelta",
}
"""Streamed deltas: core event type → v2 notification (same params, plus summaryIndex)."""


def translate(thread_id: str, event: ev.Event) -> list[Notification]:
    msg = event.msg
    kind = msg.type
    if kind in _DELTA_METHODS:
        assert isinstance(
            msg, ev.AgentMessageDelta | ev.ReasoningSummaryDelta | ev.CommandOutputDelta
        )
        params: dict[str, Any] = {
            "threadId": thread_id,
            "turnId": msg.turn_id,
            "itemId": msg.item_id,
            "delta": msg.delta,
        }
        if isinstance(msg, ev.ReasoningSummaryDelta):
            params["summaryIndex"] = msg.summary_index
        return [(_DELTA_METHODS[kind], params, "subscribers")]
    if kind == "reasoning_summary_part_added":
        assert isinstance(msg, ev.ReasoningSummaryPartAdded)
        return [
            (
                "item/reasoning/summaryPartAdded",
                {
                    "threadId": thread_id,
                    "turnId": msg.turn_id,
                    "itemId": msg.item_id,
                    "summaryIndex": msg.summary_index,
                },
                "subscribers",
            )
        ]
    if kind == "item_started":
        assert isinstance(msg, ev.ItemStarted)
        return [
            (
                "item/started",
                {
                    "item": dump_wire(msg.item),
                    "threadId": thread_id,
                    "turnId": msg.turn_id,
                    "startedAtMs": msg.started_at_ms or 0,
                },
                "subscribers",
            )
        ]
    if kind == "item_completed":
        assert isinstance(msg, ev.ItemCompleted)
        return [
            (
                "item/completed",
                {
                    "item": dump_wire(msg.item),
                    "threadId": thread_id,
                    "turnId": msg.turn_id,
                    "contentTokenCount": None,
                    "completedAtMs": msg.completed_at_ms or 0,
                },
                "subscribers",
            )
        ]
    if kind == "status_changed":
        assert isinstance(msg, ev.StatusChanged)
        return [
            ("thread/status/changed", status_params(thread_id, msg.status, msg.active_flags), "all")
        ]
    if kind == "turn_started":
        assert isinstance(msg, ev.TurnStartedEvent)
        return [
            ("turn/started", {"threadId": thread_id, "turn": dump_wire(msg.turn)}, "subscribers")
        ]
    if kind == "turn_completed":
        assert isinstance(msg, ev.TurnCompletedEvent)
        return [
            ("turn/completed", {"threadId": thread_id, "turn": dump_wire(msg.turn)}, "subscribers")
        ]
    if kind == "token_usage_updated":
        assert isinstance(msg, ev.TokenUsageUpdated)
        return [
            (
                "thread/tokenUsage/updated",
                token_usage_params(thread_id, msg.turn_id, msg.info),
                "subscribers",
            ),
            ("account/rateLimits/updated", EMPTY_RATE_LIMITS, "subscribers"),
        ]
    if kind == "token_count":
        # With usage, ``token_usage_updated`` (sent alongside) carries it to clients; a
        # usage-less count (a steer cut the stream, or an interrupt before any usage)
        # still refreshes rate limits, as Codex does.
        assert isinstance(msg, ev.TokenCount)
        if msg.info is None:
            return [("account/rateLimits/updated", EMPTY_RATE_LIMITS, "subscribers")]
        return []
    if kind == "stream_retry":
        assert isinstance(msg, ev.StreamRetry)
        error = TurnError(
            message=msg.message,
            codex_error_info={"responseStreamDisconnected": {"httpStatusCode": None}},
            additional_details=f"retry {msg.attempt}/{msg.max_attempts} in {msg.delay_s:.2f}s",
        )
        return [
            (
                "error",
                {
                    "error": dump_wire(error),
                    "willRetry": True,
                    "threadId": thread_id,
                    "turnId": msg.turn_id,
                },
                "subscribers",
            )
        ]
    if kind == "error":
        assert isinstance(msg, ev.ErrorEvent)
        error = TurnError(message=msg.message, codex_error_info=msg.codex_error_info)
        return [
            (
                "error",
                {
                    "error": dump_wire(error),
                    "willRetry": False,
                    "threadId": thread_id,
                    "turnId": event.id,
                },
                "subscribers",
            )
        ]
    if kind == "warning":
        assert isinstance(msg, ev.WarningEvent)
        return [("warning", {"threadId": thread_id, "message": msg.message}, "subscribers")]
    if kind == "approval_resolved":
        assert isinstance(msg, ev.ApprovalResolved)
        return []
    return []
