"""The questions a turn asks a client: which server request each core ask becomes.

A tool that needs the client (a command or patch approval, the user's input, a
client-side tool) asks through its turn with an :class:`~threadline.protocol.events.ClientAsk`
subclass. :data:`ASK_TABLE` maps each such class to an :class:`AskRoute`: the JSON-RPC
method, the typed params built from the core event, how the client's result is read
back into the answer object the tool expects, and the answer to use when no client can
answer (every asked client returned a JSON-RPC error). The router does the sending.

Adding a kind of question: a ``ClientAsk`` subclass in ``protocol/events.py`` (added to
``EventMsg``), its params/response pair in ``protocol/methods.SERVER_REQUESTS``, and one
line here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from threadline.protocol import events as ev
from threadline.protocol.v2.approval import (
    AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision,
    AcceptWithExecpolicyAmendmentDetails,
    CommandExecutionApprovalDecision,
    CommandExecutionRequestApprovalParams,
    FileChangeRequestApprovalParams,
    McpServerElicitationRequestParams,
)
from threadline.protocol.v2.client_tools import (
    DynamicToolCallParams,
    DynamicToolCallResponse,
    PermissionProfile,
    PermissionsRequestApprovalParams,
    PermissionsRequestApprovalResponse,
    ToolRequestUserInputParams,
    ToolRequestUserInputQuestion,
    ToolRequestUserInputResponse,
)
from threadline.protocol.v2.item_parts import UnknownCommandAction


@dataclass(frozen=True, slots=True)
class AskRoute:
    method: str
    params: Callable[[str, Any], BaseModel]
    """``(thread_id, core ask) -> wire params``."""
    answer: Callable[[Any], Any]
    """The client's JSON result → the answer object the asking tool gets."""
    fallback: Any
    """The answer when no asked client could answer (each returned an error)."""
    announces_resolution: bool = True
    """Whether the asked clients get ``serverRequest/resolved`` once it is answered
    (Codex sends none for a client-side tool call)."""


# ---- command approval ------------------------------------------------------------------

APPROVAL_METHOD = "item/commandExecution/requestApproval"


def approval_request(
    thread_id: str, req: ev.ExecApprovalRequest
) -> CommandExecutionRequestApprovalParams:
    """The typed params of :data:`APPROVAL_METHOD` for a core approval request."""
    decisions: list[CommandExecutionApprovalDecision] = ["accept"]
    amendment = list(req.proposed_amendment) if req.proposed_amendment else None
    if amendment:
        decisions.append(
            AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision(
                accept_with_execpolicy_amendment=AcceptWithExecpolicyAmendmentDetails(
                    execpolicy_amendment=amendment
                )
            )
        )
    decisions.append("cancel")
    return CommandExecutionRequestApprovalParams(
        kind="command",
        thread_id=thread_id,
        turn_id=req.turn_id,
        item_id=req.item_id,
        started_at_ms=req.started_at_ms or int(time.time() * 1000),
        environment_id="local",
        command=req.command,
        cwd=req.cwd,
        command_actions=req.command_actions or [UnknownCommandAction(command=req.command)],
        reason=req.reason,
        proposed_execpolicy_amendment=amendment,
        available_decisions=decisions,
    )


def decision_of(result: Any) -> str:
    """The decision string of an approval response (``{"decision": "accept"}`` or a
    one-key object such as ``{"acceptWithExecpolicyAmendment": {...}}``); anything else,
    ``{}`` included, declines."""
    if isinstance(result, dict):
        raw = result.get("decision")
        if isinstance(raw, str):
            return raw
        if isinstance(raw, dict) and raw:
            return str(next(iter(raw)))
    return "decline"


# ---- the questions of client-side tools ------------------------------------------------


def user_input_request(thread_id: str, req: ev.UserInputRequest) -> ToolRequestUserInputParams:
    return ToolRequestUserInputParams(
        thread_id=thread_id,
        turn_id=req.turn_id,
        item_id=req.item_id,
        questions=[ToolRequestUserInputQuestion.model_validate(q) for q in req.questions],
    )


def user_answers_of(result: Any) -> dict[str, list[str]] | None:
    """``{question id: answers}`` of a ``ToolRequestUserInputResponse``; ``None`` (no
    answer) for anything else, ``{}`` included."""
    if not isinstance(result, dict) or not isinstance(result.get("answers"), dict):
        return None
    answers = ToolRequestUserInputResponse.model_validate(result).answers
    return {qid: list(a.answers) for qid, a in answers.items()}


def dynamic_tool_request(thread_id: str, req: ev.DynamicToolCallRequest) -> DynamicToolCallParams:
    return DynamicToolCallParams(
        thread_id=thread_id,
        turn_id=req.turn_id,
        call_id=req.item_id,
        namespace=req.namespace,
        tool=req.tool,
        arguments=req.arguments,
    )


def dynamic_result_of(result: Any) -> dict[str, Any] | str:
    """The client's ``DynamicToolCallResponse`` as JSON, or ``"invalid"`` when the reply
    is not one (``{}`` included); the fallback ``None`` stands for a failed request."""
    try:
        reply = DynamicToolCallResponse.model_validate(result)
    except ValueError:
        return "invalid"
    return reply.model_dump(mode="json", by_alias=True)


def permissions_request(
    thread_id: str, req: ev.PermissionsRequest
) -> PermissionsRequestApprovalParams:
    return PermissionsRequestApprovalParams(
        thread_id=thread_id,
        turn_id=req.turn_id,
        item_id=req.item_id,
        started_at_ms=req.started_at_ms or int(time.time() * 1000),
        cwd=req.cwd,
        reason=req.reason,
        permissions=PermissionProfile.model_validate(req.permissions),
    )


def granted_of(result: Any) -> dict[str, Any] | None:
    """The client's ``PermissionsRequestApprovalResponse`` as JSON; ``None`` (nothing
    granted) when it is not one."""
    if not isinstance(result, dict) or not isinstance(result.get("permissions"), dict):
        return None
    granted = PermissionsRequestApprovalResponse.model_validate(result)
    return granted.model_dump(mode="json", by_alias=True)


def patch_approval_request(
    thread_id: str, req: ev.PatchApprovalRequest
) -> FileChangeRequestApprovalParams:
    """``item/fileChange/requestApproval`` for a core patch approval request."""
    return FileChangeRequestApprovalParams(
        thread_id=thread_id,
        turn_id=req.turn_id,
        item_id=req.item_id,
        started_at_ms=req.started_at_ms or int(time.time() * 1000),
        reason=req.reason,
        grant_root=req.grant_root,
    )


# ---- MCP elicitation -------------------------------------------------------------------


def elicitation_request(thread_id: str, req: ev.McpElicitationRequest) -> BaseModel:
    return McpServerElicitationRequestParams.model_validate(
        {
            "serverName": req.server_name,
            "threadId": thread_id,
            "turnId": req.turn_id or None,
            "mode": req.mode,
            "message": req.message,
            "requestedSchema": req.requested_schema,
            "url": req.url,
            "elicitationId": req.elicitation_id,
            "_meta": req.meta,
        }
    )


ELICITATION_DECLINED: dict[str, Any] = {"action": "decline", "content": None}


def elicitation_answer_of(result: Any) -> dict[str, Any]:
    """The client's reply; anything but an action (``{}`` from a client that does not
    know the request) is a decline."""
    if not isinstance(result, dict) or result.get("action") not in ("accept", "decline", "cancel"):
        return dict(ELICITATION_DECLINED)
    return {
        "action": result["action"],
        "content": result.get("content") if result["action"] == "accept" else None,
        "_meta": result.get("_meta"),
    }


ASK_TABLE: dict[type[ev.ClientAsk], AskRoute] = {
    ev.ExecApprovalRequest: AskRoute(APPROVAL_METHOD, approval_request, decision_of, "decline"),
    ev.PatchApprovalRequest: AskRoute(
        "item/fileChange/requestApproval", patch_approval_request, decision_of, "decline"
    ),
    ev.UserInputRequest: AskRoute(
        "item/tool/requestUserInput", user_input_request, user_answers_of, None
    ),
    ev.DynamicToolCallRequest: AskRoute(
        "item/tool/call",
        dynamic_tool_request,
        dynamic_result_of,
        None,
        announces_resolution=False,
    ),
    ev.PermissionsRequest: AskRoute(
        "item/permissions/requestApproval", permissions_request, granted_of, None
    ),
    ev.McpElicitationRequest: AskRoute(
        "mcpServer/elicitation/request",
        elicitation_request,
        elicitation_answer_of,
        ELICITATION_DECLINED,
    ),
}
"""Every core ask class and the server request it becomes."""


def route_for(ask: ev.ClientAsk) -> AskRoute | None:
    return ASK_TABLE.get(type(ask))


__all__ = [
    "APPROVAL_METHOD",
    "ASK_TABLE",
    "AskRoute",
    "approval_request",
    "decision_of",
    "route_for",
]
