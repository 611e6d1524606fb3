"""The Zed editor's Codex bridge, ``@agentclientprotocol/codex-acp`` (npm), driven as an ACP client.

* :func:`bridge_script` finds the bridge's ``dist/index.js`` (``CODEX_ACP_JS`` names it; else the
  install under ``/var/tmp/codex-acp-<version>``), installing it with npm when ``install=True``
  and npm exists (``.ci/run`` installs it the same way). ``None`` when it is not there.
* :func:`write_threadline_codex` writes a ``codex`` stand-in for the bridge's ``CODEX_PATH``: a
  script that runs this checkout's ``threadline`` with the argv the bridge passes, mapping the
  bridge's ``CODEX_HOME`` to ``THREADLINE_HOME``. With ``traffic_log`` it also records every
  line each way (the probe uses it to see what the bridge asks for).
* :class:`AcpClient` starts ``node <bridge>`` and speaks ACP over stdio: newline-delimited
  JSON-RPC 2.0, client side. Requests the agent sends (``session/request_permission``, ...) go to
  a handler; notifications (``session/update``) are kept in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

VERSION = "2.6.0"
PACKAGE = "@agentclientprotocol/codex-acp"
_INSTALL = Path(f"/var/tmp/codex-acp-{VERSION}")
_SCRIPT = Path("node_modules/@agentclientprotocol/codex-acp/dist/index.js")
_REPO = Path(__file__).resolve().parents[2]

AgentRequestHandler = Callable[[str, Any], Awaitable[Any]]


def bridge_script(*, install: bool = False) -> Path | None:
    """The bridge's entry script, or ``None`` when it is not installed (and cannot be)."""
    explicit = os.environ.get("CODEX_ACP_JS")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    script = _INSTALL / _SCRIPT
    if not script.is_file() and install and shutil.which("npm") and shutil.which("node"):
        _INSTALL.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "-s", f"{PACKAGE}@{VERSION}"],
            cwd=_INSTALL,
            check=False,
            capture_output=True,
            timeout=600,
        )
    return script if script.is_file() else None


_TEE = r"""
import os, subprocess, sys, threading
log = open(sys.argv[1], "a", buffering=1)
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
lock = threading.Lock()
def pump(src, dst, tag):
    for line in iter(src.readline, b""):
        with lock:
            log.write(tag + " " + line.decode("utf-8", "replace"))
        dst.write(line)
        dst.flush()
    if tag == ">":
        child.stdin.close()
t = threading.Thread(target=pump, args=(sys.stdin.buffer, child.stdin, ">"), daemon=True)
t.start()
pump(child.stdout, sys.stdout.buffer, "<")
code = child.wait()
log.flush()
os._exit(code if code >= 0 else 128 - code)
"""


def threadline_binary() -> Path:
    """This checkout's ``threadline`` entry point."""
    threadline = _REPO / ".venv" / "bin" / "threadline"
    return threadline if threadline.exists() else Path(sys.executable).with_name("threadline")


def write_codex_stand_in(
    directory: Path,
    *,
    real: Path | None = None,
    traffic_log: Path | None = None,
    argv_log: Path | None = None,
) -> Path:
    """Write ``directory/codex`` for the bridge's ``CODEX_PATH``.

    It runs threadline (or ``real``, e.g. the real Codex) with the argv the bridge passes; for
    threadline the bridge's ``CODEX_HOME`` becomes ``THREADLINE_HOME``. ``traffic_log`` records
    every stdio line each way (see :func:`read_traffic`), ``argv_log`` the arguments, one a line.
    """
    directory.mkdir(parents=True, exist_ok=True)
    binary = real if real is not None else threadline_binary()
    command = f'"{binary}" "$@"'
    if traffic_log is not None:
        tee = directory / "tee.py"
        tee.write_text(_TEE, encoding="utf-8")
        command = f'"{sys.executable}" "{tee}" "{traffic_log}" "{binary}" "$@"'
    lines = ["#!/bin/sh"]
    if real is None:
        lines.append("# threadline standing in for codex: the bridge's CODEX_HOME is its home")
        lines.append('if [ -n "$CODEX_HOME" ]; then export THREADLINE_HOME="$CODEX_HOME"; fi')
    if argv_log is not None:
        lines.append(f'printf \'%s\\n\' "$@" >> "{argv_log}"')
    lines.append(f"exec {command}")
    path = directory / "codex"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def write_threadline_codex(directory: Path, *, traffic_log: Path | None = None) -> Path:
    """:func:`write_codex_stand_in` for threadline."""
    return write_codex_stand_in(directory, traffic_log=traffic_log)


def write_tee_codex(directory: Path, real: Path, traffic_log: Path) -> Path:
    """:func:`write_codex_stand_in` for another binary (the real Codex), with a traffic log."""
    return write_codex_stand_in(directory, real=real, traffic_log=traffic_log)


def read_traffic(log: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(direction, message)`` pairs of a traffic log; ``>`` is bridge→server."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not log.exists():
        return out
    for line in log.read_text(encoding="utf-8").splitlines():
        tag, _, raw = line.partition(" ")
        with contextlib.suppress(ValueError):
            out.append((tag, json.loads(raw)))
    return out


def schema_violations(log: Path) -> list[str]:
    """Every server→bridge message of a traffic log checked against the reference schema
    (responses by the method of the request they answer); the violations found."""
    from tests.support.schema import SchemaViolation, registry

    methods: dict[Any, str] = {}
    found: list[str] = []
    for tag, message in read_traffic(log):
        if tag == ">":
            if "method" in message and "id" in message:
                methods[message["id"]] = message["method"]
            continue
        method = None if "method" in message else methods.pop(message.get("id"), None)
        try:
            registry().validate_s2c(message, method)
        except SchemaViolation as exc:
            found.append(str(exc)[:2000])
    return found


class AcpError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')} {error.get('data') or ''}")
        self.code = error.get("code")
        self.error = error


async def allow_permissions(method: str, params: Any) -> Any:
    """Answer ``session/request_permission`` with the first "allow" option."""
    if method == "session/request_permission":
        options = params.get("options") or []
        chosen = next((o for o in options if o.get("kind") == "allow_once"), None)
        chosen = chosen or next(
            (o for o in options if str(o.get("kind", "")).startswith("allow")), None
        )
        if chosen is None:
            return {"outcome": {"outcome": "cancelled"}}
        return {"outcome": {"outcome": "selected", "optionId": chosen["optionId"]}}
    raise AcpError({"code": -32601, "message": f"client does not handle {method}"})


class AcpClient:
    """One bridge process and the ACP client end of its stdio."""

    def __init__(
        self,
        script: Path,
        *,
        env: dict[str, str],
        cwd: Path,
        on_request: AgentRequestHandler = allow_permissions,
    ) -> None:
        self.script = script
        self.env = env
        self.cwd = cwd
        self.on_request = on_request
        self.proc: asyncio.subprocess.Process | None = None
        self.notifications: list[dict[str, Any]] = []
        self.agent_requests: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> AcpClient:
        node = shutil.which("node") or "node"
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(self.script),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=str(self.cwd),
            limit=64 * 1024 * 1024,
        )
        self._tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._drain_stderr()),
        ]
        return self

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.stderr += chunk

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"jsonrpc": "2.0", **message}) + "\n").encode())
        await self.proc.stdin.drain()

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "method" in msg and "id" in msg:
                self.agent_requests.append(msg)
                self._tasks.append(asyncio.create_task(self._answer(msg)))
            elif "method" in msg:
                self.notifications.append(msg)
            else:
                fut = self._pending.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(AcpError(msg["error"]))
                    else:
                        fut.set_result(msg.get("result"))
            self._changed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the bridge closed its stdout"))
        self._changed.set()

    async def _answer(self, msg: dict[str, Any]) -> None:
        try:
            result = await self.on_request(msg["method"], msg.get("params"))
        except AcpError as err:
            await self._send({"id": msg["id"], "error": err.error})
            return
        await self._send({"id": msg["id"], "result": result})

    async def request(self, method: str, params: Any, *, timeout: float = 60) -> Any:
        self._next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        await self._send({"id": self._next_id, "method": method, "params": params})
        return await asyncio.wait_for(fut, timeout)

    def send_request(self, method: str, params: Any) -> asyncio.Task[Any]:
        return asyncio.create_task(self.request(method, params, timeout=120))

    async def notify(self, method: str, params: Any) -> None:
        await self._send({"method": method, "params": params})

    def updates(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """The ``update`` bodies of the ``session/update`` notifications so far."""
        return [
            n["params"]["update"]
            for n in self.notifications
            if n.get("method") == "session/update"
            and (session_id is None or n["params"].get("sessionId") == session_id)
        ]

    async def wait_for(
        self, done: Callable[[], bool], *, timeout: float = 30, what: str = ""
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"ACP: timed out waiting for {what or done}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
