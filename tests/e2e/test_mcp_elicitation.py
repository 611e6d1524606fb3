"""An MCP server asks the user during the model's call of its tool (the ``mcp`` SDK's
``ctx.elicit`` with a pydantic schema): the client gets ``mcpServer/elicitation/request``
and its answer — accept with content, decline, or ``{}`` from a client that does not know
the request — goes back to the server, whose result reaches the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.conftest import StartClient
from tests.e2e.test_mcp_tools import _home, _outputs, _ready_thread
from tests.support.mock_model import MockModel, function_call, text


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"action": "accept", "content": {"name": "Ann", "age": 30}}, "accepted Ann 30"),
        ({"action": "decline"}, "decline"),
        ({}, "decline"),
    ],
)
async def test_an_elicitation_during_a_tool_call_is_answered_by_the_client(
    tmp_path: Path,
    mock_model: MockModel,
    start_client: StartClient,
    reply: dict[str, object],
    expected: str,
) -> None:
    cwd = tmp_path
    mock_model.enqueue(
        function_call("signup", {}, call_id="e1", namespace="mcp__m2"), text("thanks")
    )
    client = await start_client(home=_home(cwd, mock_model))
    thread_id = await _ready_thread(client, cwd)
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "sign up"}]}
    )
    request = await client.wait_for_request("mcpServer/elicitation/request", timeout=30)
    params = request["params"]
    assert params["threadId"] == thread_id and params["serverName"] == "m2"
    assert params["message"] == "Who are you?"
    schema = params["requestedSchema"]
    assert set(schema["properties"]) == {"name", "age"}
    # Nothing is sampled while the question is open.
    assert len(mock_model.requests) == 1
    await client.respond(request["id"], reply)
    done = await client.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
    assert expected in json.dumps(_outputs(mock_model.requests[1].body)["e1"])
