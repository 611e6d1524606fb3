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
"""

from __future__ import annotations

from pydantic import BaseModel

from threadline.protocol.v2 import (
    account,
    approval,
    client_tools,
    extensions,
    fs,
    initialize,
    item,
    mcp_status,
    misc,
    providers,
    review,
    skills,
    thread,
    thread_state,
    turn,
    unsupported,
    usage,
)
from threadline.protocol.v2 import config as config_types

ClientRequestEntry = tuple[type[BaseModel], type[BaseModel]]
ServerRequestEntry = tuple[type[BaseModel], type[BaseModel]]

CLIENT_REQUESTS: dict[str, ClientRequestEntry] = {
    "initialize": (initialize.InitializeParams, initialize.InitializeResponse),
    "thread/start": (thread.ThreadStartParams, thread.ThreadStartResponse),
    "thread/resume": (thread.ThreadResumeParams, thread.ThreadResumeResponse),
    "thread/fork": (thread.ThreadForkParams, thread.ThreadForkResponse),
    "thread/archive": (thread.ThreadArchiveParams, thread.ThreadArchiveResponse),
    "thread/unarchive": (thread.ThreadUnarchiveParams, thread.ThreadUnarchiveResponse),
    "thread/unsubscribe": (thread.ThreadUnsubscribeParams, thread.ThreadUnsubscribeResponse),
    "thread/name/set": (thread.ThreadSetNameParams, thread.ThreadSetNameResponse),
    "thread/compact/start": (thread.ThreadCompactStartParams, thread.ThreadCompactStartResponse),
    "thread/list": (thread.ThreadListParams, thread.ThreadListResponse),
    "thread/loaded/list": (thread.ThreadLoadedListParams, thread.ThreadLoadedListResponse),
    "thread/read": (thread.ThreadReadParams, thread.ThreadReadResponse),
    "thread/turns/list": (thread.ThreadTurnsListParams, thread.ThreadTurnsListResponse),
    "thread/items/list": (thread.ThreadItemsListParams, thread.ThreadItemsListResponse),
    "thread/inject_items": (thread.ThreadInjectItemsParams, thread.ThreadInjectItemsResponse),
    "turn/start": (turn.TurnStartParams, turn.TurnStartResponse),
    "turn/steer": (turn.TurnSteerParams, turn.TurnSteerResponse),
    "turn/interrupt": (turn.TurnInterruptParams, turn.TurnInterruptResponse),
    "model/list": (misc.ModelListParams, misc.ModelListResponse),
    "mcpServer/resource/read": (misc.McpResourceReadParams, misc.McpResourceReadResponse),
    "mcpServer/tool/call": (misc.McpServerToolCallParams, misc.McpServerToolCallResponse),
    "mcpServerStatus/list": (
        mcp_status.ListMcpServerStatusParams, mcp_status.ListMcpServerStatusResponse
    ),
    "config/mcpServer/reload": (
        mcp_status.McpServerRefreshParams, mcp_status.McpServerRefreshResponse
    ),
    "command/exec": (misc.CommandExecParams, misc.CommandExecResponse),
    "command/exec/write": (misc.CommandExecWriteParams, misc.CommandExecWriteResponse),
    "command/exec/terminate": (misc.CommandExecTerminateParams, misc.CommandExecTerminateResponse),
    "command/exec/resize": (misc.CommandExecResizeParams, misc.CommandExecResizeResponse),
    "thread/shellCommand": (misc.ThreadShellCommandParams, misc.ThreadShellCommandResponse),
}

SERVER_NOTIFICATIONS: dict[str, type[BaseModel]] = {
    "error": misc.ErrorNotification,
    "warning": misc.WarningNotification,
    "deprecationNotice": misc.DeprecationNoticeNotification,
    "configWarning": misc.ConfigWarningNotification,
    "thread/started": thread.ThreadStartedNotification,
    "thread/status/changed": thread.ThreadStatusChangedNotification,
    "thread/readState/changed": thread.ThreadReadStateChangedNotification,
    "thread/archived": thread.ThreadArchivedNotification,
    "thread/unarchived": thread.ThreadUnarchivedNotification,
    "thread/deleted": thread.ThreadDeletedNotification,
    "thread/closed": thread.ThreadClosedNotification,
    "thread/name/updated": thread.ThreadNameUpdatedNotification,
    "thread/goal/cleared": thread.ThreadGoalClearedNotification,
    "thread/compacted": thread.ContextCompactedNotification,
    "thread/tokenUsage/updated": usage.ThreadTokenUsageUpdatedNotification,
    "turn/started": turn.TurnStartedNotification,
    "turn/completed": turn.TurnCompletedNotification,
    "turn/diff/updated": turn.TurnDiffUpdatedNotification,
    "turn/plan/updated": turn.TurnPlanUpdatedNotification,
    "item/started": item.ItemStartedNotification,
    "item/completed": item.ItemCompletedNotification,
    "item/agentMessage/delta": item.AgentMessageDeltaNotification,
    "item/plan/delta": item.PlanDeltaNotification,
    "item/reasoning/summaryTextDelta": item.ReasoningSummaryTextDeltaNotification,
    "item/reasoning/summaryPartAdded": item.ReasoningSummaryPartAddedNotification,
    "item/reasoning/textDelta": item.ReasoningTextDeltaNotification,
    "item/commandExecution/outputDelta": item.CommandExecutionOutputDeltaNotification,
    "item/commandExecution/terminalInteraction": item.TerminalInteractionNotification,
    "item/fileChange/outputDelta": item.FileChangeOutputDeltaNotification,
    "item/fileChange/patchUpdated": item.FileChangePatchUpdatedNotification,
    "item/mcpToolCall/progress": item.McpToolCallProgressNotification,
    "serverRequest/resolved": approval.ServerRequestResolvedNotification,
    "command/exec/outputDelta": misc.CommandExecOutputDeltaNotification,
    "mcpServer/startupStatus/updated": misc.McpServerStatusUpdatedNotification,
    "account/rateLimits/updated": misc.AccountRateLimitsUpdatedNotification,
    "remoteControl/status/changed": misc.RemoteControlStatusChangedNotification,
}

SERVER_REQUESTS: dict[str, ServerRequestEntry] = {
    "item/commandExecution/requestApproval": (
        approval.CommandExecutionRequestApprovalParams,
        approval.CommandExecutionRequestApprovalResponse,
    ),
    "item/fileChange/requestApproval": (
        approval.FileChangeRequestApprovalParams,
        approval.FileChangeRequestApprovalResponse,
    ),
    "mcpServer/elicitation/request": (
        approval.McpServerElicitationRequestParams,
        approval.McpServerElicitationRequestResponse,
    ),
    "item/tool/requestUserInput": (
        client_tools.ToolRequestUserInputParams,
        client_tools.ToolRequestUserInputResponse,
    ),
    "item/tool/call": (client_tools.DynamicToolCallParams, client_tools.DynamicToolCallResponse),
    "item/permissions/requestApproval": (
        client_tools.PermissionsRequestApprovalParams,
        client_tools.PermissionsRequestApprovalResponse,
    ),
}

# Areas whose wire types live in their own module bring their own rows.
for _area in (
    account, config_types, fs, mcp_status, providers, review, skills, thread_state, unsupported
):
    CLIENT_REQUESTS.update(_area.REQUESTS)
    SERVER_NOTIFICATIONS.update(_area.NOTIFICATIONS)


THREADLINE_REQUESTS: dict[str, ClientRequestEntry] = {
    "thread/memoryMode/set": (
        extensions.ThreadMemoryModeSetParams,
        extensions.ThreadMemoryModeSetResponse,
    ),
    "thread/rollback": (extensions.ThreadRollbackParams, extensions.ThreadRollbackResponse),
    "thread/increment_elicitation": (
        extensions.ThreadElicitationParams,
        extensions.ThreadElicitationResponse,
    ),
    "thread/decrement_elicitation": (
        extensions.ThreadElicitationParams,
        extensions.ThreadElicitationResponse,
    ),
}


THREADLINE_REQUESTS.update(providers.THREADLINE_REQUESTS)  # Codex 0.171's modelProvider/default/set


def client_request_types(method: str) -> ClientRequestEntry | None:
    """``(params type, response type)`` of a client request, ``None`` for an unknown method."""
    return CLIENT_REQUESTS.get(method) or THREADLINE_REQUESTS.get(method)


__all__ = [
    "CLIENT_REQUESTS",
    "SERVER_NOTIFICATIONS",
    "SERVER_REQUESTS",
    "THREADLINE_REQUESTS",
    "ClientRequestEntry",
    "ServerRequestEntry",
    "client_request_types",
]
