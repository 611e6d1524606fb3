"""``command/exec`` and its ``write`` / ``terminate`` / ``resize`` calls over the real stdio
app-server: real processes, real bubblewrap, Codex 0.169's answers and error wording
(recorded against the real binary).

The server's cwd is the test's tmp dir (``launch_server``'s default) and its config says
``sandbox_mode = "workspace-write"``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient
from tests.support.appserver import AppServerClient

import threadline


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deltas(client: AppServerClient, process_id: str, stream: str | None = None) -> bytes:
    """The decoded ``command/exec/outputDelta`` bytes for ``process_id``, in arrival order."""
    out = b""
    for m in client.received("command/exec/outputDelta"):
        p = m["params"]
        if p["processId"] == process_id and (stream is None or p["stream"] == stream):
            out += base64.b64decode(p["deltaBase64"])
    return out


async def start_exec(client: AppServerClient, params: dict[str, Any]) -> int:
    """Send ``command/exec`` without waiting for its (deferred) answer; its request id."""
    request_id = client.new_id()
    await client.send({"id": request_id, "method": "command/exec", "params": params})
    return request_id


async def answer(client: AppServerClient, request_id: int, timeout: float = 20) -> dict[str, Any]:
    message = await client.wait_for_answer(request_id, timeout=timeout)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


async def until(predicate: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_buffered_stdout_stderr_and_exit_code(start_client: StartClient) -> None:
    client = await start_client()
    result = await client.request(
        "command/exec", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}
    )
    assert result == {"exitCode": 3, "stdout": "out\n", "stderr": "err\n"}
    assert client.received("command/exec/outputDelta") == []


async def test_streamed_stdin_and_output_in_order(start_client: StartClient) -> None:
    client = await start_client()
    rid = await start_exec(
        client,
        {
            "command": ["cat"],
            "processId": "p1",
            "streamStdin": True,
            "streamStdoutStderr": True,
        },
    )
    # The connection keeps serving while cat runs: write, see the echo, write again.
    assert (
        await client.request(
            "command/exec/write", {"processId": "p1", "deltaBase64": b64("hello\n")}
        )
        == {}
    )
    await until(lambda: deltas(client, "p1") == b"hello\n")
    await client.request(
        "command/exec/write", {"processId": "p1", "deltaBase64": b64("bye\n"), "closeStdin": True}
    )
    result = await answer(client, rid)
    assert result == {"exitCode": 0, "stdout": "", "stderr": ""}
    assert deltas(client, "p1") == b"hello\nbye\n"
    for m in client.received("command/exec/outputDelta"):
        assert m["params"]["stream"] == "stdout" and m["params"]["capReached"] is False
    # The answer comes after every delta of the process.
    order = [m.get("method") or m.get("id") for m in client.received()]
    assert order.index(rid) > max(i for i, m in enumerate(order) if m == "command/exec/outputDelta")
    # Gone once it exited.
    error = await client.request_error(
        "command/exec/write", {"processId": "p1", "deltaBase64": b64("x")}
    )
    assert error == {"code": -32600, "message": 'no active command/exec for process id "p1"'}


async def test_streamed_stderr_is_labelled(start_client: StartClient) -> None:
    client = await start_client()
    rid = await start_exec(
        client,
        {
            "command": ["sh", "-c", "echo o; echo e >&2"],
            "processId": "s",
            "streamStdoutStderr": True,
        },
    )
    assert await answer(client, rid) == {"exitCode": 0, "stdout": "", "stderr": ""}
    assert deltas(client, "s", "stdout") == b"o\n"
    assert deltas(client, "s", "stderr") == b"e\n"


async def test_tty_size_resize_and_input(start_client: StartClient) -> None:
    client = await start_client()
    script = "tty; stty size; read x; stty size; echo got $x"
    rid = await start_exec(
        client,
        {
            "command": ["sh", "-c", script],
            "processId": "t",
            "tty": True,
            "size": {"rows": 30, "cols": 100},
        },
    )
    await until(lambda: b"30 100" in deltas(client, "t"))
    # A terminal (inside bubblewrap's own /dev it is /dev/console, as under Codex).
    assert deltas(client, "t").startswith(b"/dev/") and b"not a tty" not in deltas(client, "t")
    assert (
        await client.request(
            "command/exec/resize", {"processId": "t", "size": {"rows": 40, "cols": 120}}
        )
        == {}
    )
    await client.request("command/exec/write", {"processId": "t", "deltaBase64": b64("abc\n")})
    result = await answer(client, rid)
    assert result == {"exitCode": 0, "stdout": "", "stderr": ""}
    out = deltas(client, "t")
    assert b"40 120\r\n" in out and b"got abc\r\n" in out
    assert {m["params"]["stream"] for m in client.received("command/exec/outputDelta")} == {
        "stdout"
    }


async def test_tty_default_size_and_close_stdin_sends_eof(start_client: StartClient) -> None:
    client = await start_client()
    rid = await start_exec(
        client, {"command": ["sh", "-c", "stty size"], "processId": "d", "tty": True}
    )
    await answer(client, rid)
    assert deltas(client, "d").strip() == b"24 80"
    rid = await start_exec(client, {"command": ["cat"], "processId": "c", "tty": True})
    await client.request("command/exec/write", {"processId": "c", "closeStdin": True})
    assert (await answer(client, rid))["exitCode"] == 0


async def test_terminate(start_client: StartClient) -> None:
    client = await start_client()
    rid = await start_exec(client, {"command": ["sleep", "30"], "processId": "k"})
    await asyncio.sleep(0.3)
    assert await client.request("command/exec/terminate", {"processId": "k"}) == {}
    assert await answer(client, rid) == {"exitCode": 137, "stdout": "", "stderr": ""}
    error = await client.request_error("command/exec/terminate", {"processId": "k"})
    assert error["message"] == 'no active command/exec for process id "k"'


async def test_timeout_kills_with_124(start_client: StartClient) -> None:
    client = await start_client()
    started = asyncio.get_running_loop().time()
    result = await client.request("command/exec", {"command": ["sleep", "30"], "timeoutMs": 300})
    assert result == {"exitCode": 124, "stdout": "", "stderr": ""}
    assert asyncio.get_running_loop().time() - started < 5
    rid = await start_exec(
        client,
        {
            "command": ["sh", "-c", "echo partial; sleep 30"],
            "timeoutMs": 300,
            "processId": "tp",
            "streamStdoutStderr": True,
        },
    )
    assert (await answer(client, rid))["exitCode"] == 124
    assert deltas(client, "tp") == b"partial\n"


async def test_output_cap_buffered_and_streamed(start_client: StartClient) -> None:
    client = await start_client()
    result = await client.request(
        "command/exec",
        {"command": ["sh", "-c", "printf '%0100d' 0; printf '%050d' 0 >&2"], "outputBytesCap": 10},
    )
    assert result == {"exitCode": 0, "stdout": "0" * 10, "stderr": "0" * 10}
    rid = await start_exec(
        client,
        {
            "command": ["sh", "-c", "printf '%0100d' 0"],
            "outputBytesCap": 10,
            "processId": "cap",
            "streamStdoutStderr": True,
        },
    )
    await answer(client, rid)
    assert deltas(client, "cap") == b"0" * 10
    last = client.received("command/exec/outputDelta")[-1]["params"]
    assert last["capReached"] is True
    # The default cap is 1 MiB per stream; disableOutputCap lifts it.
    big = ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\000' a"]
    capped = await client.request("command/exec", {"command": big})
    assert len(capped["stdout"]) == 1024 * 1024
    whole = await client.request("command/exec", {"command": big, "disableOutputCap": True})
    assert len(whole["stdout"]) == 2_000_000


async def test_sandbox_default_and_per_request(start_client: StartClient, tmp_path: Path) -> None:
    client = await start_client()
    work = tmp_path / "work"
    work.mkdir()
    outside = Path("/var/tmp") / f"tl-cmdexec-{tmp_path.name}"
    try:
        write = f"echo x > inside.txt; echo rc=$?; echo x > {outside}; echo rc=$?"
        # Server default: workspace-write rooted at the command's cwd.
        result = await client.request(
            "command/exec", {"command": ["sh", "-c", write], "cwd": str(work)}
        )
        assert result["stdout"] == "rc=0\nrc=2\n", result
        assert "Read-only file system" in result["stderr"]
        assert (work / "inside.txt").exists() and not outside.exists()
        # readOnly from the request: even the cwd is not writable.
        result = await client.request(
            "command/exec",
            {
                "command": ["sh", "-c", "echo y > ro.txt; echo rc=$?"],
                "cwd": str(work),
                "sandboxPolicy": {"type": "readOnly"},
            },
        )
        assert result["stdout"] == "rc=2\n" and not (work / "ro.txt").exists()
        # workspaceWrite with an extra writable root.
        extra = outside.with_name(outside.name + "-root")  # not under /tmp, which is writable
        extra.mkdir()
        result = await client.request(
            "command/exec",
            {
                "command": ["sh", "-c", f"echo w > {extra}/e.txt; echo rc=$?"],
                "cwd": str(work),
                "sandboxPolicy": {"type": "workspaceWrite", "writableRoots": [str(extra)]},
            },
        )
        assert result["stdout"] == "rc=0\n" and (extra / "e.txt").exists()
        # dangerFullAccess from the request: runs as is.
        result = await client.request(
            "command/exec",
            {
                "command": ["sh", "-c", f"echo z > {outside}; echo rc=$?"],
                "sandboxPolicy": {"type": "dangerFullAccess"},
            },
        )
        assert result["stdout"] == "rc=0\n" and outside.exists()
    finally:
        outside.unlink(missing_ok=True)
        shutil.rmtree(outside.with_name(outside.name + "-root"), ignore_errors=True)


async def test_cwd_relative_and_env_overrides(start_client: StartClient, tmp_path: Path) -> None:
    client = await start_client(env={"TL_CMDEXEC_INHERITED": "yes"})
    (tmp_path / "sub").mkdir()
    result = await client.request(
        "command/exec",
        {
            "command": ["sh", "-c", "pwd; echo FOO=$FOO INH=${TL_CMDEXEC_INHERITED-unset}"],
            "cwd": "sub",
            "env": {"FOO": "bar", "TL_CMDEXEC_INHERITED": None},
        },
    )
    assert result["stdout"] == f"{tmp_path / 'sub'}\nFOO=bar INH=unset\n"
    error = await client.request_error(
        "command/exec", {"command": ["true"], "cwd": str(tmp_path / "missing")}
    )
    assert error["code"] == -32603 and error["message"].startswith("failed to spawn command: ")


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"command": []}, -32600, "command must not be empty"),
        (
            {"command": ["cat"], "streamStdin": True},
            -32600,
            "command/exec tty or streaming requires a client-supplied processId",
        ),
        (
            {"command": ["cat"], "streamStdoutStderr": True},
            -32600,
            "command/exec tty or streaming requires a client-supplied processId",
        ),
        (
            {"command": ["cat"], "tty": True},
            -32600,
            "command/exec tty or streaming requires a client-supplied processId",
        ),
        (
            {"command": ["cat"], "processId": "x", "size": {"rows": 10, "cols": 20}},
            -32602,
            "command/exec size requires tty: true",
        ),
        (
            {"command": ["cat"], "processId": "x", "tty": True, "size": {"rows": 0, "cols": 20}},
            -32602,
            "command/exec size rows and cols must be greater than 0",
        ),
        (
            {"command": ["true"], "timeoutMs": 10, "disableTimeout": True},
            -32602,
            "command/exec cannot set both timeoutMs and disableTimeout",
        ),
        (
            {"command": ["true"], "outputBytesCap": 10, "disableOutputCap": True},
            -32602,
            "command/exec cannot set both outputBytesCap and disableOutputCap",
        ),
        (
            {"command": ["true"], "timeoutMs": -1},
            -32602,
            "command/exec timeoutMs must be non-negative, got -1",
        ),
    ],
)
async def test_refusals(
    start_client: StartClient, params: dict[str, Any], code: int, message: str
) -> None:
    client = await start_client()
    assert await client.request_error("command/exec", params) == {"code": code, "message": message}


async def test_control_errors(start_client: StartClient) -> None:
    client = await start_client()
    for method, params in [
        ("command/exec/write", {"processId": "nope", "deltaBase64": b64("x")}),
        ("command/exec/terminate", {"processId": "nope"}),
        ("command/exec/resize", {"processId": "nope", "size": {"rows": 1, "cols": 1}}),
    ]:
        error = await client.request_error(method, params)
        assert error == {"code": -32600, "message": 'no active command/exec for process id "nope"'}
    error = await client.request_error("command/exec/write", {"processId": "nope"})
    assert error == {
        "code": -32602,
        "message": "command/exec/write requires deltaBase64 or closeStdin",
    }
    rid = await start_exec(
        client, {"command": ["sleep", "5"], "processId": "busy", "streamStdoutStderr": True}
    )
    await asyncio.sleep(0.2)
    error = await client.request_error("command/exec", {"command": ["true"], "processId": "busy"})
    assert error == {"code": -32600, "message": 'duplicate active command/exec process id: "busy"'}
    error = await client.request_error(
        "command/exec/write", {"processId": "busy", "deltaBase64": b64("x")}
    )
    assert error == {
        "code": -32600,
        "message": "stdin streaming is not enabled for this command/exec",
    }
    error = await client.request_error(
        "command/exec/resize", {"processId": "busy", "size": {"rows": 5, "cols": 5}}
    )
    assert error == {
        "code": -32600,
        "message": "failed to resize PTY: process is not attached to a PTY",
    }
    error = await client.request_error(
        "command/exec/write", {"processId": "busy", "deltaBase64": "***"}
    )
    assert error["code"] == -32602 and error["message"].startswith("invalid deltaBase64")
    await client.request("command/exec/terminate", {"processId": "busy"})
    assert (await answer(client, rid))["exitCode"] == 137


def running_with(marker: str) -> bool:
    """Whether a process whose command line holds ``marker`` is alive (zombies excluded)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            return True
    return False


async def test_processes_belong_to_their_connection(launch_server: Any, tmp_path: Path) -> None:
    server = await launch_server(transport="ws")
    a = await server.connect()
    b = await server.connect()
    marker_a, marker_b = "31.1234567", "31.7654321"  # unique sleep lengths to find them by
    rid = await start_exec(a, {"command": ["sleep", marker_a], "processId": "same"})
    await until(lambda: running_with(marker_a))
    # Another connection cannot reach it, and may use the same id for its own process.
    for method, params in [
        ("command/exec/terminate", {"processId": "same"}),
        ("command/exec/write", {"processId": "same", "closeStdin": True}),
    ]:
        error = await b.request_error(method, params)
        assert error == {"code": -32600, "message": 'no active command/exec for process id "same"'}
    rid_b = await start_exec(b, {"command": ["sleep", marker_b], "processId": "same"})
    await until(lambda: running_with(marker_b))
    assert running_with(marker_a)
    # Closing a's connection kills a's process, not b's.
    await server.websockets[0].close()
    await until(lambda: not running_with(marker_a))
    assert running_with(marker_b)
    # Stopping the server kills what is left.
    await server.stop()
    await until(lambda: not running_with(marker_b))
    assert rid and rid_b


async def test_stdio_disconnect_kills_the_process(launch_server: Any) -> None:
    server = await launch_server()
    marker = "32.7777777"
    await start_exec(server.client, {"command": ["sleep", marker], "processId": "gone"})
    await until(lambda: running_with(marker))
    await server.stop()  # stdin closed: the connection ends, its request is cancelled
    await until(lambda: not running_with(marker))


_UNPRIVILEGED = "tluser"
_AS_USER_DRIVER = """
import asyncio, json, sys
from threadline.core.command_exec import CommandExecRunner, ExecOptions
from threadline.core.config import load_config
from pathlib import Path

async def main():
    args = json.loads(sys.argv[1])
    config = load_config(home=Path(args["home"]))
    runner = CommandExecRunner()
    running = await runner.start(1, ExecOptions(command=args["command"], cwd=args["cwd"]), config)
    result = await running.result()
    print(json.dumps({"exitCode": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}))

asyncio.run(main())
"""


def _python_for(user: Any) -> tuple[str, dict[str, str]] | None:
    """An interpreter ``user`` can run that imports this checkout's threadline."""

    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": user.pw_dir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{Path(threadline.__file__).resolve().parents[1]}:{sysconfig.get_paths()['purelib']}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in dict.fromkeys([sys.executable, f"/usr/bin/{version}"]):
        try:
            probe = subprocess.run(
                [python, "-c", "import threadline.core.command_exec"],
                env=env,
                cwd="/",
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=[],
                capture_output=True,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return python, env
    return None


async def test_sandbox_holds_for_an_unprivileged_server(tmp_path: Path) -> None:
    """The same workspace-write refusal when the server runs as ``tluser`` (no root, so the
    process bound is RLIMIT_NPROC inside the sandbox rather than a cgroup)."""

    if os.geteuid() != 0:
        pytest.skip("runs as the unprivileged user only when the suite runs as root")
    try:
        user = pwd.getpwnam(_UNPRIVILEGED)
    except KeyError:
        pytest.skip(f"no user {_UNPRIVILEGED!r}")
    found = _python_for(user)
    if found is None:
        pytest.skip(f"no interpreter {_UNPRIVILEGED} can run that imports threadline")
    python, env = found
    base = Path(tempfile.mkdtemp(prefix="threadline-cmdexec-", dir="/var/tmp"))
    try:
        work, outside, home = base / "ws", base / "outside", base / "home"
        for path in (work, outside, home):
            path.mkdir()
        (home / "config.toml").write_text('sandbox_mode = "workspace-write"\n')
        for path in (base, work, outside, home, home / "config.toml"):
            os.chown(path, user.pw_uid, user.pw_gid)
        script = f"echo a > {work}/in.txt; echo rc=$?; echo b > {outside}/out.txt; echo rc=$?"
        args = {"home": str(home), "cwd": str(work), "command": ["sh", "-c", script]}
        proc = await asyncio.create_subprocess_exec(
            python,
            "-c",
            _AS_USER_DRIVER,
            json.dumps(args),
            env=env,
            cwd="/",
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        result = json.loads(out)
        assert result["stdout"] == "rc=0\nrc=2\n", result
        assert (work / "in.txt").exists() and not (outside / "out.txt").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
