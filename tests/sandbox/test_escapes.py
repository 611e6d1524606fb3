"""Hostile commands against the real ``exec_command`` tool, real bubblewrap and real processes.

Each escape is tried as the user running pytest (root in CI, where bubblewrap keeps every
capability unless told otherwise) and as an unprivileged user (``tluser``, created by
``.ci/run``), whose calls go through ``escape_driver.py`` in a subprocess running with that
user's uid. Every test also checks that ordinary work still succeeds, so a sandbox that
refused everything would fail too.

With the ``CI`` variable set, a missing bubblewrap or a missing unprivileged user is a
failure, not a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.escape_driver import run_calls
from tests.support.unprivileged import user_python as _user_python

from threadline.sandbox import BWRAP_ENV, find_bwrap, limits
from threadline.sandbox.bwrap import bwrap_argv, reset_probe
from threadline.sandbox.policy import SandboxPolicy
from threadline.sandbox.seccomp import network_filter
from threadline.tools.shell import ExecCommandTool

UNPRIVILEGED_USER = "tluser"
DRIVER = Path(__file__).with_name("escape_driver.py")
IN_CI = bool(os.environ.get("CI"))
SANDBOXED = ("read-only", "workspace-write")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


# ---- running calls as a given identity -------------------------------------------------------


@dataclass
class Box:
    """A workspace and an ``outside`` directory owned by one identity, and a way to run calls."""

    identity: str
    base: Path
    user: pwd.struct_passwd | None
    python: list[str]
    env: dict[str, str]

    @property
    def ws(self) -> Path:
        return self.base / "ws"

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    async def run_many(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for call in calls:
            call.setdefault("cwd", str(self.ws))
        if self.user is None:
            return await run_calls(calls)
        proc = await asyncio.create_subprocess_exec(
            *self.python,
            str(DRIVER),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd="/",
            user=self.user.pw_uid,
            group=self.user.pw_gid,
            extra_groups=[],
        )
        out, err = await asyncio.wait_for(
            proc.communicate(json.dumps({"calls": calls}).encode()), 120
        )
        assert proc.returncode == 0, err.decode()
        results: list[dict[str, Any]] = json.loads(out)
        return results

    async def run(self, cmd: str, **call: Any) -> dict[str, Any]:
        args = {"cmd": cmd}
        if "workdir" in call:
            args["workdir"] = call.pop("workdir")
        (result,) = await self.run_many([{"args": args, **call}])
        return result


@pytest.fixture(scope="module")
def bwrap_present() -> None:
    if find_bwrap() is None:
        _missing("bubblewrap is not installed")


@pytest.fixture(params=["self", "unprivileged"])
def box(request: pytest.FixtureRequest, bwrap_present: None) -> Iterator[Box]:
    user: pwd.struct_passwd | None = None
    python = [sys.executable]
    env = dict(os.environ)
    if request.param == "unprivileged" and os.geteuid() == 0:
        try:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            _missing(f"the unprivileged user {UNPRIVILEGED_USER!r} does not exist")
        assert user is not None
        python, env = _user_python(user)
    elif request.param == "unprivileged":
        pass  # pytest itself runs unprivileged: the "self" run already covers it
    base = Path(tempfile.mkdtemp(prefix="threadline-escape-", dir="/var/tmp"))
    (base / "ws" / "sub").mkdir(parents=True)
    (base / "outside").mkdir()
    if user is not None:
        for path in (base, base / "ws", base / "ws" / "sub", base / "outside"):
            os.chown(path, user.pw_uid, user.pw_gid)
    try:
        yield Box(request.param, base, user, python, env)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _output(result: dict[str, Any]) -> str:
    text: str = result["text"]
    return text.split("Output:\n", 1)[1] if "Output:\n" in text else text


# ---- 1. workdir is where a command starts, never a writable root ----------------------------


async def test_workdir_never_becomes_a_writable_root(box: Box) -> None:
    target = box.outside / "f"
    hostile = ["/", str(box.outside), "../outside"]
    calls = [
        {"args": {"cmd": f"echo x > {target}", "workdir": w}, "sandbox": "workspace-write"}
        for w in hostile
    ]
    calls.append(
        {"args": {"cmd": "echo x > f", "workdir": str(box.outside)}, "sandbox": "read-only"}
    )
    tmp_name = f"/tmp/threadline-escape-{uuid.uuid4().hex}"
    legit = f"pwd && echo ok > made.txt && echo t > {tmp_name} && echo w > ../top.txt"
    calls.append({"args": {"cmd": legit, "workdir": "sub"}, "sandbox": "workspace-write"})
    calls.append({"args": {"cmd": "true", "workdir": "missing"}, "sandbox": "workspace-write"})
    results = await box.run_many(calls)
    try:
        for result in results[:4]:
            assert "Read-only file system" in result["text"], result
            assert result["exit_code"] != 0
        assert not target.exists() and not (box.outside / "f").exists()
        started_in_sub = results[4]
        assert started_in_sub["exit_code"] == 0, started_in_sub
        assert _output(started_in_sub) == f"{box.ws / 'sub'}\n"
        assert (box.ws / "sub" / "made.txt").read_text() == "ok\n"
        assert (box.ws / "top.txt").read_text() == "w\n"
        assert Path(tmp_name).read_text() == "t\n"
        missing = results[5]
        assert not missing["success"]
        assert "`workdir` 'missing' is not a directory" in missing["text"]
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


# ---- 2. no capabilities, no mounts, no new user namespaces ----------------------------------


def _cap_commands(box: Box, tag: str) -> dict[str, str]:
    out = box.outside
    return {
        "status": "grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status",
        "remount": f"mount -o remount,bind,rw / ; touch {out}/{tag}-remount",
        "userns": (
            f"unshare -Ur sh -c 'mount -o remount,bind,rw / ; touch {out}/{tag}-userns'; echo rc=$?"
        ),
        "mountns": f"unshare -m sh -c 'mount -o remount,bind,rw / ; touch {out}/{tag}-mountns'",
        # The same value back: harmless to the host even if the write went through.
        "sysctl": (
            "v=$(cat /proc/sys/kernel/core_uses_pid) && "
            "echo $v > /proc/sys/kernel/core_uses_pid && echo WROTE-SYSCTL"
        ),
        "cgroup": (
            "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do "
            'echo $$ 2>/dev/null > "$f" && echo "JOINED $f"; done; true'
        ),
    }


@pytest.mark.parametrize("mode", SANDBOXED)
async def test_no_capabilities_mounts_or_user_namespaces(box: Box, mode: str) -> None:
    commands = _cap_commands(box, mode)
    calls = [{"args": {"cmd": cmd}, "sandbox": mode} for cmd in commands.values()]
    calls.append({"args": {"cmd": "touch inside.txt"}, "sandbox": "workspace-write"})
    results = dict(zip([*commands, "legit"], await box.run_many(calls), strict=True))
    status = dict(
        line.split(":", 1) for line in _output(results["status"]).splitlines() if ":" in line
    )
    assert {k: v.strip() for k, v in status.items()} == {
        "CapPrm": "0000000000000000",
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "CapAmb": "0000000000000000",
        "NoNewPrivs": "1",
    }
    assert list(box.outside.iterdir()) == []
    assert "rc=0" not in _output(results["userns"]), results["userns"]
    assert "unshare failed" in results["userns"]["text"]
    assert "unshare failed" in results["mountns"]["text"]
    assert "WROTE-SYSCTL" not in _output(results["sysctl"])
    assert "JOINED" not in _output(results["cgroup"])
    assert results["legit"]["exit_code"] == 0 and (box.ws / "inside.txt").exists()


# ---- 3. no sockets with network off ---------------------------------------------------------

_SOCKET_PROBE = r"""
import errno, socket, sys
path, port = sys.argv[1], int(sys.argv[2])
def attempt(name, fn):
    try:
        fn()
        print(name, "ok")
    except OSError as exc:
        print(name, errno.errorcode.get(exc.errno, exc.errno))
def unix_stream():
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(path)
def unix_dgram():
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).connect(path)
def tcp():
    socket.create_connection(("127.0.0.1", port), timeout=2)
def netlink():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
def pair():
    a, b = socket.socketpair()
    a.sendall(b"ping")
    assert b.recv(4) == b"ping"
def inet_pair():
    socket.socketpair(socket.AF_INET)
for name, fn in [("unix-stream", unix_stream), ("unix-dgram", unix_dgram), ("tcp", tcp),
                 ("netlink", netlink), ("socketpair", pair), ("inet-socketpair", inet_pair)]:
    attempt(name, fn)
"""


@pytest.fixture
async def host_listeners(box: Box) -> AsyncIterator[tuple[Path, int, socket.socket]]:
    path = box.outside / "host.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    unix.listen(16)
    unix.setblocking(False)
    path.chmod(0o777)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield path, port, unix
    finally:
        server.close()
        unix.close()


async def test_host_sockets_are_unreachable_without_network(
    box: Box, host_listeners: tuple[Path, int, socket.socket]
) -> None:
    path, port, unix = host_listeners
    probe = box.ws / "probe.py"
    probe.write_text(_SOCKET_PROBE)
    cmd = f"python3 {probe} {path} {port}"
    sandboxed = await box.run_many([{"args": {"cmd": cmd}, "sandbox": mode} for mode in SANDBOXED])
    for result in sandboxed:
        assert _output(result).splitlines() == [
            "unix-stream EPERM",
            "unix-dgram EPERM",
            "tcp EPERM",
            "netlink EPERM",
            "socketpair ok",
            "inet-socketpair EPERM",
        ], result
    with pytest.raises(BlockingIOError):
        unix.accept()  # nothing from inside the sandbox ever reached the host socket
    networked, free = await box.run_many(
        [
            {"args": {"cmd": cmd}, "sandbox": "workspace-write", "tool": {"network_access": True}},
            {"args": {"cmd": cmd}, "sandbox": "danger-full-access"},
        ]
    )
    # The host socket is reachable in principle: without the sandbox the same probe connects,
    # and with network allowed no filter is loaded (the loopback is the sandbox's own).
    assert _output(free).splitlines()[:3] == ["unix-stream ok", "unix-dgram EPROTOTYPE", "tcp ok"]
    assert _output(networked).splitlines()[0] == "unix-stream ok"


_ABI_PROBE = r"""
import ctypes, errno, mmap
def run(code):
    buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    return ctypes.CFUNCTYPE(ctypes.c_long)(addr)()
# mov eax, 20 (i386 getpid); int 0x80; ret
print("i386", run(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"))
# mov eax, 0x40000027 (x32 getpid); syscall; ret
print("x32", run(b"\xb8\x27\x00\x00\x40\x0f\x05\xc3"))
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 4, params)
print("io_uring", fd if fd >= 0 else errno.errorcode[ctypes.get_errno()])
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 machine code")
async def test_foreign_abis_and_io_uring_are_refused(box: Box) -> None:
    probe = box.ws / "abi.py"
    probe.write_text(_ABI_PROBE)
    calls = [{"args": {"cmd": f"python3 {probe}"}, "sandbox": mode} for mode in SANDBOXED]
    for result in await box.run_many(calls):
        # -1 is -EPERM as the raw syscall returns it: the filter answered, not the kernel.
        assert _output(result).splitlines() == ["i386 -1", "x32 -1", "io_uring EPERM"], result


# ---- 6. process limit and the whole tree's run time ------------------------------------------

_FORK_PROBE = r"""
import os, sys, time
made = 0
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    made += 1
print("forked", made)
"""


def _leftover_cgroups() -> list[str]:
    parent = limits.cgroup_parent()
    if parent is None:
        return []
    return [
        p.name for p in parent.path.iterdir() if p.name.startswith(f"threadline-{os.getpid()}-")
    ]


async def test_process_count_is_bounded(box: Box) -> None:
    probe = box.ws / "forks.py"
    probe.write_text(_FORK_PROBE)
    legit = "for i in $(seq 20); do sleep 0.2 & done; wait; echo all-done"
    calls = [
        {"args": {"cmd": f"python3 {probe}"}, "sandbox": mode, "tool": {"max_processes": 64}}
        for mode in SANDBOXED
    ]
    calls.append(
        {"args": {"cmd": legit}, "sandbox": "workspace-write", "tool": {"max_processes": 64}}
    )
    started = time.monotonic()
    *bounded, ok = await box.run_many(calls)
    for result in bounded:
        made = int(_output(result).split()[-1])
        assert 20 <= made < 64, result
    assert _output(ok) == "all-done\n"
    # The children sleeping 20 s died with the sandbox instead of being waited for.
    assert time.monotonic() - started < 15
    assert _leftover_cgroups() == []


def test_default_limits() -> None:
    tool = ExecCommandTool()
    assert (tool.max_processes, tool.timeout_s) == (256, 120.0)
    assert ExecCommandTool(max_processes=0).max_processes is None
    with pytest.raises(ValueError, match="max_processes"):
        ExecCommandTool(max_processes=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        ExecCommandTool(timeout_s=0)


def _escapee_command(markers: tuple[str, str], ps_to: str = "") -> str:
    """Two sleepers that leave the command's process group, then a long wait."""
    a, b = markers
    return f"setsid sleep {a} & (sleep {b} &); sleep 0.3; ps -eo args {ps_to}; sleep 60"


def _alive(markers: tuple[str, str]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            found += [args for m in markers if m in args]
    return found


def _markers() -> tuple[str, str]:
    n = uuid.uuid4().int % 10**6
    return f"300.{n:06d}1", f"301.{n:06d}1"


async def _assert_gone(markers: tuple[str, str]) -> None:
    deadline = time.monotonic() + 5
    while _alive(markers):
        assert time.monotonic() < deadline, f"still running: {_alive(markers)}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", SANDBOXED)
async def test_timeout_takes_down_processes_that_left_the_group(box: Box, mode: str) -> None:
    markers = _markers()
    started = time.monotonic()
    result = await box.run(_escapee_command(markers), sandbox=mode, tool={"timeout_s": 1.5})
    assert time.monotonic() - started < 10
    assert "timed out after 1.5 seconds" in result["text"]
    assert all(m in result["text"] for m in markers), result  # they were running inside
    await _assert_gone(markers)
    assert _leftover_cgroups() == []


async def test_interrupt_takes_down_processes_that_left_the_group(box: Box) -> None:
    markers = _markers()
    result = await box.run(
        _escapee_command(markers, f"> {box.ws}/ps.txt"),
        sandbox="workspace-write",
        cancel_after=1.5,
    )
    assert result["cancelled"]
    ps = (box.ws / "ps.txt").read_text()
    assert all(m in ps for m in markers), ps
    await _assert_gone(markers)
    assert _leftover_cgroups() == []


# ---- failing closed ----------------------------------------------------------------------------


def test_no_network_sandbox_without_filter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seccomp"):
        bwrap_argv(SandboxPolicy(mode="read-only"), tmp_path, ["true"])
    assert len(network_filter()) % 8 == 0


async def test_bubblewrap_without_seccomp_is_an_error_not_an_unfiltered_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bwrap_present: None
) -> None:
    real = find_bwrap()
    fake = tmp_path / "bwrap-no-seccomp"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = --seccomp ] && '
        "{ echo 'bwrap: prctl(PR_SET_SECCOMP): Invalid argument' >&2; exit 1; }; done\n"
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv(BWRAP_ENV, str(fake))
    reset_probe()
    try:
        (ran,) = await run_calls(
            [{"cwd": str(tmp_path), "args": {"cmd": "touch ran.txt"}, "sandbox": "read-only"}]
        )
    finally:
        reset_probe()
    assert not (tmp_path / "ran.txt").exists()
    assert not ran["success"] and ran["status"] == "failed"
    assert "cannot create a sandbox here" in ran["text"] and "PR_SET_SECCOMP" in ran["text"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the pids cgroup is root's mechanism")
async def test_root_without_a_pids_cgroup_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bwrap_present: None
) -> None:
    monkeypatch.setattr(limits, "_parent", [None])
    (refused, unlimited) = await run_calls(
        [
            {"cwd": str(tmp_path), "args": {"cmd": "touch a"}, "sandbox": "workspace-write"},
            {
                "cwd": str(tmp_path),
                "args": {"cmd": "touch b"},
                "sandbox": "workspace-write",
                "tool": {"max_processes": 0},
            },
        ]
    )
    assert not (tmp_path / "a").exists()
    assert "no writable cgroup with the pids controller" in refused["text"]
    assert refused["status"] == "failed"
    assert unlimited["exit_code"] == 0 and (tmp_path / "b").exists()
