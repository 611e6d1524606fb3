"""``exec_command`` against real bubblewrap and real processes (no app-server).

These need a working ``bwrap`` that can create namespaces; when it cannot, the first
test fails with bubblewrap's own reason rather than anything being skipped.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline.protocol import events as ev
from threadline.sandbox import BWRAP_ENV, ensure_bwrap
from threadline.sandbox.bwrap import reset_probe
from threadline.tools.registry import ToolContext
from threadline.tools.shell import REJECTED_BY_USER, TIMEOUT_EXIT_CODE, ExecCommandTool


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.completed: list[Any] = []

    async def emit(self, msg: Any) -> None:
        self.events.append(msg)

    async def complete(self, item: Any) -> None:
        self.completed.append(item)
        self.events.append(ev.ItemCompleted(turn_id="turn-1", item=item))

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def context(cwd: Path, rec: Recorder, *, sandbox: str, approval: str = "never") -> ToolContext:
    return ToolContext(
        thread_id="thread-1",
        turn_id="turn-1",
        call_id="call-1",
        cwd=cwd,
        emit=rec.emit,
        complete_item=rec.complete,
        sandbox_mode=sandbox,
        approval_policy=approval,
    )


async def run(
    cwd: Path, cmd: str, *, sandbox: str = "workspace-write", tool: ExecCommandTool | None = None
) -> tuple[str, Recorder]:
    rec = Recorder()
    out = await (tool or ExecCommandTool()).run(
        context(cwd, rec, sandbox=sandbox), json.dumps({"cmd": cmd, "login": False})
    )
    return out.text, rec


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside both the workspace and /tmp (which workspace-write may write)."""
    path = Path(tempfile.mkdtemp(prefix="threadline-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_bubblewrap_can_build_a_sandbox_here() -> None:
    # Fails loudly (with bwrap's message) on a host without user namespaces.
    exe = await ensure_bwrap()
    assert Path(exe).name == "bwrap"


async def test_command_output_exit_code_and_item(tmp_path: Path) -> None:
    text, rec = await run(tmp_path, "echo hi; echo oops >&2; exit 3")
    assert "Process exited with code 3\n" in text
    assert text.endswith("Output:\nhi\noops\n")
    assert rec.kinds()[0] == "ItemStarted"
    assert rec.kinds()[-2:] == ["ItemCompleted", "ExecCommandEnd"]
    started = rec.events[0].item
    assert (started.id, started.status, started.source) == (
        "call-1",
        "inProgress",
        "unifiedExecStartup",
    )
    assert (
        started.process_id is not None
        and started.command == "/bin/bash -c 'echo hi; echo oops >&2; exit 3'"
    )
    done = rec.completed[0]
    assert (done.status, done.exit_code, done.aggregated_output) == ("failed", 3, "hi\noops\n")
    assert done.duration_ms is not None and done.duration_ms >= 0
    deltas = "".join(e.delta for e in rec.events if isinstance(e, ev.CommandOutputDelta))
    assert deltas == "hi\noops\n"
    end = rec.events[-1]
    assert (end.exit_code, end.command, end.aggregated_output) == (
        3,
        ["/bin/bash", "-c", "echo hi; echo oops >&2; exit 3"],
        "hi\noops\n",
    )


async def test_output_streams_while_the_command_runs(tmp_path: Path) -> None:
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="workspace-write")
    task = asyncio.ensure_future(
        ExecCommandTool().run(
            ctx, json.dumps({"cmd": "echo first; sleep 1; echo second", "login": False})
        )
    )
    deadline = time.monotonic() + 5
    while not any(isinstance(e, ev.CommandOutputDelta) for e in rec.events):
        assert time.monotonic() < deadline, "no output delta while the command was running"
        await asyncio.sleep(0.01)
    assert not task.done()
    assert [e.delta for e in rec.events if isinstance(e, ev.CommandOutputDelta)] == ["first\n"]
    out = await task
    assert "first\nsecond\n" in out.text


async def test_read_only_blocks_writes(tmp_path: Path) -> None:
    text, rec = await run(tmp_path, "touch made.txt", sandbox="read-only")
    assert not (tmp_path / "made.txt").exists()
    assert "Read-only file system" in text
    assert rec.completed[0].status == "failed"


async def test_workspace_write_allows_cwd_but_not_outside(tmp_path: Path, outside: Path) -> None:
    text, _ = await run(tmp_path, "echo data > inside.txt && cat inside.txt")
    assert (tmp_path / "inside.txt").read_text() == "data\n"
    assert "Process exited with code 0" in text
    text, _ = await run(tmp_path, f"touch {outside}/escaped.txt")
    assert not (outside / "escaped.txt").exists()
    assert "Read-only file system" in text


async def test_writable_roots_extend_workspace_write(tmp_path: Path, outside: Path) -> None:
    tool = ExecCommandTool(writable_roots=(str(outside),))
    text, _ = await run(tmp_path, f"touch {outside}/allowed.txt", tool=tool)
    assert (outside / "allowed.txt").exists(), text


async def test_git_metadata_stays_read_only(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    text, _ = await run(tmp_path, "touch .git/hooked && touch ok.txt")
    assert not (tmp_path / ".git" / "hooked").exists()
    assert not (tmp_path / "ok.txt").exists()  # && stopped at the failure
    assert "Read-only file system" in text


async def test_network_is_off_in_the_sandbox(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo connected || echo refused"
    try:
        async with server:
            sandboxed, _ = await run(tmp_path, probe)
            free, _ = await run(tmp_path, probe, sandbox="danger-full-access")
            devices, _ = await run(tmp_path, "tail -n +3 /proc/net/dev | cut -d: -f1")
    finally:
        server.close()
    # The sandbox has its own, empty network namespace: the host's listener is unreachable.
    assert sandboxed.endswith("Output:\nrefused\n")
    assert free.endswith("Output:\nconnected\n")
    assert devices.split("Output:\n", 1)[1].split() == ["lo"]


async def test_danger_full_access_runs_without_bwrap(tmp_path: Path, outside: Path) -> None:
    text, _ = await run(tmp_path, f"touch {outside}/free.txt", sandbox="danger-full-access")
    assert (outside / "free.txt").exists(), text


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    tool = ExecCommandTool(timeout_s=0.5)
    started = time.monotonic()
    text, rec = await run(
        tmp_path, f"sleep 30 & echo $! > {pidfile}; wait", tool=tool, sandbox="danger-full-access"
    )
    assert time.monotonic() - started < 5
    assert f"Process exited with code {TIMEOUT_EXIT_CODE}" in text
    assert "timed out after 0.5 seconds" in text
    assert rec.completed[0].exit_code == TIMEOUT_EXIT_CODE
    child = int(pidfile.read_text())
    await asyncio.sleep(0.1)
    assert (
        not Path(f"/proc/{child}").exists()
        or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    )


async def test_output_is_capped_and_truncated_for_the_model(tmp_path: Path) -> None:
    tool = ExecCommandTool(capture_bytes=10_000)
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="workspace-write")
    args = {"cmd": "seq 1 200000", "login": False, "max_output_tokens": 100}
    out = await tool.run(ctx, json.dumps(args))
    item = rec.completed[0]
    assert item.aggregated_output.startswith("1\n2\n3\n")
    assert item.aggregated_output.rstrip().endswith("200000")
    assert "bytes of output omitted" in item.aggregated_output
    assert len(item.aggregated_output) < 11_000
    shown = out.text.split("Output:\n", 1)[1]
    assert "tokens truncated" in shown and len(shown) < 600
    streamed = sum(len(e.delta) for e in rec.events if isinstance(e, ev.CommandOutputDelta))
    assert streamed <= 10_000 + 64 * 1024


async def test_missing_bubblewrap_is_an_error_not_an_unsandboxed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bwrap-broken"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(BWRAP_ENV, str(fake))
    reset_probe()
    try:
        text, rec = await run(tmp_path, "touch ran.txt")
    finally:
        reset_probe()
    assert not (tmp_path / "ran.txt").exists()
    assert "cannot create a sandbox here" in text and "No permissions" in text
    assert rec.completed[0].status == "failed"
    assert "cannot create a sandbox" in rec.completed[0].aggregated_output


async def test_decline_without_anyone_to_ask(tmp_path: Path) -> None:
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="workspace-write", approval="untrusted")
    out = await ExecCommandTool().run(ctx, json.dumps({"cmd": "touch x.txt"}))
    assert out.text == REJECTED_BY_USER
    assert not (tmp_path / "x.txt").exists()


async def test_approval_flow_through_the_context(tmp_path: Path) -> None:
    rec = Recorder()
    asked: list[ev.ExecApprovalRequest] = []

    async def requester(request: ev.ExecApprovalRequest, started: Any, on_decision: Any) -> str:
        asked.append(request)
        if started is not None:
            await rec.emit(ev.ItemStarted(turn_id="turn-1", item=started))
        await on_decision("acceptForSession")
        return "acceptForSession"

    tool = ExecCommandTool()
    ctx = context(tmp_path, rec, sandbox="workspace-write", approval="untrusted")
    ctx.request_approval = requester
    out = await tool.run(ctx, json.dumps({"cmd": "touch y.txt", "login": False}))
    assert (tmp_path / "y.txt").exists() and "exited with code 0" in out.text
    assert asked[0].command == "/bin/bash -c 'touch y.txt'"
    assert asked[0].proposed_amendment == ["touch", "y.txt"]
    # Only one item/started: the one announced while waiting.
    assert rec.kinds().count("ItemStarted") == 1
    assert rec.completed[0].source == "unifiedExecStartup"
    # Approved for the session: the same command does not ask again.
    await tool.run(ctx, json.dumps({"cmd": "touch y.txt", "login": False}))
    assert len(asked) == 1


async def test_bad_arguments_are_reported_to_the_model(tmp_path: Path) -> None:
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="workspace-write")
    out = await ExecCommandTool().run(ctx, "{not json")
    assert not out.success and "not valid JSON" in out.text
    out = await ExecCommandTool().run(ctx, json.dumps({"cmd": ""}))
    assert "`cmd`" in out.text
    assert rec.events == []


async def test_cancelling_the_call_kills_the_sandboxed_command(tmp_path: Path) -> None:
    # What an interrupted turn does to a running tool call: the task is cancelled.
    pidfile = tmp_path / "inner.pid"
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="danger-full-access")
    cmd = f"sleep 30 & echo $! > {pidfile}; wait"
    task = asyncio.ensure_future(
        ExecCommandTool().run(ctx, json.dumps({"cmd": cmd, "login": False}))
    )
    deadline = time.monotonic() + 5
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.02)
    child = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"


@pytest.mark.parametrize(
    ("cmd", "rule"),
    [
        ("echo hi > made.txt", ["/bin/bash", "-lc", "echo hi > made.txt"]),
        ("touch a | wc -l", ["/bin/bash", "-lc", "touch a | wc -l"]),
        ("touch $HOME", ["/bin/bash", "-lc", "touch $HOME"]),
        ("touch 'a b.txt'", ["touch", "a b.txt"]),
    ],
)
async def test_proposed_rule_of_a_command_with_shell_syntax_is_the_whole_invocation(
    tmp_path: Path, cmd: str, rule: list[str]
) -> None:
    """Codex 0.169 proposes ``[shell, -lc, cmd]`` for a command with redirections, pipes or
    expansions (seen through the ACP bridge); a word prefix with a literal ``>`` would be a
    wrong rule."""
    rec = Recorder()
    asked: list[ev.ExecApprovalRequest] = []

    async def requester(request: ev.ExecApprovalRequest, started: Any, on_decision: Any) -> str:
        asked.append(request)
        await on_decision("decline")
        return "decline"

    ctx = context(tmp_path, rec, sandbox="workspace-write", approval="untrusted")
    ctx.request_approval = requester
    await ExecCommandTool().run(ctx, json.dumps({"cmd": cmd}))
    assert asked and asked[0].proposed_amendment == rule
