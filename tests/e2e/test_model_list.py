"""``model/list`` and per-model requests, on the real app-server in-process over the memory
transport, with the mock model on 127.0.0.1 (every message schema-checked at teardown).

What Codex 0.169.0 did in the same situations (recorded with ``tools/probe_codex_models.py``)
is the expectation: its catalog order and default, paging by offset cursor, and for a turn
the ``reasoning`` / ``parallel_tool_calls`` it sent and the ``modelContextWindow`` it reported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.conftest import stop_and_check
from tests.e2e.conftest import write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.memory_server import InProcessServer
from tests.support.mock_model import MockModel, text
from tests.support.schema import SchemaRegistry

Start = Callable[..., Awaitable[AppServerClient]]

CODEX_VISIBLE = [
    "gpt-6.1-sol",
    "gpt-6-astra",
    "gpt-6-sol",
    "gpt-6-luna",
    "gpt-5.6-sol",
    "gpt-6.1-terra",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "gpt-5.5",
]
CODEX_ALL = [*CODEX_VISIBLE[:8], "gpt-daybreak-blue-latest", "gpt-daybreak-red-latest"]
CODEX_ALL += ["gpt-5.5", "codex-auto-review"]


@pytest_asyncio.fixture
async def start(
    tmp_path: Path, mock_model: MockModel, schema: SchemaRegistry
) -> AsyncIterator[Start]:
    """``await start(extra=…, model=…, config=…)`` → a client of an in-process server whose
    home points at the mock model (``extra``: top-level config lines; ``model``: instead of
    ``mock-model``; ``config``: the whole file instead)."""
    servers: list[InProcessServer] = []

    async def launch(
        extra: str = "", config: str | None = None, model: str | None = None
    ) -> AppServerClient:
        home = tmp_path / f"home{len(servers)}"
        path = write_mock_config(home, mock_model.base_url, request_max_retries=0, extra=extra)
        if model is not None:
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace('"mock-model"', f'"{model}"', 1), encoding="utf-8")
        if config is not None:
            path.write_text(config, encoding="utf-8")
        server = InProcessServer(home)
        servers.append(server)
        return await server.connect()

    yield launch
    await stop_and_check(servers)


async def test_model_list_is_codex_catalog(start: Start) -> None:
    client = await start()
    listed = await client.request("model/list", {})
    names = [m["model"] for m in listed["data"]]
    assert names == [*CODEX_VISIBLE, "mock-model"]  # the configured model the catalog lacks
    assert listed["nextCursor"] is None
    assert [m["model"] for m in listed["data"] if m["isDefault"]] == ["gpt-6.1-sol"]
    by_name = {m["model"]: m for m in listed["data"]}
    gpt55 = by_name["gpt-5.5"]
    assert gpt55["displayName"] == "GPT-5.5"
    assert gpt55["defaultReasoningEffort"] == "medium"
    assert [e["reasoningEffort"] for e in gpt55["supportedReasoningEfforts"]] == [
        "low",
        "medium",
        "high",
        "xhigh",
    ]
    assert gpt55["upgrade"] == "gpt-6-sol"
    assert gpt55["upgradeInfo"]["model"] == "gpt-6-sol"
    assert gpt55["inputModalities"] == ["text", "image"]
    assert gpt55["multiAgentVersion"] is None
    assert by_name["gpt-6.1-sol"]["availabilityNux"]["message"].startswith("Maximize usage")
    assert by_name["gpt-6-astra"]["multiAgentVersion"] == "v2"
    mock = by_name["mock-model"]
    assert (mock["hidden"], mock["isDefault"], mock["supportedReasoningEfforts"]) == (
        False,
        False,
        [],
    )

    everything = await client.request("model/list", {"includeHidden": True})
    assert [m["model"] for m in everything["data"]] == [*CODEX_ALL, "mock-model"]
    assert {m["model"] for m in everything["data"] if m["hidden"]} == {
        "gpt-daybreak-blue-latest",
        "gpt-daybreak-red-latest",
        "codex-auto-review",
    }


async def test_model_list_paging_as_codex(start: Start) -> None:
    client = await start()
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.request("model/list", params)
        pages.append([m["model"] for m in page["data"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages[0] == CODEX_VISIBLE[:3]
    assert pages[1] == CODEX_VISIBLE[3:6]
    assert [name for page in pages for name in page] == [*CODEX_VISIBLE, "mock-model"]
    zero = await client.request("model/list", {"limit": 0})
    assert ([m["model"] for m in zero["data"]], zero["nextCursor"]) == (["gpt-6.1-sol"], "1")
    hidden_page = await client.request(
        "model/list", {"limit": 3, "includeHidden": True, "cursor": "9"}
    )
    assert [m["model"] for m in hidden_page["data"]] == [
        "gpt-daybreak-red-latest",
        "gpt-5.5",
        "codex-auto-review",
    ]
    bad = await client.request_error("model/list", {"cursor": "bogus"})
    assert (bad["code"], bad["message"]) == (-32600, "invalid cursor: bogus")
    past = await client.request_error("model/list", {"cursor": "100"})
    assert past["message"] == "cursor 100 exceeds total models 10"
    unknown = await client.request_error("model/list", {"modelProvider": "nope"})
    assert unknown["code"] == -32600


async def test_model_list_of_a_catalog_model_adds_nothing(start: Start) -> None:
    client = await start(model="gpt-5.5")
    listed = await client.request("model/list", {"modelProvider": "mock"})
    assert [m["model"] for m in listed["data"]] == CODEX_VISIBLE
    # a dated snapshot of a catalog model is listed with that model's metadata
    dated = await start(model="gpt-5.5-2026-01-01")
    entries = (await dated.request("model/list", {}))["data"]
    assert entries[-1]["model"] == "gpt-5.5-2026-01-01"
    assert entries[-1]["displayName"] == "GPT-5.5"


async def test_embedded_provider_lists_only_the_embedded_model(start: Start) -> None:
    client = await start(config='model_provider = "local"\n')
    listed = await client.request("model/list", {})
    assert [(m["model"], m["isDefault"]) for m in listed["data"]] == [
        ("smollm2-135m-instruct", True)
    ]
    assert listed["data"][0]["inputModalities"] == ["text"]


async def _one_turn(
    client: AppServerClient, mock_model: MockModel, model: str
) -> tuple[dict[str, Any], int | None]:
    """Run one turn on ``model``; the request body the mock got and the reported window."""
    before = len(mock_model.requests)
    mock_model.enqueue(text("ok"))
    started = await client.request("thread/start", {"model": model})
    thread_id = started["thread"]["id"]
    assert started["model"] == model
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]}
    )
    usage = await client.wait_for_notification("thread/tokenUsage/updated")
    await client.wait_for_notification("turn/completed")
    body = mock_model.requests[before].body
    assert body["model"] == model
    return body, usage["params"]["tokenUsage"]["modelContextWindow"]


async def test_turn_requests_follow_the_table(start: Start, mock_model: MockModel) -> None:
    client = await start()
    # Codex 0.169: gpt-5.5 → effort medium, no summary, parallel calls, window 258 400
    body, window = await _one_turn(client, mock_model, "gpt-5.5")
    assert body["reasoning"] == {"effort": "medium"}
    assert body["parallel_tool_calls"] is True
    assert window == 258_400
    # unknown slug → the fallback: summary auto, no effort, parallel calls, 258 400
    body, window = await _one_turn(client, mock_model, "mock-model")
    assert body["reasoning"] == {"summary": "auto"}
    assert body["parallel_tool_calls"] is True
    assert window == 258_400
    # a code-mode model: Codex sent parallel_tool_calls false; its window is 500 000 x 95 %
    body, window = await _one_turn(client, mock_model, "gpt-6.1-terra")
    assert body["reasoning"] == {"effort": "low"}
    assert body["parallel_tool_calls"] is False
    assert window == 475_000


async def test_config_overrides_reach_the_turn(start: Start, mock_model: MockModel) -> None:
    client = await start(
        extra='model_context_window = 100000\nmodel_reasoning_summary = "detailed"\n'
        'model_reasoning_effort = "high"'
    )
    body, window = await _one_turn(client, mock_model, "gpt-5.5")
    assert window == 95_000  # as Codex: the override, then the 95 %
    assert body["reasoning"] == {"effort": "high", "summary": "detailed"}
    _, capped = await _one_turn(client, mock_model, "my-finetune")
    assert capped == 95_000


@pytest.mark.parametrize("value", ['"grammar"', "true"])
async def test_bad_apply_patch_tool_type_fails_startup(
    tmp_path: Path, mock_model: MockModel, value: str
) -> None:
    from threadline.core.config import ConfigError, load_config

    home = tmp_path / "bad"
    write_mock_config(home, mock_model.base_url, extra=f"apply_patch_tool_type = {value}")
    with pytest.raises(ConfigError, match="apply_patch_tool_type: expected one of freeform"):
        load_config(home=home)
