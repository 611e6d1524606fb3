"""The MCP methods: ``mcpServerStatus/list``, ``mcpServer/tool/call``,
``mcpServer/resource/read``, ``config/mcpServer/reload``.

With a ``threadId`` they use that thread's connections; without one (status list, resource
read) a short-lived set of connections is started from the config and closed again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from threadline.core.config import load_config
from threadline.core.errors import InvalidRequest
from threadline.core.mcp_host import (
    McpHost,
    OAuthLoginFailed,
    oauth_logged_in,
    start_oauth_login,
)
from threadline.protocol import codes
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.mcp_status import (
    ListMcpServerStatusParams,
    ListMcpServerStatusResponse,
    McpServerConnectionStatus,
    McpServerOauthLoginCompletedNotification,
    McpServerOauthLoginParams,
    McpServerOauthLoginResponse,
    McpServerRefreshParams,
    McpServerRefreshResponse,
    McpServerStatus,
)
from threadline.protocol.v2.misc import (
    McpResourceReadParams,
    McpResourceReadResponse,
    McpServerToolCallParams,
    McpServerToolCallResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = [
    "HANDLERS",
    "config_mcp_server_reload",
    "mcp_oauth_login",
    "mcp_resource_read",
    "mcp_server_status_list",
    "mcp_tool_call",
]

_RUNTIME: dict[str, McpServerConnectionStatus] = {
    "starting": "starting",
    "ready": "connected",
    "failed": "failed",
    "cancelled": "cancelled",
}


@asynccontextmanager
async def _host(rt: Runtime, thread_id: str | None) -> AsyncIterator[McpHost]:
    if thread_id is not None:
        yield rt.manager.get(thread_id).mcp
        return
    host = McpHost(rt.manager.config.mcp_servers, lambda _msg: None)
    try:
        await host.ready_quietly()
        yield host
    finally:
        await host.aclose()


def _offset(cursor: str | None) -> int:
    """Codex's cursor is the decimal offset of the next entry."""
    if cursor is None:
        return 0
    if not cursor.isascii() or not cursor.isdigit():
        raise InvalidRequest(f"invalid cursor: {cursor}")
    return int(cursor)


def _http_origin(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


async def mcp_server_status_list(
    rt: Runtime, ctx: RequestContext, p: ListMcpServerStatusParams
) -> ListMcpServerStatusResponse:
    """One entry per configured server, sorted by name, paged as Codex pages it (the
    cursor is an offset; a ``limit`` of 0 counts as 1; none: every entry). ``detail:
    toolsAndAuthOnly`` leaves resources out. ``runtimeStatus`` only with a thread."""
    start = _offset(p.cursor)
    async with _host(rt, p.thread_id) as host:
        await host.ready_quietly()
        entries = host.status()
    config = rt.manager.config.mcp_servers
    full = p.detail != "toolsAndAuthOnly"
    in_thread = p.thread_id is not None
    data = []
    for entry in entries:
        name = str(entry["name"])
        if p.server_name is not None and name != p.server_name:
            continue
        cfg = config.get(name)
        bearer = cfg is not None and cfg.extra.get("bearer_token_env_var") is not None
        oauth = not bearer and oauth_logged_in(cfg, rt.manager.config.home)
        data.append(
            McpServerStatus(
                name=name,
                auth_status="bearerToken" if bearer else "oAuth" if oauth else "unsupported",
                tools=entry["tools"],
                resources=entry["resources"] if full else [],
                resource_templates=entry["resourceTemplates"] if full else [],
                runtime_status=_RUNTIME.get(str(entry["status"])) if in_thread else None,
                tools_error=entry["error"] if entry["status"] == "failed" else None,
                http_origin=_http_origin(cfg.url) if cfg is not None else None,
                server_info=entry.get("serverInfo"),
                server_capabilities=entry.get("serverCapabilities"),
            )
        )
    for name, cfg in config.items():
        if not cfg.enabled and (p.server_name is None or p.server_name == name):
            data.append(
                McpServerStatus(
                    name=name,
                    auth_status="unsupported",
                    tools={},
                    resources=[],
                    resource_templates=[],
                    runtime_status="disabled" if in_thread else None,
                    http_origin=_http_origin(cfg.url),
                )
            )
    data.sort(key=lambda s: s.name)
    if p.limit is None:
        page = data[start:]
    else:
        page = data[start : start + max(1, p.limit)]
    end = start + len(page)
    more = p.limit is not None and end < len(data)
    return ListMcpServerStatusResponse(data=page, next_cursor=str(end) if more else None)


async def mcp_tool_call(
    rt: Runtime, ctx: RequestContext, p: McpServerToolCallParams
) -> McpServerToolCallResponse:
    result: dict[str, Any] = await rt.manager.get(p.thread_id).call_mcp_tool(
        p.server, p.tool, p.arguments, p.meta
    )
    return McpServerToolCallResponse.model_validate(result)


async def mcp_resource_read(
    rt: Runtime, ctx: RequestContext, p: McpResourceReadParams
) -> McpResourceReadResponse:
    async with _host(rt, p.thread_id) as host:
        result = await host.read_resource(p.server, p.uri)
    return McpResourceReadResponse.model_validate(result)


async def config_mcp_server_reload(
    rt: Runtime, ctx: RequestContext, p: McpServerRefreshParams
) -> McpServerRefreshResponse:
    """Re-read ``config.toml``'s MCP servers; every loaded thread restarts the changed ones,
    starts the new ones, stops the removed ones and keeps the rest."""
    current = rt.manager.config
    fresh = load_config(
        current.home, profile=current.profile, overrides=current.overrides
    ).mcp_servers  # the -c overrides the server started with still apply
    config = dataclasses.replace(rt.manager.config, mcp_servers=fresh)
    rt.manager.config = config
    rt.manager.setup.config = config
    for thread_id in rt.manager.list_loaded():
        thread = rt.manager.find(thread_id)
        if thread is not None:
            await thread.mcp.reload(fresh)
    return McpServerRefreshResponse()


_LOGINS: set[asyncio.Task[None]] = set()


async def mcp_oauth_login(
    rt: Runtime, ctx: RequestContext, p: McpServerOauthLoginParams
) -> McpServerOauthLoginResponse:
    """Start an OAuth login to an HTTP MCP server: the answer carries the URL to open in a
    browser; ``mcpServer/oauthLogin/completed`` follows when the browser came back to the
    loopback listener (or the login failed or timed out). Loaded threads then reconnect
    that server with the new token."""
    config = rt.manager.config
    try:
        login = await start_oauth_login(
            config.mcp_servers,
            p.name,
            home=config.home,
            scopes=p.scopes,
            timeout_s=float(p.timeout_secs) if p.timeout_secs else None,
        )
    except OAuthLoginFailed as exc:
        raise RpcError(codes.INTERNAL_ERROR, str(exc)) from exc

    async def finish() -> None:
        why = await login.done
        if why is None:
            for thread_id in rt.manager.list_loaded():
                thread = rt.manager.find(thread_id)
                if thread is not None:
                    await thread.mcp.reload(rt.manager.config.mcp_servers)
        done = McpServerOauthLoginCompletedNotification(
            name=p.name,
            success=why is None,
            error=why,
            login_id=login.login_id,
            thread_id=p.thread_id,
        )
        rt.broadcast("mcpServer/oauthLogin/completed", dump_wire(done))

    def later() -> None:
        task = asyncio.create_task(finish(), name=f"mcp-oauth-done-{p.name}")
        _LOGINS.add(task)
        task.add_done_callback(_LOGINS.discard)

    ctx.after_response(later)
    return McpServerOauthLoginResponse(
        authorization_url=login.authorization_url, login_id=login.login_id
    )


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "mcpServer/oauth/login": mcp_oauth_login,
}
"""This area's rows of the handler table (the older MCP methods are in the shared table)."""
