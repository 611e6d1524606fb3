"""``thread/shellCommand`` (the TUI's ``!cmd``) over the real stdio app-server, as Codex 0.169
does it (recorded against the real binary): unsandboxed ``/bin/bash -lc``, a ``userShell``
``commandExecution`` item in a turn of its own (or in the running turn), and a
``<user_shell_command>`` record the model sees in its next request, also after a restart.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer, StartClient
from tests.e2e.test_turns import collect_turn, of, start_thread, start_turn, user_texts
from tests.support.appserver import AppServerClient
from tests.support.mock_model import Gate, MockModel, text


async def shell(client: AppServerClient, thread_id: str, command: str, **extra: Any) -> None:
    result = await client.request(
        "thread/shellCommand", {"threadId": thread_id, "command": command, **extra}
    )
    assert result == {}


async def own_turn(client: AppServerClient) -> list[dict[str, Any]]:
    """The messages of the turn a shell command on an idle thread runs in."""
    started = await client.wait_for_notification("turn/started")
    turn_id = started["params"]["turn"]["id"]
    return [started, *await collect_turn(client, turn_id)]


def record_texts(request: Any) -> list[str]:
    return [t for t in user_texts(request) if t.startswith("<user_shell_command>")]


async def test_idle_thread_runs_it_in_its_own_turn_unsandboxed(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    work = tmp_path / "work"
    work.mkdir()
    outside = (
        tmp_path / "outside.txt"
    )  # not under the thread's cwd: workspace-write would refuse it
    thread_id = await start_thread(client, work)
    command = f"echo hi; echo err >&2; echo x > {outside}; pwd; exit 2"
    await shell(client, thread_id, command)
    messages = await own_turn(client)
    names = [m.get("method") for m in messages]
    assert names[0] == "turn/started" and names[-1] == "turn/completed"
    assert "item/commandExecution/outputDelta" in names
    started = of(messages, "item/started")
    completed = of(messages, "item/completed")
    assert len(started) == len(completed) == 1
    item = completed[0]["item"]
    assert started[0]["item"]["status"] == "inProgress"
    assert item["type"] == "commandExecution" and item["source"] == "userShell"
    assert item["command"] == shlex.join(["/bin/bash", "-lc", command])
    assert item["cwd"] == str(work) and item["processId"] is None
    assert item["commandActions"] == [{"type": "unknown", "command": command}]
    assert item["status"] == "failed" and item["exitCode"] == 2
    assert item["aggregatedOutput"] == f"hi\n{work}\nerr\n"  # stdout, then stderr
    assert isinstance(item["durationMs"], int)
    streamed = "".join(d["delta"] for d in of(messages, "item/commandExecution/outputDelta"))
    assert sorted(streamed.splitlines()) == sorted(["hi", "err", str(work)])
    turn = of(messages, "turn/completed")[0]["turn"]
    assert turn["status"] == "completed"
    assert outside.read_text() == "x\n"  # full access, as Codex runs the user's own commands
    assert mock_model.requests == []  # no model call for it

    # The next turn's request carries the record.
    mock_model.enqueue(text("seen"))
    turn_id = await start_turn(client, thread_id, "what did I run?")
    await collect_turn(client, turn_id)
    (record,) = record_texts(mock_model.requests[-1])
    assert record.startswith(f"<user_shell_command>\n<command>\n{command}\n</command>\n<result>\n")
    assert "\nExit code: 2\nDuration: " in record
    assert record.endswith(
        f" seconds\nOutput:\nhi\n{work}\nerr\n\n</result>\n</user_shell_command>"
    )
    assert user_texts(mock_model.requests[-1])[-1] == "what did I run?"


async def test_record_survives_a_restart(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await launch_server()
    client = server.client
    thread_id = await start_thread(client, tmp_path)
    await shell(client, thread_id, "echo remembered")
    await own_turn(client)
    await server.stop()

    server = await launch_server()
    client = server.client
    await client.request("thread/resume", {"threadId": thread_id})
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    items = [i for t in read["thread"]["turns"] for i in t["items"]]
    shells = [i for i in items if i["type"] == "commandExecution"]
    assert [(i["source"], i["aggregatedOutput"], i["exitCode"]) for i in shells] == [
        ("userShell", "remembered\n", 0)
    ]
    mock_model.enqueue(text("ok"))
    turn_id = await start_turn(client, thread_id, "again")
    await collect_turn(client, turn_id)
    (record,) = record_texts(mock_model.requests[-1])
    assert "<command>\necho remembered\n</command>" in record and "Output:\nremembered\n" in record


async def test_inside_a_running_turn(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    thread_id = await start_thread(client, tmp_path)
    gate = Gate()
    mock_model.enqueue(text("slow answer", gate=gate), text("second"))
    turn_id = await start_turn(client, thread_id, "first")
    await client.wait_for_notification("turn/started")
    # The turn's first sampling is in flight (held by the gate) before the command runs;
    # a record that came earlier would join that first request instead.
    await mock_model.async_wait_for_requests(1)
    await shell(client, thread_id, "echo during")
    done = await client.wait_for_notification(
        "item/completed", predicate=lambda p: p["item"]["type"] == "commandExecution"
    )
    assert done["params"]["turnId"] == turn_id
    assert done["params"]["item"]["aggregatedOutput"] == "during\n"
    gate.set()
    messages = await collect_turn(client, turn_id)
    assert of(messages, "turn/completed")[0]["turn"]["status"] == "completed"
    assert [m for m in messages if m.get("method") == "turn/started"] == []  # no turn of its own
    # The turn took the record in and sampled once more; the first answer was not cut.
    assert len(mock_model.requests) == 2
    second = mock_model.requests[1].body["input"]
    texts = [p.get("text") for i in second if i.get("type") == "message" for p in i["content"]]
    assert texts.index("slow answer") < next(
        n for n, t in enumerate(texts) if t and t.startswith("<user_shell_command>")
    )


async def test_timeout_and_refusals(start_client: StartClient, tmp_path: Path) -> None:
    client = await start_client()
    thread_id = await start_thread(client, tmp_path)
    await shell(client, thread_id, "sleep 30", timeoutMs=300)
    messages = await own_turn(client)
    item = of(messages, "item/completed")[0]["item"]
    assert item["status"] == "failed" and item["exitCode"] == -1
    assert "timed out" in item["aggregatedOutput"]
    missing = "00000000-0000-0000-0000-000000000000"
    error = await client.request_error(
        "thread/shellCommand", {"threadId": missing, "command": "true"}
    )
    assert error["code"] == -32600 and missing in error["message"]
    for command in ("", "   "):
        error = await client.request_error(
            "thread/shellCommand", {"threadId": thread_id, "command": command}
        )
        assert error == {"code": -32600, "message": "command must not be empty"}
    error = await client.request_error(
        "thread/shellCommand", {"threadId": thread_id, "command": "true", "timeoutMs": -1}
    )
    assert error == {
        "code": -32602,
        "message": "thread/shellCommand timeoutMs must be non-negative, got -1",
    }


async def test_interrupt_stops_it(start_client: StartClient, tmp_path: Path) -> None:
    client = await start_client()
    thread_id = await start_thread(client, tmp_path)
    await shell(client, thread_id, "sleep 30")
    started = await client.wait_for_notification("turn/started")
    turn_id = started["params"]["turn"]["id"]
    await client.wait_for_notification("item/started")
    await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    messages = await collect_turn(client, turn_id, timeout=5)
    assert of(messages, "turn/completed")[0]["turn"]["status"] == "interrupted"
    item = of(messages, "item/completed")[0]["item"]
    assert item["status"] == "failed" and item["exitCode"] == -1
