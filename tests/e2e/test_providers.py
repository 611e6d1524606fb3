"""modelProvider/list, capabilities/read, config/write and (0.171) default/set over the real
stdio app-server: what Codex 0.169 lists for the same config, its refusals, and the
written provider serving the next thread."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.e2e.conftest import StartClient
from tests.support.mock_model import MockModel, text


async def test_list_shows_configured_then_builtin_providers(
    start_client: StartClient, mock_model: MockModel
) -> None:
    client = await start_client()
    listed = await client.request("modelProvider/list", {})
    assert listed["defaultProviderId"] == "mock" and listed["canChangeDefault"] is True
    assert [p["id"] for p in listed["data"]] == ["mock", "openai", "ollama", "local"]
    assert listed["data"][0] == {
        "id": "mock",
        "name": "Mock Responses",
        "canEdit": True,
        "baseUrl": mock_model.base_url,
        "settings": {"type": "customGateway", "auth": {"mode": "none"}},
    }
    assert listed["data"][1] == {
        "id": "openai",
        "name": "OpenAI",
        "canEdit": False,
        "baseUrl": None,
        "settings": {"type": "openai"},
    }
    caps = await client.request("modelProvider/capabilities/read", {})
    assert caps == {"imageGeneration": False, "webSearch": False}


async def test_config_write_creates_and_edits_custom_providers(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    path = mock_home / "config.toml"
    created = await client.request(
        "modelProvider/config/write",
        {
            "settings": {
                "type": "customGateway",
                "name": "My Gateway",
                "baseUrl": mock_model.base_url,
                "envKey": "GW_KEY",
            }
        },
    )
    assert created["provider"] == {
        "id": "my-gateway",
        "name": "My Gateway",
        "canEdit": True,
        "baseUrl": mock_model.base_url,
        "settings": {
            "type": "customGateway",
            "auth": {"mode": "environmentVariable", "envKey": "GW_KEY"},
        },
    }
    table = tomllib.loads(path.read_text())["model_providers"]["my-gateway"]
    assert table == {
        "wire_api": "responses",
        "name": "My Gateway",
        "base_url": mock_model.base_url,
        "env_key": "GW_KEY",
    }
    # an edit changes only what it names; null clears envKey
    edited = await client.request(
        "modelProvider/config/write",
        {"settings": {"type": "customGateway", "providerId": "my-gateway", "envKey": None}},
    )
    assert edited["provider"]["settings"]["auth"] == {"mode": "none"}
    assert edited["provider"]["name"] == "My Gateway"

    refusals = [
        ({"providerId": "openai", "name": "X"}, "configValidationError"),
        ({"providerId": "nonexist", "name": "X"}, "configPathNotFound"),
        ({}, "configValidationError"),
        ({"name": "No URL"}, "configValidationError"),
        ({"providerId": "mock", "baseUrl": "http://user:pw@h/v1"}, "configValidationError"),
        ({"providerId": "mock", "baseUrl": "file:///etc/passwd"}, "configValidationError"),
    ]
    before = path.read_bytes()
    for settings, code in refusals:
        error = await client.request_error(
            "modelProvider/config/write", {"settings": {"type": "customGateway", **settings}}
        )
        assert error["code"] == -32600, settings
        assert error["data"] == {"config_write_error_code": code}, settings
    error = await client.request_error(
        "modelProvider/config/write",
        {"settings": {"type": "customGateway", "name": "Y", "extra": 1}},
    )
    assert error["code"] == -32600 and "extra" in error["message"]
    error = await client.request_error(
        "modelProvider/config/write",
        {"settings": {"type": "bedrock", "providerId": "amazon-bedrock", "region": "us-east-1"}},
    )
    assert error["data"] == {"unsupported": "modelProvider/config/write"}
    assert path.read_bytes() == before

    # default/set (0.171) makes the new provider the one the next thread uses
    assert await client.request("modelProvider/default/set", {"providerId": "my-gateway"}) == {
        "defaultProviderId": "my-gateway"
    }
    assert tomllib.loads(path.read_text())["model_provider"] == "my-gateway"
    listed = await client.request("modelProvider/list", {})
    assert listed["defaultProviderId"] == "my-gateway"
    error = await client.request_error("modelProvider/default/set", {"providerId": "nope"})
    assert error["data"] == {"config_write_error_code": "configPathNotFound"}

    mock_model.enqueue(text("via the gateway"))
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    assert started["modelProvider"] == "my-gateway"
    tid = started["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    done = await client.wait_for_notification("turn/completed", timeout=20)
    assert done["params"]["turn"]["status"] == "completed"
