"""The event table walked: every core event class is routed or listed as not sent, every
route names its method's v2 model, and what it produces validates against the reference
schema. The typed approval request keeps the members Codex sends, in Codex's order."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from tests.support.schema import registry

from threadline.protocol import events as ev
from threadline.protocol.methods import SERVER_NOTIFICATIONS, SERVER_REQUESTS
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.item import (
    AgentMessageThreadItem,
    CommandExecutionThreadItem,
    PlanThreadItem,
    UserMessageThreadItem,
)
from threadline.protocol.v2.item_parts import (
    AddPatchChangeKind,
    FileUpdateChange,
    ReadCommandAction,
    UpdatePatchChangeKind,
)
from threadline.protocol.v2.turn import Turn
from threadline.server.events import EVENT_TABLE, NOT_SENT, translate
from threadline.server.requests import APPROVAL_METHOD, ASK_TABLE, approval_request
from threadline.server.translate import token_usage_params

CORE_EVENTS: tuple[type, ...] = typing.get_args(ev.EventMsg)
THREAD = "thread-1"
TURN = "turn-1"


def _usage() -> TokenUsageInfo:
    return TokenUsageInfo().updated(
        TokenUsage(input_tokens=100, cached_input_tokens=40, output_tokens=20, total_tokens=120),
        1000,
    )


def _turn(status: Any) -> Turn:
    return Turn(id=TURN, items=[], status=status, started_at=1)


_SETTINGS = {
    "model": "gpt-5.4",
    "model_provider": "mock",
    "cwd": "/work/repo",
    "approval_policy": "on-request",
    "approvals_reviewer": "user",
    "sandbox_mode": "workspace-write",
    "reasoning_effort": "high",
    "reasoning_summary": "auto",
    "personality": None,
    "service_tier": None,
    "collaboration_mode": "default",
    "developer_instructions": None,
}


def _hook_run(status: str, **more: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": "pre-tool-use:0:/h/config.toml:c1",
        "event_name": "preToolUse",
        "handler_type": "command",
        "execution_mode": "sync",
        "scope": "turn",
        "source_path": "/h/config.toml",
        "source": "user",
        "display_order": 0,
        "status": status,
        "status_message": None,
        "started_at": 1,
        "completed_at": None,
        "duration_ms": None,
        "entries": [],
    }
    run.update(more)
    return run


SAMPLES: dict[type, list[Any]] = {
    ev.SettingsUpdated: [ev.SettingsUpdated(settings=_SETTINGS)],
    ev.ReadStateChanged: [ev.ReadStateChanged(first_unread_turn_id=TURN, revision="r1")],
    ev.HookStarted: [ev.HookStarted(turn_id=TURN, run=_hook_run("running"))],
    ev.HookCompleted: [
        ev.HookCompleted(
            turn_id=TURN,
            run=_hook_run(
                "blocked",
                completed_at=2,
                duration_ms=5,
                entries=[{"kind": "feedback", "text": "no"}],
            ),
        )
    ],
    ev.SkillsChanged: [ev.SkillsChanged()],
    ev.AgentMessageDelta: [ev.AgentMessageDelta(turn_id=TURN, item_id="m1", delta="hel")],
    ev.ReasoningSummaryDelta: [
        ev.ReasoningSummaryDelta(turn_id=TURN, item_id="r1", delta="why", summary_index=1)
    ],
    ev.CommandOutputDelta: [ev.CommandOutputDelta(turn_id=TURN, item_id="c1", delta="out\n")],
    ev.McpStartupUpdate: [
        ev.McpStartupUpdate(server="docs", status="starting"),
        ev.McpStartupUpdate(server="docs", status="failed", error="did not start within 0.5s"),
    ],
    ev.McpToolCallProgress: [
        ev.McpToolCallProgress(turn_id=TURN, item_id="call-9", message="half way")
    ],
    ev.TerminalInteraction: [
        ev.TerminalInteraction(turn_id=TURN, item_id="c1", process_id="4242", stdin="ls\n")
    ],
    ev.ReasoningSummaryPartAdded: [
        ev.ReasoningSummaryPartAdded(turn_id=TURN, item_id="r1", summary_index=1)
    ],
    ev.ItemStarted: [
        ev.ItemStarted(
            turn_id=TURN,
            item=UserMessageThreadItem(id="u1", content=[], started_at_ms=5),
            started_at_ms=5,
        ),
        ev.ItemStarted(turn_id=TURN, item=AgentMessageThreadItem(id="m1", text="")),
    ],
    ev.ItemCompleted: [
        ev.ItemCompleted(
            turn_id=TURN, item=AgentMessageThreadItem(id="m1", text="hi"), completed_at_ms=9
        ),
        ev.ItemCompleted(
            turn_id=TURN, item=PlanThreadItem(id="p1", text="1. a"), completed_at_ms=9
        ),
        ev.ItemCompleted(
            turn_id=TURN,
            item=CommandExecutionThreadItem(
                id="c1", command="ls", cwd="/w", command_actions=[], status="completed"
            ),
            completed_at_ms=9,
        ),
    ],
    ev.StatusChanged: [
        ev.StatusChanged(status="idle"),
        ev.StatusChanged(status="active", active_flags=["waitingOnApproval"]),
        ev.StatusChanged(status="active"),
    ],
    ev.TurnStartedEvent: [ev.TurnStartedEvent(turn=_turn("inProgress"))],
    ev.TurnCompletedEvent: [ev.TurnCompletedEvent(turn=_turn("completed"))],
    ev.TokenUsageUpdated: [ev.TokenUsageUpdated(turn_id=TURN, info=_usage())],
    ev.TokenCount: [ev.TokenCount(info=None), ev.TokenCount(info=_usage())],
    ev.StreamRetry: [
        ev.StreamRetry(turn_id=TURN, message="reset", attempt=1, max_attempts=5, delay_s=0.2)
    ],
    ev.ErrorEvent: [
        ev.ErrorEvent(message="boom"),
        ev.ErrorEvent(message="x", codex_error_info="other"),
    ],
    ev.WarningEvent: [ev.WarningEvent(message="careful")],
    ev.ContextCompacted: [ev.ContextCompacted()],
    ev.PatchApplyUpdated: [
        ev.PatchApplyUpdated(
            turn_id=TURN,
            item_id="call_p",
            changes=[
                FileUpdateChange(path="a.txt", kind=UpdatePatchChangeKind(), diff="@@\n-x\n+y\n"),
                FileUpdateChange(path="n.txt", kind=AddPatchChangeKind(), diff="hi\n"),
            ],
        )
    ],
    ev.TurnDiff: [ev.TurnDiff(turn_id=TURN, unified_diff="diff --git a/a b/a\n")],
}


def test_every_core_event_is_routed_or_listed_as_not_sent() -> None:
    routed, silent, asked = set(EVENT_TABLE), set(NOT_SENT), set(ASK_TABLE)
    assert not routed & silent and not routed & asked and not silent & asked
    assert routed | silent | asked == set(CORE_EVENTS)
    assert all(reason for reason in NOT_SENT.values())
    for route in ASK_TABLE.values():
        assert route.method in SERVER_REQUESTS, route.method


def test_every_route_names_its_methods_model() -> None:
    for cls, routes in EVENT_TABLE.items():
        assert routes, cls
        for route in routes:
            assert SERVER_NOTIFICATIONS[route.method] is route.params, (cls, route.method)
            broadcast = ("thread/status/changed", "skills/changed")  # skills/changed names no thread
            expected = "all" if route.method in broadcast else "subscribers"
            assert route.scope == expected, route.method


@pytest.mark.parametrize("cls", list(EVENT_TABLE), ids=lambda c: c.__name__)
def test_each_notification_has_its_models_shape_and_the_schemas(cls: type) -> None:
    methods = {route.method: route.params for route in EVENT_TABLE[cls]}
    produced = 0
    for msg in SAMPLES[cls]:
        for method, params, _scope in translate(THREAD, ev.Event(id=TURN, msg=msg)):
            produced += 1
            assert dump_wire(methods[method].model_validate(params)) == params, method
            registry().validate_s2c({"method": method, "params": params, "emittedAtMs": 1})
            if "threadId" in params:
                assert params["threadId"] == THREAD
    assert produced


def test_the_table_sends_what_the_if_chain_sent() -> None:
    # Members and their order as Codex sends them (and as the hand-built dicts had them).
    def one(msg: Any, event_id: str = TURN) -> list[tuple[str, list[str]]]:
        return [(m, list(p)) for m, p, _ in translate(THREAD, ev.Event(id=event_id, msg=msg))]

    [delta] = SAMPLES[ev.ReasoningSummaryDelta]
    assert one(delta) == [
        (
            "item/reasoning/summaryTextDelta",
            ["threadId", "turnId", "itemId", "delta", "summaryIndex"],
        )
    ]
    assert one(SAMPLES[ev.ItemStarted][1]) == [
        ("item/started", ["item", "threadId", "turnId", "startedAtMs"])
    ]
    assert one(SAMPLES[ev.ItemCompleted][0]) == [
        ("item/completed", ["item", "threadId", "turnId", "contentTokenCount", "completedAtMs"])
    ]
    assert one(SAMPLES[ev.TokenUsageUpdated][0]) == [
        ("thread/tokenUsage/updated", ["threadId", "turnId", "tokenUsage"]),
        ("account/rateLimits/updated", ["rateLimits"]),
    ]
    assert one(SAMPLES[ev.TokenCount][1]) == []
    assert one(ev.ErrorEvent(message="boom"), "turn-9") == [
        ("error", ["error", "willRetry", "threadId", "turnId"])
    ]
    [(_, status, scope)] = translate(THREAD, ev.Event(id="", msg=ev.StatusChanged(status="idle")))
    assert (status, scope) == ({"threadId": THREAD, "status": {"type": "idle"}}, "all")
    [(_, error, _)] = translate(THREAD, ev.Event(id="turn-9", msg=ev.ErrorEvent(message="boom")))
    assert error["turnId"] == "turn-9" and error["willRetry"] is False
    [(_, limits, _)] = translate(THREAD, ev.Event(id=TURN, msg=ev.TokenCount(info=None)))
    assert limits == {
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
    replay = token_usage_params(THREAD, TURN, _usage())
    assert list(replay) == ["threadId", "turnId", "tokenUsage"]
    registry().validate_s2c(
        {"method": "thread/tokenUsage/updated", "params": replay, "emittedAtMs": 1}
    )


def _approval(**over: Any) -> ev.ExecApprovalRequest:
    fields: dict[str, Any] = {
        "approval_id": "a1",
        "turn_id": TURN,
        "item_id": "call-1",
        "command": "touch x",
        "cwd": "/w",
    }
    return ev.ExecApprovalRequest(**(fields | over))


def test_approval_requests_are_typed_and_keep_codexs_members() -> None:
    params_type, _ = SERVER_REQUESTS[APPROVAL_METHOD]
    full = approval_request(
        THREAD,
        _approval(
            reason="writes a file",
            proposed_amendment=["touch"],
            started_at_ms=7,
            command_actions=[ReadCommandAction(command="cat a", name="a", path="/w/a")],
        ),
    )
    assert isinstance(full, params_type)
    wire = dump_wire(full)
    assert wire == {
        "kind": "command",
        "threadId": THREAD,
        "turnId": TURN,
        "itemId": "call-1",
        "startedAtMs": 7,
        "environmentId": "local",
        "command": "touch x",
        "cwd": "/w",
        "commandActions": [{"command": "cat a", "name": "a", "path": "/w/a", "type": "read"}],
        "reason": "writes a file",
        "proposedExecpolicyAmendment": ["touch"],
        "availableDecisions": [
            "accept",
            {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["touch"]}},
            "cancel",
        ],
    }
    assert list(wire) == [  # Codex's order (the reference traces)
        "kind",
        "threadId",
        "turnId",
        "itemId",
        "startedAtMs",
        "environmentId",
        "command",
        "cwd",
        "commandActions",
        "reason",
        "proposedExecpolicyAmendment",
        "availableDecisions",
    ]
    bare = dump_wire(approval_request(THREAD, _approval()))
    assert "reason" not in bare and "proposedExecpolicyAmendment" not in bare
    assert bare["commandActions"] == [{"type": "unknown", "command": "touch x"}]
    assert bare["availableDecisions"] == ["accept", "cancel"]
    assert isinstance(bare["startedAtMs"], int) and bare["startedAtMs"] > 0
    for params in (wire, bare):
        registry().validate_s2c({"id": 1, "method": APPROVAL_METHOD, "params": params})
