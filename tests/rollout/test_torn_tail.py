"""A rollout whose last line was torn by a crash: the next append starts a new line,
so the torn record is skipped and no later record is lost by gluing onto it."""

from __future__ import annotations

import json
from pathlib import Path

from threadline.protocol.rollout import EventMsg, RolloutLine, SessionMeta, dump_line_json
from threadline.rollout.paths import new_thread_id, rollout_path_for
from threadline.rollout.reader import read_rollout
from threadline.rollout.writer import RolloutWriter, append_to_rollout


def _meta(thread_id: str) -> SessionMeta:
    return SessionMeta(
        id=thread_id,
        timestamp="2026-01-01T00:00:00.000Z",
        cwd="/work",
        originator="threadline",
        cli_version="0.1.0",
        source="cli",
        model_provider="openai",
    )


async def _torn_rollout(home: Path) -> tuple[Path, int]:
    """A materialized rollout with two events, the last cut 30 bytes short."""
    thread_id = new_thread_id()
    path = rollout_path_for(home, thread_id)
    writer = RolloutWriter.create(path, _meta(thread_id))
    await writer.append([EventMsg(type="user_message", message="hello", images=[])])
    await writer.append([EventMsg(type="task_complete", turn_id="t1", last_agent_message="ok")])
    await writer.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size - 30)
    return path, size - 30


async def test_resumed_writer_starts_a_new_line_after_a_torn_tail(tmp_path: Path) -> None:
    path, torn_size = await _torn_rollout(tmp_path)
    before = path.read_bytes()
    writer = RolloutWriter.resume(path)
    await writer.open()
    await writer.append([EventMsg(type="task_started", turn_id="t2")])
    await writer.append([EventMsg(type="user_message", message="again", images=[])])
    await writer.close()

    data = path.read_bytes()
    assert data.startswith(before)  # the torn bytes are kept, never truncated
    assert data[torn_size : torn_size + 1] == b"\n"
    rollout = read_rollout(path)
    assert rollout.parse_errors == 1  # only the torn record is unreadable
    kinds = [line.event_type or line.type for line in rollout.lines]
    assert kinds == ["session_meta", "user_message", "task_started", "user_message"]


async def test_resumed_writer_adds_nothing_to_an_intact_file(tmp_path: Path) -> None:
    thread_id = new_thread_id()
    path = rollout_path_for(tmp_path, thread_id)
    writer = RolloutWriter.create(path, _meta(thread_id))
    await writer.append([EventMsg(type="user_message", message="hello", images=[])])
    await writer.close()
    before = path.read_bytes()

    resumed = RolloutWriter.resume(path)
    await resumed.open()
    await resumed.append([EventMsg(type="task_started", turn_id="t2")])
    await resumed.close()
    data = path.read_bytes()
    assert data.startswith(before)
    assert b"\n\n" not in data
    assert read_rollout(path).parse_errors == 0


async def test_append_to_an_unloaded_rollout_after_a_torn_tail(tmp_path: Path) -> None:
    path, torn_size = await _torn_rollout(tmp_path)
    line = RolloutLine(
        timestamp="2026-01-01T00:00:01.000Z",
        type="event_msg",
        payload={"type": "thread_name_updated", "thread_id": "x", "thread_name": "named"},
    )
    append_to_rollout(path, (dump_line_json(line) + "\n").encode())
    assert path.read_bytes()[torn_size : torn_size + 1] == b"\n"
    last = path.read_bytes().splitlines()[-1]
    assert json.loads(last)["payload"]["thread_name"] == "named"
    rollout = read_rollout(path)
    assert rollout.parse_errors == 1
    assert rollout.lines[-1].event_type == "thread_name_updated"
