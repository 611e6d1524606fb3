"""A server killed while a tool call runs leaves the call in the rollout without its output;
after a resume the next model request must still pair every call with an output (the
Responses API refuses a call without one). As Codex does, the unfinished call gets the
output ``aborted``; the call itself is not run again. On the local store and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, function_call, text
from tests.support.stores import both_stores

pytestmark = both_stores


def _calls_and_outputs(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    calls = [i["call_id"] for i in body["input"] if i.get("type") == "function_call"]
    outputs = {
        i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"
    }
    return calls, outputs


async def test_a_call_cut_off_by_a_crash_is_answered_aborted_after_resume(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    marker = tmp_path / "runs.txt"
    server = await launch_server(cwd=tmp_path)
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(
        function_call(
            "exec_command",
            {"cmd": f"echo ran >> {marker} && sleep 60", "yield_time_ms": 60000},
            call_id="call_cut",
        )
    )
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]})
    await client.wait_for_notification(
        "item/started", timeout=30, predicate=lambda p: p["item"].get("id") == "call_cut"
    )
    for _ in range(200):  # the command has started (so the call line is on disk)
        if marker.exists():
            break
        await asyncio.sleep(0.05)
    assert marker.read_text() == "ran\n"
    os.kill(server.proc.pid, signal.SIGKILL)
    await server.proc.wait()

    server2 = await launch_server(cwd=tmp_path)
    client2 = server2.client
    await client2.request("thread/resume", {"threadId": tid})
    seen = len(mock_model.requests)
    mock_model.enqueue(text("carrying on"))
    await client2.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "again"}]}
    )
    done = await client2.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
    [request] = mock_model.requests[seen:]
    calls, outputs = _calls_and_outputs(request.body)
    assert calls == ["call_cut"]
    assert outputs == {"call_cut": "aborted"}
    # The aborted output sits right after its call, and the command did not run again.
    kinds = [(i.get("type"), i.get("call_id")) for i in request.body["input"]]
    at = kinds.index(("function_call", "call_cut"))
    assert kinds[at + 1] == ("function_call_output", "call_cut")
    assert marker.read_text() == "ran\n"
