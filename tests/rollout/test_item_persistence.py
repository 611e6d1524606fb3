"""What the rollout keeps of commands, file changes and questions to the client, and how
a cut-off turn is found again (``rollout.policy``, ``protocol.core_items``,
``rollout.pending``)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from threadline.protocol import events as ev
from threadline.protocol.asks import ask_answered_payload, ask_opened_payload
from threadline.protocol.items import FunctionCallItem, FunctionCallOutputItem, user_text_message
from threadline.protocol.rollout import EventMsg, RolloutLine, line_from_item
from threadline.protocol.v2.item import CommandExecutionThreadItem, thread_item_adapter
from threadline.protocol.v2.item_parts import ListFilesCommandAction, UnknownCommandAction
from threadline.rollout.pending import find_cut_off
from threadline.rollout.policy import PersistencePolicy, is_persisted_event
from threadline.rollout.turn_items import core_item_to_wire

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "codex-0.169.0"
)
S02 = REFERENCE / "rollouts/sessions/2026/11/25/rollout-2026-11-25T00-58-57-01a21036-8120-7382-94d1-36e16409a931.jsonl"


def _codex_command_items() -> list[dict[str, Any]]:
    out = []
    for raw in S02.read_text().splitlines():
        line = json.loads(raw)
        payload = line["payload"]
        if payload.get("type") == "item_completed" and payload["item"]["type"] == "CommandExecution":
            out.append(payload["item"])
    return out


def _command(**kw: Any) -> CommandExecutionThreadItem:
    base: dict[str, Any] = {
        "id": "call_1",
        "command": "/bin/bash -lc 'ls /definitely-not-here'",
        "cwd": "/WORKSPACE/s02",
        "status": "failed",
        "command_actions": [
            ListFilesCommandAction(command="ls /definitely-not-here", path="definitely-not-here")
        ],
        "aggregated_output": "ls: cannot access\n",
        "exit_code": 2,
        "duration_ms": 1092,
        "process_id": "22560",
        "source": "unifiedExecStartup",
        "started_at_ms": 10,
    }
    base.update(kw)
    return CommandExecutionThreadItem(**base)


def test_a_finished_command_is_written_as_codexs_core_item() -> None:
    payload = ev.ItemCompleted(turn_id="t1", item=_command(), completed_at_ms=20).rollout_payload(
        "thread-1"
    )
    core = payload["item"]
    [codex] = [i for i in _codex_command_items() if i["id"] == "call_s02_fail"]
    assert set(core) == set(codex)
    for key in ("command", "cwd", "parsed_cmd", "source", "status", "exit_code", "process_id"):
        assert core[key] == codex[key], key
    assert core["duration"] == {"secs": 1, "nanos": 92_000_000}
    assert (payload["started_at_ms"], payload["completed_at_ms"]) == (10, 20)
    assert is_persisted_event(payload) and is_persisted_event(payload, extended=True)


def test_the_core_item_reads_back_as_the_same_v2_item() -> None:
    item = _command(
        status="completed",
        exit_code=0,
        command_actions=[UnknownCommandAction(command="echo 'a b'")],
        command=shlex.join(["/bin/bash", "-c", "echo 'a b'"]),  # as the shell tool builds it
    )
    core = ev.ItemCompleted(turn_id="t", item=item).rollout_payload("x")["item"]
    back = thread_item_adapter.validate_python(core_item_to_wire(core))
    assert isinstance(back, CommandExecutionThreadItem)
    assert core["command"] == ["/bin/bash", "-c", "echo 'a b'"]
    for field in ("id", "command", "cwd", "status", "exit_code", "duration_ms", "source",
                  "process_id", "aggregated_output", "command_actions"):
        assert getattr(back, field) == getattr(item, field), field


@pytest.mark.parametrize(
    ("item", "kept"),
    [
        ({"type": "CommandExecution", "id": "c", "status": "completed"}, True),
        ({"type": "CommandExecution", "id": "c", "status": "failed"}, True),
        ({"type": "CommandExecution", "id": "c", "status": "declined"}, False),
        ({"type": "FileChange", "id": "p", "status": "completed", "changes": {}}, True),
        ({"type": "FileChange", "id": "p", "status": "declined", "changes": {}}, False),
        ({"type": "Plan", "id": "plan", "text": "x"}, True),
        ({"type": "AgentMessage", "id": "m", "content": []}, False),
        ({"type": "UserMessage", "id": "u", "content": []}, False),
    ],
)
def test_which_completed_items_are_kept_in_limited_mode(item: dict[str, Any], kept: bool) -> None:
    payload = {"type": "item_completed", "thread_id": "x", "turn_id": "t", "item": item}
    assert is_persisted_event(payload) is kept
    assert (PersistencePolicy().line_for(EventMsg.model_validate(payload)) is not None) is kept


def test_questions_to_the_client_are_always_kept() -> None:
    opened = ask_opened_payload("t", "a1", "call", {"type": "exec_approval_request"})
    answered = ask_answered_payload("t", "a1", "call", "accept")
    for payload in (opened, answered):
        assert is_persisted_event(payload)
        assert PersistencePolicy().line_for(EventMsg.model_validate(payload)) is not None
    assert answered["answer"] == "accept"


# ---- finding the turn a restart cut off ------------------------------------------------------


def _ev(payload: dict[str, Any]) -> RolloutLine:
    return line_from_item(EventMsg.model_validate(payload))


def _call(call_id: str, cmd: str = "true") -> RolloutLine:
    return line_from_item(
        FunctionCallItem(name="exec_command", arguments=json.dumps({"cmd": cmd}), call_id=call_id)
    )


def _out(call_id: str) -> RolloutLine:
    return line_from_item(FunctionCallOutputItem(call_id=call_id, output="ok"))


def _turn_start(turn_id: str = "t1") -> list[RolloutLine]:
    return [
        _ev({"type": "task_started", "turn_id": turn_id, "started_at": 100}),
        line_from_item(user_text_message("go")),
        _ev({"type": "user_message", "message": "go"}),
        RolloutLine(
            timestamp="2026-12-01T00:00:00.000Z",
            type="turn_context",
            payload={"turn_id": turn_id, "approval_policy": "untrusted",
                     "sandbox_policy": {"type": "workspace-write"}, "cwd": "/w", "model": "m"},
        ),
    ]


def _asked(approval: str, item: str, turn_id: str = "t1") -> RolloutLine:
    return _ev(ask_opened_payload(turn_id, approval, item, {"type": "exec_approval_request"}))


def _answered(approval: str, item: str, answer: Any = "accept") -> RolloutLine:
    return _ev(ask_answered_payload("t1", approval, item, answer))


def test_a_call_waiting_for_its_answer_is_run_again() -> None:
    cut = find_cut_off([*_turn_start(), _call("c1"), _asked("a1", "c1")])
    assert cut is not None
    assert (cut.turn_id, cut.started_at) == ("t1", 100)
    assert (cut.approval_policy, cut.sandbox_mode) == ("untrusted", "workspace-write")
    [call] = cut.calls
    assert (call.call.call_id, call.state, call.ask_type) == ("c1", "asked", "exec_approval_request")


def test_an_answered_call_is_never_run_again() -> None:
    cut = find_cut_off([*_turn_start(), _call("c1"), _asked("a1", "c1"), _answered("a1", "c1")])
    assert cut is not None
    [call] = cut.calls
    assert (call.state, call.answer) == ("answered", "accept")


def test_an_earlier_calls_answer_is_not_taken_for_the_waiting_ones() -> None:
    # One model response with three calls: the first asked, was answered and finished;
    # the second is waiting for its answer; the third never started.
    lines = [
        *_turn_start(), _call("c1"), _call("c2"), _call("c3"),
        _asked("a1", "c1"), _answered("a1", "c1"), _out("c1"),
        _asked("a2", "c2"),
    ]
    cut = find_cut_off(lines)
    assert cut is not None
    assert [(c.call.call_id, c.state) for c in cut.calls] == [
        ("c2", "asked"), ("c3", "not_started")
    ]


def test_a_restart_that_asked_again_and_crashed_again_is_still_found() -> None:
    lines = [*_turn_start(), _call("c1"), _asked("a1", "c1"), _asked("a2", "c1")]
    cut = find_cut_off(lines)
    assert cut is not None and cut.calls[0].state == "asked"
    cut = find_cut_off([*lines, _answered("a2", "c1", "decline")])
    assert cut is not None and (cut.calls[0].state, cut.calls[0].answer) == ("answered", "decline")


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param([_call("c1")], id="running-without-asking"),
        pytest.param([_call("c1"), _asked("a1", "c1"), _out("c1")], id="call-finished"),
        pytest.param(
            [_call("c1"), _asked("a1", "c1"),
             _ev({"type": "turn_aborted", "turn_id": "t1", "reason": "interrupted"})],
            id="turn-aborted",
        ),
        pytest.param(
            [_call("c1"), _asked("a1", "c1"), _out("c1"),
             _ev({"type": "task_complete", "turn_id": "t1"})],
            id="turn-complete",
        ),
        pytest.param([], id="no-calls"),
    ],
)
def test_nothing_to_continue(tail: list[RolloutLine]) -> None:
    assert find_cut_off([*_turn_start(), *tail]) is None


def test_only_the_last_turn_counts() -> None:
    old = [*_turn_start("t0"), _call("c0"), _asked("a0", "c0", "t0")]
    assert find_cut_off([*old, *_turn_start("t1")]) is None
