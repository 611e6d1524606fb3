"""Reader and reconstruction on legacy rollouts: garbage lines, model history with compaction
and rollback markers, v2 turns, the restored token usage and its attribution."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from threadline.protocol.items import MessageItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.common import dump_wire
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.history import (
    latest_token_info,
    model_history,
    reconstruct,
    sanitize_token_info,
)
from threadline.rollout.reader import parse_lines, read_head, read_rollout, read_tail_token_info
from threadline.rollout.turns import build_turns

THREAD = "019c0000-0000-7000-8000-000000000001"
_clock = [0]


def _ts() -> str:
    _clock[0] += 1
    return f"2026-03-01T12:{_clock[0] // 60 % 60:02d}:{_clock[0] % 60:02d}.000Z"


def line(kind: str, payload: Any) -> dict[str, Any]:
    return {"timestamp": _ts(), "type": kind, "payload": payload}


def meta(**extra: Any) -> dict[str, Any]:
    return line("session_meta", {"id": THREAD, "timestamp": "2026-03-01T12:00:00.000Z",
                                 "cwd": "/w", "originator": "t", "cli_version": "0",
                                 "source": "cli", "model_provider": "openai", **extra})


def msg(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return line("response_item", {"type": "message", "role": role,
                                  "content": [{"type": kind, "text": text}]})


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return line("event_msg", {"type": kind, **fields})


def usage(total: int, last: int, window: int | None = 200_000) -> dict[str, Any]:
    return {
        "total_token_usage": {"input_tokens": total - 30, "cached_input_tokens": 20,
                              "output_tokens": 30, "reasoning_output_tokens": 10,
                              "total_tokens": total},
        "last_token_usage": {"input_tokens": last - 20, "cached_input_tokens": 10,
                             "output_tokens": 20, "reasoning_output_tokens": 5, "total_tokens": last},
        "model_context_window": window,
    }


def turn(turn_id: str, text: str, reply: str, *, end: str = "task_complete",
         tokens: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    out = [
        ev("task_started", turn_id=turn_id, model_context_window=200_000),
        line("turn_context", {"turn_id": turn_id, "cwd": "/w", "approval_policy": "never",
                              "sandbox_policy": {"type": "read-only"}, "model": "m1",
                              "summary": "auto"}),
        msg("user", text),
        ev("user_message", message=text, images=[], local_images=[], text_elements=[]),
        msg("assistant", reply),
        ev("agent_message", message=reply),
    ]
    if tokens is not None:
        out.append(ev("token_count", info=usage(*tokens), rate_limits=None))
    if end == "task_complete":
        out.append(ev("task_complete", turn_id=turn_id, last_agent_message=reply))
    elif end == "turn_aborted":
        out.append(msg("user", "<turn_aborted>\nThe user interrupted.\n</turn_aborted>"))
        out.append(ev("turn_aborted", turn_id=turn_id, reason="interrupted"))
    return out


def write(path: Path, records: list[Any], tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )
    path.write_bytes(body + tail)
    return path


def rollout_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions" / "2026" / "03" / "01" / f"rollout-2026-03-01T12-00-00-{THREAD}.jsonl"


def texts(history: list[Any]) -> list[str]:
    return [f"{i.role}:{i.text()}" for i in history if isinstance(i, MessageItem)]


# --- reader ---------------------------------------------------------------------------------


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records: list[Any] = [meta(), *turn("t1", "hi", "hello", tokens=(150, 90))]
    records.insert(3, b"this is not json")
    records.insert(5, b'["a", "list", "is", "not", "a", "line"]')
    records.insert(6, b'{"type": "event_msg"}')  # no timestamp, no payload
    path = write(rollout_path(tmp_path), records, tail=b'{"timestamp":"2026-03-01T12:59:00.000Z","ty')
    with caplog.at_level(logging.WARNING):
        rollout = read_rollout(path)
    assert rollout.parse_errors == 4
    assert "torn last line" in caplog.text
    assert rollout.meta is not None and rollout.meta.id == THREAD
    assert rollout.format == "legacy"
    rebuilt = reconstruct(rollout)
    assert rebuilt.parse_errors == 4
    assert [t.status for t in rebuilt.turns] == ["completed"]
    assert texts(rebuilt.history) == ["user:hi", "assistant:hello"]


def test_unknown_line_types_are_kept_not_fatal(tmp_path: Path) -> None:
    records = [meta(), line("world_state", {"full": True}), *turn("t1", "hi", "yo"),
               line("some_future_type", {"x": 1}), ev("some_future_event", y=2)]
    rollout = read_rollout(write(rollout_path(tmp_path), records))
    assert rollout.parse_errors == 0
    assert [ln.type for ln in rollout.lines].count("some_future_type") == 1
    kinds = {type(item).__name__ for item in rollout.items()}
    assert "RawRolloutItem" in kinds
    assert len(reconstruct(rollout).turns) == 1


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(RolloutReadError) as info:
        read_rollout(tmp_path / "nope.jsonl")
    assert "failed to load rollout" in str(info.value)


def test_head_skips_context_messages_and_reads_little(tmp_path: Path) -> None:
    records = [
        meta(),
        msg("developer", "instructions"),
        msg("user", "<environment_context><cwd>/w</cwd></environment_context>"),
        *turn("t1", "## My request for Codex:\nthe real question", "answer"),
    ]
    records += [ev("agent_message", message="x" * 100) for _ in range(5000)]
    path = write(rollout_path(tmp_path), records)
    head = read_head(path)
    assert head.first_user_message == "the real question"
    assert head.model == "m1"
    assert head.meta is not None and head.meta.id == THREAD


def test_parse_lines_keeps_ordinals_and_metadata() -> None:
    raw = b'{"timestamp":"t","ordinal":7,"type":"response_item","payload":{"type":"message","role":"user","content":[]},"metadata":{"history_sequence":3}}\n'
    lines, errors = parse_lines(raw)
    assert errors == 0
    assert lines[0].ordinal == 7 and lines[0].metadata == {"history_sequence": 3}


# --- model history (spec section 7) ---------------------------------------------------------


def _lines(records: list[dict[str, Any]]) -> list[Any]:
    lines, errors = parse_lines(b"\n".join(json.dumps(r).encode() for r in records))
    assert errors == 0
    return lines


def test_history_replays_response_items_only() -> None:
    lines = _lines([meta(), *turn("t1", "one", "r1"), *turn("t2", "two", "r2")])
    assert texts(model_history(lines)) == ["user:one", "assistant:r1", "user:two", "assistant:r2"]


def test_compaction_with_replacement_history_becomes_the_base() -> None:
    replacement = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
        {"type": "compaction", "encrypted_content": "opaque"},
    ]
    lines = _lines([
        meta(), *turn("t1", "one", "r1"), *turn("t2", "two", "r2"),
        line("compacted", {"message": "summary", "replacement_history": replacement}),
        ev("context_compacted"),
        *turn("t3", "three", "r3"),
    ])
    history = model_history(lines)
    assert [getattr(i, "type", None) for i in history] == ["message", "compaction", "message", "message"]
    assert texts(history) == ["user:one", "user:three", "assistant:r3"]


def test_legacy_compaction_keeps_user_messages_and_adds_the_summary() -> None:
    lines = _lines([
        meta(), *turn("t1", "one", "r1"), *turn("t2", "two", "r2"),
        line("compacted", {"message": "what happened so far"}),
        *turn("t3", "three", "r3"),
    ])
    assert texts(model_history(lines)) == [
        "user:one", "user:two", "user:what happened so far", "user:three", "assistant:r3",
    ]


def test_rollback_drops_the_newest_user_turns() -> None:
    lines = _lines([
        meta(), *turn("t1", "one", "r1"), *turn("t2", "two", "r2"), *turn("t3", "three", "r3"),
        ev("thread_rolled_back", num_turns=2),
        *turn("t4", "four", "r4"),
    ])
    assert texts(model_history(lines)) == ["user:one", "assistant:r1", "user:four", "assistant:r4"]
    turns = build_turns(lines)
    assert [t.id for t in turns] == ["t1", "t4"]


def test_rollback_undoes_a_compaction_inside_the_removed_turns() -> None:
    lines = _lines([
        meta(), *turn("t1", "one", "r1"), *turn("t2", "two", "r2"),
        ev("task_started", turn_id="t3"),
        msg("user", "three"),
        ev("user_message", message="three"),
        line("compacted", {"message": "s", "replacement_history": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "S"}]}]}),
        ev("task_complete", turn_id="t3"),
        ev("thread_rolled_back", num_turns=1),
    ])
    assert texts(model_history(lines)) == ["user:one", "assistant:r1", "user:two", "assistant:r2"]


def test_rollback_of_more_turns_than_exist_empties_history() -> None:
    lines = _lines([meta(), *turn("t1", "one", "r1"), ev("thread_rolled_back", num_turns=5)])
    assert model_history(lines) == []
    assert build_turns(lines) == []


def test_rollback_in_files_without_turn_events_cuts_before_user_messages() -> None:
    lines = _lines([meta(), msg("user", "one"), msg("assistant", "r1"), msg("user", "two"),
                    msg("assistant", "r2"), ev("thread_rolled_back", num_turns=1)])
    assert texts(model_history(lines)) == ["user:one", "assistant:r1"]


# --- v2 turns (spec section 5) ----------------------------------------------------------------


def test_turn_statuses_and_items() -> None:
    lines = _lines([
        meta(),
        *turn("t1", "one", "r1"),
        *turn("t2", "two", "r2", end="turn_aborted"),
        ev("task_started", turn_id="t3"),
        ev("user_message", message="three"),
        ev("error", message="boom", codex_error_info="internal_server_error"),
        ev("task_complete", turn_id="t3"),
        ev("task_started", turn_id="t4"),
        ev("user_message", message="four"),
        ev("agent_reasoning", text="thinking"),
        ev("agent_reasoning", text=" more"),
        ev("agent_message", message="partial"),
    ])
    turns = build_turns(lines)
    assert [(t.id, t.status) for t in turns] == [
        ("t1", "completed"), ("t2", "interrupted"), ("t3", "failed"), ("t4", "interrupted"),
    ]
    assert turns[2].error is not None and turns[2].error.message == "boom"
    wire = [dump_wire(t) for t in turns]
    assert [i["type"] for i in wire[0]["items"]] == ["userMessage", "agentMessage"]
    assert wire[0]["items"][0]["content"][0]["text"] == "one"
    assert [i["type"] for i in wire[3]["items"]] == ["userMessage", "reasoning", "agentMessage"]
    assert wire[3]["items"][1]["summary"] == ["thinking", " more"]
    # A live thread keeps its running turn in progress.
    assert build_turns(lines, live=True)[-1].status == "inProgress"
    ids = [i["id"] for t in wire for i in t["items"]]
    assert len(ids) == len(set(ids))


def test_implicit_turns_for_files_without_task_events() -> None:
    lines = _lines([
        meta(),
        ev("user_message", message="one"), ev("agent_message", message="r1"),
        ev("user_message", message="two"), ev("agent_message", message="r2"),
    ])
    turns = build_turns(lines)
    assert [t.status for t in turns] == ["completed", "completed"]
    assert all(t.id.startswith("rollout-") for t in turns)
    assert turns[0].id != turns[1].id


def test_extended_mode_tool_items_are_shown() -> None:
    lines = _lines([
        meta(),
        ev("task_started", turn_id="t1"),
        ev("user_message", message="run it"),
        ev("exec_command_end", call_id="call_1", turn_id="t1", command=["bash", "-lc", "echo hi"],
           cwd="/w", exit_code=0, aggregated_output="hi\n", duration={"secs": 0, "nanos": 5_000_000},
           parsed_cmd=[]),
        ev("agent_message", message="it printed hi"),
        ev("task_complete", turn_id="t1"),
    ])
    (only,) = build_turns(lines)
    items = [dump_wire(i) for i in only.items]
    command = next(i for i in items if i["type"] == "commandExecution")
    assert command["id"] == "call_1" and command["exitCode"] == 0
    assert command["aggregatedOutput"] == "hi\n" and command["durationMs"] == 5


# --- token usage ----------------------------------------------------------------------------


def test_usage_is_the_newest_token_count_with_info_and_owned_by_its_turn(tmp_path: Path) -> None:
    records = [
        meta(),
        *turn("t1", "one", "r1", tokens=(150, 90)),
        *turn("t2", "two", "r2", tokens=(400, 250)),
        ev("task_started", turn_id="t3"),
        ev("user_message", message="three"),
        ev("token_count", info=None, rate_limits={"limit_id": "codex"}),
    ]
    rollout = read_rollout(write(rollout_path(tmp_path), records))
    rebuilt = reconstruct(rollout)
    assert rebuilt.token_info is not None
    assert rebuilt.token_info.total_token_usage.total_tokens == 400
    assert rebuilt.token_info.last_token_usage.total_tokens == 250
    assert rebuilt.token_info.model_context_window == 200_000
    # The torn third turn (interrupted after resume) has no token_count of its own.
    assert [t.status for t in rebuilt.turns] == ["completed", "completed", "interrupted"]
    assert rebuilt.usage_turn_id == "t2"
    assert read_tail_token_info(rollout.path) == rebuilt.token_info


def test_codex_fixture_numbers_round_trip(tmp_path: Path) -> None:
    """The shape of Codex's own test fixture: total 150 (120 in incl. 20 cached, 30 out incl.
    10 reasoning), last 90, window 200000, one user turn."""
    records = [meta(), *turn("only", "hello", "hi", tokens=(150, 90))]
    rebuilt = reconstruct(read_rollout(write(rollout_path(tmp_path), records)))
    info = rebuilt.token_info
    assert info is not None
    total = info.total_token_usage
    assert (total.total_tokens, total.input_tokens, total.cached_input_tokens,
            total.output_tokens, total.reasoning_output_tokens) == (150, 120, 20, 30, 10)
    assert info.last_token_usage.total_tokens == 90
    assert rebuilt.usage_turn_id == "only"


def test_no_token_count_means_no_usage() -> None:
    lines = _lines([meta(), *turn("t1", "one", "r1")])
    assert latest_token_info(lines) is None
    rebuilt = reconstruct(read_rollout_from_lines(lines))
    assert rebuilt.token_info is None and rebuilt.usage_turn_id is None


def read_rollout_from_lines(lines: list[Any]) -> Any:
    from threadline.rollout.reader import RolloutFile

    return RolloutFile(path=Path("/nonexistent"), meta=None, lines=lines)


def test_impossible_last_usage_is_clamped(caplog: pytest.LogCaptureFixture) -> None:
    info = TokenUsageInfo(
        total_token_usage=TokenUsage(total_tokens=900_000),
        last_token_usage=TokenUsage(input_tokens=300_000, total_tokens=310_000),
        model_context_window=258_400,
    )
    with caplog.at_level(logging.WARNING):
        fixed = sanitize_token_info(info)
    assert fixed.last_token_usage.total_tokens == 258_400
    assert fixed.total_token_usage.total_tokens == 900_000  # the bill is not touched
    assert "clamp" in caplog.text
    sane = TokenUsageInfo(last_token_usage=TokenUsage(total_tokens=10), model_context_window=100)
    assert sanitize_token_info(sane) == sane
    unknown_window = TokenUsageInfo(last_token_usage=TokenUsage(total_tokens=10**9))
    assert sanitize_token_info(unknown_window) == unknown_window


def test_restored_usage_is_sanitized(tmp_path: Path) -> None:
    records = [meta(), *turn("t1", "one", "r1", tokens=(500_000, 300_000))]
    records[-2]["payload"]["info"]["model_context_window"] = 258_400
    rebuilt = reconstruct(read_rollout(write(rollout_path(tmp_path), records)))
    assert rebuilt.token_info is not None
    assert rebuilt.token_info.last_token_usage.total_tokens == 258_400


def test_rollback_that_removes_the_owning_turn_falls_back() -> None:
    lines = _lines([
        meta(),
        *turn("t1", "one", "r1", tokens=(100, 100)),
        *turn("t2", "two", "r2", tokens=(300, 200)),
        ev("thread_rolled_back", num_turns=1),
    ])
    rebuilt = reconstruct(read_rollout_from_lines(lines))
    assert [t.id for t in rebuilt.turns] == ["t1"]
    assert rebuilt.usage_turn_id == "t1"


def test_name_comes_from_the_newest_name_event() -> None:
    lines = _lines([
        meta(), *turn("t1", "one", "r1"),
        ev("thread_name_updated", thread_id=THREAD, thread_name="First"),
        ev("thread_name_updated", thread_id=THREAD, thread_name="Second"),
    ])
    assert reconstruct(read_rollout_from_lines(lines)).name == "Second"


def test_open_turn_is_reported_for_a_torn_tail() -> None:
    torn = _lines([meta(), *turn("t1", "one", "r1"), ev("task_started", turn_id="t2"),
                   ev("user_message", message="two")])
    rebuilt = reconstruct(read_rollout_from_lines(torn))
    assert rebuilt.open_turn_id == "t2"
    assert rebuilt.turns[-1].status == "interrupted"
    finished = _lines([meta(), *turn("t1", "one", "r1")])
    assert reconstruct(read_rollout_from_lines(finished)).open_turn_id is None
