"""request_user_input over stdio, as Codex 0.169 does it: refused outside Plan mode; in
Plan mode the ``item/tool/requestUserInput`` request (thread ``waitingOnUserInput``), the
answers back to the model as compact JSON, and ``{}`` or an error reply read as no answer
while the turn completes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer, write_mock_config
from tests.e2e.test_view_image import outputs
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

QUESTIONS = {
    "questions": [
        {
            "id": "color",
            "header": "Color",
            "question": "Which color?",
            "options": [
                {"label": "Red (Recommended)", "description": "warm"},
                {"label": "Blue", "description": "cool"},
            ],
        }
    ]
}
PLAN = {"mode": "plan", "settings": {"model": "mock-model"}}


async def ask_turn(
    client: AppServerClient, mock: MockModel, cwd: Path, *, plan: bool
) -> tuple[str, str]:
    mock.enqueue(function_call("request_user_input", QUESTIONS, call_id="u1"), text("thanks"))
    tid = (await client.request("thread/start", {"cwd": str(cwd)}))["thread"]["id"]
    params: dict[str, Any] = {"threadId": tid, "input": [{"type": "text", "text": "ask me"}]}
    if plan:
        params["collaborationMode"] = PLAN
    turn = (await client.request("turn/start", params))["turn"]["id"]
    return tid, turn


def flags(client: AppServerClient, tid: str) -> list[list[str]]:
    return [
        m["params"]["status"].get("activeFlags", [])
        for m in client.received("thread/status/changed")
        if m["params"]["threadId"] == tid and m["params"]["status"]["type"] == "active"
    ]


async def test_answers_reach_the_model(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await launch_server()
    client = server.client
    tid, turn = await ask_turn(client, mock_model, tmp_path, plan=True)
    request = await client.wait_for_request("item/tool/requestUserInput", timeout=20)
    assert request["params"] == {
        "threadId": tid,
        "turnId": turn,
        "itemId": "u1",
        "questions": [
            {
                "id": "color",
                "header": "Color",
                "question": "Which color?",
                "isOther": True,
                "isSecret": False,
                "options": [
                    {"label": "Red (Recommended)", "description": "warm"},
                    {"label": "Blue", "description": "cool"},
                ],
            }
        ],
        "isBlocking": True,
        "autoResolutionMs": None,
    }
    assert ["waitingOnUserInput"] in flags(client, tid)
    await client.respond(request["id"], {"answers": {"color": {"answers": ["Blue"]}}})
    done = await client.wait_for_notification("turn/completed", timeout=20)
    assert done["params"]["turn"]["status"] == "completed"
    assert outputs(mock_model)["u1"] == '{"answers":{"color":{"answers":["Blue"]}}}'
    resolved = client.received("serverRequest/resolved")
    assert [m["params"]["requestId"] for m in resolved] == [request["id"]]
    assert flags(client, tid)[-1] == []


async def test_empty_and_error_replies_mean_no_answer(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await launch_server()
    client = server.client
    for reply in ("empty", "error"):
        tid, _turn = await ask_turn(client, mock_model, tmp_path, plan=True)
        request = await client.wait_for_request("item/tool/requestUserInput", timeout=20)
        if reply == "empty":
            await client.respond(request["id"], {})  # the openai-codex SDK's default answer
        else:
            await client.respond_error(request["id"], -32601, "unsupported")
        done = await client.wait_for_notification(
            "turn/completed", timeout=20, predicate=lambda p, t=tid: p["threadId"] == t
        )
        assert done["params"]["turn"]["status"] == "completed"
        assert json.loads(outputs(mock_model)["u1"]) == {"answers": {}}


async def test_refused_outside_plan_mode(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await launch_server()
    client = server.client
    await ask_turn(client, mock_model, tmp_path, plan=False)
    await client.wait_for_notification("turn/completed", timeout=20)
    assert "request_user_input" in [t.get("name") for t in mock_model.requests[0].body["tools"]]
    assert outputs(mock_model)["u1"] == "request_user_input is unavailable in Default mode"
    assert client.received("item/tool/requestUserInput") == []


async def test_threadline_exec_does_not_wait_for_an_answer(
    mock_model: MockModel, tmp_path: Path
) -> None:
    """Without a terminal nobody can answer: the question is answered with nothing at
    once and the run finishes (Default mode allowed by Codex's feature flag)."""
    home = tmp_path / "exec-home"
    write_mock_config(home, mock_model.base_url)
    permissions = {"permissions": {"network": {"enabled": True}}, "reason": "fetch"}
    mock_model.enqueue(
        function_call("request_user_input", QUESTIONS, call_id="u1"),
        function_call("request_permissions", permissions, call_id="p1"),
        text("finished without answers"),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "THREADLINE_"))}
    env.update({"THREADLINE_HOME": str(home), "NO_COLOR": "1"})
    argv = [sys.executable, "-m", "threadline", "exec", "--enable"]
    argv += ["default_mode_request_user_input", "--enable", "request_permissions_tool", "ask"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert "finished without answers" in stdout.decode()
    assert "the agent asked: Which color?; nobody can answer here" in stderr.decode()
    out = outputs(mock_model)
    assert json.loads(out["u1"]) == {"answers": {}}
    assert json.loads(out["p1"]) == {
        "permissions": {"network": None, "file_system": None},
        "scope": "turn",
    }
