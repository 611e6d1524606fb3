"""Remote compaction (a provider with ``remote_compaction = true``) on the real app-server
in-process against the mock model: an ordinary streamed ``/responses`` request whose last
input item is ``{"type": "compaction_trigger"}`` must return exactly one ``compaction``
item; the initial context, the retained user messages and that item become the history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from tests.conftest import stop_and_check
from tests.e2e.conftest import write_mock_config
from tests.support.memory_server import InProcessServer
from tests.support.mock_model import MockModel, compaction, text, usage
from tests.support.schema import SchemaRegistry

WINDOW = "model_context_window = 4000\nmodel_auto_compact_token_limit = 3000\n"


@pytest_asyncio.fixture
async def remote_server(
    tmp_path: Path, mock_model: MockModel, schema: SchemaRegistry
) -> AsyncIterator[InProcessServer]:
    home = tmp_path / "home"
    write_mock_config(
        home,
        mock_model.base_url,
        request_max_retries=0,
        extra=WINDOW,
        provider_extra="remote_compaction = true",
    )
    server = InProcessServer(home)
    await server.connect()
    yield server
    await stop_and_check([server])


async def turn(server: InProcessServer, tid: str, words: str) -> dict[str, Any]:
    client = server.client
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]}
    )
    done = await client.wait_for_notification("turn/completed", timeout=30)
    return dict(done["params"]["turn"])


async def test_remote_compaction_sends_the_trigger_and_keeps_the_compaction_item(
    remote_server: InProcessServer, mock_model: MockModel, tmp_path: Path
) -> None:
    client = remote_server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(text("first", usage=usage(input=3500, output=50)))
    await turn(remote_server, tid, "remote one")
    mock_model.enqueue(compaction("SEALED-STATE"), text("second", usage=usage(input=300)))
    done = await turn(remote_server, tid, "remote two")
    assert done["status"] == "completed"

    _, trigger, after = mock_model.requests
    assert trigger.path == "/v1/responses"
    assert trigger.body["input"][-1] == {"type": "compaction_trigger"}
    assert trigger.body["stream"] is True
    items = after.body["input"]
    assert items[-2] == {
        "type": "compaction",
        "id": items[-2]["id"],
        "encrypted_content": "SEALED-STATE",
    }
    users = [i for i in items if i.get("type") == "message" and i["role"] == "user"]
    assert [u["content"][0]["text"] for u in users][-2:] == ["remote one", "remote two"]
    assert all(i.get("role") != "assistant" for i in items)

    files = sorted((remote_server.home / "sessions").rglob("rollout-*.jsonl"))
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    compacted = [x["payload"] for x in lines if x["type"] == "compacted"]
    assert len(compacted) == 1
    assert compacted[0]["message"] == ""
    assert compacted[0]["replacement_history"][-1]["type"] == "compaction"


async def test_remote_compaction_without_a_compaction_item_fails_the_turn(
    remote_server: InProcessServer, mock_model: MockModel, tmp_path: Path
) -> None:
    client = remote_server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(text("first", usage=usage(input=3500, output=50)))
    await turn(remote_server, tid, "one")
    mock_model.enqueue(text("not a compaction"))
    done = await turn(remote_server, tid, "two")
    assert done["status"] == "failed"
    assert "exactly one compaction item" in done["error"]["message"]
