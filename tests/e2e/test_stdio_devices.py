"""``threadline app-server`` on stdio with every kind of stdin and stdout.

stdin and stdout are each a pipe, a regular file, ``/dev/null`` or a terminal (a
pty from :func:`pty.openpty`), under uvloop and under the standard asyncio loop
(``THREADLINE_EVENT_LOOP=asyncio``). Whatever was read before end of input is
answered, then the server exits 0 on its own; nothing may hang (every wait has a
timeout) and nothing may abort (uvloop used to abort with exit 134 on
``/dev/null``, asyncio used to hang on it).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import OFFLINE_CONFIG
from tests.support.appserver import server_argv, server_env

KINDS = ("pipe", "file", "devnull", "pty")
LOOPS = ("uvloop", "asyncio")
EXIT_TIMEOUT = 30.0

REQUESTS = [
    {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "dev", "version": "1"}}},
    {"id": 2, "method": "thread/loaded/list", "params": {}},
    {"id": 3, "method": "no/such/method", "params": {}},
]
INPUT = b"".join(json.dumps(r).encode() + b"\n" for r in REQUESTS)


@dataclass
class Ends:
    """The child's end of stdin/stdout, and what the test keeps to feed or read them."""

    child_fd: int
    feed: int | None = None  # pipe write end or pty master, fed by the test
    read: int | None = None  # pipe read end or pty master, read by the test
    path: Path | None = None  # regular output file
    close_after_spawn: list[int] = field(default_factory=list)


def _quiet_pty() -> tuple[int, int]:
    """A pty whose line discipline does not echo input back or rewrite newlines."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # oflag
    attrs[3] &= ~(termios.ECHO | termios.ECHONL)  # lflag; ICANON stays: ^D is end of input
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _stdin(kind: str, tmp: Path) -> Ends:
    if kind == "pipe":
        r, w = os.pipe()
        return Ends(r, feed=w, close_after_spawn=[r])
    if kind == "file":
        path = tmp / "stdin.jsonl"
        path.write_bytes(INPUT)
        fd = os.open(path, os.O_RDONLY)
        return Ends(fd, close_after_spawn=[fd])
    if kind == "devnull":
        fd = os.open(os.devnull, os.O_RDONLY)
        return Ends(fd, close_after_spawn=[fd])
    master, slave = _quiet_pty()
    return Ends(slave, feed=master, close_after_spawn=[slave])


def _stdout(kind: str, tmp: Path) -> Ends:
    if kind == "pipe":
        r, w = os.pipe()
        return Ends(w, read=r, close_after_spawn=[w])
    if kind == "file":
        path = tmp / "stdout.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        return Ends(fd, path=path, close_after_spawn=[fd])
    if kind == "devnull":
        fd = os.open(os.devnull, os.O_WRONLY)
        return Ends(fd, close_after_spawn=[fd])
    master, slave = _quiet_pty()
    return Ends(slave, read=master, close_after_spawn=[slave])


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: a pty whose last slave descriptor is closed
            return
        if not chunk:
            return
        into += chunk


def _cases() -> Iterator[tuple[str, str, str]]:
    for loop in LOOPS:
        for stdin in KINDS:
            for stdout in KINDS:
                yield loop, stdin, stdout


@pytest.mark.parametrize(("loop", "stdin_kind", "stdout_kind"), list(_cases()))
def test_stdio_kinds(tmp_path: Path, loop: str, stdin_kind: str, stdout_kind: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(OFFLINE_CONFIG, encoding="utf-8")
    src = _stdin(stdin_kind, tmp_path)
    dst = _stdout(stdout_kind, tmp_path)
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            server_argv("stdio://"),
            stdin=src.child_fd,
            stdout=dst.child_fd,
            stderr=stderr,
            env=server_env(home, {"THREADLINE_EVENT_LOOP": loop}),
            cwd=tmp_path,
        )
    for fd in src.close_after_spawn + dst.close_after_spawn:
        os.close(fd)
    output = bytearray()
    reader = None
    if dst.read is not None:
        reader = threading.Thread(target=_drain, args=(dst.read, output), daemon=True)
        reader.start()
    try:
        if src.feed is not None:
            os.write(src.feed, INPUT)
            if stdin_kind == "pty":
                os.write(src.feed, b"\x04")  # VEOF at the start of a line: end of input
            else:
                os.close(src.feed)
        code = proc.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(
            f"server hung with stdin={stdin_kind} stdout={stdout_kind} loop={loop}\n"
            + stderr_path.read_text(errors="replace")
        )
    finally:
        if src.feed is not None and stdin_kind == "pty":
            os.close(src.feed)
    if reader is not None:
        reader.join(timeout=10)
        assert not reader.is_alive(), "stdout was not closed when the server exited"
        assert dst.read is not None
        os.close(dst.read)
    assert code == 0, stderr_path.read_text(errors="replace")
    if dst.path is not None:
        output += dst.path.read_bytes()
    if stdout_kind == "devnull":
        return
    answers = {m["id"]: m for m in map(json.loads, bytes(output).splitlines()) if "id" in m}
    if stdin_kind == "devnull":
        assert answers == {}, output
        return
    assert "userAgent" in answers[1]["result"], answers
    assert answers[2]["result"]["data"] == []
    assert answers[3]["error"]["code"] == -32601
