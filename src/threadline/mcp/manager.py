"""The MCP connection manager: one client connection per configured server.

Each server runs in its own task (the SDK's transports and sessions are anyio context managers that
must be entered and left in one task). `McpManager.start` starts them all at once and returns when
every required server is ready and every optional one is ready, failed, or past its startup timeout;
a slow optional server keeps starting in the background and its tools appear when it is ready
(`on_tools_changed`). A server whose connection dies is marked failed and restarted by the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from threadline.mcp.specs import McpServerSpec, McpSpecError

# The SDK (and the HTTP client) are imported by the code that talks to a server: a thread
# with no MCP server configured, and every process start, never loads them.
if TYPE_CHECKING:
    import mcp.types as mt
    from mcp.client.session import ClientRequestContext, ClientSession
    from mcp.shared.dispatcher import ProgressFnT
    from mcp.shared.exceptions import MCPError

log = logging.getLogger(__name__)

Status = Literal["starting", "ready", "failed", "cancelled"]
ElicitationHandler = Callable[[str, "mt.ElicitRequestParams"], Awaitable["mt.ElicitResult"]]
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class McpError(Exception):
    """A call to an MCP server failed; the message says which server and why."""


class McpStartupError(McpError):
    """A required MCP server did not start."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"MCP server {name!r} is required but failed to start: {why}")
        self.server = name
        self.why = why


@dataclass(frozen=True)
class McpToolInfo:
    server: str
    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None
    title: str | None = None
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class McpServerState:
    name: str
    status: Status
    error: str | None
    tools: list[McpToolInfo] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    resource_templates: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, Any] | None = None
    """The server's ``initialize`` answer: ``serverInfo`` (name, version, ...)."""
    capabilities: dict[str, Any] | None = None
    """... and its ``capabilities``."""


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


class _Server:
    """One server's connection, owned by its runner task."""

    def __init__(self, spec: McpServerSpec, manager: McpManager) -> None:
        self.spec = spec
        self.manager = manager
        self.status: Status = "starting"
        self.error: str | None = None
        self.tools: list[McpToolInfo] = []
        self.resources: list[dict[str, Any]] = []
        self.resource_templates: list[dict[str, Any]] = []
        self.session: ClientSession | None = None
        self.server_info: dict[str, Any] | None = None
        self.capabilities: dict[str, Any] | None = None
        self.settled = asyncio.Event()  # ready or failed/cancelled
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def state(self) -> McpServerState:
        return McpServerState(
            self.spec.name,
            self.status,
            self.error,
            list(self.tools),
            list(self.resources),
            list(self.resource_templates),
            self.server_info,
            self.capabilities,
        )

    def launch(self) -> None:
        self.status, self.error, self.session = "starting", None, None
        self.settled = asyncio.Event()
        self.stop = asyncio.Event()
        self.manager.report(self)
        self.task = asyncio.create_task(self._run(), name=f"mcp:{self.spec.name}")

    def _set(self, status: Status, error: str | None = None) -> None:
        self.status, self.error = status, error
        if status != "ready":
            self.session = None
            had_tools = bool(self.tools)
            self.tools = []
            if had_tools:
                self.manager.tools_changed()
        self.settled.set()
        self.manager.report(self)

    async def _run(self) -> None:
        import mcp.types as mt
        from mcp.client.session import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(stack))
                session = await stack.enter_async_context(
                    ClientSession(
                        read,
                        write,
                        elicitation_callback=self._on_elicit,
                        message_handler=self._on_message,
                        client_info=mt.Implementation(name="threadline", version="0"),
                    )
                )
                try:
                    await asyncio.wait_for(self._handshake(session), self.spec.startup_timeout_sec)
                except TimeoutError:
                    # Reported now: closing a hung server's transport can take seconds.
                    self._set("failed", f"did not start within {self.spec.startup_timeout_sec:g}s")
                    raise
                self.session = session
                self._set("ready")
                await self.stop.wait()
        except asyncio.CancelledError:
            if self.status == "starting":
                self._set("cancelled", "startup cancelled")
            raise
        except BaseException as exc:
            if self.status in ("starting", "ready"):
                self._set("failed", _describe(exc))
            return
        # A stop we asked for: the server is gone, with no startup news to report.
        self.session = None

    async def _handshake(self, session: ClientSession) -> None:
        result = await session.initialize()
        info = result.server_info
        self.server_info = {
            "name": info.name,
            "title": info.title,
            "version": info.version,
            "description": getattr(info, "description", None),
            "icons": [_dump(i) for i in info.icons] if info.icons else None,
            "websiteUrl": getattr(info, "website_url", None),
        }
        self.capabilities = _dump(result.capabilities)
        await self._refresh(session)

    def _transport(
        self, stack: contextlib.AsyncExitStack
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client

        spec = self.spec
        if spec.command is not None:
            params = StdioServerParameters(
                command=spec.command,
                args=list(spec.args),
                env=spec.process_env() or None,
                cwd=spec.cwd,
            )
            return stdio_client(params, errlog=_errlog())
        assert spec.url is not None
        import httpx2

        client = httpx2.AsyncClient(
            headers=spec.request_headers(), timeout=httpx2.Timeout(30.0, read=300.0)
        )
        stack.push_async_callback(client.aclose)
        return streamable_http_client(spec.url, http_client=client)

    async def _refresh(self, session: ClientSession) -> None:
        import mcp.types as mt
        from mcp.shared.exceptions import MCPError

        caps = session.server_capabilities
        tools: list[McpToolInfo] = []
        if caps is None or caps.tools is not None:
            cursor: str | None = None
            while True:
                page = await session.list_tools(
                    params=mt.PaginatedRequestParams(cursor=cursor) if cursor else None
                )
                tools.extend(
                    _tool_info(self.spec.name, t)
                    for t in page.tools
                    if self.spec.tool_enabled(t.name)
                )
                cursor = page.next_cursor
                if not cursor:
                    break
        if caps is not None and caps.resources is not None:
            with contextlib.suppress(MCPError):
                self.resources = [_dump(r) for r in (await session.list_resources()).resources]
            with contextlib.suppress(MCPError):
                self.resource_templates = [
                    _dump(r) for r in (await session.list_resource_templates()).resource_templates
                ]
        self.tools = tools

    async def _on_message(self, message: mt.ServerNotification | Exception) -> None:
        import mcp.types as mt

        if isinstance(message, mt.ToolListChangedNotification) and self.session is not None:
            try:
                await self._refresh(self.session)
            except Exception as exc:
                log.warning(
                    "MCP server %s: tools/list after list_changed failed: %s", self.spec.name, exc
                )
                return
            self.manager.tools_changed()
            self.manager.report(self)

    async def _on_elicit(
        self, context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        import mcp.types as mt

        handler = self.manager.elicitation_handler
        if handler is None:
            return mt.ElicitResult(action="decline")
        try:
            return await handler(self.spec.name, params)
        except Exception as exc:
            return mt.ErrorData(code=-32603, message=f"elicitation failed: {exc}")

    async def shutdown(self) -> None:
        self.stop.set()
        task = self.task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _errlog() -> Any:
    import sys

    return sys.stderr


def _describe(exc: BaseException) -> str:
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tool_info(server: str, tool: mt.Tool) -> McpToolInfo:
    return McpToolInfo(
        server=server,
        name=tool.name,
        description=tool.description,
        input_schema=dict(tool.input_schema),
        annotations=_dump(tool.annotations) if tool.annotations is not None else None,
        title=tool.title,
        output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
    )


class McpManager:
    """Connections to every enabled configured MCP server of one thread."""

    def __init__(
        self,
        servers: Mapping[str, McpServerSpec],
        *,
        on_status: Callable[[McpServerState], None] | None = None,
    ) -> None:
        self._specs = dict(servers)
        self._servers: dict[str, _Server] = {}
        self._on_status = on_status
        self._tool_listeners: list[Callable[[], None]] = []
        self.elicitation_handler: ElicitationHandler | None = None
        self.on_always_approve: Callable[[str, str], None] | None = None
        """Told when the user allowed a tool for good (``persist: always``): the host
        writes ``approval_mode = "approve"`` into the config."""

    # ---- callbacks ---------------------------------------------------------------
    def report(self, server: _Server) -> None:
        if self._on_status is not None:
            try:
                self._on_status(server.state())
            except Exception:
                log.exception("MCP status listener failed")

    def tools_changed(self) -> None:
        for cb in list(self._tool_listeners):
            try:
                cb()
            except Exception:
                log.exception("MCP tools listener failed")

    def on_tools_changed(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._tool_listeners.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._tool_listeners.remove(callback)

        return remove

    def set_elicitation_handler(self, handler: ElicitationHandler | None) -> None:
        self.elicitation_handler = handler

    # ---- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        await self._start_specs([s for s in self._specs.values() if s.enabled])

    async def _start_specs(self, specs: list[McpServerSpec]) -> None:
        started = []
        for spec in specs:
            server = _Server(spec, self)
            self._servers[spec.name] = server
            server.launch()
            started.append(server)
        await asyncio.gather(*(self._await_startup(s) for s in started))
        for s in started:
            if s.spec.required and s.status != "ready":
                raise McpStartupError(s.spec.name, s.error or s.status)
        if any(s.status == "ready" for s in started):
            self.tools_changed()

    @staticmethod
    async def _await_startup(server: _Server) -> None:
        # The runner itself times out the handshake; this bound covers a spawn that hangs
        # before it (and lets an optional server go on starting in the background).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.settled.wait(), server.spec.startup_timeout_sec + 0.5)

    async def reload(self, servers: Mapping[str, McpServerSpec]) -> None:
        new = dict(servers)
        for name in list(self._servers):
            if name not in new or new[name] != self._servers[name].spec or not new[name].enabled:
                await self._servers.pop(name).shutdown()
        self._specs = new
        await self._start_specs(
            [s for s in new.values() if s.enabled and s.name not in self._servers]
        )
        self.tools_changed()

    async def aclose(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        await asyncio.gather(*(s.shutdown() for s in servers), return_exceptions=True)

    # ---- queries -----------------------------------------------------------------
    def states(self) -> list[McpServerState]:
        states = [s.state() for s in self._servers.values()]
        return sorted(states, key=lambda s: s.name)

    def tools(self) -> list[McpToolInfo]:
        return [t for s in self._servers.values() if s.status == "ready" for t in s.tools]

    def specs(self) -> list[McpServerSpec]:
        """The configured servers (enabled or not)."""
        return list(self._specs.values())

    def server_names(self) -> list[str]:
        return sorted(self._servers)

    def approve_always(self, server: str, tool: str) -> None:
        """The user allowed ``tool`` of ``server`` for good: never asked again here, and
        the host persists it."""
        spec = self._specs.get(server)
        if spec is not None:
            modes = {**spec.tool_approval, tool: "approve"}
            self._specs[server] = dataclasses.replace(spec, tool_approval=modes)
            entry = self._servers.get(server)
            if entry is not None:
                entry.spec = self._specs[server]
        if self.on_always_approve is not None:
            try:
                self.on_always_approve(server, tool)
            except Exception:
                log.exception("persisting an MCP tool approval failed")

    def tool_approval_mode(self, server: str, tool: str) -> str | None:
        """The configured ``approval_mode`` of a server's tool (``None``: not set)."""
        spec = self._specs.get(server)
        return spec.approval_mode(tool) if spec is not None else None

    async def _session(self, server: str) -> tuple[_Server, ClientSession]:
        entry = self._servers.get(server)
        if entry is None:
            raise McpError(f"unknown MCP server {server!r}")
        if entry.status in ("failed", "cancelled") or (
            entry.task is not None and entry.task.done()
        ):
            entry.launch()  # a crashed server is restarted on the next call
        if entry.status == "starting":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.settled.wait(), entry.spec.startup_timeout_sec + 0.5)
        if entry.status != "ready" or entry.session is None:
            raise McpError(f"MCP server {server!r} is not available: {entry.error or entry.status}")
        return entry, entry.session

    def _mark_dead(self, entry: _Server, why: str) -> None:
        if entry.status == "ready":
            entry.stop.set()
            entry._set("failed", why)

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        meta: dict[str, Any] | None = None,
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> mt.CallToolResult:
        import mcp.types as mt
        from mcp.shared.exceptions import MCPError

        entry, session = await self._session(server)
        timeout = timeout_s if timeout_s is not None else entry.spec.tool_timeout_sec
        on_progress: ProgressFnT | None = None
        if progress is not None:
            report = progress

            async def relay(progress: float, total: float | None, message: str | None) -> None:
                await report(progress, total, message)

            on_progress = relay

        try:
            result = await asyncio.wait_for(
                session.call_tool(
                    tool,
                    arguments,
                    progress_callback=on_progress,
                    meta=meta,  # type: ignore[arg-type]  # a plain dict is what goes on the wire
                ),
                timeout,
            )
        except TimeoutError:
            raise McpError(
                f"MCP tool {server}/{tool} timed out after {timeout:g}s (tool_timeout_sec)"
            ) from None
        except MCPError as exc:
            if _is_connection_loss(exc):
                self._mark_dead(entry, f"connection lost: {exc.message}")
            raise McpError(f"MCP tool {server}/{tool} failed: {exc.message}") from exc
        except Exception as exc:
            self._mark_dead(entry, f"connection lost: {_describe(exc)}")
            raise McpError(f"MCP server {server!r} failed during {tool}: {_describe(exc)}") from exc
        assert isinstance(result, mt.CallToolResult)
        return result

    async def read_resource(self, server: str, uri: str) -> mt.ReadResourceResult:
        from mcp.shared.exceptions import MCPError

        entry, session = await self._session(server)
        try:
            return await asyncio.wait_for(session.read_resource(uri), entry.spec.tool_timeout_sec)
        except TimeoutError:
            raise McpError(f"MCP resource read {server} {uri} timed out") from None
        except MCPError as exc:
            if _is_connection_loss(exc):
                self._mark_dead(entry, f"connection lost: {exc.message}")
            raise McpError(f"MCP resource read {server} {uri} failed: {exc.message}") from exc
        except Exception as exc:
            self._mark_dead(entry, f"connection lost: {_describe(exc)}")
            raise McpError(f"MCP server {server!r} failed reading {uri}: {_describe(exc)}") from exc


def _is_connection_loss(exc: MCPError) -> bool:
    import mcp.types as mt

    return (
        exc.code == mt.CONNECTION_CLOSED
        if hasattr(mt, "CONNECTION_CLOSED")
        else "closed" in exc.message.lower()
    )


__all__ = [
    "ElicitationHandler",
    "McpError",
    "McpManager",
    "McpServerSpec",
    "McpServerState",
    "McpSpecError",
    "McpStartupError",
    "McpToolInfo",
]
