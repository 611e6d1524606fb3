"""The torn-tail reproduction of issue #9 item 8 over the real app-server: run a turn,
cut 30 bytes off the rollout, resume, run a turn, resume again — both turns are back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, text, usage


async def _run_turn(client: AppServerClient, thread_id: str, prompt: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
    )
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == thread_id
    )
    return dict(done["params"]["turn"])


async def test_turn_after_a_torn_tail_is_not_swallowed(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    mock_model.enqueue(
        text("first answer", usage=usage(input=100, output=10)),
        text("second answer", usage=usage(input=200, output=20)),
    )
    server = await launch_server()
    tid = (await server.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(server.client, tid, "one")
    path = Path((await server.client.request("thread/read", {"threadId": tid}))["thread"]["path"])
    await server.stop()
    os.truncate(path, path.stat().st_size - 30)  # `truncate -s -30`

    server2 = await launch_server()
    resumed = (await server2.client.request("thread/resume", {"threadId": tid}))["thread"]
    assert len(resumed["turns"]) == 1
    second = await _run_turn(server2.client, tid, "two")
    assert second["status"] == "completed"
    await server2.stop()

    server3 = await launch_server()
    again = (await server3.client.request("thread/resume", {"threadId": tid}))["thread"]
    turns = again["turns"]
    assert len(turns) == 2
    assert turns[1]["id"] == second["id"]
    assert turns[1]["status"] == "completed"
    texts = [i.get("text") for i in turns[1]["items"] if i["type"] == "agentMessage"]
    assert texts == ["second answer"]
    replay = await server3.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 330
