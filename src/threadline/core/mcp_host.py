"""A thread's MCP connections: one `McpManager` per thread, as Codex keeps one connection
manager per session.

The host builds the server specs from the config's ``[mcp_servers.<name>]`` tables, starts the
servers in the background when the thread is built, reports every startup status change as a
`McpStartupUpdate` event (the server sends ``mcpServer/startupStatus/updated``), and answers the
client's ``mcpServer/tool/call`` and ``mcpServer/resource/read`` in wire shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.core.config import load_config, threadline_home
from threadline.core.errors import InvalidRequest, McpServerNotFound
from threadline.protocol import events as ev

# The connection manager, its server specs and the OAuth store load when a server is
# configured (or a client method needs them): a thread of a home without MCP servers,
# a resumed one above all, has no use for them.
if TYPE_CHECKING:
    from threadline.core.config_sections import McpServerConfig
    from threadline.mcp.manager import ElicitationHandler, McpManager, McpServerState
    from threadline.mcp.oauth import OAuthLogin, OAuthStore
    from threadline.mcp.specs import McpServerSpec

OAUTH_FILE = "mcp-oauth.json"
"""Where OAuth logins keep their tokens, in the home (mode 0600)."""


def oauth_store(home: Path | None = None) -> OAuthStore:
    from threadline.mcp.oauth import OAuthStore

    return OAuthStore((home if home is not None else threadline_home()) / OAUTH_FILE)


def mcp_specs(
    servers: Mapping[str, McpServerConfig], store: OAuthStore | None = None
) -> dict[str, McpServerSpec]:
    """The specs of the configured servers; a table this package cannot use is left out
    (its error is reported by the host as a failed startup). An HTTP server with a token
    from an OAuth login in ``store`` sends it."""
    from threadline.mcp.specs import McpServerSpec, McpSpecError

    out: dict[str, McpServerSpec] = {}
    for name, cfg in servers.items():
        with contextlib.suppress(McpSpecError):
            spec = McpServerSpec.from_json(name, cfg.to_json())
            token = store.access_token(spec.url) if store is not None and spec.url else None
            out[name] = dataclasses.replace(spec, oauth_access_token=token) if token else spec
    return out


def _quoted(part: str) -> str:
    """A key-path segment (quoted when it is not a bare TOML key)."""
    bare = part.replace("-", "").replace("_", "").isalnum() and part.isascii()
    return part if bare else json.dumps(part)


class OAuthLoginFailed(Exception):
    """An OAuth login could not start; the message is the reason."""


async def start_oauth_login(
    servers: Mapping[str, McpServerConfig],
    name: str,
    *,
    home: Path,
    scopes: list[str] | None = None,
    timeout_s: float | None = None,
) -> OAuthLogin:
    """Start ``mcpServer/oauth/login`` for the configured server ``name``: its authorization
    URL, and a task that ends when the browser came back. `InvalidRequest` (Codex's words)
    for a server that is unknown or not HTTP; `OAuthLoginFailed` when the flow fails early."""
    from threadline.mcp.oauth import OAuthLoginError, start_login
    from threadline.mcp.specs import McpServerSpec, McpSpecError

    cfg = servers.get(name)
    if cfg is None:
        raise InvalidRequest(f"No MCP server named '{name}' found.")
    try:
        spec = McpServerSpec.from_json(name, cfg.to_json())
    except McpSpecError as exc:
        raise InvalidRequest(str(exc)) from exc
    if spec.url is None:
        raise InvalidRequest("OAuth login is only supported for streamable HTTP servers.")
    try:
        return await start_login(spec, oauth_store(home), scopes=scopes, timeout_s=timeout_s)
    except OAuthLoginError as exc:
        raise OAuthLoginFailed(f"failed to login to MCP server '{name}': {exc}") from exc


def oauth_logged_in(cfg: McpServerConfig | None, home: Path | None = None) -> bool:
    """Whether an OAuth login stored a token for this server's URL."""
    url = cfg.url if cfg is not None else None
    return bool(url) and oauth_store(home).access_token(str(url)) is not None


def _spec_errors(servers: Mapping[str, McpServerConfig]) -> dict[str, str]:
    if not servers:
        return {}
    from threadline.mcp.specs import McpServerSpec, McpSpecError

    errors: dict[str, str] = {}
    for name, cfg in servers.items():
        try:
            McpServerSpec.from_json(name, cfg.to_json())
        except McpSpecError as exc:
            errors[name] = str(exc)
    return errors


def _status_entry(state: McpServerState) -> dict[str, Any]:
    tools = {
        t.name: {
            "name": t.name,
            "description": t.description,
            "inputSchema": t.input_schema,
            **({"annotations": t.annotations} if t.annotations else {}),
            **({"title": t.title} if t.title else {}),
        }
        for t in state.tools
    }
    return {
        "name": state.name,
        "status": state.status,
        "error": state.error,
        "tools": tools,
        "resources": state.resources,
        "resourceTemplates": state.resource_templates,
        "serverInfo": state.server_info,
        "serverCapabilities": state.capabilities,
    }


class McpHost:
    """The MCP side of one thread."""

    def __init__(
        self,
        servers: Mapping[str, McpServerConfig],
        deliver: Callable[[ev.EventMsg], None],
        *,
        home: Path | None = None,
    ) -> None:
        self._deliver = deliver
        self._bad = _spec_errors(servers)
        self._home = home
        self._oauth_home = home if home is not None else threadline_home()
        self._elicit: ElicitationHandler | None = None
        self._manager: McpManager | None = None
        if servers:  # no servers: the (empty) manager is made when something asks for it
            self._manager = self._new_manager(servers)
        self._start: asyncio.Task[None] | None = None

    def _new_manager(self, servers: Mapping[str, McpServerConfig]) -> McpManager:
        from threadline.mcp.manager import McpManager

        specs = mcp_specs(servers, oauth_store(self._oauth_home))
        manager = McpManager(specs, on_status=self._on_status)
        manager.on_always_approve = self._approve_in_config
        manager.set_elicitation_handler(self._elicit)
        return manager

    @property
    def manager(self) -> McpManager:
        """The thread's connection manager (made at first use when no server is configured:
        an empty one then, as the thread was built with)."""
        if self._manager is None:
            self._manager = self._new_manager({})
        return self._manager

    def set_elicitation_handler(self, handler: ElicitationHandler | None) -> None:
        """Who answers the servers' elicitations (kept for a manager made later)."""
        self._elicit = handler
        if self._manager is not None:
            self._manager.set_elicitation_handler(handler)

    def _approve_in_config(self, server: str, tool: str) -> None:
        """``[mcp_servers.<server>.tools.<tool>] approval_mode = "approve"`` in the user's
        config.toml, as Codex writes an approval the user gave for good."""
        from threadline.core.config_write import Edit, write_edits  # with the first approval

        key = f"mcp_servers.{_quoted(server)}.tools.{_quoted(tool)}.approval_mode"
        write_edits(load_config(self._home), [Edit(key, "approve")])

    def bind(self, deliver: Callable[[ev.EventMsg], None]) -> None:
        """Send the status events to ``deliver`` (the thread, once it exists)."""
        self._deliver = deliver

    def _on_status(self, state: McpServerState) -> None:
        self._deliver(
            ev.McpStartupUpdate(server=state.name, status=state.status, error=state.error)
        )

    def launch(self) -> None:
        """Start every server in the background (needs a running loop; else `ready` starts them)."""
        if self._start is not None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        start = self._manager.start() if self._manager is not None else _nothing_to_start()
        self._start = asyncio.create_task(start, name="mcp-start")
        self._start.add_done_callback(lambda t: t.cancelled() or t.exception())
        for name, why in self._bad.items():
            self._deliver(ev.McpStartupUpdate(server=name, status="failed", error=why))

    async def ready(self) -> None:
        """Wait for startup as `McpManager.start` bounds it; raises `McpStartupError` when a
        required server failed."""
        self.launch()
        if self._start is not None:
            await asyncio.shield(self._start)

    # ---- the client's methods ----------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """One ``mcpServerStatus/list`` entry per server (configured names, tools, resources)."""
        states = self._manager.states() if self._manager is not None else []
        out = [_status_entry(state) for state in states]
        for name, why in self._bad.items():
            out.append(
                {
                    "name": name,
                    "status": "failed",
                    "error": why,
                    "tools": {},
                    "resources": [],
                    "resourceTemplates": [],
                    "serverInfo": None,
                    "serverCapabilities": None,
                }
            )
        return sorted(out, key=lambda e: str(e["name"]))

    def _known(self, server: str) -> None:
        if self._manager is None or server not in self._manager.server_names():
            raise McpServerNotFound(server)

    async def call_tool(
        self, server: str, tool: str, arguments: Any = None, meta: Any = None
    ) -> dict[str, Any]:
        await self.ready_quietly()
        self._known(server)
        if arguments is not None and not isinstance(arguments, dict):
            raise InvalidRequest("arguments must be an object")
        from threadline.mcp.manager import McpError

        try:
            result = await self.manager.call_tool(server, tool, arguments, meta=meta)
        except McpError as exc:
            raise InvalidRequest(str(exc)) from exc
        dumped: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        dumped.pop("resultType", None)
        dumped.setdefault("content", [])
        return dumped

    async def read_resource(self, server: str, uri: str) -> dict[str, Any]:
        await self.ready_quietly()
        self._known(server)
        from threadline.mcp.manager import McpError

        try:
            result = await self.manager.read_resource(server, uri)
        except McpError as exc:
            raise InvalidRequest(str(exc)) from exc
        return {
            "contents": [
                c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.contents
            ]
        }

    async def require(self) -> None:
        """When a configured server is ``required``: wait for startup, and raise
        `InvalidRequest` naming the server when one failed. No-op otherwise."""
        if self._manager is None or not any(s.required for s in self._manager.specs()):
            return
        from threadline.mcp.manager import McpError

        try:
            await self.ready()
        except McpError as exc:
            raise InvalidRequest(str(exc)) from exc

    async def ready_quietly(self) -> None:
        if self._manager is None:  # nothing configured: a start that cannot fail
            await self.ready()
            return
        from threadline.mcp.manager import McpError

        with contextlib.suppress(McpError):
            await self.ready()

    async def reload(self, servers: Mapping[str, McpServerConfig]) -> None:
        await self.ready_quietly()
        self._bad = _spec_errors(servers)
        await self.manager.reload(mcp_specs(servers, oauth_store(self._oauth_home)))

    async def aclose(self) -> None:
        if self._start is not None and not self._start.done():
            self._start.cancel()
            with contextlib.suppress(BaseException):
                await self._start
        if self._manager is not None:
            await self._manager.aclose()


async def _nothing_to_start() -> None:
    """The start of a thread without MCP servers (what an empty manager's start does)."""


__all__ = [
    "OAuthLoginFailed",
    "McpHost",
    "mcp_specs",
    "oauth_logged_in",
    "oauth_store",
    "start_oauth_login",
]
