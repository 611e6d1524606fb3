"""``tools/process.py`` against real processes: pipes, a real pty, bubblewrap, descriptors."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from threadline.sandbox.bwrap import prepare_launch
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.process import Chunk, ProcessHandle, SpawnSpec


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **extra}


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def _drain(handle: ProcessHandle, timeout: float = 20.0) -> list[Chunk]:
    chunks: list[Chunk] = []
    async with asyncio.timeout(timeout):
        while (chunk := await handle.output.get()) is not None:
            chunks.append(chunk)
    return chunks


def _joined(chunks: list[Chunk], stream: str = "stdout") -> bytes:
    return b"".join(data for name, data in chunks if name == stream)


async def test_pipes_keep_stdout_and_stderr_apart(tmp_path: Path) -> None:
    handle = await ProcessHandle.spawn(
        SpawnSpec(["sh", "-c", "echo out; echo err >&2; exit 3"], tmp_path, _env())
    )
    chunks = await _drain(handle)
    assert await handle.wait() == 3
    assert handle.returncode == 3
    assert _joined(chunks) == b"out\n"
    assert _joined(chunks, "stderr") == b"err\n"
    await handle.aclose()


async def test_merge_stderr_keeps_the_order(tmp_path: Path) -> None:
    script = "for i in 1 2 3; do echo o$i; echo e$i >&2; done"
    handle = await ProcessHandle.spawn(
        SpawnSpec(["sh", "-c", script], tmp_path, _env(), merge_stderr=True, stdin=False)
    )
    chunks = await _drain(handle)
    assert await handle.wait() == 0
    assert _joined(chunks) == b"o1\ne1\no2\ne2\no3\ne3\n"
    assert _joined(chunks, "stderr") == b""
    await handle.aclose()


async def test_stdin_round_trip_larger_than_a_pipe(tmp_path: Path) -> None:
    """A megabyte through ``cat``: writes wait for room without blocking the loop."""
    handle = await ProcessHandle.spawn(SpawnSpec(["cat"], tmp_path, _env()))
    payload = os.urandom(1 << 20)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick_task = asyncio.ensure_future(ticker())
    reader = asyncio.ensure_future(_drain(handle))
    await handle.write(payload)
    await handle.close_stdin()
    chunks = await reader
    tick_task.cancel()
    assert await handle.wait() == 0
    assert _joined(chunks) == payload
    assert ticks > 10
    await handle.aclose()


async def test_no_stdin_means_dev_null(tmp_path: Path) -> None:
    handle = await ProcessHandle.spawn(
        SpawnSpec(["sh", "-c", "cat; echo done"], tmp_path, _env(), stdin=False)
    )
    chunks = await _drain(handle)
    assert _joined(chunks) == b"done\n"
    with pytest.raises(BrokenPipeError):
        await handle.write(b"x")
    await handle.aclose()


async def test_pty_is_the_controlling_terminal_with_the_given_size(tmp_path: Path) -> None:
    script = "tty; stty size; test -t 0 && echo stdin-tty; echo $$ > pid; ps -o tty= -p $$"
    handle = await ProcessHandle.spawn(
        SpawnSpec(["bash", "-c", script], tmp_path, _env(TERM="xterm"), tty=True, size=(33, 111))
    )
    out = _joined(await _drain(handle)).decode()
    assert await handle.wait() == 0
    lines = out.replace("\r\n", "\n").splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "33 111"
    assert lines[2] == "stdin-tty"
    # The terminal is the process's controlling tty (ps shows it), not just its stdin.
    assert lines[3].strip() == lines[0].removeprefix("/dev/")
    # Same pid as the one we spawned: setsid(1) did not fork.
    assert int((tmp_path / "pid").read_text()) == handle.pid
    await handle.aclose()


async def test_pty_resize_and_interactive_python(tmp_path: Path) -> None:
    handle = await ProcessHandle.spawn(
        SpawnSpec([sys.executable, "-q", "-i"], tmp_path, _env(TERM="dumb"), tty=True)
    )
    handle.resize(40, 132)
    seen = b""
    # Typed-ahead input may be flushed when the REPL sets the terminal up: wait for it.
    async with asyncio.timeout(20):
        while b">>> " not in seen:
            chunk = await handle.output.get()
            assert chunk is not None
            seen += chunk[1]
    await handle.write(b"import os; print(os.get_terminal_size(0), 6*7)\n")
    async with asyncio.timeout(20):
        while not seen.endswith(b">>> ") or b"42" not in seen:
            chunk = await handle.output.get()
            assert chunk is not None
            seen += chunk[1]
    assert b"columns=132, lines=40" in seen
    await handle.close_stdin()  # ^D at the prompt ends the REPL
    await _drain(handle)
    assert await handle.wait() == 0
    await handle.aclose()


async def test_resize_without_a_pty_is_refused(tmp_path: Path) -> None:
    handle = await ProcessHandle.spawn(SpawnSpec(["true"], tmp_path, _env()))
    with pytest.raises(ValueError):
        handle.resize(10, 10)
    await handle.aclose()


async def test_signal_is_reported_as_a_shell_does(tmp_path: Path) -> None:
    handle = await ProcessHandle.spawn(SpawnSpec(["sh", "-c", "kill -9 $$"], tmp_path, _env()))
    assert await handle.wait() == 137
    await handle.aclose()


async def test_kill_takes_down_the_whole_group(tmp_path: Path) -> None:
    script = "sleep 300 & echo $! > child; wait"
    handle = await ProcessHandle.spawn(SpawnSpec(["sh", "-c", script], tmp_path, _env()))
    child_file = tmp_path / "child"
    async with asyncio.timeout(10):
        while not child_file.exists() or not child_file.read_text().strip():
            await asyncio.sleep(0.02)
    child = int(child_file.read_text())
    handle.kill()
    assert await handle.wait() == 137
    await _drain(handle)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)
    await handle.aclose()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return "Z"


async def test_no_descriptor_leaks(tmp_path: Path) -> None:
    before = _open_fds()
    for tty in (False, True, False, True):
        handle = await ProcessHandle.spawn(
            SpawnSpec(["sh", "-c", "echo hi; sleep 30"], tmp_path, _env(), tty=tty)
        )
        assert handle.open_fds
        async with asyncio.timeout(10):
            chunk = await handle.output.get()
        assert chunk is not None
        await handle.aclose()  # still running: killed, reaped, closed
        assert handle.open_fds == ()
    for tty in (False, True):
        handle = await ProcessHandle.spawn(SpawnSpec(["true"], tmp_path, _env(), tty=tty))
        await _drain(handle)
        await handle.wait()
        await handle.aclose()
    assert _open_fds() <= before


async def test_a_missing_program_raises_and_leaks_nothing(tmp_path: Path) -> None:
    before = _open_fds()
    for tty in (False, True):
        with pytest.raises(OSError):
            await ProcessHandle.spawn(SpawnSpec(["/nonexistent/prog"], tmp_path, _env(), tty=tty))
    assert _open_fds() <= before


@pytest.mark.parametrize("tty", [False, True])
async def test_sandboxed_argv_with_seccomp_fd(tmp_path: Path, tty: bool) -> None:
    """The bubblewrap argv of the read-only policy (no network: a seccomp descriptor passed)."""
    policy = SandboxPolicy.from_mode("read-only")
    script = (
        "echo inside; touch denied 2>/dev/null || echo refused; tty >/dev/null && echo tty; true"
    )
    launch = await prepare_launch(policy, tmp_path, ["sh", "-c", script])
    try:
        try:
            handle = await ProcessHandle.spawn(
                SpawnSpec(launch.argv, tmp_path, _env(), tty=tty, pass_fds=launch.pass_fds)
            )
        finally:
            launch.close_fds()
        out = _joined(await _drain(handle)).decode().replace("\r\n", "\n")
        assert await handle.wait() == 0
        await handle.aclose()
    finally:
        await launch.finish()
    assert out.splitlines()[:2] == ["inside", "refused"]
    assert ("tty" in out.splitlines()) is tty
    assert not (tmp_path / "denied").exists()
