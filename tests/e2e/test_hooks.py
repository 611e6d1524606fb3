"""hooks/list and the hooks themselves over the real stdio app-server, as Codex 0.169 runs
them: config.toml's [[hooks.<Event>]] groups, trust by hash ([hooks.state."<key>"]),
JSON on stdin, decisions on stdout, hook/started and hook/completed around each run, a
PreToolUse block that keeps the command from running, context for the model, a Stop
hook that sends the turn round once more, and a timeout that fails the hook only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import StartClient
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

HOOK = r"""
import json, os, sys, time
data = json.load(sys.stdin)
with open(os.environ["HOOK_LOG"], "a") as f:
    f.write(json.dumps(data) + "\n")
event = data["hook_event_name"]
mode = os.environ.get("HOOK_MODE", "")
if event == "PreToolUse" and "deny" in mode:
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse",
        "permissionDecision": "deny", "permissionDecisionReason": "no touching"}}))
elif event == "PreToolUse" and "slow" in mode:
    time.sleep(30)
elif event == "UserPromptSubmit" and "refuse" in data["prompt"]:
    print(json.dumps({"decision": "block", "reason": "prompt refused"}))
elif event == "UserPromptSubmit":
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "UserPromptSubmit",
        "additionalContext": "PROMPT CONTEXT"}}))
elif event == "SessionStart":
    print("SESSION CONTEXT")
elif event == "Stop" and "stop" in mode and not data["stop_hook_active"]:
    print(json.dumps({"decision": "block", "reason": "check the tests first"}))
elif event == "PostToolUse" and "postblock" in mode:
    print(json.dumps({"decision": "block", "reason": "output looks wrong",
        "hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "POST CTX"}}))
elif event == "PostToolUse":
    sys.stderr.write("post failed\n")
    sys.exit(3)
"""


def _configure(home: Path, tmp_path: Path, *, timeout: int = 20) -> tuple[Path, Path]:
    script = tmp_path / "hook.py"
    script.write_text(HOOK, encoding="utf-8")
    log = tmp_path / "hooklog.jsonl"
    cmd = f"{sys.executable} {script}"
    with (home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(
            "\n# hooks under test\n"
            '[[hooks.PreToolUse]]\nmatcher = "Bash"\n'
            f'[[hooks.PreToolUse.hooks]]\ntype = "command"\ncommand = "{cmd}"\n'
            f'timeout = {timeout}\nstatusMessage = "checking"\n'
            '[[hooks.PreToolUse]]\nmatcher = "apply_patch"\n'
            f'[[hooks.PreToolUse.hooks]]\ntype = "command"\ncommand = "{cmd}"\n'
            f'[[hooks.PostToolUse]]\n[[hooks.PostToolUse.hooks]]\ncommand = "{cmd}"\n'
            f'[[hooks.SessionStart]]\n[[hooks.SessionStart.hooks]]\ncommand = "{cmd}"\n'
            f'[[hooks.UserPromptSubmit]]\n[[hooks.UserPromptSubmit.hooks]]\ncommand = "{cmd}"\n'
            f'[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ncommand = "{cmd}"\n'
            '[[hooks.Stop.hooks]]\ntype = "prompt"\n'
        )
    return script, log


async def _trust_all(client: AppServerClient, home: Path, cwd: Path) -> list[dict[str, Any]]:
    listed = await client.request("hooks/list", {"cwds": [str(cwd)]})
    [entry] = listed["data"]
    with (home / "config.toml").open("a", encoding="utf-8") as f:
        for h in entry["hooks"]:
            f.write(f'\n[hooks.state."{h["key"]}"]\ntrusted_hash = "{h["currentHash"]}"\n')
    listed = await client.request("hooks/list", {"cwds": [str(cwd)]})
    hooks: list[dict[str, Any]] = listed["data"][0]["hooks"]
    assert {h["trustStatus"] for h in hooks} == {"trusted"}
    return hooks


async def test_hooks_list_trust_and_a_blocking_pre_tool_use_hook(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    _script, log = _configure(mock_home, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(env={"HOOK_LOG": str(log), "HOOK_MODE": "deny"})

    listed = await client.request("hooks/list", {"cwds": [str(ws)]})
    [entry] = listed["data"]
    config_path = str(mock_home / "config.toml")
    first = entry["hooks"][0]
    assert first["key"] == f"{config_path}:pre_tool_use:0:0"
    assert first["eventName"] == "preToolUse" and first["matcher"] == "Bash"
    assert first["timeoutSec"] == 20 and first["statusMessage"] == "checking"
    assert first["trustStatus"] == "untrusted" and first["source"] == "user"
    assert first["currentHash"].startswith("sha256:")
    assert [h["eventName"] for h in entry["hooks"]] == [
        "preToolUse",
        "preToolUse",
        "postToolUse",
        "sessionStart",
        "userPromptSubmit",
        "stop",
    ]
    assert [h["displayOrder"] for h in entry["hooks"]] == list(range(6))
    assert entry["hooks"][1]["timeoutSec"] == 600
    assert any("prompt hooks are not supported" in w for w in entry["warnings"])

    # untrusted hooks do not run
    mock_model.enqueue(text("first"))
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "a"}]}
    )
    await client.wait_for_notification("turn/completed")
    assert not log.exists()

    await _trust_all(client, mock_home, ws)
    marker = ws / "ran.txt"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": f"touch {marker}"}, call_id="call_1"), text("done")
    )
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "run it"}]}
    )
    started = await client.wait_for_notification(
        "hook/started", predicate=lambda p: p["run"]["eventName"] == "preToolUse"
    )
    assert started["params"]["run"]["id"] == f"pre-tool-use:0:{config_path}:call_1"
    assert started["params"]["run"]["statusMessage"] == "checking"
    done = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "preToolUse"
    )
    run = done["params"]["run"]
    assert run["status"] == "blocked" and run["scope"] == "turn"
    assert run["entries"] == [{"kind": "feedback", "text": "no touching"}]
    assert done["params"]["turnId"] == started["params"]["turnId"]
    stop = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "stop"
    )
    assert stop["params"]["run"]["status"] == "completed"
    await client.wait_for_notification("turn/completed")
    assert not marker.exists()  # the command never ran

    # what the hooks got on stdin
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    events = [c["hook_event_name"] for c in calls]
    assert events == ["SessionStart", "UserPromptSubmit", "PreToolUse", "Stop"]
    assert calls[0]["source"] == "startup" and "turn_id" not in calls[0]
    assert calls[1]["prompt"] == "run it" and calls[1]["session_id"] == thread_id
    assert calls[2]["tool_name"] == "Bash"
    assert calls[2]["tool_input"] == {"command": f"touch {marker}"}
    assert calls[2]["tool_use_id"] == "call_1"
    assert calls[3]["last_assistant_message"] == "done" and calls[3]["stop_hook_active"] is False
    assert all(c["cwd"] == str(ws) for c in calls)

    # what the model got: the contexts and the blocked call's output
    second = mock_model.requests[-1].body["input"]
    outputs = [i for i in second if i.get("type") == "function_call_output"]
    assert outputs[0]["output"] == (
        f"Command blocked by PreToolUse hook: no touching. Command: touch {marker}"
    )
    developer = [
        c["text"]
        for i in second
        if i.get("type") == "message" and i["role"] == "developer"
        for c in i["content"]
    ]
    assert "SESSION CONTEXT" in developer and "PROMPT CONTEXT" in developer

    # a loaded thread's hooks list under its cwd
    listed = await client.request("hooks/list", {"threadId": thread_id})
    assert listed["data"][0]["cwd"] == str(ws)
    assert len(listed["data"][0]["hooks"]) == 6
    missing = await client.request_error(
        "hooks/list", {"threadId": "01a23293-3312-7fd3-a336-34c174f07999"}
    )
    assert missing == {
        "code": -32600,
        "message": "thread not found: 01a23293-3312-7fd3-a336-34c174f07999",
    }
    bad_id = await client.request_error("hooks/list", {"threadId": "not-a-uuid"})
    assert bad_id["code"] == -32600 and bad_id["message"].startswith("invalid thread id")


async def test_stop_block_timeout_and_failing_hooks(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    _script, log = _configure(mock_home, tmp_path, timeout=1)
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(env={"HOOK_LOG": str(log), "HOOK_MODE": "slow stop"})
    await _trust_all(client, mock_home, ws)
    marker = ws / "ran.txt"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": f"touch {marker}"}, call_id="call_9"),
        text("finished"),
        text("tests checked"),
    )
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
    )
    pre = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "preToolUse", timeout=20
    )
    run = pre["params"]["run"]
    assert run["status"] == "failed"
    assert run["entries"] == [{"kind": "error", "text": "hook timed out after 1s"}]
    assert run["durationMs"] < 10_000
    post = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "postToolUse"
    )
    assert post["params"]["run"]["status"] == "failed"
    assert post["params"]["run"]["entries"] == [
        {"kind": "error", "text": "hook exited with code 3"}
    ]
    first_stop = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "stop"
    )
    assert first_stop["params"]["run"]["status"] == "blocked"
    prompt = await client.wait_for_notification(
        "item/completed", predicate=lambda p: p["item"]["type"] == "hookPrompt"
    )
    assert prompt["params"]["item"]["fragments"] == [
        {"hookRunId": f"stop:5:{mock_home / 'config.toml'}", "text": "check the tests first"}
    ]
    second_stop = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "stop"
    )
    assert second_stop["params"]["run"]["status"] == "completed"
    completed = await client.wait_for_notification("turn/completed")
    assert completed["params"]["turn"]["status"] == "completed"
    assert marker.exists()  # a hook that timed out does not stop the command

    assert len(mock_model.requests) == 3
    last = mock_model.requests[-1].body["input"]
    users = [
        c["text"]
        for i in last
        if i.get("type") == "message" and i["role"] == "user"
        for c in i["content"]
    ]
    config_path = mock_home / "config.toml"
    assert users[-1] == (
        f'<hook_prompt hook_run_id="stop:5:{config_path}">check the tests first</hook_prompt>'
    )
    stops = [
        json.loads(line)
        for line in log.read_text(encoding="utf-8").splitlines()
        if '"Stop"' in line
    ]
    assert [s["stop_hook_active"] for s in stops] == [False, True]


async def test_a_user_prompt_submit_block_ends_the_turn_unsent(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    _script, log = _configure(mock_home, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(env={"HOOK_LOG": str(log)})
    await _trust_all(client, mock_home, ws)
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "refuse me"}]}
    )
    done = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "userPromptSubmit"
    )
    assert done["params"]["run"]["status"] == "blocked"
    assert done["params"]["run"]["entries"] == [{"kind": "feedback", "text": "prompt refused"}]
    completed = await client.wait_for_notification("turn/completed")
    assert completed["params"]["turn"]["status"] == "completed"
    assert mock_model.requests == []  # the prompt never reached the model
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    items = [i for t in read["thread"]["turns"] for i in t["items"]]
    assert not any(i["type"] == "userMessage" for i in items)


async def test_a_post_tool_use_block_replaces_the_output(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    _script, log = _configure(mock_home, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(env={"HOOK_LOG": str(log), "HOOK_MODE": "postblock"})
    await _trust_all(client, mock_home, ws)
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "echo secret-output"}, call_id="c1"), text("ok")
    )
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
    )
    post = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "postToolUse"
    )
    assert post["params"]["run"]["status"] == "blocked"
    assert post["params"]["run"]["entries"] == [
        {"kind": "context", "text": "POST CTX"},
        {"kind": "feedback", "text": "output looks wrong"},
    ]
    await client.wait_for_notification("turn/completed")
    stdin = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    [post_in] = [c for c in stdin if c["hook_event_name"] == "PostToolUse"]
    assert "secret-output" in post_in["tool_response"]
    second = mock_model.requests[-1].body["input"]
    kinds = [(i.get("type"), i.get("role")) for i in second]
    at = kinds.index(("function_call_output", None))
    assert second[at]["output"] == "output looks wrong"  # the hook's reason, not the output
    assert second[at - 1]["content"][0]["text"] == "POST CTX"  # the context goes first


async def test_an_interrupt_stops_a_running_hook(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    _script, log = _configure(mock_home, tmp_path, timeout=60)
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(env={"HOOK_LOG": str(log), "HOOK_MODE": "slow"})
    await _trust_all(client, mock_home, ws)
    marker = ws / "ran.txt"
    mock_model.enqueue(function_call("exec_command", {"cmd": f"touch {marker}"}, call_id="c2"))
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    started = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
    )
    await client.wait_for_notification(
        "hook/started", predicate=lambda p: p["run"]["eventName"] == "preToolUse"
    )
    turn_id = started["turn"]["id"]
    await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    stopped = await client.wait_for_notification(
        "hook/completed", predicate=lambda p: p["run"]["eventName"] == "preToolUse", timeout=10
    )
    assert stopped["params"]["run"]["status"] == "stopped"
    completed = await client.wait_for_notification("turn/completed", timeout=10)
    assert completed["params"]["turn"]["status"] == "interrupted"
    assert not marker.exists()
