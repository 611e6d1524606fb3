"""The MCP methods over the real app-server on stdio, against the toolbox MCP server:
startup status notifications, mcpServerStatus/list, mcpServer/tool/call,
mcpServer/resource/read, a required server failing thread/start, config/mcpServer/reload."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.mock_model import MockModel, text

TOOLBOX = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "toolbox.py")


def server_table(name: str, *flags: str, extra: str = "") -> str:
    args = json.dumps([TOOLBOX, "--label", name, *flags])
    return f"[mcp_servers.{name}]\ncommand = {json.dumps(sys.executable)}\nargs = {args}\n{extra}\n"


def home_with(tmp_path: Path, mock_model: MockModel, tables: str) -> Path:
    home = tmp_path / "mcphome"
    write_mock_config(home, mock_model.base_url, extra=tables)
    return home


async def test_status_call_and_resource(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home = home_with(
        tmp_path, mock_model, server_table("good") + server_table("bad", "--crash-at-start")
    )
    client = await start_client(home=home)
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    tid = started["thread"]["id"]
    ready = await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["status"] == "ready"
    )
    assert ready["params"]["name"] == "good" and ready["params"]["threadId"] == tid
    failed = await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["status"] == "failed"
    )
    assert failed["params"]["name"] == "bad" and failed["params"]["error"]

    listed = await client.request("mcpServerStatus/list", {"threadId": tid})
    by_name = {s["name"]: s for s in listed["data"]}
    assert by_name["good"]["runtimeStatus"] == "connected"
    assert "echo" in by_name["good"]["tools"]
    assert by_name["good"]["tools"]["echo"]["inputSchema"]["properties"]["text"]["type"] == "string"
    assert [r["uri"] for r in by_name["good"]["resources"]] == ["memo://greeting", "memo://pixel"]
    assert by_name["bad"]["runtimeStatus"] == "failed"

    # without a thread: the configured servers, started for the answer (no thread runtime,
    # so runtimeStatus is null, as Codex 0.169 answers)
    global_list = await client.request("mcpServerStatus/list", {"serverName": "good"})
    assert [(s["name"], s["runtimeStatus"]) for s in global_list["data"]] == [("good", None)]
    assert "echo" in global_list["data"][0]["tools"]

    called = await client.request(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "good", "tool": "echo", "arguments": {"text": "hello"}},
    )
    assert called["content"] == [{"type": "text", "text": "good:hello"}]
    assert not called.get("isError")
    structured = await client.request(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "good", "tool": "add", "arguments": {"a": 1, "b": 2}},
    )
    assert structured["structuredContent"] == {"sum": 3}
    errored = await client.request(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "good", "tool": "fail", "arguments": {"reason": "x1"}},
    )
    assert errored["isError"] is True and "x1" in errored["content"][0]["text"]
    read = await client.request(
        "mcpServer/resource/read", {"threadId": tid, "server": "good", "uri": "memo://greeting"}
    )
    assert read["contents"][0]["text"] == "greetings from good"
    assert read["contents"][0]["uri"] == "memo://greeting"
    blob = await client.request(
        "mcpServer/resource/read", {"threadId": tid, "server": "good", "uri": "memo://pixel"}
    )
    [part] = blob["contents"]
    assert (part["uri"], part["mimeType"], part["blob"]) == (
        "memo://pixel",
        "application/octet-stream",
        "AAECAw==",
    )
    assert "text" not in part
    error = await client.request_error(
        "mcpServer/tool/call", {"threadId": tid, "server": "nope", "tool": "echo", "arguments": {}}
    )
    assert "nope" in error["message"]


async def test_required_server_failure_fails_thread_start(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home = home_with(
        tmp_path, mock_model, server_table("need", "--crash-at-start", extra="required = true")
    )
    client = await start_client(home=home)
    error = await client.request_error("thread/start", {"cwd": str(tmp_path)})
    assert "MCP server 'need' is required but failed to start" in error["message"]
    assert (await client.request("thread/loaded/list", {}))["data"] == []


async def test_reload_starts_new_and_keeps_unchanged(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home = home_with(tmp_path, mock_model, server_table("one"))
    client = await start_client(home=home)
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["status"] == "ready"
    )
    write_mock_config(home, mock_model.base_url, extra=server_table("one") + server_table("two"))
    assert await client.request("config/mcpServer/reload", None) == {}
    two_ready = await client.wait_for_notification(
        "mcpServer/startupStatus/updated",
        timeout=20,
        predicate=lambda p: p["status"] == "ready" and p["name"] == "two",
    )
    assert two_ready["params"]["threadId"] == tid
    # "one" was kept: no second startup for it
    assert [
        n["params"]["status"]
        for n in client.received("mcpServer/startupStatus/updated")
        if n["params"]["name"] == "one"
    ].count("ready") == 1
    names = {
        s["name"]: s["runtimeStatus"]
        for s in (await client.request("mcpServerStatus/list", {"threadId": tid}))["data"]
    }
    assert names == {"one": "connected", "two": "connected"}
    called = await client.request(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "two", "tool": "echo", "arguments": {"text": "t"}},
    )
    assert called["content"][0]["text"] == "two:t"


async def test_crash_mid_thread_reported_and_restarted(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home = home_with(tmp_path, mock_model, server_table("box"))
    client = await start_client(home=home)
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["status"] == "ready"
    )
    error = await client.request_error(
        "mcpServer/tool/call", {"threadId": tid, "server": "box", "tool": "crash", "arguments": {}}
    )
    assert "box" in error["message"]
    failed = await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["status"] == "failed"
    )
    assert failed["params"]["name"] == "box" and "connection lost" in failed["params"]["error"]
    again = await client.request(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "box", "tool": "echo", "arguments": {"text": "back"}},
    )
    assert again["content"][0]["text"] == "box:back"


async def test_first_turn_waits_for_a_starting_server_within_its_timeout(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    tables = server_table(
        "late", "--slow-start", "1.5", extra="startup_timeout_sec = 20"
    ) + server_table("never", "--slow-start", "30", extra="startup_timeout_sec = 2")
    client = await start_client(home=home_with(tmp_path, mock_model, tables))
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(text("hi"))
    t0 = time.monotonic()
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]})
    await client.wait_for_notification("turn/completed", timeout=30)
    # the turn waited for "late" (ready after ~1.5 s) and for "never" only up to its 2 s
    assert time.monotonic() - t0 < 8
    offered = mock_model.requests[0].body["tools"]
    spaces = {t["name"] for t in offered if t.get("type") == "namespace"}
    assert "mcp__late" in spaces and "mcp__never" not in spaces
    statuses = {
        (n["params"]["name"], n["params"]["status"])
        for n in client.received("mcpServer/startupStatus/updated")
    }
    assert ("never", "failed") in statuses and ("late", "ready") in statuses


async def test_reload_keeps_the_servers_command_line_overrides(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    """A ``-c`` override the server was started with still applies after a reload: the
    server it disabled stays off while the newly configured one starts."""
    home = home_with(tmp_path, mock_model, server_table("one") + server_table("off"))
    client = await start_client(home=home, config=["mcp_servers.off.enabled=false"])
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["name"] == "one"
        and p["status"] == "ready"
    )
    tables = server_table("one") + server_table("off") + server_table("two")
    write_mock_config(home, mock_model.base_url, extra=tables)
    assert await client.request("config/mcpServer/reload", None) == {}
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=20, predicate=lambda p: p["name"] == "two"
        and p["status"] == "ready"
    )
    statuses = {
        s["name"]: s["runtimeStatus"]
        for s in (await client.request("mcpServerStatus/list", {"threadId": tid}))["data"]
    }
    assert statuses.get("one") == "connected" and statuses.get("two") == "connected"
    assert statuses.get("off") in (None, "disabled"), statuses
    started = {n["params"]["name"] for n in client.received("mcpServer/startupStatus/updated")}
    assert "off" not in started
