"""request_permissions (``features.request_permissions_tool``, off by default as in Codex
0.169) over stdio: the ``item/permissions/requestApproval`` request, the model told what
was granted, and the effect on the sandbox of the turn's later commands, asserted on the
filesystem with real bubblewrap."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer, write_mock_config
from tests.e2e.test_view_image import outputs
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

FEATURE = "[features]\nrequest_permissions_tool = true\n"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside every writable root of the sandbox (not under /tmp)."""
    path = Path(tempfile.mkdtemp(prefix="threadline-perm-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def turn_asking(
    client: AppServerClient, mock: MockModel, work: Path, target: Path, **extra: Any
) -> str:
    ask = {"permissions": {"file_system": {"write": [str(target.parent)]}}, "reason": "save it"}
    mock.enqueue(
        function_call("request_permissions", ask, call_id="p1"),
        function_call("exec_command", {"cmd": f"echo saved > {target}"}, call_id="e1"),
        text("done"),
    )
    tid = (await client.request("thread/start", {"cwd": str(work), **extra}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    return str(tid)


async def launch(launch_server: LaunchServer, mock: MockModel, tmp_path: Path) -> AppServerClient:
    home = tmp_path / "perm-home"
    write_mock_config(home, mock.base_url, extra=FEATURE)
    server = await launch_server(home=home)
    return server.client


async def test_granted_write_path_opens_the_sandbox_for_the_turn(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, outside: Path
) -> None:
    client = await launch(launch_server, mock_model, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    target = outside / "saved.txt"
    tid = await turn_asking(client, mock_model, work, target)
    request = await client.wait_for_request("item/permissions/requestApproval", timeout=20)
    params = request["params"]
    assert params["threadId"] == tid
    assert params["itemId"] == "p1"
    assert params["cwd"] == str(work)
    assert params["reason"] == "save it"
    assert params["environmentId"] == "local"
    assert params["permissions"] == {
        "network": None,
        "fileSystem": {
            "read": None,
            "write": [str(outside)],
            "entries": [{"path": {"type": "path", "path": str(outside)}, "access": "write"}],
        },
    }
    await client.respond(request["id"], {"permissions": params["permissions"], "scope": "turn"})
    await client.wait_for_notification("turn/completed", timeout=30)

    assert target.read_text() == "saved\n"
    out = outputs(mock_model)
    assert json.loads(out["p1"]) == {
        "permissions": {"network": None, "file_system": {"write": [str(outside)]}},
        "scope": "turn",
    }
    assert "request_permissions" in [t.get("name") for t in mock_model.requests[0].body["tools"]]

    # Granted for that turn only: the next turn's command is back in the plain sandbox.
    again = outside / "again.txt"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": f"echo again > {again}"}, call_id="e2"), text("ok")
    )
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "y"}]})
    await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["items"][0]["text"] == "ok"
    )
    assert not again.exists()


async def test_declined_request_leaves_the_sandbox_closed(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, outside: Path
) -> None:
    client = await launch(launch_server, mock_model, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    target = outside / "saved.txt"
    await turn_asking(client, mock_model, work, target)
    request = await client.wait_for_request("item/permissions/requestApproval", timeout=20)
    await client.respond(request["id"], {"permissions": {}})
    await client.wait_for_notification("turn/completed", timeout=30)
    assert not target.exists()
    out = outputs(mock_model)
    assert json.loads(out["p1"]) == {
        "permissions": {"network": None, "file_system": None},
        "scope": "turn",
    }
    assert "Read-only file system" in out["e1"] or "Permission denied" in out["e1"]


async def test_session_grant_lasts_and_the_tool_is_off_by_default(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, outside: Path
) -> None:
    client = await launch(launch_server, mock_model, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    tid = await turn_asking(client, mock_model, work, outside / "one.txt")
    request = await client.wait_for_request("item/permissions/requestApproval", timeout=20)
    await client.respond(
        request["id"], {"permissions": request["params"]["permissions"], "scope": "session"}
    )
    await client.wait_for_notification("turn/completed", timeout=30)
    mock_model.enqueue(
        function_call("exec_command", {"cmd": f"echo two > {outside / 'two.txt'}"}), text("ok")
    )
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "y"}]})
    await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["items"][0]["text"] == "ok"
    )
    assert (outside / "one.txt").read_text() == "saved\n"
    assert (outside / "two.txt").read_text() == "two\n"

    # Without the feature the tool is not offered (Codex answers "unsupported call").
    plain = await launch_server()
    mock_model.enqueue(text("hi"))
    other = (await plain.client.request("thread/start", {"cwd": str(work)}))["thread"]["id"]
    await plain.client.request(
        "turn/start", {"threadId": other, "input": [{"type": "text", "text": "z"}]}
    )
    await plain.client.wait_for_notification("turn/completed", timeout=30)
    assert "request_permissions" not in [
        t.get("name") for t in mock_model.requests[-1].body["tools"]
    ]
