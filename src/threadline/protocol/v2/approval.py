"""Server-to-client approval and elicitation requests, their answers and decisions.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.item_parts import CommandAction
from threadline.protocol.v2.settings import LegacyAppPathString, RequestId


class AcceptWithExecpolicyAmendmentDetails(WireModel):
    execpolicy_amendment: list[str] = Field(alias="execpolicy_amendment")


class AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision(WireModel):
    accept_with_execpolicy_amendment: AcceptWithExecpolicyAmendmentDetails


NetworkPolicyRuleAction = Literal["allow", "deny"]


class NetworkPolicyAmendment(WireModel):
    action: NetworkPolicyRuleAction
    host: str


class ApplyNetworkPolicyAmendmentDetails(WireModel):
    network_policy_amendment: NetworkPolicyAmendment = Field(alias="network_policy_amendment")


class ApplyNetworkPolicyAmendmentCommandExecutionApprovalDecision(WireModel):
    apply_network_policy_amendment: ApplyNetworkPolicyAmendmentDetails


CommandExecutionApprovalDecision = (
    Literal["accept", "acceptForSession", "decline", "cancel"]
    | AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision
    | ApplyNetworkPolicyAmendmentCommandExecutionApprovalDecision
)


CommandExecutionApprovalKind = Literal["command", "writeStdin", "humanCommand"]


NetworkApprovalProtocol = Literal["http", "https", "socks5Tcp", "socks5Udp"]


class NetworkApprovalContext(WireModel):
    host: str
    protocol: NetworkApprovalProtocol


class CommandExecutionRequestApprovalParams(WireModel):
    """``item/commandExecution/requestApproval`` params, members in the order Codex sends them.

    ``available_decisions`` is not in the generated schema but Codex sends it (the
    reference traces); the optional members Codex leaves out when unset are omitted.
    """

    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {
            "approval_id",
            "network_approval_context",
            "reason",
            "proposed_execpolicy_amendment",
            "proposed_network_policy_amendments",
            "available_decisions",
        }
    )
    kind: CommandExecutionApprovalKind = "command"
    thread_id: str
    turn_id: str
    item_id: str
    started_at_ms: int
    approval_id: str | None = None
    environment_id: str | None = None
    command: str | None = None
    cwd: LegacyAppPathString | None = None
    command_actions: list[CommandAction] | None = None
    network_approval_context: NetworkApprovalContext | None = None
    reason: str | None = None
    proposed_execpolicy_amendment: list[str] | None = None
    proposed_network_policy_amendments: list[NetworkPolicyAmendment] | None = None
    available_decisions: list[CommandExecutionApprovalDecision] | None = None


class CommandExecutionRequestApprovalResponse(WireModel):
    decision: CommandExecutionApprovalDecision


FileChangeApprovalDecision = Literal["accept", "acceptForSession", "decline", "cancel"]


class FileChangeRequestApprovalParams(WireModel):
    item_id: str
    started_at_ms: int
    thread_id: str
    turn_id: str
    grant_root: str | None = None
    reason: str | None = None


class FileChangeRequestApprovalResponse(WireModel):
    decision: FileChangeApprovalDecision


McpServerElicitationAction = Literal["accept", "decline", "cancel"]


class McpServerElicitationRequestResponse(WireModel):
    action: McpServerElicitationAction
    meta: Any = Field(default=None, alias="_meta")
    content: Any = None


class ServerRequestResolvedNotification(WireModel):
    request_id: RequestId
    thread_id: str


McpElicitationMode = Literal["form", "openai/form", "openaiForm", "url"]


class McpServerElicitationRequestParams(WireModel):
    """An MCP server asks the user for input (``mcpServer/elicitation/request``).

    The schema is a union over ``mode``; it is flattened here into one model so
    the method table can name a single class. ``requested_schema`` belongs to
    the form modes, ``url`` and ``elicitation_id`` to ``url`` mode.
    """

    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"requested_schema", "url", "elicitation_id", "meta"}
    )
    server_name: str
    thread_id: str
    turn_id: str | None = None
    mode: McpElicitationMode
    message: str
    requested_schema: Any = None
    url: str | None = None
    elicitation_id: str | None = None
    meta: Any = Field(default=None, alias="_meta")

    @model_validator(mode="after")
    def _check_mode_members(self) -> "McpServerElicitationRequestParams":
        if self.mode == "url":
            if self.url is None or self.elicitation_id is None:
                raise ValueError("url mode needs both url and elicitationId")
        elif self.requested_schema is None:
            raise ValueError(f"{self.mode} mode needs requestedSchema")
        return self


__all__ = [
    "AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision",
    "AcceptWithExecpolicyAmendmentDetails",
    "ApplyNetworkPolicyAmendmentCommandExecutionApprovalDecision",
    "ApplyNetworkPolicyAmendmentDetails", "CommandExecutionApprovalDecision",
    "CommandExecutionApprovalKind", "CommandExecutionRequestApprovalParams",
    "CommandExecutionRequestApprovalResponse", "FileChangeApprovalDecision",
    "FileChangeRequestApprovalParams", "FileChangeRequestApprovalResponse",
    "McpElicitationMode", "McpServerElicitationAction", "McpServerElicitationRequestParams",
    "McpServerElicitationRequestResponse", "NetworkApprovalContext", "NetworkApprovalProtocol",
    "NetworkPolicyAmendment", "NetworkPolicyRuleAction", "ServerRequestResolvedNotification",
]
