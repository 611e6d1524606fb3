"""Rollout records whose fields have the wrong JSON type, through a real ``threadline
app-server``: an event whose ``type`` is a list, a response item whose ``type`` is an
object, a user message whose ``images`` is a number... Each such record is something the
turns and the model history do not use, never a failed load: `thread/read`, `thread/resume`
(with and without turns) and `thread/fork` all answer, with the turns of the same file
without the hostile records.

(Before this, the turn builder's one-lookup event filter, the response-item tag and the
user-message conversion raised ``TypeError`` on such values: -32603 for every request that
read the file.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import OFFLINE_CONFIG, AppServerFactory
from tests.store._rollouts import write_rollout

_BAD_VALUES: list[Any] = [["x"], {"a": 1}, 5, None, True, 1.5]


def _hostile_records(stamp: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for bad in _BAD_VALUES:
        out += [
            {"timestamp": stamp, "type": "event_msg", "payload": {"type": bad, "message": "m"}},
            {"timestamp": stamp, "type": bad, "payload": {"type": "agent_message", "message": "m"}},
            {"timestamp": stamp, "type": "response_item",
             "payload": {"type": bad, "role": "user", "content": []}},
            {"timestamp": stamp, "type": "response_item",
             "payload": {"type": "message", "role": bad, "content": []}},
            {"timestamp": stamp, "type": "event_msg", "payload": bad},
            {"timestamp": stamp, "type": "response_item", "payload": bad},
            {"timestamp": stamp, "type": "turn_context", "payload": bad},
            {"timestamp": stamp, "type": "compacted", "payload": bad},
            {"timestamp": stamp, "type": "event_msg",
             "payload": {"type": "token_count", "info": bad}},
            {"timestamp": bad, "type": "event_msg",
             "payload": {"type": "agent_message", "message": "m"}},
            {"timestamp": stamp, "type": "event_msg",
             "payload": {"type": "item_completed", "item": bad, "turn_id": bad}},
        ]
    return out


def _home(root: Path) -> Path:
    root.mkdir()
    (root / "config.toml").write_text(OFFLINE_CONFIG, encoding="utf-8")
    return root


def _insert(path: Path, records: list[dict[str, Any]], *, after_line: int) -> None:
    """Put ``records`` after the file's line ``after_line`` (1-based)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    body = lines[:after_line] + [json.dumps(r) for r in records] + lines[after_line:]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")


async def _answers(app_server: AppServerFactory, home: Path, thread_id: str) -> dict[str, Any]:
    server = await app_server(home=home)
    client = server.client
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True},
                                timeout=20)
    resumed = await client.request("thread/resume", {"threadId": thread_id}, timeout=20)
    return {"read": read["thread"]["turns"], "resume": resumed["thread"]["turns"]}


@pytest.mark.parametrize("where", ["inside the first turn", "between turns", "at the end"])
async def test_records_of_the_wrong_type_are_not_a_failed_load(
    app_server: AppServerFactory, tmp_path: Path, where: str
) -> None:
    clean_home = _home(tmp_path / "clean")
    thread_id, clean_path = await write_rollout(clean_home, text="hello", provider="mock", turns=3)
    hostile_home = _home(tmp_path / "hostile")
    hostile_path = hostile_home / clean_path.relative_to(clean_home)
    hostile_path.parent.mkdir(parents=True)
    shutil.copyfile(clean_path, hostile_path)
    lines = clean_path.read_text(encoding="utf-8").splitlines()
    stamp = json.loads(lines[-1])["timestamp"]
    starts = [i for i, line in enumerate(lines) if '"task_started"' in line]
    assert len(starts) == 3, starts
    after = {"inside the first turn": starts[0] + 2, "between turns": starts[1],
             "at the end": len(lines)}[where]
    _insert(hostile_path, _hostile_records(stamp), after_line=after)

    expected = await _answers(app_server, clean_home, thread_id)
    assert len(expected["read"]) == 3

    server = await app_server(home=hostile_home)
    client = server.client
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True},
                                timeout=20)
    assert read["thread"]["turns"] == expected["read"]
    resumed = await client.request("thread/resume", {"threadId": thread_id}, timeout=20)
    assert resumed["thread"]["turns"] == expected["resume"]
    forked = await client.request("thread/fork", {"threadId": thread_id, "ephemeral": True},
                                  timeout=20)
    assert [len(t["items"]) for t in forked["thread"]["turns"]] == [
        len(t["items"]) for t in expected["resume"]]
    await server.stop()  # it holds the thread: the next process resumes it

    bare_server = await app_server(home=hostile_home)
    bare = await bare_server.client.request(
        "thread/resume", {"threadId": thread_id, "excludeTurns": True}, timeout=20)
    assert bare["thread"]["turns"] == []
    assert bare["thread"]["preview"] == "hello"
