"""Subprocess harness: the REAL ``threadline app-server`` over stdio or websocket.

Every server→client message is validated against the reference schema on
arrival; the first invalid one is raised from the next client call (and again at
fixture teardown), so a test cannot pass over a non-conforming message.

Typical use (through the ``app_server`` fixture in ``tests/conftest.py``)::

    server = await app_server()                      # stdio, initialized
    result = await server.client.request("thread/loaded/list", {})

    home = tmp_path / "home"; home.mkdir()
    (home / "config.toml").write_text(...)           # e.g. a mock model's base_url
    server = await app_server(home=home, config=["model=\\"mock\\""], env={"K": "v"})

    ws = await app_server(transport="ws")
    a = await ws.connect(); b = await ws.connect()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.schema import SchemaViolation, registry
from websockets.asyncio.client import ClientConnection, connect

DEFAULT_TIMEOUT = 10.0
LISTENING_RE = re.compile(r"listening on: (ws://\S+)")
_STDOUT_LIMIT = 64 * 1024 * 1024


class RpcResponseError(Exception):
    """The server answered a request with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method} failed: {error.get('code')} {error.get('message')}")
        self.method = method
        self.error = error
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")


@dataclass(frozen=True)
class Record:
    """One message on the wire: ``direction`` is ``"c2s"`` or ``"s2c"``."""

    direction: str
    message: Any
    at: float = field(default_factory=time.monotonic)


class AppServerClient:
    """One connection to the server (stdio or a websocket)."""

    def __init__(self, name: str, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.name = name
        self._send_text = send_text
        self.records: list[Record] = []
        self.violations: list[SchemaViolation] = []
        self.last_error: dict[str, Any] | None = None
        self.closed = False
        self._inbox: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._sent_methods: dict[Any, str] = {}
        self._next_id = 1

    # -- incoming ---------------------------------------------------------------

    async def on_text(self, text: str) -> None:
        """A message from the server, as the transport carried it (schema-checked here)."""
        try:
            message = json.loads(text)
        except ValueError:
            self.violations.append(SchemaViolation(f"server sent invalid JSON: {text[:500]!r}"))
            message = {"invalid": text}
        self.records.append(Record("s2c", message))
        if not self.violations:
            try:
                method = (
                    self._sent_methods.get(message.get("id")) if isinstance(message, dict) else None
                )
                registry().validate_s2c(message, method)
            except SchemaViolation as exc:
                self.violations.append(exc)
        is_answer = isinstance(message, dict) and "method" not in message and "id" in message
        future = self._pending.pop(message.get("id"), None) if is_answer else None
        if future is not None and not future.done():
            future.set_result(message)
        else:
            async with self._changed:
                self._inbox.append(message)
                self._changed.notify_all()

    async def on_closed(self) -> None:
        """The server closed the connection."""
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"{self.name}: server closed the connection"))
        async with self._changed:
            self._changed.notify_all()

    def check(self) -> None:
        """Raise the first schema violation seen on this connection, if any."""
        if self.violations:
            raise self.violations[0]

    # -- outgoing ---------------------------------------------------------------

    async def send_raw(self, line: str) -> None:
        """Send text as-is (one line / one frame); tracks the id of what parses as a request."""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            obj = json.loads(line)
            if isinstance(obj, dict) and isinstance(obj.get("method"), str) and "id" in obj:
                self._sent_methods[obj["id"]] = obj["method"]
        self.records.append(Record("c2s", line))
        await self._send_text(line)

    async def send(self, message: Any) -> None:
        """Send one JSON value."""
        await self.send_raw(json.dumps(message))

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    def new_id(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    async def call(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        omit_params: bool = False,
    ) -> dict[str, Any]:
        """Send a request and return the whole answer (``result`` or ``error`` member)."""
        self.check()
        request_id = self.new_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"id": request_id, "method": method}
        if not omit_params:
            message["params"] = {} if params is None else params
        await self.send(message)
        try:
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        self.check()
        return answer

    async def request(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        """Send a request; return its ``result`` or raise :class:`RpcResponseError` (kept in ``last_error``)."""
        answer = await self.call(method, params, timeout=timeout)
        if "error" in answer:
            self.last_error = answer["error"]
            raise RpcResponseError(method, answer["error"])
        return answer["result"]

    async def request_error(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Send a request that must fail; return its ``error`` object."""
        answer = await self.call(method, params, timeout=timeout)
        assert "error" in answer, f"{method} unexpectedly succeeded: {answer}"
        self.last_error = answer["error"]
        return dict(answer["error"])

    async def respond(self, request_id: Any, result: Any) -> None:
        """Answer a server→client request."""
        await self.send({"id": request_id, "result": result})

    async def respond_error(self, request_id: Any, code: int, message: str) -> None:
        await self.send({"id": request_id, "error": {"code": code, "message": message}})

    async def initialize(
        self,
        *,
        name: str = "threadline_tests",
        version: str = "0.0.1",
        title: str | None = "threadline tests",
        capabilities: dict[str, Any] | None = None,
        send_initialized: bool = True,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"clientInfo": {"name": name, "title": title, "version": version}}
        if capabilities is not None:
            params["capabilities"] = capabilities
        result: dict[str, Any] = await self.request("initialize", params)
        if send_initialized:
            await self.notify("initialized")
        return result

    # -- waiting ----------------------------------------------------------------

    async def _take(
        self, match: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            async with self._changed:
                while True:
                    self.check()
                    for index, message in enumerate(self._inbox):
                        if match(message):
                            return self._inbox.pop(index)
                    if self.closed:
                        raise ConnectionError(f"{self.name}: closed while waiting for {what}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            seen = [m.get("method", m.get("id")) for m in self._inbox][-20:]
            raise TimeoutError(
                f"{self.name}: no {what} within {timeout}s; unread: {seen}"
            ) from None

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The oldest unread message (notifications, server requests, unclaimed answers)."""
        return await self._take(lambda _m: True, timeout, "message")

    async def wait_for_notification(
        self,
        method: str,
        timeout: float = DEFAULT_TIMEOUT,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The first unread notification ``method`` (matching ``predicate(params)``); others stay unread."""

        def match(m: dict[str, Any]) -> bool:
            return (
                m.get("method") == method
                and "id" not in m
                and (predicate is None or predicate(m.get("params") or {}))
            )

        return await self._take(match, timeout, f"notification {method}")

    async def wait_for_request(
        self, method: str, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The first unread server→client request ``method``."""
        return await self._take(
            lambda m: m.get("method") == method and "id" in m, timeout, f"request {method}"
        )

    async def wait_for_answer(
        self, request_id: Any, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The answer to a request sent with :meth:`send_raw` / :meth:`send`."""
        return await self._take(
            lambda m: "method" not in m and m.get("id") == request_id,
            timeout,
            f"answer to {request_id!r}",
        )

    def unread(self) -> list[dict[str, Any]]:
        return list(self._inbox)

    def received(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every s2c message so far (read or not), optionally only notifications ``method``."""
        out = [r.message for r in self.records if r.direction == "s2c"]
        return [m for m in out if method is None or m.get("method") == method]


class AppServerProcess:
    """A running ``python -m threadline app-server`` subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, *, home: Path, transport: str) -> None:
        self.proc = proc
        self.home = home
        self.transport = transport
        self.url: str | None = None
        self.stderr_lines: list[str] = []
        self.clients: list[AppServerClient] = []
        self._client: AppServerClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._websockets: list[ClientConnection] = []
        self._listening = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._pump_stderr()))

    @property
    def client(self) -> AppServerClient:
        """The stdio connection (stdio transport only)."""
        assert self._client is not None, "not a stdio server: use connect()"
        return self._client

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    @property
    def websockets(self) -> list[ClientConnection]:
        """The websocket connections :meth:`connect` opened, in order."""
        return list(self._websockets)

    async def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode("utf-8", "replace")
            self.stderr_lines.append(text)
            found = LISTENING_RE.search(text)
            if found and self.url is None:
                self.url = found.group(1)
                self._listening.set()
        self._listening.set()

    def _attach_stdio(self) -> AppServerClient:
        stdin = self.proc.stdin
        assert stdin is not None

        async def send_text(text: str) -> None:
            stdin.write(text.encode("utf-8") + b"\n")
            await stdin.drain()

        client = AppServerClient("stdio", send_text)

        async def pump() -> None:
            assert self.proc.stdout is not None
            while line := await self.proc.stdout.readline():
                await client.on_text(line.decode("utf-8"))
            await client.on_closed()

        self._tasks.append(asyncio.create_task(pump()))
        self._client = client
        self.clients.append(client)
        return client

    async def wait_listening(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        await asyncio.wait_for(self._listening.wait(), timeout)
        if self.url is None:
            raise RuntimeError(f"server did not report a listening URL; stderr:\n{self.stderr}")
        return self.url

    async def connect(
        self, *, headers: Mapping[str, str] | None = None, initialize: bool = True, **init: Any
    ) -> AppServerClient:
        """Open a new websocket connection (initialized unless ``initialize=False``)."""
        url = await self.wait_listening()
        ws = await connect(
            url, additional_headers=dict(headers or {}), max_size=None, open_timeout=DEFAULT_TIMEOUT
        )
        self._websockets.append(ws)

        async def send_text(text: str) -> None:
            await ws.send(text)

        client = AppServerClient(f"ws-{len(self._websockets)}", send_text)

        async def pump() -> None:
            with contextlib.suppress(Exception):
                async for frame in ws:
                    await client.on_text(frame if isinstance(frame, str) else frame.decode())
            await client.on_closed()

        self._tasks.append(asyncio.create_task(pump()))
        self.clients.append(client)
        if initialize:
            await client.initialize(**init)
        return client

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
            with contextlib.suppress(Exception):
                await self.proc.stdin.wait_closed()

    async def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> int:
        """Close everything; terminate (then kill) the process if it does not exit on its own."""
        for ws in self._websockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        await self.close_stdin()
        if self.transport != "stdio" and self.proc.returncode is None:
            self.proc.terminate()
        try:
            rc = await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            rc = await self.proc.wait()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)
            task.cancel()
        return rc

    def violations(self) -> list[SchemaViolation]:
        return [v for c in self.clients for v in c.violations]


def server_env(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out["THREADLINE_HOME"] = str(home)
    out.setdefault("THREADLINE_LOG", "WARNING")
    out.update(env or {})
    return out


def server_argv(listen: str, *, config: Sequence[str] = (), args: Sequence[str] = ()) -> list[str]:
    argv = [sys.executable, "-m", "threadline"]
    for item in config:
        argv += ["-c", item]
    return [*argv, "app-server", "--listen", listen, *args]


async def start_app_server(
    *,
    home: Path,
    transport: str = "stdio",
    env: Mapping[str, str] | None = None,
    config: Sequence[str] = (),
    args: Sequence[str] = (),
    initialize: bool = True,
    cwd: Path | None = None,
    prefix: Sequence[str] = (),
    **init: Any,
) -> AppServerProcess:
    """Spawn the server. For stdio, ``initialize=True`` also runs the handshake.

    ``prefix`` is a command the server runs under (e.g. ``setpriv …`` dropping capabilities).
    """
    listen = "stdio://" if transport == "stdio" else "ws://127.0.0.1:0"
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        *server_argv(listen, config=config, args=args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(home, env),
        cwd=str(cwd) if cwd else None,
        limit=_STDOUT_LIMIT,
    )
    server = AppServerProcess(proc, home=home, transport=transport)
    if transport == "stdio":
        client = server._attach_stdio()
        if initialize:
            await client.initialize(**init)
    else:
        await server.wait_listening()
    return server


@contextlib.asynccontextmanager
async def app_server_session(**kwargs: Any) -> AsyncIterator[AppServerProcess]:
    """Start a server for the duration of a ``with`` block (see :func:`start_app_server`).

    On exit the first schema violation any of its clients saw is raised.
    """
    server = await start_app_server(**kwargs)
    try:
        yield server
    finally:
        await server.stop()
    problems = server.violations()
    if problems:
        raise problems[0]
