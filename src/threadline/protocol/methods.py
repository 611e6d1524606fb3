"""The v2 method table: JSON-RPC method names and the models of their payloads.

Three directions are covered:

* :data:`CLIENT_REQUESTS` -- requests a client sends, mapped to
  ``(params model, response model)``;
* :data:`SERVER_NOTIFICATIONS` -- notifications the server sends, mapped to
  their params model;
* :data:`SERVER_REQUESTS` -- requests the server sends to a client (approvals,
  elicitation), mapped to ``(params model, response model)``.

The names and payload shapes follow Codex 0.169.0's schema. :data:`THREADLINE_REQUESTS`
adds the requests threadline answers that Codex's generated schema leaves out (its
experimental ``thread/*`` methods). :func:`client_request_types` looks a client
request up in both: the server takes the params and response type of every method it
answers from here.

The table is an index of names: a method's wire types are imported when it is first
looked up (:func:`client_request_types`), so a process start does not build the models
of the hundreds of methods its client may never call. The rows declared here name their
module and classes; the areas whose wire types live in their own module
(:data:`AREAS`) bring their own ``REQUESTS``/``NOTIFICATIONS`` (and ``THREADLINE_REQUESTS``),
and :data:`REQUEST_AREAS` says which area holds which method
(``tests/server/test_lazy_method_table.py`` checks it against the areas, both ways). The four
dictionaries above are built, every area imported, on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

ClientRequestEntry = tuple[type[BaseModel], type[BaseModel]]
ServerRequestEntry = tuple[type[BaseModel], type[BaseModel]]

if TYPE_CHECKING:  # built on first access, see ``__getattr__``
    CLIENT_REQUESTS: dict[str, ClientRequestEntry]
    SERVER_NOTIFICATIONS: dict[str, type[BaseModel]]
    SERVER_REQUESTS: dict[str, ServerRequestEntry]
    THREADLINE_REQUESTS: dict[str, ClientRequestEntry]

_Row = tuple[str, str, str]
"""(module under ``protocol.v2``, params class, response class)."""

AREAS = (
    "account", "config", "fs", "mcp_status", "providers", "review", "skills", "thread_state",
    "unsupported",
)
"""Modules under ``protocol.v2`` with their own ``REQUESTS`` and ``NOTIFICATIONS``."""

_CODEX_ROWS: dict[str, _Row] = {
    "initialize": ("initialize", "InitializeParams", "InitializeResponse"),
    "thread/start": ("thread_ops", "ThreadStartParams", "ThreadStartResponse"),
    "thread/resume": ("thread_ops", "ThreadResumeParams", "ThreadResumeResponse"),
    "thread/fork": ("thread_ops", "ThreadForkParams", "ThreadForkResponse"),
    "thread/archive": ("thread_meta", "ThreadArchiveParams", "ThreadArchiveResponse"),
    "thread/unarchive": ("thread_meta", "ThreadUnarchiveParams", "ThreadUnarchiveResponse"),
    "thread/unsubscribe": ("thread_ops", "ThreadUnsubscribeParams", "ThreadUnsubscribeResponse"),
    "thread/name/set": ("thread_meta", "ThreadSetNameParams", "ThreadSetNameResponse"),
    "thread/compact/start": ("thread_ops", "ThreadCompactStartParams", "ThreadCompactStartResponse"),
    "thread/list": ("thread", "ThreadListParams", "ThreadListResponse"),
    "thread/loaded/list": ("thread_ops", "ThreadLoadedListParams", "ThreadLoadedListResponse"),
    "thread/read": ("thread_meta", "ThreadReadParams", "ThreadReadResponse"),
    "thread/turns/list": ("thread_ops", "ThreadTurnsListParams", "ThreadTurnsListResponse"),
    "thread/items/list": ("thread_ops", "ThreadItemsListParams", "ThreadItemsListResponse"),
    "thread/inject_items": ("thread_ops", "ThreadInjectItemsParams", "ThreadInjectItemsResponse"),
    "turn/start": ("turn", "TurnStartParams", "TurnStartResponse"),
    "turn/steer": ("turn", "TurnSteerParams", "TurnSteerResponse"),
    "turn/interrupt": ("turn", "TurnInterruptParams", "TurnInterruptResponse"),
    "model/list": ("misc", "ModelListParams", "ModelListResponse"),
    "mcpServer/resource/read": ("misc", "McpResourceReadParams", "McpResourceReadResponse"),
    "mcpServer/tool/call": ("misc", "McpServerToolCallParams", "McpServerToolCallResponse"),
    "mcpServerStatus/list": (
        "mcp_status", "ListMcpServerStatusParams", "ListMcpServerStatusResponse",
    ),
    "config/mcpServer/reload": ("mcp_status", "McpServerRefreshParams", "McpServerRefreshResponse"),
    "command/exec": ("misc", "CommandExecParams", "CommandExecResponse"),
    "command/exec/write": ("misc", "CommandExecWriteParams", "CommandExecWriteResponse"),
    "command/exec/terminate": (
        "misc", "CommandExecTerminateParams", "CommandExecTerminateResponse",
    ),
    "command/exec/resize": ("misc", "CommandExecResizeParams", "CommandExecResizeResponse"),
    "thread/shellCommand": ("misc", "ThreadShellCommandParams", "ThreadShellCommandResponse"),
}
_THREADLINE_ROWS: dict[str, _Row] = {
    "thread/memoryMode/set": (
        "extensions", "ThreadMemoryModeSetParams", "ThreadMemoryModeSetResponse",
    ),
    "thread/rollback": ("extensions", "ThreadRollbackParams", "ThreadRollbackResponse"),
    "thread/increment_elicitation": (
        "extensions", "ThreadElicitationParams", "ThreadElicitationResponse",
    ),
    "thread/decrement_elicitation": (
        "extensions", "ThreadElicitationParams", "ThreadElicitationResponse",
    ),
}
_NOTIFICATION_ROWS: dict[str, tuple[str, str]] = {
    "error": ("misc", "ErrorNotification"),
    "warning": ("misc", "WarningNotification"),
    "deprecationNotice": ("misc", "DeprecationNoticeNotification"),
    "configWarning": ("misc", "ConfigWarningNotification"),
    "thread/started": ("thread_ops", "ThreadStartedNotification"),
    "thread/status/changed": ("thread_meta", "ThreadStatusChangedNotification"),
    "thread/readState/changed": ("thread_ops", "ThreadReadStateChangedNotification"),
    "thread/archived": ("thread_meta", "ThreadArchivedNotification"),
    "thread/unarchived": ("thread_meta", "ThreadUnarchivedNotification"),
    "thread/deleted": ("thread_ops", "ThreadDeletedNotification"),
    "thread/closed": ("thread_ops", "ThreadClosedNotification"),
    "thread/name/updated": ("thread_meta", "ThreadNameUpdatedNotification"),
    "thread/goal/cleared": ("thread_ops", "ThreadGoalClearedNotification"),
    "thread/compacted": ("thread_ops", "ContextCompactedNotification"),
    "thread/tokenUsage/updated": ("usage", "ThreadTokenUsageUpdatedNotification"),
    "turn/started": ("turn", "TurnStartedNotification"),
    "turn/completed": ("turn", "TurnCompletedNotification"),
    "turn/diff/updated": ("turn", "TurnDiffUpdatedNotification"),
    "turn/plan/updated": ("turn", "TurnPlanUpdatedNotification"),
    "item/started": ("item", "ItemStartedNotification"),
    "item/completed": ("item", "ItemCompletedNotification"),
    "item/agentMessage/delta": ("item", "AgentMessageDeltaNotification"),
    "item/plan/delta": ("item", "PlanDeltaNotification"),
    "item/reasoning/summaryTextDelta": ("item", "ReasoningSummaryTextDeltaNotification"),
    "item/reasoning/summaryPartAdded": ("item", "ReasoningSummaryPartAddedNotification"),
    "item/reasoning/textDelta": ("item", "ReasoningTextDeltaNotification"),
    "item/commandExecution/outputDelta": ("item", "CommandExecutionOutputDeltaNotification"),
    "item/commandExecution/terminalInteraction": ("item", "TerminalInteractionNotification"),
    "item/fileChange/outputDelta": ("item", "FileChangeOutputDeltaNotification"),
    "item/fileChange/patchUpdated": ("item", "FileChangePatchUpdatedNotification"),
    "item/mcpToolCall/progress": ("item", "McpToolCallProgressNotification"),
    "serverRequest/resolved": ("approval", "ServerRequestResolvedNotification"),
    "command/exec/outputDelta": ("misc", "CommandExecOutputDeltaNotification"),
    "mcpServer/startupStatus/updated": ("misc", "McpServerStatusUpdatedNotification"),
    "account/rateLimits/updated": ("misc", "AccountRateLimitsUpdatedNotification"),
    "remoteControl/status/changed": ("misc", "RemoteControlStatusChangedNotification"),
}
_SERVER_REQUEST_ROWS: dict[str, _Row] = {
    "item/commandExecution/requestApproval": (
        "approval", "CommandExecutionRequestApprovalParams", "CommandExecutionRequestApprovalResponse",
    ),
    "item/fileChange/requestApproval": (
        "approval", "FileChangeRequestApprovalParams", "FileChangeRequestApprovalResponse",
    ),
    "mcpServer/elicitation/request": (
        "approval", "McpServerElicitationRequestParams", "McpServerElicitationRequestResponse",
    ),
    "item/tool/requestUserInput": (
        "client_tools", "ToolRequestUserInputParams", "ToolRequestUserInputResponse",
    ),
    "item/tool/call": ("client_tools", "DynamicToolCallParams", "DynamicToolCallResponse"),
    "item/permissions/requestApproval": (
        "client_tools", "PermissionsRequestApprovalParams", "PermissionsRequestApprovalResponse",
    ),
}
REQUEST_AREAS: dict[str, str] = {
    "account/read": "account",
    "account/login/start": "account",
    "account/login/cancel": "account",
    "account/logout": "account",
    "account/rateLimits/read": "account",
    "account/usage/read": "account",
    "account/gatewayOAuth/read": "account",
    "config/read": "config",
    "config/value/write": "config",
    "config/batchWrite": "config",
    "configRequirements/read": "config",
    "experimentalFeature/list": "config",
    "experimentalFeature/enablement/set": "config",
    "permissionProfile/list": "config",
    "externalAgentConfig/detect": "config",
    "externalAgentConfig/import": "config",
    "externalAgentConfig/import/recordHistory": "config",
    "externalAgentConfig/import/readHistories": "config",
    "fs/readFile": "fs",
    "fs/writeFile": "fs",
    "fs/createDirectory": "fs",
    "fs/getMetadata": "fs",
    "fs/readDirectory": "fs",
    "fs/remove": "fs",
    "fs/copy": "fs",
    "fs/watch": "fs",
    "fs/unwatch": "fs",
    "fuzzyFileSearch": "fs",
    "feedback/save": "fs",
    "mcpServer/oauth/login": "mcp_status",
    "modelProvider/list": "providers",
    "modelProvider/capabilities/read": "providers",
    "modelProvider/config/write": "providers",
    "modelProvider/default/set": "providers",
    "review/start": "review",
    "skills/list": "skills",
    "skills/extraRoots/set": "skills",
    "skills/config/write": "skills",
    "hooks/list": "skills",
    "thread/delete": "thread_state",
    "thread/metadata/update": "thread_state",
    "thread/goal/set": "thread_state",
    "thread/goal/get": "thread_state",
    "thread/goal/clear": "thread_state",
    "thread/revert": "thread_state",
    "threadSection/list": "thread_state",
    "threadSection/create": "thread_state",
    "threadSection/update": "thread_state",
    "threadSection/delete": "thread_state",
    "thread/section/move": "thread_state",
    "thread/attachment/add": "thread_state",
    "thread/attachment/list": "thread_state",
    "thread/attachment/remove": "thread_state",
    "thread/attachmentOwner/list": "thread_state",
    "thread/approveGuardianDeniedAction": "thread_state",
    "plugin/list": "unsupported",
    "plugin/installed": "unsupported",
    "plugin/reconcile": "unsupported",
    "plugin/share/list": "unsupported",
    "marketplace/upgrade": "unsupported",
    "app/list": "unsupported",
    "app/installed": "unsupported",
    "app/read": "unsupported",
    "account/workspaceMessages/read": "unsupported",
    "marketplace/add": "unsupported",
    "marketplace/remove": "unsupported",
    "plugin/read": "unsupported",
    "plugin/skill/read": "unsupported",
    "plugin/share/save": "unsupported",
    "plugin/share/updateTargets": "unsupported",
    "plugin/share/checkout": "unsupported",
    "plugin/share/delete": "unsupported",
    "plugin/install": "unsupported",
    "plugin/uninstall": "unsupported",
    "account/gatewayOAuth/login": "unsupported",
    "account/gatewayOAuth/cancel": "unsupported",
    "windowsSandbox/setupStart": "unsupported",
    "windowsSandbox/readiness": "unsupported",
    "account/securitySetup/read": "unsupported",
    "account/rateLimitResetCredit/consume": "unsupported",
    "account/sendAddCreditsNudgeEmail": "unsupported",
    "feedback/upload": "unsupported",
}


def _v2(module: str) -> Any:
    return importlib.import_module(f"threadline.protocol.v2.{module}")


def _entry(row: _Row) -> ClientRequestEntry:
    module = _v2(row[0])
    return getattr(module, row[1]), getattr(module, row[2])


def client_request_types(method: str) -> ClientRequestEntry | None:
    """``(params type, response type)`` of a client request, ``None`` for an unknown method.

    Imports the one module holding the method's types; a method missing from the index (an
    area's new row that :data:`REQUEST_AREAS` does not list yet) is found in the full
    tables."""
    row = _CODEX_ROWS.get(method) or _THREADLINE_ROWS.get(method)
    if row is not None:
        return _entry(row)
    area = REQUEST_AREAS.get(method)
    if area is not None:
        module = _v2(area)
        found: ClientRequestEntry | None = module.REQUESTS.get(method) or getattr(
            module, "THREADLINE_REQUESTS", {}
        ).get(method)
        if found is not None:
            return found
    return _full_tables()["CLIENT_REQUESTS"].get(method) or _full_tables()[
        "THREADLINE_REQUESTS"
    ].get(method)


def known_client_methods() -> list[str]:
    """Every client request this table names (Codex's and threadline's), without importing
    any wire type."""
    return list(dict.fromkeys([*_CODEX_ROWS, *_THREADLINE_ROWS, *REQUEST_AREAS]))


_TABLES: dict[str, dict[str, Any]] = {}


def _full_tables() -> dict[str, dict[str, Any]]:
    """The four dictionaries, every area's rows merged (imports every wire module)."""
    if _TABLES:
        return _TABLES
    client = {method: _entry(row) for method, row in _CODEX_ROWS.items()}
    notifications: dict[str, type[BaseModel]] = {
        method: getattr(_v2(module), name) for method, (module, name) in _NOTIFICATION_ROWS.items()
    }
    threadline = {method: _entry(row) for method, row in _THREADLINE_ROWS.items()}
    for area in AREAS:
        module = _v2(area)
        client.update(module.REQUESTS)
        notifications.update(module.NOTIFICATIONS)
        threadline.update(getattr(module, "THREADLINE_REQUESTS", {}))
    _TABLES.update(
        CLIENT_REQUESTS=client,
        SERVER_NOTIFICATIONS=notifications,
        SERVER_REQUESTS={method: _entry(row) for method, row in _SERVER_REQUEST_ROWS.items()},
        THREADLINE_REQUESTS=threadline,
    )
    return _TABLES


def __getattr__(name: str) -> Any:
    if name in ("CLIENT_REQUESTS", "SERVER_NOTIFICATIONS", "SERVER_REQUESTS", "THREADLINE_REQUESTS"):
        value = _full_tables()[name]
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AREAS",
    "CLIENT_REQUESTS",
    "REQUEST_AREAS",
    "SERVER_NOTIFICATIONS",
    "SERVER_REQUESTS",
    "THREADLINE_REQUESTS",
    "ClientRequestEntry",
    "ServerRequestEntry",
    "client_request_types",
    "known_client_methods",
]
