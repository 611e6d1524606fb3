"""Smaller v2 surfaces: ``command/exec``, MCP calls, ``model/list``, account and warnings.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.settings import ReasoningEffort, SandboxPolicy
from threadline.protocol.v2.turn import TurnError


class ApiKeyAccount(WireModel):
    type: Literal["apiKey"] = "apiKey"


PlanType = Literal[
    "free",
    "go",
    "plus",
    "pro",
    "prolite",
    "promax",
    "team",
    "self_serve_business_prolite",
    "self_serve_business_usage_based",
    "business",
    "ent26",
    "enterprise_cbp_automation",
    "enterprise_cbp_usage_based",
    "enterprise",
    "edu",
    "edu_plus",
    "edu_pro",
    "sci",
    "sci_plus",
    "unknown",
]


class ChatgptAccount(WireModel):
    email: str | None = None
    plan_type: PlanType
    type: Literal["chatgpt"] = "chatgpt"
    workspace_name: str | None = None


class AmazonBedrockAccount(WireModel):
    type: Literal["amazonBedrock"] = "amazonBedrock"
    uses_codex_managed_credentials: bool = False


class GcpAccount(WireModel):
    type: Literal["gcp"] = "gcp"


Account = Annotated[
    ApiKeyAccount | ChatgptAccount | AmazonBedrockAccount | GcpAccount, Field(discriminator="type")
]


class CreditsSnapshot(WireModel):
    has_credits: bool
    unlimited: bool
    balance: str | None = None


RateLimitReachedType = Literal[
    "rate_limit_reached",
    "workspace_owner_credits_depleted",
    "workspace_member_credits_depleted",
    "workspace_owner_usage_limit_reached",
    "workspace_member_usage_limit_reached",
]


class RateLimitWindow(WireModel):
    used_percent: int
    resets_at: int | None = None
    window_duration_mins: int | None = None


class SpendControlLimitSnapshot(WireModel):
    limit: str
    remaining_percent: int
    resets_at: int
    used: str


class RateLimitSnapshot(WireModel):
    limit_id: str | None = None
    limit_name: str | None = None
    normal_model_slug: str | None = None
    primary: RateLimitWindow | None = None
    secondary: RateLimitWindow | None = None
    credits: CreditsSnapshot | None = None
    individual_limit: SpendControlLimitSnapshot | None = None
    spend_control_reached: bool | None = None
    plan_type: PlanType | None = None
    rate_limit_reached_type: RateLimitReachedType | None = None


class AccountRateLimitsUpdatedNotification(WireModel):
    rate_limits: RateLimitSnapshot


CommandExecOutputStream = Literal["stdout", "stderr"]


class CommandExecOutputDeltaNotification(WireModel):
    cap_reached: bool
    delta_base64: str
    process_id: str
    stream: CommandExecOutputStream


class CommandExecTerminalSize(WireModel):
    cols: int
    rows: int


class CommandExecParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"disable_output_cap", "disable_timeout", "stream_stdin", "stream_stdout_stderr", "tty"}
    )
    command: list[str]
    cwd: str | None = None
    disable_output_cap: bool | None = None
    disable_timeout: bool | None = None
    env: dict[str, str | None] | None = None
    output_bytes_cap: int | None = None
    process_id: str | None = None
    sandbox_policy: SandboxPolicy | None = None
    size: CommandExecTerminalSize | None = None
    stream_stdin: bool | None = None
    stream_stdout_stderr: bool | None = None
    timeout_ms: int | None = None
    tty: bool | None = None


class CommandExecResponse(WireModel):
    exit_code: int
    stderr: str
    stdout: str


class CommandExecWriteParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"close_stdin"})
    process_id: str
    close_stdin: bool | None = None
    delta_base64: str | None = None


class CommandExecWriteResponse(WireModel):
    pass


class CommandExecTerminateParams(WireModel):
    process_id: str


class CommandExecTerminateResponse(WireModel):
    pass


class CommandExecResizeParams(WireModel):
    process_id: str
    size: CommandExecTerminalSize


class CommandExecResizeResponse(WireModel):
    pass


class ThreadShellCommandParams(WireModel):
    command: str
    thread_id: str
    timeout_ms: int | None = None


class ThreadShellCommandResponse(WireModel):
    pass


class TextPosition(WireModel):
    column: int
    line: int


class TextRange(WireModel):
    end: TextPosition
    start: TextPosition


class ConfigWarningNotification(WireModel):
    summary: str
    details: str | None = None
    path: str | None = None
    range: TextRange | None = None


CyberAccessProgram = Literal["standard", "daybreakBlue", "daybreakRed"]


class DeprecationNoticeNotification(WireModel):
    summary: str
    details: str | None = None


class ErrorNotification(WireModel):
    error: TurnError
    will_retry: bool
    thread_id: str
    turn_id: str


class GetAccountParams(WireModel):
    refresh_token: bool = False


class GetAccountResponse(WireModel):
    requires_openai_auth: bool
    account: Account | None = None
    user_id: str | None = None


InputModality = Literal["text", "image", "audio"]


class McpResourceReadTarget(WireModel):
    connector_id: str
    link_id: str | None = None


class McpResourceReadParams(WireModel):
    server: str
    uri: str
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")
    connector_id: str | None = None
    origin_call_id: str | None = None
    target: McpResourceReadTarget | None = None
    thread_id: str | None = None


class ResourceContentMeta(WireModel):
    text: str
    uri: str
    meta: Any = Field(default=None, alias="_meta")
    mime_type: str | None = None


class ResourceContentBlob(WireModel):
    blob: str
    uri: str
    meta: Any = Field(default=None, alias="_meta")
    mime_type: str | None = None


ResourceContent = ResourceContentMeta | ResourceContentBlob


class McpResourceReadResponse(WireModel):
    contents: list[ResourceContent]
    origin_call_id: str | None = None


McpServerStartupFailureReason = Literal["reauthenticationRequired"]


McpServerStartupState = Literal["starting", "ready", "failed", "cancelled"]


class McpServerStatusUpdatedNotification(WireModel):
    name: str
    status: McpServerStartupState
    error: str | None = None
    failure_reason: McpServerStartupFailureReason | None = None
    thread_id: str | None = None


class McpServerToolCallParams(WireModel):
    server: str
    thread_id: str
    tool: str
    meta: Any = Field(default=None, alias="_meta")
    arguments: Any = None


class McpServerToolCallResponse(WireModel):
    content: list[Any]
    meta: Any = Field(default=None, alias="_meta")
    is_error: bool | None = None
    structured_content: Any = None


class ModelAccessPrograms(WireModel):
    cyber: list[CyberAccessProgram]


class ModelAvailabilityNux(WireModel):
    message: str


class ModelServiceTier(WireModel):
    description: str
    id: str
    name: str


class ModelUpgradeInfo(WireModel):
    model: str
    migration_markdown: str | None = None
    model_link: str | None = None
    retirement_at: int | None = None
    upgrade_copy: str | None = None


MultiAgentVersion = Literal["disabled", "v1", "v2"]


class ReasoningEffortOption(WireModel):
    description: str
    reasoning_effort: ReasoningEffort


class Model(WireModel):
    default_reasoning_effort: ReasoningEffort
    description: str
    display_name: str
    hidden: bool
    id: str
    is_default: bool
    model: str
    supported_reasoning_efforts: list[ReasoningEffortOption]
    additional_speed_tiers: list[str] = Field(default_factory=list)
    availability_nux: ModelAvailabilityNux | None = None
    available_access_programs: ModelAccessPrograms | None = None
    default_service_tier: str | None = None
    input_modalities: list[InputModality] = ["text", "image"]
    model_specialty: str | None = None
    multi_agent_version: MultiAgentVersion | None = None
    service_tiers: list[ModelServiceTier] = Field(default_factory=list)
    supports_personality: bool = False
    upgrade: str | None = None
    upgrade_info: ModelUpgradeInfo | None = None


class ModelListParams(WireModel):
    cursor: str | None = None
    include_hidden: bool | None = None
    limit: int | None = None
    model_provider: str | None = None


class ModelListResponse(WireModel):
    data: list[Model]
    next_cursor: str | None = None


RemoteControlConnectionStatus = Literal["disabled", "connecting", "connected", "errored"]


class RemoteControlStatusChangedNotification(WireModel):
    installation_id: str
    server_name: str
    status: RemoteControlConnectionStatus
    environment_id: str | None = None


class WarningNotification(WireModel):
    thread_id: str | None = None
    message: str


__all__ = [
    "Account", "AccountRateLimitsUpdatedNotification", "AmazonBedrockAccount", "ApiKeyAccount",
    "ChatgptAccount", "CommandExecOutputDeltaNotification", "CommandExecOutputStream",
    "CommandExecParams", "CommandExecResizeParams", "CommandExecResizeResponse",
    "CommandExecResponse", "CommandExecTerminalSize", "CommandExecTerminateParams",
    "CommandExecTerminateResponse", "CommandExecWriteParams", "CommandExecWriteResponse",
    "ConfigWarningNotification", "CreditsSnapshot", "CyberAccessProgram",
    "DeprecationNoticeNotification", "ErrorNotification", "GcpAccount", "GetAccountParams",
    "GetAccountResponse", "InputModality", "McpResourceReadParams", "McpResourceReadResponse",
    "McpResourceReadTarget", "ResourceContentBlob", "McpServerStartupFailureReason", "McpServerStartupState",
    "McpServerStatusUpdatedNotification", "McpServerToolCallParams",
    "McpServerToolCallResponse", "Model", "ModelAccessPrograms", "ModelAvailabilityNux",
    "ModelListParams", "ModelListResponse", "ModelServiceTier", "ModelUpgradeInfo",
    "MultiAgentVersion", "PlanType", "RateLimitReachedType", "RateLimitSnapshot",
    "RateLimitWindow", "ReasoningEffortOption", "RemoteControlConnectionStatus",
    "RemoteControlStatusChangedNotification", "ResourceContent", "ResourceContentMeta",
    "SpendControlLimitSnapshot", "TextPosition", "TextRange", "ThreadShellCommandParams",
    "ThreadShellCommandResponse", "WarningNotification",
]
