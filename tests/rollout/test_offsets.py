"""The offset index of a rollout (threadline.rollout.offsets): every turn rendered from
its own byte range equals the same turn of a whole-file read (Codex's own rollouts,
threadline's, and hand-made edge cases: implicit turns, rollbacks, compaction-only
turns, merged reasoning, empty agent messages, late tool ends); the index extends
when the file grows, rebuilds when it was rewritten, skips a line still being
written, survives the process in its cache file and refuses a paginated fork."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.rollout.offsets import OffsetIndex, render_turns, scan
from threadline.rollout.offsets_cache import current_index, forget_cached, load_cached
from threadline.rollout.reader import read_rollout
from threadline.rollout.turns import build_turns

REFERENCE = Path("/work/shared/reference/codex-0.169.0/rollouts/sessions")
DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"
TS = "2026-11-20T10:00:00.000Z"


def _line(kind: str, payload: dict[str, Any], **extra: Any) -> str:
    """A line as threadline and Codex write them (compact JSON, this key order)."""
    return json.dumps({"timestamp": TS, **extra, "type": kind, "payload": payload},
                      separators=(",", ":"))


def _event(kind: str, **fields: Any) -> str:
    return _line("event_msg", {"type": kind, **fields})


META = _line("session_meta", {"id": "019a0000-0000-7000-8000-0000000000aa", "timestamp": TS,
                              "cwd": "/", "originator": "t", "cli_version": "0", "source": "cli"})


def _assert_same(path: Path) -> OffsetIndex:
    index = scan(path)
    assert index.unsupported is None
    whole = build_turns(read_rollout(path).lines)
    paged = render_turns(index, index.visible())
    assert [t.model_dump() for t in paged] == [t.model_dump() for t in whole]
    # Any single turn alone, too (what a page of one turn reads).
    for position, span in enumerate(index.visible()):
        assert render_turns(index, [span])[0].model_dump() == whole[position].model_dump()
    return index


def _write(tmp_path: Path, lines: list[str], name: str = "rollout.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _reference_files() -> list[Path]:
    files = sorted(REFERENCE.rglob("*.jsonl")) if REFERENCE.is_dir() else []
    return files + sorted(DATA.glob("*.jsonl"))


@pytest.mark.parametrize("path", _reference_files(), ids=lambda p: p.name[-24:])
def test_codex_rollouts_render_like_a_whole_read(path: Path) -> None:
    index = scan(path)
    if index.unsupported is not None:
        assert "fork" in index.unsupported  # history in the parent's file: read whole
        return
    _assert_same(path)


def test_edge_cases_render_like_a_whole_read(tmp_path: Path) -> None:
    lines = [
        META,
        # implicit turns (no task_started): each user message opens one
        _event("user_message", message="one"),
        _event("agent_message", message=""),  # empty: no item, no id used
        _event("agent_message", message="reply one"),
        _event("agent_reasoning", text="a"),
        _event("agent_reasoning", text="b"),  # merged into the same reasoning item
        _event("user_message", message="two"),
        _line("compacted", {"message": "summary"}),
        # explicit turns
        _event("task_started", turn_id="t1"),
        _event("user_message", message="three"),
        _event("agent_reasoning", text="c"),
        _event("agent_message", message="reply three"),
        _event("agent_reasoning", text="d"),
        _event("task_complete", turn_id="t1"),
        _event("exec_command_end", turn_id="t1", call_id="c1", command=["ls"], cwd="/",
               exit_code=0, aggregated_output="x", stdout="", stderr="", formatted_output="",
               duration={"secs": 0, "nanos": 5}),  # late, for a finished turn
        _event("task_started", turn_id="t2"),
        _event("user_message", message="four"),
        _event("task_started", turn_id="t3"),
        _event("user_message", message="five"),
        _event("turn_aborted", turn_id="t3", reason="interrupted"),
        _event("thread_rolled_back", num_turns=2),  # t2 and t3 go
        _event("user_message", message="six"),  # item ids restart after a rollback
        _event("context_compacted"),
        _event("task_started", turn_id="t4"),
        _event("user_message", message="seven"),  # still running at the end
        _event("agent_message", message="partial"),
    ]
    index = _assert_same(_write(tmp_path, lines))
    assert [s.id for s in index.visible()] == ["rollout-1", "rollout-6", "t1", "rollout-21", "t4"]
    assert index.compacted is not None


def test_unusual_line_shapes_are_decoded_whole(tmp_path: Path) -> None:
    lines = [
        META,
        json.dumps({"type": "event_msg", "timestamp": TS,
                    "payload": {"turn_id": "t1", "type": "task_started"}}),
        json.dumps({"payload": {"message": "hi", "type": "user_message"}, "type": "event_msg",
                    "timestamp": TS}),
        "not json at all",
        json.dumps({"timestamp": TS, "type": "event_msg",  # spaced: not the fast shape
                    "payload": {"type": "agent_message", "message": "spaced"}}),
        _event("task_complete", turn_id="t1"),
        _line("event_msg", {"type": "task_started", "turn_id": "t2"}, ordinal=7),
        _line("event_msg", {"type": "user_message", "message": "x"}, ordinal=8),
    ]
    index = _assert_same(_write(tmp_path, lines))
    assert [s.id for s in index.visible()] == ["t1", "t2"]


def test_growth_extends_and_a_rewrite_rebuilds(tmp_path: Path) -> None:
    turn = [_event("task_started", turn_id="t1"), _event("user_message", message="a" * 5000),
            _event("task_complete", turn_id="t1")]
    path = _write(tmp_path, [META, *turn])
    first = scan(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_event("task_started", turn_id="t2") + "\n")
        handle.write(_event("user_message", message="b")[:20])  # a line still being written
    grown = scan(path, first)
    assert [s.id for s in grown.visible()] == ["t1", "t2"]
    assert grown.scanned_to < path.stat().st_size  # the torn line is not indexed yet
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_event("user_message", message="b")[20:] + "\n")
    done = scan(path, grown)
    assert done.scanned_to == path.stat().st_size
    _assert_same(path)
    assert [t.model_dump() for t in render_turns(done, done.visible())] == [
        t.model_dump() for t in build_turns(read_rollout(path).lines)
    ]
    # Rewritten from the start (another file at the same path): rebuilt, not extended.
    _write(tmp_path, [META, _event("task_started", turn_id="other"),
                      _event("user_message", message="c"), _event("task_complete", turn_id="other"),
                      _event("task_started", turn_id="other2"), _event("user_message", message="d")])
    rebuilt = scan(path, done)
    assert [s.id for s in rebuilt.visible()] == ["other", "other2"]


def test_cache_file_serves_a_new_process_and_is_checked(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = _write(tmp_path, [META, _event("task_started", turn_id="t1"),
                             _event("user_message", message="q"), _event("task_complete", turn_id="t1")])
    built = current_index(path, cache)
    assert list(cache.iterdir())
    forget_cached()  # as a fresh process
    cached = load_cached(cache, path)
    assert cached is not None and cached.to_json() == built.to_json()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_event("task_started", turn_id="t2") + "\n")
    forget_cached()
    grown = current_index(path, cache)
    assert [s.id for s in grown.visible()] == ["t1", "t2"]
    (next(cache.iterdir())).write_text("{broken", encoding="utf-8")
    forget_cached()
    assert [s.id for s in current_index(path, cache).visible()] == ["t1", "t2"]


def test_paginated_fork_is_left_to_a_whole_read(tmp_path: Path) -> None:
    fork = _line("session_meta", {"id": "019a0000-0000-7000-8000-0000000000bb", "timestamp": TS,
                                  "cwd": "/", "originator": "t", "cli_version": "0", "source": "cli",
                                  "history_base": {"thread_id": "019a0000-0000-7000-8000-0000000000aa",
                                                   "end_byte_offset": 10}})
    index = scan(_write(tmp_path, [fork, _event("user_message", message="x")]))
    assert index.unsupported is not None


# -- resume from the newest compaction ----------------------------------------------------------


def _user(text: str) -> str:
    return _line("response_item", {"type": "message", "role": "user",
                                   "content": [{"type": "input_text", "text": text}]})


def _assistant(text: str) -> str:
    return _line("response_item", {"type": "message", "role": "assistant",
                                   "content": [{"type": "output_text", "text": text}]})


def _turn(turn_id: str, question: str, answer: str) -> list[str]:
    return [_event("task_started", turn_id=turn_id), _user(question),
            _event("user_message", message=question), _assistant(answer),
            _event("agent_message", message=answer), _event("task_complete", turn_id=turn_id)]


def _compacted(summary: str, *, replacement: bool = True) -> str:
    payload: dict[str, Any] = {"message": summary}
    if replacement:
        payload["replacement_history"] = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": summary}]}
        ]
    return _line("compacted", payload)


def _same_resume(path: Path) -> Any:
    from threadline.rollout.history import reconstruct
    from threadline.rollout.offsets import model_cut
    from threadline.rollout.reader import SKIPPED_RESPONSE, read_rollout_from_cut

    cut = model_cut(scan(path))
    full = reconstruct(read_rollout(path))
    if cut is None:
        return None
    light_file = read_rollout_from_cut(path, cut)
    light = reconstruct(light_file)
    assert [i.model_dump() for i in light.history] == [i.model_dump() for i in full.history]
    assert [t.model_dump() for t in light.turns] == [t.model_dump() for t in full.turns]
    assert (light.token_info, light.usage_turn_id, light.name, light.preview, light.model,
            light.cut_off, light.window, light.open_turn_id) == (
        full.token_info, full.usage_turn_id, full.name, full.preview, full.model,
        full.cut_off, full.window, full.open_turn_id)
    return sum(1 for line in light_file.lines if line.payload is SKIPPED_RESPONSE)


def test_resume_skips_the_items_the_newest_compaction_replaced(tmp_path: Path) -> None:
    lines = [META]
    for n in range(6):
        lines += _turn(f"a{n}", f"old question {n}", "x" * 2000)
    lines += [_compacted("first summary")]
    lines += _turn("b0", "middle question", "y")
    lines += [_compacted("second summary")]
    lines += _turn("c0", "new question", "z")
    lines += [_event("task_started", turn_id="c1"), _user("open question")]  # cut off mid-turn
    skipped = _same_resume(_write(tmp_path, lines))
    assert skipped == 6 * 2 + 2  # every model item before the newest compaction


def test_no_cut_when_history_before_the_compaction_can_matter(tmp_path: Path) -> None:
    base = [META, *_turn("a0", "q0", "r0"), *_turn("a1", "q1", "r1")]
    # a rollback after the compaction may reach back past it
    rolled = _write(tmp_path, [*base, _compacted("s"), *_turn("b0", "q", "r"),
                               _event("thread_rolled_back", num_turns=2)], "rolled.jsonl")
    assert _same_resume(rolled) is None
    # a legacy compaction keeps the earlier user messages
    legacy = _write(tmp_path, [*base, _compacted("s", replacement=False), *_turn("b0", "q", "r")],
                    "legacy.jsonl")
    assert _same_resume(legacy) is None
    # no compaction at all
    assert _same_resume(_write(tmp_path, base, "plain.jsonl")) is None
    # a compaction inside the last turn: the cut stops at that turn's start
    inside = _write(tmp_path, [*base, _event("task_started", turn_id="c"), _user("q"),
                               _line("response_item", {"type": "function_call", "name": "shell",
                                                       "arguments": "{}", "call_id": "k"}),
                               _compacted("s")], "inside.jsonl")
    assert _same_resume(inside) == 4


def test_resume_without_turns_reads_no_items_but_the_last_turns(tmp_path: Path) -> None:
    import asyncio

    from threadline.store import rollouts
    from threadline.store.base import StoredRef

    lines = [META]
    for n in range(5):
        lines += _turn(f"a{n}", f"question {n}", f"answer {n}")
    lines += [_event("token_count", info={
        "total_token_usage": {"input_tokens": 5, "cached_input_tokens": 0, "output_tokens": 1,
                              "reasoning_output_tokens": 0, "total_tokens": 6},
        "last_token_usage": {"input_tokens": 5, "cached_input_tokens": 0, "output_tokens": 1,
                             "reasoning_output_tokens": 0, "total_tokens": 6},
        "model_context_window": 1000}, rate_limits=None)]
    lines += [_compacted("the summary")]
    lines += [_event("task_started", turn_id="last"), _user("open"), _event("user_message", message="open"),
              _event("agent_reasoning", text="hm")]
    home = tmp_path / "home"
    home.mkdir()
    path = _write(tmp_path, lines)
    ref = StoredRef("019a0000-0000-7000-8000-0000000000aa", path)
    full = asyncio.run(rollouts.load_history(ref)).recon
    light = asyncio.run(rollouts.load_history(ref, resume_home=home, turns=False)).recon
    assert light.stubbed_turns == 5
    assert [t.id for t in light.turns] == [t.id for t in full.turns]
    assert [t.status for t in light.turns] == [t.status for t in full.turns]
    assert all(t.items == [] and t.items_view == "notLoaded" for t in light.turns[:5])
    assert light.turns[-1].model_dump() == full.turns[-1].model_dump()  # ids continue right
    assert [i.model_dump() for i in light.history] == [i.model_dump() for i in full.history]
    assert (light.token_info, light.usage_turn_id, light.preview, light.cut_off, light.open_turn_id) == (
        full.token_info, full.usage_turn_id, full.preview, full.cut_off, full.open_turn_id)
    # The store serves the left-out items on demand, as a full read has them.
    served = asyncio.run(rollouts.read_turns(home, ref, range(5)))
    assert [t.model_dump() for t in served] == [t.model_dump() for t in full.turns[:5]]
    # With turns wanted, nothing is left out.
    whole = asyncio.run(rollouts.load_history(ref, resume_home=home, turns=True)).recon
    assert whole.stubbed_turns == 0
    assert [t.model_dump() for t in whole.turns] == [t.model_dump() for t in full.turns]


def test_cache_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    path = _write(tmp_path, [META, *_turn("t1", "q", "a")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache_root = tmp_path / "home" / "cache"
    cache_root.mkdir(parents=True)
    (cache_root / "rollout-offsets").symlink_to(elsewhere)
    forget_cached()
    index = current_index(path, cache_root / "rollout-offsets")
    assert [s.id for s in index.visible()] == ["t1"]  # served, from memory
    assert list(elsewhere.iterdir()) == []
    # A cache file that is a link is not read either.
    plain = tmp_path / "plain-cache"
    forget_cached()
    current_index(path, plain)
    (cache_file,) = plain.iterdir()
    decoy = tmp_path / "decoy.json"
    decoy.write_text(cache_file.read_text())
    cache_file.unlink()
    cache_file.symlink_to(decoy)
    forget_cached()
    assert load_cached(plain, path) is None


def _windowed(summary: str, number: int) -> str:
    return _line("compacted", {"message": summary, "window_id": f"w{number}",
                               "first_window_id": "w0", "window_number": number,
                               "replacement_history": [{"type": "message", "role": "user",
                                                        "content": [{"type": "input_text", "text": summary}]}]})


def _usage(total: int) -> str:
    block = {"input_tokens": total, "cached_input_tokens": 0, "output_tokens": 0,
             "reasoning_output_tokens": 0, "total_tokens": total}
    return _event("token_count", info={"total_token_usage": block, "last_token_usage": block,
                                       "model_context_window": 100000}, rate_limits=None)


@pytest.mark.parametrize("token_in_tail", [False, True])
def test_seek_resume_equals_a_whole_read_without_the_items(tmp_path: Path, token_in_tail: bool) -> None:
    from threadline.rollout.history import reconstruct
    from threadline.rollout.seek import resume_from_index

    context = _line("turn_context", {"turn_id": "x", "cwd": "/", "approval_policy": "never",
                                     "sandbox_policy": {"type": "read-only"}, "model": "m-2",
                                     "summary": "auto"})
    lines = [META]
    for n in range(4):
        lines += _turn(f"a{n}", f"question {n}", f"answer {n}")
    lines[3:3] = [context]
    lines += [_event("task_started", turn_id="bad"), _event("user_message", message="boom"),
              _event("error", message="it broke", codex_error_info="internal_server_error"),
              _event("task_complete", turn_id="bad")]
    lines += [_event("task_started", turn_id="cut"), _event("user_message", message="stop"),
              _event("turn_aborted", turn_id="cut", reason="interrupted")]
    lines += [_event("thread_name_updated", thread_id="x", thread_name="named"), _usage(42)]
    lines += [_windowed("the summary", 3)]
    lines += _turn("after", "after the compaction", "fine")
    if token_in_tail:
        lines.insert(-1, _usage(77))
    path = _write(tmp_path, lines)
    index = scan(path)
    sought = resume_from_index(index)
    assert sought is not None
    tail, light = sought
    full = reconstruct(read_rollout(path))
    assert len(tail.lines) < len(read_rollout(path).lines) / 3  # only the tail was read
    assert [t.model_dump() for t in light.turns[:-1]] == [
        t.model_copy(update={"items": [], "items_view": "notLoaded"}).model_dump()
        for t in full.turns[:-1]
    ]
    assert light.turns[-1].model_dump() == full.turns[-1].model_dump()
    assert light.turns[-2].status == "interrupted" and light.turns[-3].status == "failed"
    assert [i.model_dump() for i in light.history] == [i.model_dump() for i in full.history]
    for field in ("meta", "token_info", "usage_turn_id", "preview", "name", "model", "format",
                  "open_turn_id", "cut_off", "window"):
        assert getattr(light, field) == getattr(full, field), field
    assert light.stubbed_turns == len(full.turns) - 1


def test_seek_resume_declines_what_it_cannot_match(tmp_path: Path) -> None:
    from threadline.rollout.seek import resume_from_index

    base = [META, *_turn("a0", "q0", "r0"), *_turn("a1", "q1", "r1")]
    # Without an intact compaction (or its window numbers) the whole file is streamed
    # (tests/rollout/test_seek_stream.py); these it cannot match either way.
    cases = {
        "rollback": [*base, _windowed("s", 1), *_turn("b", "q", "r"),
                     _event("thread_rolled_back", num_turns=1)],
        "implicit turn": [*base, _windowed("s", 1), _event("user_message", message="loose")],
    }
    for name, lines in cases.items():
        assert resume_from_index(scan(_write(tmp_path, lines, f"{name}.jsonl"))) is None, name
