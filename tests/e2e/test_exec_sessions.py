"""Exec sessions over the real stdio app-server: ``exec_command`` with ``yield_time_ms`` and
``tty``, ``write_stdin`` across model calls, sessions outliving their call and turn, and
sessions killed when the thread unloads or the server stops.

The mock model issues the calls; a later call's ``session_id`` is read from the output
the model got for the earlier one (what a model does). What the model gets and what the
app-server sends follow a recording of the real Codex 0.169 against the same mock
(``exec_command``/``write_stdin`` texts, ``item/commandExecution/terminalInteraction``,
the item completing when the process exits).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer, StartClient
from tests.e2e.test_shell import start_thread
from tests.e2e.test_turns import collect_turn, of, start_turn
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, RecordedRequest, Script, function_call, text

from threadline.tools.shell import STDIN_CLOSED

SESSION_RE = re.compile(r"Process running with session ID (\d+)")


def outputs(request: RecordedRequest) -> dict[str, str]:
    """call_id → the function_call_output the model got, in ``request``'s input."""
    return {
        i["call_id"]: i["output"]
        for i in request.body["input"]
        if i.get("type") == "function_call_output"
    }


def last_session(request: RecordedRequest) -> int:
    for item in reversed(request.body["input"]):
        if item.get("type") == "function_call_output":
            match = SESSION_RE.search(item["output"])
            if match:
                return int(match.group(1))
    raise AssertionError("no session id in the model's input")


def exec_call(call_id: str, cmd: str, **args: Any) -> Script:
    return function_call("exec_command", {"cmd": cmd, "login": False, **args}, call_id=call_id)


def write_call(call_id: str, chars: str, **args: Any) -> Any:
    """A write_stdin to the session the model was told about last."""

    def script(request: RecordedRequest) -> Script:
        params = {"session_id": last_session(request), "chars": chars, **args}
        return function_call("write_stdin", params, call_id=call_id)

    return script


def command_items(messages: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [p["item"] for p in of(messages, method) if p["item"]["type"] == "commandExecution"]


def header(output: str) -> str:
    return output.split("Output:\n", 1)[0]


def body(output: str) -> str:
    return output.split("Output:\n", 1)[1]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


async def run_turn(
    client: AppServerClient, thread_id: str, message: str = "go", timeout: float = 30
) -> list[dict[str, Any]]:
    turn_id = await start_turn(client, thread_id, message)
    return await collect_turn(client, turn_id, timeout=timeout)


async def test_a_python_repl_driven_with_write_stdin(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        exec_call("c1", f"{sys.executable} -q -i", tty=True, yield_time_ms=3000),
        write_call("c2", "print(6*7)\n", yield_time_ms=2000),
        write_call("c3", "exit()\n", yield_time_ms=3000),
        text("The answer is 42."),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    messages = await run_turn(client, thread_id)

    got = outputs(mock_model.requests[-1])
    started = SESSION_RE.search(got["c1"])
    assert started is not None, got["c1"]
    session_id = started.group(1)
    assert got["c1"].startswith("Chunk ID: ")
    assert "\nWall time: " in got["c1"] and "\nOriginal token count: " in got["c1"]
    assert body(got["c1"]).endswith(">>> ")
    # The answer arrives on the pty: the echoed input, the result, the next prompt.
    assert f"Process running with session ID {session_id}" in header(got["c2"])
    assert body(got["c2"]) == "print(6*7)\r\n42\r\n>>> "
    assert "Process exited with code 0" in header(got["c3"])
    assert "session ID" not in got["c3"]

    (item_started,) = command_items(messages, "item/started")
    (item_done,) = command_items(messages, "item/completed")
    assert item_started["processId"] == item_done["processId"] == session_id
    assert item_started["source"] == "unifiedExecStartup"
    assert (item_done["status"], item_done["exitCode"]) == ("completed", 0)
    assert "42" in item_done["aggregatedOutput"]
    interactions = of(messages, "item/commandExecution/terminalInteraction")
    assert [(i["itemId"], i["processId"], i["stdin"]) for i in interactions] == [
        ("c1", session_id, "print(6*7)\n"),
        ("c1", session_id, "exit()\n"),
    ]
    # As in Codex: the interaction of the write that ended the REPL, then the item.
    names = [m.get("method") for m in messages]
    last_interaction = max(
        i for i, m in enumerate(messages) if m.get("method", "").endswith("terminalInteraction")
    )
    completed = next(
        i
        for i, m in enumerate(messages)
        if m.get("method") == "item/completed" and m["params"]["item"]["id"] == "c1"
    )
    assert last_interaction < completed < names.index("turn/completed")
    deltas = "".join(d["delta"] for d in of(messages, "item/commandExecution/outputDelta"))
    assert "42" in deltas


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_a_tty_session_is_a_terminal_of_codex_size(
    start_client: StartClient, mock_model: MockModel, workspace: Path, sandbox: str
) -> None:
    mock_model.enqueue(
        exec_call("t1", "tty; stty size; test -t 0 && echo stdin-is-a-tty", tty=True),
        exec_call("t2", "tty; cat; echo cat-ended"),
        text("done"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox=sandbox)
    await run_turn(client, thread_id)

    got = outputs(mock_model.requests[-1])
    lines = body(got["t1"]).split("\r\n")
    # bubblewrap's fresh /dev shows the caller's terminal as /dev/console.
    name = "/dev/console" if sandbox != "danger-full-access" else r"/dev/pts/\d+"
    assert re.fullmatch(name, lines[0]), got["t1"]
    assert lines[1:4] == ["24 80", "stdin-is-a-tty", ""]
    assert "Process exited with code 0" in got["t1"]
    # Without tty: pipes, and stdin is /dev/null (cat ends at once).
    assert body(got["t2"]) == "not a tty\ncat-ended\n"
    assert "Process exited with code 1" not in got["t2"]


async def test_a_long_command_yields_then_finishes_on_a_poll(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        exec_call("l1", "echo start; sleep 2; echo done; exit 3", yield_time_ms=250),
        write_call("l2", "hello\n"),
        write_call("l3", "", yield_time_ms=20_000),
        function_call("write_stdin", {"session_id": 424242, "chars": ""}, call_id="l4"),
        text("done"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    begun = time.monotonic()
    messages = await run_turn(client, thread_id)
    elapsed = time.monotonic() - begun

    got = outputs(mock_model.requests[-1])
    assert SESSION_RE.search(got["l1"]) and body(got["l1"]) == "start\n"
    assert got["l2"] == STDIN_CLOSED
    assert "Process exited with code 3" in header(got["l3"])
    assert body(got["l3"]) == "done\n"
    assert got["l4"] == "write_stdin failed: Unknown process id 424242"
    # The poll returned when the process exited, not after its 20 s.
    assert elapsed < 15
    (done,) = command_items(messages, "item/completed")
    assert (done["status"], done["exitCode"], done["aggregatedOutput"]) == (
        "failed",
        3,
        "start\ndone\n",
    )
    deltas = [d["delta"] for d in of(messages, "item/commandExecution/outputDelta")]
    assert "".join(deltas) == "start\ndone\n"
    # A poll that ends with the process sends no interaction (Codex does the same).
    assert of(messages, "item/commandExecution/terminalInteraction") == []
    # Once its end was reported, the session is gone.
    session = SESSION_RE.search(got["l1"])
    assert session is not None


async def test_a_session_outlives_its_turn(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        exec_call("o1", "echo one; sleep 1.5; echo two", yield_time_ms=250),
        text("it runs on"),
        write_call("o2", "", yield_time_ms=5000),
        text("it ended"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    first = await run_turn(client, thread_id, "start it")
    turn_one = of(first, "turn/completed")[0]["turn"]["id"]
    assert command_items(first, "item/completed") == []
    # The process ends between turns: its output and its item still arrive, on its turn.
    message = await client.wait_for_notification(
        "item/completed", 10, lambda p: p["item"]["id"] == "o1"
    )
    completed = message["params"]
    assert completed["turnId"] == turn_one
    assert (completed["item"]["exitCode"], completed["item"]["aggregatedOutput"]) == (
        0,
        "one\ntwo\n",
    )
    second = await run_turn(client, thread_id, "and now?")
    assert of(second, "item/commandExecution/terminalInteraction") == []
    got = outputs(mock_model.requests[-1])
    assert "Process exited with code 0" in header(got["o2"])
    assert body(got["o2"]) == "two\n"


def _alive(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in args and "bwrap" not in args:
            found.append(int(entry.name))
    return found


async def _until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_sessions_are_killed_when_the_thread_unloads(
    start_client: StartClient, mock_model: MockModel, workspace: Path, sandbox: str
) -> None:
    marker = f"30{uuid.uuid4().int % 10**6:06d}"
    mock_model.enqueue(
        exec_call("k1", f"sleep {marker}", yield_time_ms=250),
        exec_call("k2", f"sleep {marker}.5 </dev/null", tty=True, yield_time_ms=250),
        text("left running"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox=sandbox)
    await run_turn(client, thread_id)
    got = outputs(mock_model.requests[-1])
    assert SESSION_RE.search(got["k1"]) and SESSION_RE.search(got["k2"])
    assert _alive(marker) and _alive(f"{marker}.5")
    await client.request("thread/archive", {"threadId": thread_id})  # unloads the thread
    await _until(lambda: not _alive(marker))


async def test_sessions_are_killed_when_the_server_stops(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> None:
    marker = f"31{uuid.uuid4().int % 10**6:06d}"
    mock_model.enqueue(exec_call("s1", f"sleep {marker}", yield_time_ms=250), text("running"))
    server = await launch_server()
    thread_id = await start_thread(server.client, workspace)
    await run_turn(server.client, thread_id)
    assert _alive(marker)
    await server.stop()
    await _until(lambda: not _alive(marker))
