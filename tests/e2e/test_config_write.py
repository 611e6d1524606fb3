"""config/value/write, config/batchWrite and the feature/profile lists over the real
stdio app-server: the file keeps its comments, versions conflict as Codex's do, bad edits
leave the file untouched, and new threads see the written config."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from tests.e2e.conftest import StartClient
from tests.support.schema import SchemaRegistry

COMMENTED = "# my own notes: keep me\n"


@pytest.fixture(autouse=True)
def _histories_response_name(schema: SchemaRegistry) -> None:
    # readHistories takes null params, so the harness cannot derive its response definition
    # (tests/support/schema.py's _RESPONSE_OVERRIDES should name it; until then, here).
    method = "externalAgentConfig/import/readHistories"
    if schema.client_methods.get(method) is None:
        schema.client_methods[method] = "ExternalAgentConfigImportHistoriesReadResponse"


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


async def test_claude_setup_is_detected_and_imported(
    start_client: StartClient, mock_home: Path, tmp_path: Path
) -> None:
    user = tmp_path / "user"
    claude = user / ".claude"
    (claude / "skills" / "lint" / "ref").mkdir(parents=True)
    (claude / "CLAUDE.md").write_text("Ask Claude Code before pushing; see CLAUDE.md.\n")
    (claude / "skills" / "lint" / "SKILL.md").write_text("---\nname: lint\n---\nClaude lints.\n")
    (claude / "skills" / "lint" / "ref" / "leak").symlink_to("/etc/passwd")
    (claude / "settings.json").write_text(
        '{"env": {"FOO": "bar", "N": 3}, "sandbox": {"enabled": true}}'
    )
    (user / ".claude.json").write_text(
        '{"mcpServers": {"files": {"command": "npx", "args": ["-y", "srv"], "env": {"A": "b"}},'
        ' "web": {"url": "http://127.0.0.1:9/mcp"}, "bad name!": {"command": "x"}}}'
    )
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    (repo / "CLAUDE.md").write_text("Repo rules for claude.\n")
    config_path = mock_home / "config.toml"
    config_path.write_text(COMMENTED + config_path.read_text(encoding="utf-8"))

    client = await start_client(env={"HOME": str(user)})
    detected = await client.request(
        "externalAgentConfig/detect", {"includeHome": True, "cwds": [str(repo / "sub")]}
    )
    kinds = [(i["itemType"], i["cwd"]) for i in detected["items"]]
    assert sorted(kinds, key=str) == sorted(
        [
            ("AGENTS_MD", None),
            ("SKILLS", None),
            ("CONFIG", None),
            ("MCP_SERVER_CONFIG", None),
            ("AGENTS_MD", str(repo)),
        ],
        key=str,
    )
    mcp = next(i for i in detected["items"] if i["itemType"] == "MCP_SERVER_CONFIG")
    assert [s["name"] for s in mcp["details"]["mcpServers"]] == ["files", "web"]

    imported = await client.request(
        "externalAgentConfig/import", {"migrationItems": detected["items"], "providerId": "t"}
    )
    done = await client.wait_for_notification("externalAgentConfig/import/completed")
    assert done["params"]["importId"] == imported["importId"]
    assert all(r["failures"] == [] for r in done["params"]["itemTypeResults"])

    assert (mock_home / "AGENTS.md").read_text() == "Ask Codex before pushing; see AGENTS.md.\n"
    assert (repo / "AGENTS.md").read_text() == "Repo rules for Codex.\n"
    skill = mock_home / "skills" / "lint"
    assert "Codex lints." in (skill / "SKILL.md").read_text()
    assert not (skill / "ref" / "leak").exists()  # the symlink was not followed or copied
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith(COMMENTED)
    tree = tomllib.loads(text)
    assert tree["sandbox_mode"] == "workspace-write"  # the mock config had it already: kept
    assert tree["shell_environment_policy"] == {"inherit": "core", "set": {"FOO": "bar", "N": "3"}}
    assert tree["mcp_servers"]["files"] == {
        "command": "npx",
        "args": ["-y", "srv"],
        "env": {"A": "b"},
    }
    assert tree["mcp_servers"]["web"] == {"url": "http://127.0.0.1:9/mcp"}
    assert "bad name!" not in tree["mcp_servers"]

    histories = await client.request("externalAgentConfig/import/readHistories")
    assert [h["importId"] for h in histories["data"]] == [imported["importId"]]
    assert histories["data"][0]["providerId"] == "t"
    again = await client.request(
        "externalAgentConfig/detect", {"includeHome": True, "cwds": [str(repo)]}
    )
    assert again["items"] == []


async def test_a_write_hidden_by_a_c_override_says_so(
    start_client: StartClient, mock_home: Path
) -> None:
    client = await start_client(config=['model="over"'])
    result = await client.request(
        "config/value/write", {"keyPath": "model", "value": "gpt-x", "mergeStrategy": "replace"}
    )
    assert result["status"] == "okOverridden"
    meta = result["overriddenMetadata"]
    assert meta["effectiveValue"] == "over"
    assert meta["message"] == "Overridden by session flags"
    assert meta["overridingLayer"]["name"] == {"type": "sessionFlags"}
    assert tomllib.loads((mock_home / "config.toml").read_text())["model"] == "gpt-x"
    assert (await client.request("config/read", {}))["config"]["model"] == "over"
    other = await client.request(
        "config/value/write",
        {"keyPath": "approval_policy", "value": "on-request", "mergeStrategy": "replace"},
    )
    assert other["status"] == "ok" and other["overriddenMetadata"] is None


async def test_quoted_key_segments_as_the_acp_bridge_writes_hook_trust(
    start_client: StartClient, mock_home: Path
) -> None:
    client = await start_client()
    key = '/repo/.codex/hooks.json:PreToolUse:0 "quoted"'
    await client.request(
        "config/batchWrite",
        {
            "edits": [
                {
                    "keyPath": f"hooks.state.{json.dumps(key)}.trusted_hash",
                    "value": "sha256:abc",
                    "mergeStrategy": "replace",
                }
            ],
            "reloadUserConfig": True,
        },
    )
    tree = tomllib.loads((mock_home / "config.toml").read_text())
    assert tree["hooks"]["state"][key] == {"trusted_hash": "sha256:abc"}
    for bad in ("a..b", 'a."b', 'a."b"c', "a."):
        error = await client.request_error(
            "config/value/write", {"keyPath": bad, "value": 1, "mergeStrategy": "replace"}
        )
        assert error["data"] == {"config_write_error_code": "configValidationError"}, bad


async def test_config_read_names_the_layer_of_each_key(
    start_client: StartClient, mock_home: Path
) -> None:
    client = await start_client(config=['model="over"'])
    read = await client.request("config/read", {"includeLayers": True})
    path = str((mock_home / "config.toml").resolve())
    user = {"type": "user", "file": path, "profile": None}
    assert read["origins"]["model"]["name"] == {"type": "sessionFlags"}
    assert read["origins"]["approval_policy"] == {
        "name": user,
        "version": _version(mock_home / "config.toml"),
    }
    assert read["origins"]["model_providers.mock.wire_api"]["name"] == user
    assert [layer["name"] for layer in read["layers"]] == [{"type": "sessionFlags"}, user]
    assert read["layers"][0]["config"] == {"model": "over"}
    assert read["layers"][1]["config"]["model"] == "mock-model"
    assert (await client.request("config/read", {}))["layers"] is None
