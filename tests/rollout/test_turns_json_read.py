"""``thread/read``'s turns kept as checked wire JSON (``TurnBuilder.finish_json``, what
``read_turns_only`` gives) serialize to the bytes of the models a full load builds, read
as they are (no model built): on every reference rollout of Codex 0.169, bench rollouts,
and files with records and items whose fields have the wrong JSON type (an item that does
not validate is dropped as before, and the turns are then the models)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core
from bench.persistence import write_rollout

from threadline.protocol.v2.turn_json import TurnsJson, check_turns, stored_turns
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.turns import TurnBuilder
from threadline.rollout.turns_only import read_turns_only

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "codex-0.169.0"
STAMP = "2027-06-01T00:00:00.000Z"

# Small files take the checked-JSON path once its validators are built (a big file builds
# them); build them here, so these tests compare that path whatever ran before.
check_turns([])
stored_turns([])


def _models_bytes(path: Path) -> bytes:
    return pydantic_core.to_json(reconstruct(read_rollout(path), lazy_history=True).turns)


def _json_bytes(path: Path) -> bytes | None:
    turns = read_turns_only(path)
    if turns is None:
        return None
    if isinstance(turns, TurnsJson):
        assert turns.built is None  # nothing read them: the JSON itself is written
    return pydantic_core.to_json(turns)


def _bench(tmp: Path, turns: int, reply_chars: int) -> Path:
    created = datetime(2027, 6, 1, tzinfo=UTC)
    _, path = write_rollout(tmp, created, turns=turns, reply_chars=reply_chars, text="bench")
    return path


def test_reference_and_bench_rollouts_serialize_as_their_models(tmp_path: Path) -> None:
    paths = sorted(REFERENCE.rglob("rollout-*.jsonl")) if REFERENCE.is_dir() else []
    paths += [_bench(tmp_path / "a", 40, 300), _bench(tmp_path / "b", 5, 20_000)]
    as_json = 0
    for path in paths:
        got = _json_bytes(path)
        if got is not None:
            assert got == _models_bytes(path), path
            as_json += isinstance(read_turns_only(path), TurnsJson)
    assert as_json >= 2


def _record(kind: str, payload: Any) -> str:
    return json.dumps({"timestamp": STAMP, "type": kind, "payload": payload})


_BAD: list[Any] = [["x"], {"a": 1}, 5, None, True, 1.5, "s"]


def _hostile_events(turn_id: str) -> list[str]:
    """Events the builder turns into items, with each member of the wrong type in turn."""
    out: list[str] = []
    for bad in _BAD:
        out += [
            _record("event_msg", {"type": "agent_message", "message": "m", "phase": bad}),
            _record("event_msg", {"type": "user_message", "message": "u", "client_id": bad,
                                  "text_elements": bad}),
            _record("event_msg", {"type": "user_message", "message": "u",
                                  "text_elements": [{"byte_range": bad, "placeholder": bad}]}),
            _record("event_msg", {"type": "exec_command_end", "call_id": "c1", "turn_id": turn_id,
                                  "command": ["ls"], "cwd": "/", "exit_code": bad,
                                  "process_id": bad, "aggregated_output": bad, "status": bad}),
            _record("event_msg", {"type": "mcp_tool_call_end", "call_id": "c2",
                                  "invocation": {"server": "s", "tool": "t", "arguments": bad},
                                  "result": {"Ok": {"content": bad}}, "readOnlyHint": bad}),
            _record("event_msg", {"type": "item_completed", "turn_id": turn_id,
                                  "started_at_ms": bad, "item": {
                                      "type": "AgentMessage", "id": "a1", "phase": bad,
                                      "content": [{"type": "Text", "text": "t"}],
                                      "memory_citation": bad}}),
            _record("event_msg", {"type": "item_completed", "turn_id": turn_id, "item": {
                "type": "WebSearch", "id": "w1", "query": bad, "action": bad}}),
            _record("event_msg", {"type": "item_completed", "turn_id": turn_id, "item": {
                "type": "ImageGeneration", "id": "g1", "status": "completed", "result": bad,
                "file_id": bad}}),
            _record("event_msg", {"type": "error", "message": "e", "codex_error_info": bad}),
            _record("event_msg", {"type": "task_started", "turn_id": "t-bad",
                                  "started_at": bad}),
            _record("event_msg", {"type": "task_complete", "turn_id": "t-bad",
                                  "duration_ms": bad, "completed_at": bad}),
        ]
    return out


def test_items_of_the_wrong_type_give_the_models_bytes(tmp_path: Path) -> None:
    path = _bench(tmp_path, 3, 50)
    lines = path.read_text(encoding="utf-8").splitlines()
    opened = next(i for i, line in enumerate(lines) if '"task_started"' in line)
    turn_id = json.loads(lines[opened])["payload"]["turn_id"]
    events = _hostile_events(turn_id)
    compared = 0
    for size in (1, 3, len(events)):
        for start in range(0, len(events), size):
            body = lines[: opened + 1] + events[start : start + size] + lines[opened + 1 :]
            path.write_text("\n".join(body) + "\n", encoding="utf-8")
            got = _json_bytes(path)  # None: a file the short read leaves to the full one
            if got is not None:
                compared += 1
                assert got == _models_bytes(path), events[start : start + size]
    assert compared > len(events) // 2


def test_a_dropped_item_gives_models_without_it() -> None:
    builder = TurnBuilder()
    builder.feed_record(0, "event_msg", {"type": "task_started", "turn_id": "t1"})
    builder.feed_record(1, "event_msg", {"type": "agent_message", "message": "kept"})
    builder.feed_record(2, "event_msg", {"type": "item_completed", "turn_id": "t1", "item": {
        "type": "WebSearch", "id": "w1", "query": 5}})
    builder.feed_record(3, "event_msg", {"type": "task_complete", "turn_id": "t1"})
    turns = builder.finish_json()
    assert not isinstance(turns, TurnsJson)
    assert [item.type for item in turns[0].items] == ["agentMessage"]


_FRESH = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from bench.persistence import write_rollout
from threadline.protocol.v2.turn_json import TurnsJson
from threadline.rollout.turns_only import read_turns_only
home = Path(sys.argv[1])
created = datetime(2027, 6, 1, tzinfo=UTC)
_, small = write_rollout(home / "s", created, turns=3, reply_chars=10, text="s")
_, big = write_rollout(home / "b", created, turns=600, reply_chars=10, text="b")
print(type(read_turns_only(small)) is TurnsJson, type(read_turns_only(big)) is TurnsJson,
      type(read_turns_only(small)) is TurnsJson)
"""


def test_a_first_small_read_does_not_build_the_json_validators(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


def test_a_full_loads_stored_turns_serialize_as_their_models(tmp_path: Path) -> None:
    """What a resume keeps (``StoredTurn``: items still checked JSON) writes the bytes of
    the same turns once read into models."""
    paths = sorted(REFERENCE.rglob("rollout-*.jsonl")) if REFERENCE.is_dir() else []
    paths += [_bench(tmp_path / "a", 40, 300)]
    stored = 0
    for path in paths:
        kept = reconstruct(read_rollout(path), lazy_history=True).turns
        stored += sum(type(t).__name__ == "StoredTurn" for t in kept)
        unread = pydantic_core.to_json(kept)
        read = reconstruct(read_rollout(path), lazy_history=True).turns
        assert all(isinstance(t.items, list) for t in read)  # reading them makes models
        assert all(type(t).__name__ == "Turn" for t in read)
        assert unread == pydantic_core.to_json(read), path
    assert stored >= 40
