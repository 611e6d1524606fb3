"""Fork during a running turn, ephemeral forks, rejoin rules, resume by history,
rollback and memory mode — over a real stdio app-server, on the local store and on
PostgreSQL (rollout lines read back through the ``store`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import Gate, MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores, local_only

pytestmark = both_stores


async def _run_turn(client: AppServerClient, thread_id: str, prompt: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
    )
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == thread_id
    )
    return dict(done["params"]["turn"])


def _rollout_types(store: StoreUnderTest, path: str) -> list[str]:
    out = []
    for line in store.lines(path):
        payload = line["payload"]
        out.append(payload.get("type") if line["type"] == "event_msg" else line["type"])
    return out


async def test_fork_while_parent_runs_leaves_parent_intact(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text("first reply", usage=usage(input=50, output=5)))
    parent = (await client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(client, parent, "one")
    gate = Gate()
    mock_model.enqueue(text("the parent's second reply", chunks=4, gate=gate, usage=usage(input=80, output=8)))
    second = await client.request(
        "turn/start", {"threadId": parent, "input": [{"type": "text", "text": "two"}]}
    )
    await client.wait_for_notification(
        "item/started",
        timeout=20,
        predicate=lambda p: p["turnId"] == second["turn"]["id"]
        and p["item"]["type"] == "agentMessage",
    )

    fork = (await client.request("thread/fork", {"threadId": parent}))["thread"]
    # The fork copies the persisted snapshot: the running turn shows as interrupted.
    assert [t["status"] for t in fork["turns"]] == ["completed", "interrupted"]
    assert "turn_aborted" in _rollout_types(store, fork["path"])
    gate.set()
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == parent
    )
    assert done["params"]["turn"]["status"] == "completed"
    read = await client.request("thread/read", {"threadId": parent, "includeTurns": True})
    last = read["thread"]["turns"][-1]
    assert last["status"] == "completed"
    assert any(i.get("text") == "the parent's second reply" for i in last["items"])
    assert "turn_aborted" not in _rollout_types(store, read["thread"]["path"])
    # The fork's next request carries the interruption marker for the model.
    mock_model.enqueue(text("fork reply"))
    await _run_turn(client, fork["id"], "three")
    sent = json.dumps(mock_model.requests[-1].body["input"])
    assert "<turn_aborted>" in sent and "three" in sent
    assert "the parent's second reply" not in sent


async def test_ephemeral_fork_has_no_path_and_is_not_listed(
    launch_server: LaunchServer, mock_model: MockModel, mock_home: Path, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text("hello", usage=usage(input=10, output=1)))
    parent = (await client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(client, parent, "hi")
    before = sorted(store.histories(mock_home))
    fork = (await client.request("thread/fork", {"threadId": parent, "ephemeral": True}))["thread"]
    assert fork["ephemeral"] is True
    assert fork["path"] is None
    assert fork["forkedFromId"] == parent
    started = await client.wait_for_notification("thread/started")
    assert started["params"]["thread"]["turns"] == []
    mock_model.enqueue(text("in the ephemeral fork"))
    await _run_turn(client, fork["id"], "again")
    listed = await client.request("thread/list", {})
    assert [t["id"] for t in listed["data"]] == [parent]
    assert sorted(store.histories(mock_home)) == before


async def test_rejoin_rules_and_resume_by_history(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text("reply", usage=usage(input=10, output=1)))
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(client, tid, "hi")
    err = await client.request_error(
        "thread/resume", {"threadId": tid, "history": [{"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "x"}]}]}
    )
    assert err["code"] == -32600
    assert err["message"] == f"cannot resume thread {tid} with history while it is already running"
    err = await client.request_error("thread/resume", {"threadId": tid, "path": "/tmp/other.jsonl"})
    assert err["code"] == -32600 and "mismatched path" in err["message"]
    # Overrides are ignored on rejoin; the thread keeps its settings.
    again = await client.request("thread/resume", {"threadId": tid, "model": "other-model"})
    assert again["model"] == "mock-model"

    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "the code word is heron"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "heron noted"}]},
    ]
    fresh = await client.request("thread/resume", {"threadId": "", "history": history})
    new_id = fresh["thread"]["id"]
    assert new_id != tid
    mock_model.enqueue(text("heron"))
    await _run_turn(client, new_id, "what was it?")
    sent = json.dumps(mock_model.requests[-1].body["input"])
    assert "the code word is heron" in sent and "heron noted" in sent
    err = await client.request_error("thread/resume", {"threadId": "", "history": []})
    assert err["message"] == "history must not be empty"


async def test_rollback_drops_turns_and_persists_marker(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    for n in range(3):
        mock_model.enqueue(text(f"answer {n}", usage=usage(input=10, output=1)))
        await _run_turn(client, tid, f"question {n}")
    result = await client.request("thread/rollback", {"threadId": tid, "numTurns": 2})
    assert len(result["thread"]["turns"]) == 1
    path = result["thread"]["path"]
    assert "thread_rolled_back" in _rollout_types(store, path)
    mock_model.enqueue(text("after rollback"))
    await _run_turn(client, tid, "question 3")
    sent = json.dumps(mock_model.requests[-1].body["input"])
    assert "question 0" in sent and "question 3" in sent
    assert "question 1" not in sent and "answer 2" not in sent
    # Refused while a turn runs.
    gate = Gate()
    mock_model.enqueue(text("slow", gate=gate))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "slow"}]})
    err = await client.request_error("thread/rollback", {"threadId": tid, "numTurns": 1})
    assert err["code"] == -32600 and "turn is running" in err["message"]
    gate.set()
    await client.wait_for_notification("turn/completed", timeout=20)
    # A fresh process rebuilds the same, rolled-back history.
    await server.stop()
    server2 = await launch_server()
    resumed = await server2.client.request("thread/resume", {"threadId": tid})
    prompts = [
        item["content"][0]["text"]
        for turn in resumed["thread"]["turns"]
        for item in turn["items"]
        if item["type"] == "userMessage"
    ]
    assert prompts == ["question 0", "question 3", "slow"]


async def test_memory_mode_set(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text("ok"))
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(client, tid, "hi")
    assert await client.request("thread/memoryMode/set", {"threadId": tid, "mode": "disabled"}) == {}
    path = (await client.request("thread/read", {"threadId": tid}))["thread"]["path"]
    last = store.lines(path)[-1]
    assert last["type"] == "session_meta"
    assert last["payload"]["id"] == tid and last["payload"]["memory_mode"] == "disabled"
    # A thread that is not loaded gets the same record.
    await client.request("thread/archive", {"threadId": tid})
    await client.request("thread/unarchive", {"threadId": tid})
    assert await client.request("thread/memoryMode/set", {"threadId": tid, "mode": "enabled"}) == {}
    path = (await client.request("thread/read", {"threadId": tid}))["thread"]["path"]
    last = store.lines(path)[-1]
    assert last["payload"]["memory_mode"] == "enabled"
    err = await client.request_error("thread/memoryMode/set", {"threadId": tid, "mode": "sometimes"})
    assert err["code"] == -32600 and "sometimes" in err["message"]


@local_only("a file in the way of the sessions directory")
async def test_rollout_write_error_is_surfaced_and_suffix_retried(
    launch_server: LaunchServer, mock_model: MockModel, mock_home: Path
) -> None:
    """A file where today's sessions directory belongs makes the write fail: the client
    hears about it, and once the obstacle is gone nothing is lost."""
    from datetime import datetime

    now = datetime.now().astimezone()
    blocker = mock_home / "sessions" / f"{now:%Y}" / f"{now:%m}"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    mock_model.enqueue(text("first reply"))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]})
    error = await client.wait_for_notification("error", timeout=20)
    assert "rollout" in error["params"]["error"]["message"]
    await client.wait_for_notification("turn/completed", timeout=20)
    blocker.unlink()
    mock_model.enqueue(text("second reply"))
    await _run_turn(client, tid, "two")
    read = await client.request("thread/read", {"threadId": tid, "includeTurns": True})
    texts = [
        item.get("text") or item.get("content", [{}])[0].get("text")
        for turn in read["thread"]["turns"]
        for item in turn["items"]
    ]
    assert texts == ["one", "first reply", "two", "second reply"]


async def test_rejoin_resends_pending_approval_requests(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    from tests.support.mock_model import function_call

    workspace = tmp_path / "ws"
    workspace.mkdir()
    server = await launch_server(transport="ws")
    a = await server.connect()
    b = await server.connect()
    started = await a.request(
        "thread/start",
        {"cwd": str(workspace), "approvalPolicy": "untrusted", "sandbox": "workspace-write"},
    )
    tid = started["thread"]["id"]
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "touch made-by-b", "login": False}, call_id="c1"),
        text("done"),
    )
    await a.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]})
    asked_a = await a.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    # B rejoins the loaded thread and is asked too; its answer decides.
    await b.request("thread/resume", {"threadId": tid})
    asked_b = await b.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    assert asked_b["params"]["itemId"] == asked_a["params"]["itemId"]
    await b.respond(asked_b["id"], {"decision": "accept"})
    await b.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == tid
    )
    assert (workspace / "made-by-b").exists()
    resolved = await a.wait_for_notification("serverRequest/resolved", timeout=20)
    assert resolved["params"]["requestId"] == asked_a["id"]


async def test_git_info_is_recorded_and_listed(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q", "-b", "trunk"], ["remote", "add", "origin", "https://example.invalid/r.git"],
                 ["commit", "-q", "--allow-empty", "-m", "first"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(repo)}))["thread"]["id"]
    mock_model.enqueue(text("ok"))
    await _run_turn(client, tid, "hi")
    listed = await client.request("thread/list", {})
    git = next(t for t in listed["data"] if t["id"] == tid)["gitInfo"]
    assert git == {"sha": sha, "branch": "trunk", "originUrl": "https://example.invalid/r.git"}
    first = store.lines(listed["data"][0]["path"])[0]
    assert first["payload"]["git"] == {
        "commit_hash": sha, "branch": "trunk", "repository_url": "https://example.invalid/r.git"
    }
