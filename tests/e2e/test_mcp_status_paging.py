"""``mcpServerStatus/list`` pages and details as Codex 0.169 answers them (probed against the real
Codex with the same four servers): entries sorted by name, disabled ones included; the cursor is
the decimal offset of the next entry (``nextCursor`` null after the last page); a ``limit`` of 0
counts as 1, no limit returns everything; a cursor that is not an offset is -32600 ``invalid
cursor: <cursor>``; ``detail: toolsAndAuthOnly`` keeps the tools and leaves resources out;
``runtimeStatus`` is the thread's connection state and null without a thread; ``serverInfo`` and
``serverCapabilities`` are what the server's ``initialize`` answered."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel

SERVERS = Path(__file__).parents[1] / "support" / "mcp_servers"


def _table(name: str, script: str, *args: str, enabled: bool = True) -> str:
    argv = [str(SERVERS / script), *args]
    out = (
        f"[mcp_servers.{name}]\ncommand = {json.dumps(sys.executable)}\nargs = {json.dumps(argv)}\n"
    )
    return out + ("" if enabled else "enabled = false\n")


def _home(tmp_path: Path, mock_model: MockModel) -> Path:
    tables = (
        _table("bravo", "annotated.py")
        + _table("alpha", "toolbox.py")
        + _table("charlie", "toolbox.py", "--crash-at-start")
        + _table("delta", "toolbox.py", enabled=False)
    )
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url, extra=tables)
    return home


async def _pages(client: AppServerClient, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await client.request("mcpServerStatus/list", {**params, "cursor": cursor})
        pages.append([s["name"] for s in page["data"]])
        cursor = page["nextCursor"]
        if cursor is None:
            return pages
        assert cursor == str(sum(len(p) for p in pages))  # the offset of the next entry
        assert len(pages) < 10


async def test_status_pages_and_details_without_a_thread(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    client = await start_client(home=_home(tmp_path, mock_model))
    everything = await client.request("mcpServerStatus/list", {})
    assert everything["nextCursor"] is None
    by_name = {s["name"]: s for s in everything["data"]}
    assert list(by_name) == ["alpha", "bravo", "charlie", "delta"]
    assert all(s["runtimeStatus"] is None for s in everything["data"])  # no thread runtime
    assert [r["uri"] for r in by_name["alpha"]["resources"]] == ["memo://greeting", "memo://pixel"]
    assert by_name["alpha"]["serverInfo"]["name"] == "toolbox-toolbox"
    assert "tools" in by_name["alpha"]["serverCapabilities"]
    assert by_name["bravo"]["serverInfo"]["name"] == "annotated"
    assert by_name["charlie"]["toolsError"] and by_name["charlie"]["tools"] == {}
    assert by_name["charlie"]["serverInfo"] is None
    assert by_name["delta"]["tools"] == {} and by_name["delta"]["toolsError"] is None

    assert await _pages(client, limit=1) == [["alpha"], ["bravo"], ["charlie"], ["delta"]]
    assert await _pages(client, limit=3) == [["alpha", "bravo", "charlie"], ["delta"]]
    assert await _pages(client, limit=0) == [["alpha"], ["bravo"], ["charlie"], ["delta"]]
    assert await _pages(client, limit=4) == [["alpha", "bravo", "charlie", "delta"]]
    after = await client.request("mcpServerStatus/list", {"cursor": "2"})
    assert [s["name"] for s in after["data"]] == ["charlie", "delta"]
    assert after["nextCursor"] is None
    beyond = await client.request("mcpServerStatus/list", {"cursor": "9", "limit": 2})
    assert beyond == {"data": [], "nextCursor": None}

    for bad in ("bogus", "-1", "1.5", "\uff11"):
        err = await client.request_error("mcpServerStatus/list", {"cursor": bad})
        assert err["code"] == -32600 and err["message"] == f"invalid cursor: {bad}"
    err = await client.request_error("mcpServerStatus/list", {"limit": -1})
    assert err["code"] == -32600 and "limit" in err["message"]  # bad params, as Codex answers

    brief = await client.request("mcpServerStatus/list", {"detail": "toolsAndAuthOnly"})
    brief_alpha = next(s for s in brief["data"] if s["name"] == "alpha")
    assert brief_alpha["resources"] == [] and brief_alpha["resourceTemplates"] == []
    assert set(brief_alpha["tools"]) == set(by_name["alpha"]["tools"])

    one = await client.request("mcpServerStatus/list", {"serverName": "bravo", "limit": 1})
    assert [s["name"] for s in one["data"]] == ["bravo"] and one["nextCursor"] is None
    none = await client.request("mcpServerStatus/list", {"serverName": "nope"})
    assert none == {"data": [], "nextCursor": None}


async def test_status_pages_of_a_thread(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    client = await start_client(home=_home(tmp_path, mock_model))
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    thread_id = started["thread"]["id"]
    for name, status in (("alpha", "ready"), ("bravo", "ready"), ("charlie", "failed")):
        await client.wait_for_notification(
            "mcpServer/startupStatus/updated",
            timeout=30,
            predicate=lambda p, n=name, s=status: p["name"] == n and p["status"] == s,
        )
    first = await client.request("mcpServerStatus/list", {"threadId": thread_id, "limit": 2})
    assert [(s["name"], s["runtimeStatus"]) for s in first["data"]] == [
        ("alpha", "connected"),
        ("bravo", "connected"),
    ]
    assert first["nextCursor"] == "2"
    rest = await client.request(
        "mcpServerStatus/list", {"threadId": thread_id, "cursor": first["nextCursor"]}
    )
    assert [(s["name"], s["runtimeStatus"]) for s in rest["data"]] == [
        ("charlie", "failed"),
        ("delta", "disabled"),
    ]
    assert rest["nextCursor"] is None
    brief = await client.request(
        "mcpServerStatus/list",
        {"threadId": thread_id, "serverName": "alpha", "detail": "toolsAndAuthOnly"},
    )
    [alpha] = brief["data"]
    assert alpha["resources"] == [] and "echo" in alpha["tools"]
