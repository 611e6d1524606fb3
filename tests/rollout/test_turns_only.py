"""``thread/read``'s turns-only read (``rollout.turns_only``, ``store.rollouts.all_turns``)
gives exactly the turns a full load rebuilds, serialized byte for byte, on Codex 0.169's
reference rollouts, a generated 300-turn rollout and files made to trip it: duplicate
``type`` keys behind a skippable head, ``\\u`` escapes, a records' key order it does not
recognise, garbage lines between implicit turns (ids from line indexes), a paginated fork.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pydantic_core
import pytest
from bench.persistence import rollout_text

from threadline.protocol.v2.turn import Turn
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.turns_only import read_turns_only
from threadline.store.base import StoredRef
from threadline.store.rollouts import load_history
from threadline.store.turns_read import all_turns

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
THREAD = "019f0000-0000-7000-8000-0000000000a1"
STAMP = "2027-06-01T00:00:00.000Z"
HEAD = '{"timestamp":"' + STAMP + '",'


def _wire(turns: list[Turn]) -> bytes:
    return pydantic_core.to_json([t.model_dump(mode="json", by_alias=True) for t in turns])


def _full(path: Path) -> bytes:
    return _wire(reconstruct(read_rollout(path), lazy_history=True).turns)


def _generated(tmp: Path) -> Path:
    path = tmp / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    created = datetime(2027, 6, 1, tzinfo=UTC)
    path.write_text(rollout_text(THREAD, created, turns=300, reply_chars=700,
                                 text="Large thread", cwd="/work/project"), encoding="utf-8")
    return path


def _record(kind: str, payload: object) -> str:
    return json.dumps({"timestamp": STAMP, "type": kind, "payload": payload},
                      separators=(",", ":"))


def _with(tmp: Path, name: str, extra: list[str], *, keep_starts: bool = True) -> Path:
    """The generated rollout's first 40 lines (without ``task_started`` unless
    ``keep_starts``), then ``extra``."""
    lines = _generated(tmp).read_text(encoding="utf-8").splitlines()[:40]
    if not keep_starts:
        lines = [ln for ln in lines if '"task_started"' not in ln]
    path = tmp / f"{name}-{THREAD}.jsonl"
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def _references() -> list[Path]:
    return sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []


def test_reference_and_generated_rollouts_give_the_same_turns(tmp_path: Path) -> None:
    paths = [*_references(), _generated(tmp_path)]
    fast_paths = 0
    for path in paths:
        turns = read_turns_only(path)
        if turns is not None:
            fast_paths += 1
            assert _wire(turns) == _full(path), path.name
        stored = asyncio.run(load_history(StoredRef(THREAD, path)))
        assert _wire(asyncio.run(all_turns(StoredRef(THREAD, path)))) == _wire(stored.recon.turns)
    assert fast_paths >= 1  # the generated rollout at least is read the short way
    assert read_turns_only(paths[-1]) is not None
    assert len(read_turns_only(paths[-1]) or []) == 300


def test_lines_that_only_look_skippable_are_decoded(tmp_path: Path) -> None:
    turn_id = "t-dup"
    hidden_start = (  # a response_item head, but the last "type" makes it an event
        HEAD + '"type":"response_item","payload":{"type":"task_started",'
        '"turn_id":"' + turn_id + '"},"type":"event_msg"}'
    )
    hidden_message = (  # a token_count head, but the payload's last "type" wins
        HEAD + '"type":"event_msg","payload":{"type":"token_count",'
        '"message":"from a duplicate key","type":"agent_message"}}'
    )
    escaped = (  # the top-level type spelled with an escape
        HEAD + '"type":"turn_context","payload":{"x":1},"type":"event_\\u006dsg"}'
    )
    escaped_message = _record("event_msg", {"type": "agent_message", "message": "after escape"})
    reordered = json.dumps({"type": "event_msg", "timestamp": STAMP,
                            "payload": {"type": "agent_message", "message": "keys reordered"}})
    ending = _record("event_msg", {"type": "task_complete", "turn_id": turn_id})
    path = _with(tmp_path, "dup", [hidden_start, hidden_message, escaped, escaped_message,
                                   reordered, ending])
    turns = read_turns_only(path)
    assert turns is not None
    assert _wire(turns) == _full(path)
    last = turns[-1]
    assert last.id == turn_id
    texts = [getattr(item, "text", None) for item in last.items]
    assert texts == ["from a duplicate key", "after escape", "keys reordered"]


def test_a_meta_behind_a_skippable_head_is_the_first_meta(tmp_path: Path) -> None:
    """A response_item head whose last ``type`` makes it a session_meta, before the
    file's own: it is the thread's meta in a full read (here one naming a fork base, so
    the file is read whole, as the full read does)."""
    lines = _generated(tmp_path).read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])["payload"]
    meta["history_base"] = {"thread_id": "019f0000-0000-7000-8000-0000000000ff",
                            "end_byte_offset": 0, "end_ordinal_exclusive": None}
    hidden = (HEAD + '"type":"response_item","payload":' + json.dumps(meta)
              + ',"type":"session_meta"}')
    path = tmp_path / f"hidden-meta-{THREAD}.jsonl"
    path.write_text("\n".join([hidden, *lines[:40]]) + "\n", encoding="utf-8")
    assert read_turns_only(path) is None
    assert read_rollout(path).meta is not None and read_rollout(path).missing_base is not None


def test_implicit_turns_behind_garbage_are_read_whole(tmp_path: Path) -> None:
    torn = HEAD + '"type":"response_item","payload":{"type":"mess'
    garbage = HEAD + '"type":"response_item"}'  # no payload: not a line
    later = _record("event_msg", {"type": "user_message", "message": "after the garbage"})
    path = _with(tmp_path, "implicit", [torn, garbage, later], keep_starts=False)
    assert read_turns_only(path) is None  # ids come from line indexes: not trusted
    full = reconstruct(read_rollout(path)).turns
    assert any(t.id.startswith("rollout-") for t in full)
    assert _wire(asyncio.run(all_turns(StoredRef(THREAD, path)))) == _wire(full)


def test_a_paginated_fork_and_a_file_without_meta_are_read_whole(tmp_path: Path) -> None:
    parent = _generated(tmp_path)
    fork_id = "019f0000-0000-7000-8000-0000000000b2"
    meta = json.loads(parent.read_text(encoding="utf-8").splitlines()[0])
    meta["payload"].update(id=fork_id, history_mode="paginated", history_base={
        "thread_id": THREAD, "end_byte_offset": parent.stat().st_size,
        "end_ordinal_exclusive": None,
    })
    fork = tmp_path / f"rollout-2027-06-01T00-00-01-{fork_id}.jsonl"
    fork.write_text(json.dumps(meta) + "\n" + _record(
        "event_msg", {"type": "user_message", "message": "in the fork"}) + "\n", encoding="utf-8")
    assert read_turns_only(fork) is None
    stored = asyncio.run(load_history(StoredRef(fork_id, fork)))
    assert len(stored.recon.turns) >= 300
    assert _wire(asyncio.run(all_turns(StoredRef(fork_id, fork)))) == _wire(stored.recon.turns)
    headless = tmp_path / f"headless-{THREAD}.jsonl"
    headless.write_text("\n".join(parent.read_text(encoding="utf-8").splitlines()[1:40]) + "\n",
                        encoding="utf-8")
    assert read_turns_only(headless) is None
    with pytest.raises(Exception, match="failed to parse thread ID"):
        asyncio.run(all_turns(StoredRef(THREAD, headless)))


def test_an_item_that_does_not_validate_is_dropped_alone(tmp_path: Path) -> None:
    """The turns are validated in one call; one bad item sends them through the
    per-item path, which drops that item only (as before the one-call path)."""
    extra = [
        _record("event_msg", {"type": "task_started", "turn_id": "tx"}),
        _record("event_msg", {"type": "agent_message", "message": "bad", "phase": "bogus"}),
        _record("event_msg", {"type": "agent_message", "message": "fine"}),
        _record("event_msg", {"type": "agent_reasoning", "text": "think"}),
        _record("event_msg", {"type": "error", "message": "boom", "codex_error_info": "other"}),
        _record("event_msg", {"type": "task_complete", "turn_id": "tx"}),
    ]
    path = _with(tmp_path, "bad-item", extra)
    turns = read_turns_only(path)
    assert turns is not None and _wire(turns) == _full(path)
    last = turns[-1]
    assert last.id == "tx" and last.status == "failed"
    assert last.error is not None and last.error.message == "boom"
    assert [item.type for item in last.items] == ["agentMessage", "reasoning"]
    assert getattr(last.items[0], "text", None) == "fine"
    assert len(turns) > 1 and all(t.items for t in turns[:-1])  # the others keep theirs
