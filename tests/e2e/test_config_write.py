"""config/value/write, config/batchWrite and the feature/profile lists over the real
stdio app-server: the file keeps its comments, versions conflict as Codex's do, bad edits
leave the file untouched, and new threads see the written config."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from tests.e2e.conftest import StartClient

COMMENTED = "# my own notes: keep me\n"


def _version(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


async def test_value_write_keeps_comments_and_reports_the_version(
    start_client: StartClient, mock_home: Path
) -> None:
    path = mock_home / "config.toml"
    path.write_text(COMMENTED + path.read_text(encoding="utf-8"), encoding="utf-8")
    client = await start_client()
    result = await client.request(
        "config/value/write",
        {"keyPath": "model_reasoning_effort", "value": "high", "mergeStrategy": "replace"},
    )
    assert result["status"] == "ok"
    assert result["filePath"] == str(path.resolve())
    assert result["version"] == _version(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(COMMENTED)
    assert tomllib.loads(text)["model_reasoning_effort"] == "high"
    read = await client.request("config/read", {})
    assert read["config"]["model_reasoning_effort"] == "high"

    # upsert merges a table; replace with null removes a key
    await client.request(
        "config/batchWrite",
        {
            "edits": [
                {
                    "keyPath": "model_providers.mock",
                    "value": {"name": "Renamed"},
                    "mergeStrategy": "upsert",
                },
                {"keyPath": "tui.theme", "value": "dark", "mergeStrategy": "upsert"},
                {"keyPath": "model_reasoning_effort", "value": None, "mergeStrategy": "replace"},
            ],
            "expectedVersion": result["version"],
        },
    )
    tree = tomllib.loads(path.read_text(encoding="utf-8"))
    assert tree["model_providers"]["mock"]["name"] == "Renamed"
    assert tree["model_providers"]["mock"]["wire_api"] == "responses"  # merged, not replaced
    assert tree["tui"] == {"theme": "dark"}
    assert "model_reasoning_effort" not in tree
    assert path.read_text(encoding="utf-8").startswith(COMMENTED)


async def test_bad_writes_are_refused_and_change_nothing(
    start_client: StartClient, mock_home: Path
) -> None:
    path = mock_home / "config.toml"
    before = path.read_bytes()
    client = await start_client()
    cases = [
        (
            {
                "keyPath": "model",
                "value": "x",
                "mergeStrategy": "replace",
                "expectedVersion": "sha256:0",
            },
            "configVersionConflict",
        ),
        (
            {"keyPath": "sandbox_mode", "value": "nonsense", "mergeStrategy": "replace"},
            "configValidationError",
        ),
        ({"keyPath": "", "value": 1, "mergeStrategy": "replace"}, "configValidationError"),
        (
            {"keyPath": "model.deeper", "value": 1, "mergeStrategy": "replace"},
            "configValidationError",
        ),
        (
            {
                "keyPath": "model",
                "value": "x",
                "mergeStrategy": "replace",
                "filePath": str(mock_home.parent / "elsewhere.toml"),
            },
            "configLayerReadonly",
        ),
    ]
    for params, code in cases:
        error = await client.request_error("config/value/write", params)
        assert error["code"] == -32600, params
        assert error["data"] == {"config_write_error_code": code}, params
    error = await client.request_error("config/value/write", {"keyPath": "model", "value": 1})
    assert error["code"] == -32600 and "mergeStrategy" in error["message"]
    assert path.read_bytes() == before
    assert not (mock_home.parent / "elsewhere.toml").exists()


async def test_new_threads_use_the_written_config(
    start_client: StartClient, mock_home: Path, tmp_path: Path
) -> None:
    client = await start_client()
    await client.request(
        "config/value/write",
        {"keyPath": "approval_policy", "value": "untrusted", "mergeStrategy": "replace"},
    )
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    assert started["approvalPolicy"] == "untrusted"


async def test_permission_profiles_and_features(start_client: StartClient) -> None:
    client = await start_client()
    profiles = await client.request("permissionProfile/list", {})
    assert profiles == {
        "data": [
            {"id": ":read-only", "description": None, "allowed": True},
            {"id": ":workspace", "description": None, "allowed": True},
            {"id": ":danger-full-access", "description": None, "allowed": True},
        ],
        "nextCursor": None,
    }
    first = await client.request("permissionProfile/list", {"limit": 1})
    assert [p["id"] for p in first["data"]] == [":read-only"] and first["nextCursor"] == "1"
    rest = await client.request("permissionProfile/list", {"cursor": "1"})
    assert [p["id"] for p in rest["data"]] == [":workspace", ":danger-full-access"]

    features = await client.request("experimentalFeature/list", {})
    by_name = {f["name"]: f for f in features["data"]}
    assert by_name["request_permissions_tool"]["enabled"] is False
    answer = await client.request(
        "experimentalFeature/enablement/set",
        {"enablement": {"request_permissions_tool": True, "no_such_feature": True}},
    )
    assert answer == {"enablement": {"request_permissions_tool": True}}
    features = await client.request("experimentalFeature/list", {})
    assert {f["name"]: f["enabled"] for f in features["data"]}["request_permissions_tool"]
    requirements = await client.request("configRequirements/read")
    assert requirements["requirements"] is None
