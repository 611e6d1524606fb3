"""``mcpServerStatus/list`` and ``config/mcpServer/reload`` payloads (Codex 0.169 schema:
``ListMcpServerStatusParams``/``Response``, ``McpServerStatus``, ``McpServerRefreshResponse``)."""

from typing import Any, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel

McpAuthStatus = Literal["unknown", "unsupported", "notLoggedIn", "bearerToken", "oAuth"]
McpServerConnectionStatus = Literal[
    "notStarted",
    "starting",
    "connected",
    "authenticationRequired",
    "failed",
    "cancelled",
    "disabled",
]
McpServerStatusDetail = Literal["full", "toolsAndAuthOnly"]


class ListMcpServerStatusParams(WireModel):
    cursor: str | None = None
    detail: McpServerStatusDetail | None = None
    limit: int | None = Field(default=None, ge=0)
    server_name: str | None = None
    thread_id: str | None = None


class McpServerStatus(WireModel):
    name: str
    auth_status: McpAuthStatus
    tools: dict[str, Any]
    resources: list[Any]
    resource_templates: list[Any]
    runtime_status: McpServerConnectionStatus | None = None
    """The thread's connection state; null without a thread (as Codex answers)."""
    http_origin: str | None = None
    tools_error: str | None = None
    plugin_id: str | None = None
    server_info: dict[str, Any] | None = None
    server_capabilities: dict[str, Any] | None = None
    tool_list_meta: Any = None


class ListMcpServerStatusResponse(WireModel):
    data: list[McpServerStatus]
    next_cursor: str | None = None


McpServerOauthClientRegistration = Literal["auto", "cimd", "dcr"]


class McpServerOauthLoginParams(WireModel):
    name: str
    scopes: list[str] | None = None
    thread_id: str | None = None
    timeout_secs: int | None = None
    client_registration: McpServerOauthClientRegistration | None = None


class McpServerOauthLoginResponse(WireModel):
    authorization_url: str
    login_id: str | None = None


class McpServerOauthLoginCompletedNotification(WireModel):
    name: str
    success: bool
    error: str | None = None
    login_id: str | None = None
    thread_id: str | None = None


class McpServerRefreshParams(WireModel):
    """``config/mcpServer/reload`` takes no params (null)."""


class McpServerRefreshResponse(WireModel):
    pass


REQUESTS: dict[str, tuple[type[WireModel], type[WireModel]]] = {
    "mcpServer/oauth/login": (McpServerOauthLoginParams, McpServerOauthLoginResponse),
}
"""This area's rows of the method table (``mcpServerStatus/list`` and the reload are still in
``protocol.methods``' own table)."""

NOTIFICATIONS: dict[str, type[WireModel]] = {
    "mcpServer/oauthLogin/completed": McpServerOauthLoginCompletedNotification,
}

__all__ = [
    "NOTIFICATIONS",
    "REQUESTS",
    "McpServerOauthClientRegistration",
    "McpServerOauthLoginCompletedNotification",
    "McpServerOauthLoginParams",
    "McpServerOauthLoginResponse",
    "ListMcpServerStatusParams",
    "ListMcpServerStatusResponse",
    "McpAuthStatus",
    "McpServerConnectionStatus",
    "McpServerRefreshParams",
    "McpServerRefreshResponse",
    "McpServerStatus",
    "McpServerStatusDetail",
]
