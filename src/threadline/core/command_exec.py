"""Standalone commands (``command/exec``): the processes, their owners, caps and timeouts.

A :class:`CommandExecRunner` runs one argv outside any thread, sandboxed by the
request's policy or the configured one (no approval involved), and keeps the running
ones by ``(owner, process id)``. The owner is whatever the caller uses to tell its
clients apart (the server passes its connection id): a process is reachable only by
its owner, and :meth:`CommandExecRunner.start`'s result is awaited by that owner's
request, so cancelling the request (the connection went away, the server stops) kills
the process.

Behaviour follows Codex 0.169's app-server (recorded against the real binary):

* stdout and stderr are captured separately, each up to ``output_bytes_cap`` bytes
  (default 1 MiB); with ``stream_stdout_stderr`` (or ``tty``) they go to the output
  sink as they arrive instead and the result's ``stdout``/``stderr`` are empty; the
  chunk that reaches the cap says so (``cap_reached``) and later output of that stream
  is dropped;
* the timeout defaults to 10 s; a command that overruns it is killed and exits 124;
  :meth:`CommandExecRunner.terminate` kills it (``SIGKILL``: 137);
* after the process exits, output still in flight is collected for up to 2 s (a
  background child holding the pipe does not hold the answer);
* ``tty`` runs it on a pseudo-terminal (24x80 unless ``size``) and implies both
  streaming flags; without ``stream_stdin`` the child's stdin is ``/dev/null``.

Errors are :class:`CommandExecError` with the JSON-RPC class Codex answers with
(``invalid_request`` -32600, ``invalid_params`` -32602, ``internal`` -32603) and
Codex's wording.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from threadline.core.config import Config
from threadline.core.errors import CoreError
from threadline.protocol.v2.settings import (
    DangerFullAccessSandboxPolicy,
    ExternalSandboxSandboxPolicy,
    ReadOnlySandboxPolicy,
    WorkspaceWriteSandboxPolicy,
)
from threadline.protocol.v2.settings import SandboxPolicy as WireSandboxPolicy
from threadline.sandbox.bwrap import Launch, SandboxUnavailable, prepare_launch
from threadline.sandbox.limits import resolve_max_processes
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.process import DEFAULT_PTY_SIZE, ProcessHandle, SpawnSpec, Stream

__all__ = [
    "DEFAULT_OUTPUT_BYTES_CAP",
    "DEFAULT_TIMEOUT_MS",
    "TIMEOUT_EXIT_CODE",
    "CommandExecError",
    "CommandExecRunner",
    "ExecOptions",
    "ExecResult",
    "OutputSink",
    "RunningCommand",
    "Stream",
]

DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_OUTPUT_BYTES_CAP = 1024 * 1024
"""Per stream, as Codex's ``DEFAULT_OUTPUT_BYTES_CAP``."""
TIMEOUT_EXIT_CODE = 124
IO_DRAIN_TIMEOUT_S = 2.0

ErrorKind = Literal["invalid_request", "invalid_params", "internal"]

OutputSink = Callable[[str, Stream, bytes, bool], None]
"""``(process_id, stream, data, cap_reached)`` for each streamed chunk, in order."""


class CommandExecError(CoreError):
    """A refused or failed ``command/exec`` call; ``kind`` is the JSON-RPC error class."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


def _request_error(message: str) -> CommandExecError:
    return CommandExecError("invalid_request", message)


def _params_error(message: str) -> CommandExecError:
    return CommandExecError("invalid_params", message)


@dataclass(frozen=True, slots=True)
class ExecOptions:
    """One ``command/exec`` request, as the client gave it.

    ``sandbox_policy`` (the wire's) ``None`` means the configured policy;
    ``dangerFullAccess`` and ``externalSandbox`` (the client vouches for its own) run the
    command as is.
    ``size`` is ``(rows, cols)``. ``env`` entries set to ``None`` unset the variable.
    """

    command: list[str]
    process_id: str | None = None
    cwd: str | None = None
    env: Mapping[str, str | None] | None = None
    tty: bool = False
    stream_stdin: bool = False
    stream_stdout_stderr: bool = False
    size: tuple[int, int] | None = None
    timeout_ms: int | None = None
    disable_timeout: bool = False
    output_bytes_cap: int | None = None
    disable_output_cap: bool = False
    sandbox_policy: WireSandboxPolicy | None = None

    def validate(self) -> None:
        """Refuse what Codex refuses before anything starts."""
        if not self.command:
            raise _request_error("command must not be empty")
        if self.size is not None and not self.tty:
            raise _params_error("command/exec size requires tty: true")
        if self.size is not None:
            _check_size(*self.size)
        if self.timeout_ms is not None and self.disable_timeout:
            raise _params_error("command/exec cannot set both timeoutMs and disableTimeout")
        if self.timeout_ms is not None and self.timeout_ms < 0:
            raise _params_error(
                f"command/exec timeoutMs must be non-negative, got {self.timeout_ms}"
            )
        if self.output_bytes_cap is not None and self.disable_output_cap:
            raise _params_error("command/exec cannot set both outputBytesCap and disableOutputCap")
        if self.process_id is None and (self.tty or self.stream_stdin or self.stream_stdout_stderr):
            raise _request_error(
                "command/exec tty or streaming requires a client-supplied processId"
            )

    @property
    def streams_stdin(self) -> bool:
        return self.tty or self.stream_stdin

    @property
    def streams_output(self) -> bool:
        return self.tty or self.stream_stdout_stderr

    @property
    def cap(self) -> int | None:
        if self.disable_output_cap:
            return None
        return DEFAULT_OUTPUT_BYTES_CAP if self.output_bytes_cap is None else self.output_bytes_cap

    @property
    def timeout_s(self) -> float | None:
        if self.disable_timeout:
            return None
        return (DEFAULT_TIMEOUT_MS if self.timeout_ms is None else self.timeout_ms) / 1000


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str


def _check_size(rows: int, cols: int) -> None:
    if rows <= 0 or cols <= 0:
        raise _params_error("command/exec size rows and cols must be greater than 0")


def _repr_id(process_id: str) -> str:
    return json.dumps(process_id, ensure_ascii=False)


@dataclass(eq=False)
class RunningCommand:
    """A started command; await :meth:`result` for its exit code and captured output."""

    key: tuple[int, str]
    handle: ProcessHandle
    launch: Launch
    options: ExecOptions
    sink: OutputSink | None
    on_done: Callable[[RunningCommand], None]
    stdin_open: bool = True
    terminated: bool = False
    _buffers: dict[Stream, bytearray] = field(
        default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()}
    )
    _seen: dict[Stream, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    _capped: set[Stream] = field(default_factory=set)

    @property
    def process_id(self) -> str:
        return self.key[1]

    async def result(self) -> ExecResult:
        """Wait for the exit (or the timeout) and the output; the process is always gone
        when this returns or raises (cancellation included)."""
        pump = asyncio.ensure_future(self._pump())
        try:
            timed_out = False
            try:
                code = await asyncio.wait_for(
                    asyncio.shield(self.handle.wait()), self.options.timeout_s
                )
            except TimeoutError:
                timed_out = True
                self.handle.kill()
                await self.handle.wait()
                code = TIMEOUT_EXIT_CODE
            done, _ = await asyncio.wait({pump}, timeout=IO_DRAIN_TIMEOUT_S)
            if not done:
                self.handle.stop_reading()
                await pump
            pump.result()
            if timed_out:
                code = TIMEOUT_EXIT_CODE
            return ExecResult(
                exit_code=code,
                stdout=_decode(self._buffers["stdout"]),
                stderr=_decode(self._buffers["stderr"]),
            )
        finally:
            self.handle.kill()
            if not pump.done():
                pump.cancel()
            await asyncio.shield(self._cleanup())

    async def _cleanup(self) -> None:
        try:
            await self.handle.aclose()
        finally:
            await self.launch.finish()
            self.on_done(self)

    async def _pump(self) -> None:
        cap = self.options.cap
        streamed = self.options.streams_output
        while (chunk := await self.handle.output.get()) is not None:
            stream, data = chunk
            if stream in self._capped:
                continue
            if cap is not None:
                room = max(cap - self._seen[stream], 0)
                data = data[:room]
                self._seen[stream] += len(data)
                reached = self._seen[stream] >= cap
            else:
                reached = False
            if reached:
                self._capped.add(stream)
            if streamed:
                if self.sink is not None and (data or reached):
                    self.sink(self.process_id, stream, data, reached)
            else:
                self._buffers[stream] += data

    # ---- control ------------------------------------------------------------------------

    async def write(self, data: bytes, close_stdin: bool) -> None:
        if not self.options.streams_stdin:
            raise _request_error("stdin streaming is not enabled for this command/exec")
        if data:
            if not self.stdin_open:
                raise _request_error("stdin is already closed")
            try:
                await self.handle.write(data)
            except OSError as exc:
                raise _request_error("stdin is already closed") from exc
        if close_stdin:
            self.stdin_open = False
            await self.handle.close_stdin()

    def resize(self, rows: int, cols: int) -> None:
        if not self.handle.tty:
            raise _request_error("failed to resize PTY: process is not attached to a PTY")
        try:
            self.handle.resize(rows, cols)
        except (ValueError, OSError) as exc:
            raise _request_error(f"failed to resize PTY: {exc}") from exc

    def terminate(self) -> None:
        self.terminated = True
        self.handle.kill()


class CommandExecRunner:
    """The running ``command/exec`` processes of one server, by ``(owner, process id)``."""

    def __init__(self) -> None:
        self._running: dict[tuple[int, str], RunningCommand] = {}
        self._starting: dict[tuple[int, str], asyncio.Future[RunningCommand | None]] = {}
        """Ids taken by a start still under way (controls for them wait for it)."""
        self._generated = itertools.count(1)

    async def start(
        self,
        owner: int,
        options: ExecOptions,
        config: Config,
        sink: OutputSink | None = None,
    ) -> RunningCommand:
        """Validate ``options`` and start the command; await ``.result()`` next."""
        options.validate()
        pid = options.process_id
        key = (owner, pid if pid is not None else f"\0generated-{next(self._generated)}")
        if key in self._running or key in self._starting:
            raise _request_error(f"duplicate active command/exec process id: {_repr_id(key[1])}")
        # Taken before the first await: a write sent right after this request finds it.
        starting: asyncio.Future[RunningCommand | None] = asyncio.get_running_loop().create_future()
        self._starting[key] = starting
        running: RunningCommand | None = None
        try:
            running = await self._spawn(key, options, config, sink)
        finally:
            del self._starting[key]
            starting.set_result(running)
        return running

    async def _spawn(
        self,
        key: tuple[int, str],
        options: ExecOptions,
        config: Config,
        sink: OutputSink | None,
    ) -> RunningCommand:
        cwd = Path(options.cwd).expanduser() if options.cwd else Path.cwd()
        if not cwd.is_absolute():
            cwd = Path.cwd() / cwd
        policy = _policy(options, config)
        env = _environment(options, config, policy)
        launch = Launch(list(options.command))
        if policy is not None and policy.sandboxed:
            try:
                launch = await prepare_launch(
                    policy,
                    cwd,
                    options.command,
                    start_dir=cwd,
                    max_processes=resolve_max_processes(config.sandbox_limits.max_processes),
                )
            except SandboxUnavailable as exc:
                raise CommandExecError("internal", f"sandbox unavailable: {exc}") from exc
        spec = SpawnSpec(
            argv=launch.argv,
            cwd=cwd,
            env=env,
            tty=options.tty,
            size=options.size or (DEFAULT_PTY_SIZE if options.tty else None),
            pass_fds=launch.pass_fds,
            stdin=options.streams_stdin,
        )
        try:
            try:
                handle = await ProcessHandle.spawn(spec)
            finally:
                launch.close_fds()
        except OSError as exc:
            await launch.finish()
            raise CommandExecError("internal", f"failed to spawn command: {_os_text(exc)}") from exc
        running = RunningCommand(
            key=key,
            handle=handle,
            launch=launch,
            options=options,
            sink=sink,
            on_done=self._forget,
            stdin_open=options.streams_stdin,
        )
        self._running[key] = running
        return running

    def _forget(self, running: RunningCommand) -> None:
        if self._running.get(running.key) is running:
            del self._running[running.key]

    async def _get(self, owner: int, process_id: str) -> RunningCommand:
        key = (owner, process_id)
        starting = self._starting.get(key)
        if starting is not None:
            await asyncio.shield(starting)
        running = self._running.get(key)
        if running is None:
            raise _request_error(f"no active command/exec for process id {_repr_id(process_id)}")
        return running

    async def write(
        self, owner: int, process_id: str, data: bytes | None, close_stdin: bool
    ) -> None:
        """Write to (and/or close) a streamed stdin; ``data`` already decoded."""
        if data is None and not close_stdin:
            raise _params_error("command/exec/write requires deltaBase64 or closeStdin")
        await (await self._get(owner, process_id)).write(data or b"", close_stdin)

    async def resize(self, owner: int, process_id: str, rows: int, cols: int) -> None:
        _check_size(rows, cols)
        (await self._get(owner, process_id)).resize(rows, cols)

    async def terminate(self, owner: int, process_id: str) -> None:
        (await self._get(owner, process_id)).terminate()


def _policy(options: ExecOptions, config: Config) -> SandboxPolicy | None:
    """The policy the command runs under; ``None``: as is."""
    wire = options.sandbox_policy
    if isinstance(wire, DangerFullAccessSandboxPolicy | ExternalSandboxSandboxPolicy):
        return None
    if isinstance(wire, ReadOnlySandboxPolicy):
        return SandboxPolicy.from_mode("read-only", network_access=wire.network_access)
    if isinstance(wire, WorkspaceWriteSandboxPolicy):
        roots = tuple(str(root) for root in wire.writable_roots)
        return SandboxPolicy.from_mode(
            "workspace-write", writable_roots=roots, network_access=wire.network_access
        )
    swr = config.sandbox_workspace_write
    return SandboxPolicy.from_mode(
        config.sandbox_mode,
        writable_roots=tuple(swr.writable_roots),
        network_access=swr.network_access,
    )


def _environment(
    options: ExecOptions, config: Config, policy: SandboxPolicy | None
) -> dict[str, str]:
    env = config.shell_environment_policy.build(os.environ, secret_names=config.provider_env_keys())
    mode = policy.mode if policy is not None else "danger-full-access"
    env["THREADLINE_SANDBOX"] = mode
    if policy is not None and policy.sandboxed and not policy.allows_network:
        env["THREADLINE_SANDBOX_NETWORK_DISABLED"] = "1"
        env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
    if options.tty:
        env.setdefault("TERM", "xterm-256color")
    for name, value in (options.env or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _os_text(exc: OSError) -> str:
    if exc.strerror and exc.errno is not None:
        return f"{exc.strerror} (os error {exc.errno})"
    return str(exc)
