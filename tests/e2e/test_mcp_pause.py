"""The out-of-band elicitation pause: while a thread's elicitation counter is above zero the
model is not sampled; sampling resumes when it drops to zero.

Two ways the counter rises: ``thread/increment_elicitation`` from the client, and an MCP
server that elicits outside any model tool call (annotated.py's ``later`` asks after its
call has returned): while the question is open a turn started meanwhile waits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, text

TOOLBOX = Path(__file__).parents[1] / "support" / "mcp_servers" / "toolbox.py"
ANNOTATED = TOOLBOX.with_name("annotated.py")
QUIET_S = 1.5
"""How long the test watches the mock model receive nothing."""


def _home(tmp_path: Path, mock_model: MockModel, log: Path | None = None) -> Path:
    log = log or tmp_path / "ann.log"
    table = (
        f"[mcp_servers.box]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(TOOLBOX)])}\n"
        f"[mcp_servers.ann]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(ANNOTATED), '--log', str(log)])}\n"
    )
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url, extra=table)
    return home


async def _ready_thread(client: AppServerClient, cwd: Path, server: str = "ann") -> str:
    started = await client.request("thread/start", {"cwd": str(cwd)})
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated",
        timeout=30,
        predicate=lambda p: p["status"] == "ready" and p["name"] == server,
    )
    thread_id: str = started["thread"]["id"]
    return thread_id


async def _start_turn(client: AppServerClient, thread_id: str) -> None:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hello"}]}
    )


async def test_no_sampling_while_the_counter_is_raised_by_the_client(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    client = await start_client(home=_home(tmp_path, mock_model))
    thread_id = await _ready_thread(client, tmp_path)
    up = await client.request("thread/increment_elicitation", {"threadId": thread_id})
    assert up == {"count": 1, "paused": True}
    up = await client.request("thread/increment_elicitation", {"threadId": thread_id})
    assert up == {"count": 2, "paused": True}
    mock_model.enqueue(text("after the pause"))
    await _start_turn(client, thread_id)
    await asyncio.sleep(QUIET_S)
    assert mock_model.requests == []
    down = await client.request("thread/decrement_elicitation", {"threadId": thread_id})
    assert down == {"count": 1, "paused": True}
    await asyncio.sleep(QUIET_S / 2)
    assert mock_model.requests == []  # still one open
    down = await client.request("thread/decrement_elicitation", {"threadId": thread_id})
    assert down == {"count": 0, "paused": False}
    done = await client.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
    assert len(mock_model.requests) == 1
    # Below zero is an error, and the counter stays at zero.
    err = await client.request_error("thread/decrement_elicitation", {"threadId": thread_id})
    assert "zero" in err["message"]


async def test_an_mcp_question_outside_any_tool_call_holds_the_turn_until_answered(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    log = tmp_path / "ann.log"
    client = await start_client(home=_home(tmp_path, mock_model, log))
    thread_id = await _ready_thread(client, tmp_path)
    # The server's `later` tool returns at once and asks its question afterwards.
    result = await client.request(
        "mcpServer/tool/call", {"threadId": thread_id, "server": "ann", "tool": "later"}
    )
    assert "asking soon" in json.dumps(result)
    asked = await client.wait_for_request("mcpServer/elicitation/request", timeout=30)
    assert asked["params"]["serverName"] == "ann"
    assert asked["params"]["turnId"] is None  # out of band: no turn asked it
    mock_model.enqueue(text("after the answer"))
    await _start_turn(client, thread_id)
    await asyncio.sleep(QUIET_S)
    assert mock_model.requests == []
    await client.respond(asked["id"], {"action": "accept", "content": {"name": "Bo"}})
    done = await client.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
    assert len(mock_model.requests) == 1
    answered = [line for line in log.read_text().splitlines() if line.startswith("answered ")]
    assert answered and json.loads(answered[0].split(" ", 1)[1])["content"] == {"name": "Bo"}


async def test_a_client_tool_call_waiting_on_a_question_does_not_hold_the_connection(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    client = await start_client(home=_home(tmp_path, mock_model, tmp_path / "ann.log"))
    thread_id = await _ready_thread(client, tmp_path, server="box")
    call = asyncio.create_task(
        client.request(
            "mcpServer/tool/call",
            {"threadId": thread_id, "server": "box", "tool": "ask", "arguments": {}},
            timeout=60,
        )
    )
    asked = await client.wait_for_request("mcpServer/elicitation/request", timeout=30)
    assert asked["params"]["turnId"] is None
    mock_model.enqueue(text("after the answer"))
    try:
        await asyncio.wait_for(_start_turn(client, thread_id), 5)  # answered meanwhile
        await asyncio.sleep(QUIET_S)
        assert mock_model.requests == []  # and the out-of-band question holds the turn
    finally:
        await client.respond(asked["id"], {"action": "accept", "content": {"name": "Bo"}})
        result = await call
    assert "hello Bo" in json.dumps(result)
    done = await client.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
