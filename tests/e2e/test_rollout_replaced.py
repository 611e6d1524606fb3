"""The rollout of a loaded thread deleted or replaced behind its back: the next write
puts the whole history back at the path (a replacing file is kept aside), so no later
turn is lost — over the real app-server and mock model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient, AppServerProcess
from tests.support.mock_model import MockModel, text, usage


async def _run_turn(client: AppServerClient, thread_id: str, prompt: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
    )
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == thread_id
    )
    return dict(done["params"]["turn"])


async def _first_turn(launch_server: LaunchServer, mock_model: MockModel) -> tuple[AppServerProcess, str, Path]:
    mock_model.set_default(text("answer", usage=usage(input=90, output=10)))
    server = await launch_server()
    tid = (await server.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(server.client, tid, "one")
    read = await server.client.request("thread/read", {"threadId": tid})
    return server, tid, Path(read["thread"]["path"])


async def _resumed_elsewhere(launch_server: LaunchServer, tid: str) -> tuple[list[Any], int]:
    server = await launch_server()
    result = await server.client.request("thread/resume", {"threadId": tid})
    replay = await server.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    return result["thread"]["turns"], replay["params"]["tokenUsage"]["total"]["totalTokens"]


def _user_messages(path: Path) -> list[str]:
    out = []
    for raw in path.read_text().splitlines():
        payload = json.loads(raw)["payload"]
        if payload.get("type") == "user_message":
            out.append(payload["message"])
    return out


async def test_deleted_rollout_is_recreated_with_everything(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server, tid, path = await _first_turn(launch_server, mock_model)
    path.unlink()
    await _run_turn(server.client, tid, "two")
    assert path.is_file()
    assert _user_messages(path) == ["one", "two"]
    first = json.loads(path.read_text().splitlines()[0])
    assert first["type"] == "session_meta" and first["payload"]["id"] == tid
    listed = await server.client.request("thread/list", {})
    assert tid in [t["id"] for t in listed["data"]]
    await server.stop()

    turns, total = await _resumed_elsewhere(launch_server, tid)
    assert [t["status"] for t in turns] == ["completed", "completed"]
    assert total == 200


async def test_replaced_rollout_is_rewritten_and_the_replacement_kept(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server, tid, path = await _first_turn(launch_server, mock_model)
    # Someone puts another file in its place (as an editor or `sed -i` does: a rename).
    foreign = path.with_name("incoming.tmp")
    foreign.write_text(path.read_text().splitlines()[0] + "\n", encoding="utf-8")
    os.replace(foreign, path)
    await _run_turn(server.client, tid, "two")
    assert _user_messages(path) == ["one", "two"]
    kept = sorted(path.parent.glob(f"{path.name}.replaced-*"))
    assert len(kept) == 1
    assert len(kept[0].read_text().splitlines()) == 1
    await _run_turn(server.client, tid, "three")  # appends to the rewritten file
    assert _user_messages(path) == ["one", "two", "three"]
    await server.stop()

    turns, total = await _resumed_elsewhere(launch_server, tid)
    assert len(turns) == 3
    assert total == 300
