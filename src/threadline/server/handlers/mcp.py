"""The MCP methods: ``mcpServerStatus/list``, ``mcpServer/tool/call``,
``mcpServer/resource/read``, ``config/mcpServer/reload``.

With a ``threadId`` they use that thread's connections; without one (status list, resource
read) a short-lived set of connections is started from the config and closed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from threadline.core.config import load_config
from threadline.core.mcp_host import McpHost
from threadline.protocol.v2.mcp_status import (
    ListMcpServerStatusParams,
    ListMcpServerStatusResponse,
    McpServerConnectionStatus,
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
from threadline.server.handlers.common import Runtime

__all__ = [
    "config_mcp_server_reload",
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


async def mcp_server_status_list(
    rt: Runtime, ctx: RequestContext, p: ListMcpServerStatusParams
) -> ListMcpServerStatusResponse:
    async with _host(rt, p.thread_id) as host:
        await host.ready_quietly()
        entries = host.status()
    config = rt.manager.config.mcp_servers
    data = []
    for entry in entries:
        name = str(entry["name"])
        if p.server_name is not None and name != p.server_name:
            continue
        cfg = config.get(name)
        bearer = cfg is not None and cfg.extra.get("bearer_token_env_var") is not None
        data.append(
            McpServerStatus(
                name=name,
                auth_status="bearerToken" if bearer else "unsupported",
                tools=entry["tools"],
                resources=entry["resources"],
                resource_templates=entry["resourceTemplates"],
                runtime_status=_RUNTIME.get(str(entry["status"])),
                tools_error=entry["error"] if entry["status"] == "failed" else None,
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
                    runtime_status="disabled",
                )
            )
    data.sort(key=lambda s: s.name)
    return ListMcpServerStatusResponse(data=data)


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
    fresh = load_config(rt.manager.config.home, profile=rt.manager.config.profile).mcp_servers
    config = dataclasses.replace(rt.manager.config, mcp_servers=fresh)
    rt.manager.config = config
    rt.manager.setup.config = config
    for thread_id in rt.manager.list_loaded():
        thread = rt.manager.find(thread_id)
        if thread is not None:
            await thread.mcp.reload(fresh)
    return McpServerRefreshResponse()
