"""Exec sessions at the tool level, with real processes and real bubblewrap: the session
limit, the sandbox inside a session (as root and as the unprivileged ``tluser``), the
timeout of a session, descriptors after the thread unloads.

The unprivileged runs start this file's ``DRIVER`` in a subprocess with ``tluser``'s uid,
so the sandbox is built exactly as it is for a threadline run by that user.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from tests.support.unprivileged import user_python as _user_python

from threadline.protocol import events as ev
from threadline.tools.exec_sessions import SessionPool
from threadline.tools.registry import ToolContext
from threadline.tools.shell import ExecCommandTool, WriteStdinTool

SESSION_RE = re.compile(r"Process running with session ID (\d+)")
UNPRIVILEGED_USER = "tluser"
IN_CI = bool(os.environ.get("CI"))

DRIVER = r"""
import asyncio, json, sys
from pathlib import Path
from threadline.tools.exec_sessions import SessionPool
from threadline.tools.registry import ToolContext
from threadline.tools.shell import ExecCommandTool, WriteStdinTool

async def main(request):
    pool = SessionPool()
    shell, stdin = ExecCommandTool(sessions=pool), WriteStdinTool(pool)
    ctx = ToolContext(thread_id="t", turn_id="u", call_id="c", cwd=Path(request["cwd"]),
                      sandbox_mode=request["sandbox"])
    texts = []
    for name, args in request["calls"]:
        tool = shell if name == "exec_command" else stdin
        if name == "write_stdin":
            args["session_id"] = int(texts[0].split("session ID ")[1].split()[0])
        texts.append((await tool.run(ctx, json.dumps(args))).text)
    await shell.aclose()
    return texts

print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.completed: list[Any] = []

    async def emit(self, msg: Any) -> None:
        self.events.append(msg)

    async def complete(self, item: Any) -> None:
        self.completed.append(item)


def context(cwd: Path, rec: Recorder, *, sandbox: str = "workspace-write") -> ToolContext:
    return ToolContext(
        thread_id="thread-1",
        turn_id="turn-1",
        call_id="call-1",
        cwd=cwd,
        emit=rec.emit,
        complete_item=rec.complete,
        sandbox_mode=sandbox,
    )


def with_call(ctx: ToolContext, call_id: str) -> ToolContext:
    return replace(ctx, call_id=call_id)


def session_of(text: str) -> int:
    match = SESSION_RE.search(text)
    assert match is not None, text
    return int(match.group(1))


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
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


# ---- the session limit ---------------------------------------------------------------------


async def test_the_least_recently_used_session_is_reaped_and_the_model_told(
    tmp_path: Path,
) -> None:
    pool = SessionPool(limit=3)
    shell, stdin = ExecCommandTool(sessions=pool), WriteStdinTool(pool)
    rec = Recorder()
    ctx = context(tmp_path, rec, sandbox="danger-full-access")
    marker = f"32{os.getpid() % 10**6:06d}"
    ids = []
    for n in range(3):
        args = {"cmd": f"sleep {marker}.{n}", "login": False, "yield_time_ms": 250}
        ids.append(session_of((await shell.run(with_call(ctx, f"c{n}"), json.dumps(args))).text))
    # Using the first one makes the second the least recently used.
    poll = {"session_id": ids[0], "chars": "", "yield_time_ms": 5000}
    polled = await asyncio.wait_for(stdin.run(ctx, json.dumps(poll)), 10)
    assert f"session ID {ids[0]}" in polled.text
    fourth = {"cmd": f"sleep {marker}.3", "login": False, "yield_time_ms": 250}
    out = await shell.run(with_call(ctx, "c3"), json.dumps(fourth))
    assert len(pool) == 3
    note = f"[session {ids[1]} (`sleep {marker}.1`) was ended to keep at most 3 sessions open]"
    assert note in out.text.split("Output:\n", 1)[1]
    await _until(lambda: not _pids_with(f"{marker}.1"))
    assert _pids_with(f"{marker}.0") and _pids_with(f"{marker}.2")
    gone = await stdin.run(ctx, json.dumps({"session_id": ids[1], "chars": ""}))
    assert gone.text == f"write_stdin failed: Unknown process id {ids[1]}"
    # The reaped session's item completed as Codex completes a terminated one.
    await _until(lambda: any(i.id == "c1" for i in rec.completed))
    (reaped,) = [i for i in rec.completed if i.id == "c1"]
    assert (reaped.status, reaped.exit_code, reaped.process_id) == ("failed", -1, str(ids[1]))
    await shell.aclose()
    assert not _pids_with(marker)


async def test_an_exited_session_is_reaped_before_a_running_one(tmp_path: Path) -> None:
    pool = SessionPool(limit=3)
    shell = ExecCommandTool(sessions=pool)
    ctx = context(tmp_path, Recorder(), sandbox="danger-full-access")
    marker = f"33{os.getpid() % 10**6:06d}"
    cmds = [f"sleep {marker}", "sleep 0.8", f"sleep {marker}.2"]
    ids = []
    for n, cmd in enumerate(cmds):
        args = {"cmd": cmd, "login": False, "yield_time_ms": 250}
        ids.append(session_of((await shell.run(with_call(ctx, f"c{n}"), json.dumps(args))).text))
    await asyncio.sleep(1.0)  # the second has exited, unpolled (it stays until polled)
    assert len(pool) == 3
    out = await shell.run(
        with_call(ctx, "c3"), json.dumps({"cmd": "true", "login": False, "yield_time_ms": 250})
    )
    assert f"[session {ids[1]} (`sleep 0.8`)" in out.text
    assert ids[0] in pool.ids() and ids[2] in pool.ids()
    await shell.aclose()


# ---- timeout, unload ------------------------------------------------------------------------


async def test_the_command_timeout_also_ends_a_session(tmp_path: Path) -> None:
    pool = SessionPool()
    shell, stdin = ExecCommandTool(sessions=pool, timeout_s=1.0), WriteStdinTool(pool)
    rec = Recorder()
    ctx = context(tmp_path, rec)
    args = {"cmd": "echo up; sleep 30", "login": False, "yield_time_ms": 250}
    first = await shell.run(ctx, json.dumps(args))
    session = session_of(first.text)
    await _until(lambda: bool(rec.completed), timeout=10)
    assert (rec.completed[0].exit_code, rec.completed[0].status) == (124, "failed")
    assert "timed out after 1 seconds" in (rec.completed[0].aggregated_output or "")
    polled = await stdin.run(ctx, json.dumps({"session_id": session, "chars": ""}))
    assert "Process exited with code 124" in polled.text
    assert "command timed out after 1 seconds" in polled.text
    await shell.aclose()


@pytest.mark.parametrize("tty", [False, True])
async def test_unloading_kills_sessions_and_closes_every_descriptor(
    tmp_path: Path, tty: bool
) -> None:
    before = _open_fds()
    pool = SessionPool()
    shell = ExecCommandTool(sessions=pool)
    rec = Recorder()
    ctx = context(tmp_path, rec)
    marker = f"34{os.getpid() % 10**6:06d}{int(tty)}"
    for n in range(3):
        args = {"cmd": f"sleep {marker}", "login": False, "tty": tty, "yield_time_ms": 250}
        session_of((await shell.run(with_call(ctx, f"c{n}"), json.dumps(args))).text)
    assert len(pool) == 3
    await shell.aclose()
    assert len(pool) == 0
    assert not _pids_with(marker)
    assert sorted(i.exit_code for i in rec.completed) == [-1, -1, -1]
    assert _open_fds() <= before
    # A pool that was closed refuses nothing but keeps nothing either.
    started = [e for e in rec.events if isinstance(e, ev.ItemStarted)]
    assert len(started) == 3


# ---- the sandbox inside a session, as root and as tluser -------------------------------------


@dataclass
class Identity:
    name: str
    user: pwd.struct_passwd | None
    python: list[str]
    env: dict[str, str]


@pytest.fixture(params=["self", "unprivileged"])
def identity(request: pytest.FixtureRequest) -> Identity:
    if shutil.which("bwrap") is None:
        (pytest.fail if IN_CI else pytest.skip)("bubblewrap is not installed")
    if request.param == "self" or os.geteuid() != 0:
        if request.param == "unprivileged":
            pytest.skip("pytest runs unprivileged: the 'self' run covers it")
        return Identity("self", None, [sys.executable], dict(os.environ))
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        (pytest.fail if IN_CI else pytest.skip)(f"no user {UNPRIVILEGED_USER!r}")
        raise
    python, env = _user_python(user)
    return Identity("unprivileged", user, python, env)


@pytest.fixture
def box(identity: Identity) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="threadline-session-", dir="/var/tmp"))
    (base / "ws").mkdir()
    (base / "outside").mkdir()
    if identity.user is not None:
        for path in (base, base / "ws", base / "outside"):
            os.chown(path, identity.user.pw_uid, identity.user.pw_gid)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _drive(identity: Identity, request: dict[str, Any]) -> list[str]:
    user = identity.user
    proc = await asyncio.create_subprocess_exec(
        *identity.python,
        "-c",
        DRIVER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=identity.env,
        cwd="/",
        user=user.pw_uid if user is not None else None,
        group=user.pw_gid if user is not None else None,
        extra_groups=[] if user is not None else None,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), 120)
    assert proc.returncode == 0, err.decode()
    texts: list[str] = json.loads(out)
    return texts


async def test_the_sandbox_holds_inside_a_session(identity: Identity, box: Path) -> None:
    ws, outside = box / "ws", box / "outside"
    shell = "bash --norc --noprofile -i"
    calls = [
        ("exec_command", {"cmd": shell, "login": False, "tty": True, "yield_time_ms": 1500}),
        (
            "write_stdin",
            {"chars": f"touch {outside}/escaped; echo rc=$?\n", "yield_time_ms": 1500},
        ),
        ("write_stdin", {"chars": "echo in > inside.txt; echo rc=$?\n", "yield_time_ms": 1500}),
        ("write_stdin", {"chars": "id -u; exit 0\n", "yield_time_ms": 3000}),
    ]
    texts = await _drive(identity, {"cwd": str(ws), "sandbox": "workspace-write", "calls": calls})
    assert "Process running with session ID" in texts[0], texts
    assert "Read-only file system" in texts[1] and "rc=1" in texts[1], texts[1]
    assert not (outside / "escaped").exists()
    assert "rc=0" in texts[2], texts[2]
    assert (ws / "inside.txt").read_text() == "in\n"
    assert "Process exited with code 0" in texts[3], texts[3]
    uid = identity.user.pw_uid if identity.user is not None else os.geteuid()
    assert re.search(rf"[\r\n]{uid}\r\n", texts[3]), texts[3]
