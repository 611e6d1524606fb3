"""The ``config/read`` request and the effective configuration it returns.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.settings import (
    AbsolutePathBuf,
    ApprovalsReviewer,
    AskForApproval,
    ReasoningEffort,
    ReasoningSummary,
    SandboxMode,
)

AllowDenyRequirement = Literal["allow", "deny"]


class AnalyticsConfig(WireModel):
    enabled: bool | None = None


AutoCompactTokenLimitScope = Literal["total", "body_after_prefix"]


class BrowserUseOriginPolicyConfig(WireModel):
    access: AllowDenyRequirement | None = None
    downloads: AllowDenyRequirement | None = None
    full_cdp_access: AllowDenyRequirement | None = Field(default=None, alias="full_cdp_access")
    uploads: AllowDenyRequirement | None = None


class BrowserUseConfig(WireModel):
    allow_history_access: bool | None = Field(default=None, alias="allow_history_access")
    default_origin_policy: BrowserUseOriginPolicyConfig | None = Field(
        default=None, alias="default_origin_policy"
    )
    origins: dict[str, BrowserUseOriginPolicyConfig] | None = None


class ComputerUseMacosConfig(WireModel):
    bundle_ids: dict[str, AllowDenyRequirement] | None = Field(default=None, alias="bundle_ids")


class ComputerUseWindowsExeConfig(WireModel):
    access: AllowDenyRequirement
    product_name: str = Field(alias="product_name")
    publisher_name: str = Field(alias="publisher_name")
    binary_name: str | None = Field(default=None, alias="binary_name")


class ComputerUseWindowsConfig(WireModel):
    aumids: dict[str, AllowDenyRequirement] | None = None
    exes: list[ComputerUseWindowsExeConfig] | None = None


class ComputerUseConfig(WireModel):
    default_app_access: AllowDenyRequirement | None = Field(
        default=None, alias="default_app_access"
    )
    macos: ComputerUseMacosConfig | None = None
    windows: ComputerUseWindowsConfig | None = None


ForcedChatgptWorkspaceIds = str | list[str]


ForcedLoginMethod = Literal["chatgpt", "api"]


class SandboxWorkspaceWrite(WireModel):
    exclude_slash_tmp: bool = Field(default=False, alias="exclude_slash_tmp")
    exclude_tmpdir_env_var: bool = Field(default=False, alias="exclude_tmpdir_env_var")
    network_access: bool = Field(default=False, alias="network_access")
    writable_roots: list[str] = Field(default_factory=list, alias="writable_roots")


WebSearchContextSize = Literal["low", "medium", "high"]


class WebSearchLocation(WireModel):
    city: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None


class WebSearchToolConfig(WireModel):
    allowed_domains: list[str] | None = Field(default=None, alias="allowed_domains")
    context_size: WebSearchContextSize | None = Field(default=None, alias="context_size")
    location: WebSearchLocation | None = None


class ToolsV2(WireModel):
    web_search: WebSearchToolConfig | None = Field(default=None, alias="web_search")


Verbosity = Literal["low", "medium", "high"]


WebSearchMode = Literal["disabled", "cached", "indexed", "live"]


WebSearchProvider = Literal["standalone", "search_mcp"]


class Config(WireModel):
    analytics: AnalyticsConfig | None = None
    approval_policy: AskForApproval | None = Field(default=None, alias="approval_policy")
    approvals_reviewer: ApprovalsReviewer | None = Field(default=None, alias="approvals_reviewer")
    browser_use: BrowserUseConfig | None = Field(default=None, alias="browser_use")
    client_search_provider: WebSearchProvider | None = Field(
        default=None, alias="client_search_provider"
    )
    compact_prompt: str | None = Field(default=None, alias="compact_prompt")
    computer_use: ComputerUseConfig | None = Field(default=None, alias="computer_use")
    desktop: dict[str, Any] | None = None
    developer_instructions: str | None = Field(default=None, alias="developer_instructions")
    forced_chatgpt_workspace_id: ForcedChatgptWorkspaceIds | None = Field(
        default=None, alias="forced_chatgpt_workspace_id"
    )
    forced_login_method: ForcedLoginMethod | None = Field(default=None, alias="forced_login_method")
    instructions: str | None = None
    model: str | None = None
    model_auto_compact_token_limit: int | None = Field(
        default=None, alias="model_auto_compact_token_limit"
    )
    model_auto_compact_token_limit_scope: AutoCompactTokenLimitScope | None = Field(
        default=None, alias="model_auto_compact_token_limit_scope"
    )
    model_context_window: int | None = Field(default=None, alias="model_context_window")
    model_provider: str | None = Field(default=None, alias="model_provider")
    model_reasoning_effort: ReasoningEffort | None = Field(
        default=None, alias="model_reasoning_effort"
    )
    model_reasoning_summary: ReasoningSummary | None = Field(
        default=None, alias="model_reasoning_summary"
    )
    model_verbosity: Verbosity | None = Field(default=None, alias="model_verbosity")
    review_model: str | None = Field(default=None, alias="review_model")
    sandbox_mode: SandboxMode | None = Field(default=None, alias="sandbox_mode")
    sandbox_workspace_write: SandboxWorkspaceWrite | None = Field(
        default=None, alias="sandbox_workspace_write"
    )
    service_tier: str | None = Field(default=None, alias="service_tier")
    tools: ToolsV2 | None = None
    web_search: WebSearchMode | None = Field(default=None, alias="web_search")


class EnterpriseManagedConfigLayerSource(WireModel):
    id: str
    name: str
    type: Literal["enterpriseManaged"] = "enterpriseManaged"


class LegacyManagedConfigTomlFromFileConfigLayerSource(WireModel):
    file: AbsolutePathBuf
    type: Literal["legacyManagedConfigTomlFromFile"] = "legacyManagedConfigTomlFromFile"


class LegacyManagedConfigTomlFromMdmConfigLayerSource(WireModel):
    type: Literal["legacyManagedConfigTomlFromMdm"] = "legacyManagedConfigTomlFromMdm"


class MdmConfigLayerSource(WireModel):
    domain: str
    key: str
    type: Literal["mdm"] = "mdm"


class PackagedDefaultsConfigLayerSource(WireModel):
    file: AbsolutePathBuf
    type: Literal["packagedDefaults"] = "packagedDefaults"


class ProjectConfigLayerSource(WireModel):
    dot_codex_folder: AbsolutePathBuf
    type: Literal["project"] = "project"


class SessionFlagsConfigLayerSource(WireModel):
    type: Literal["sessionFlags"] = "sessionFlags"


class SystemConfigLayerSource(WireModel):
    file: AbsolutePathBuf
    type: Literal["system"] = "system"


class UserConfigLayerSource(WireModel):
    file: AbsolutePathBuf
    type: Literal["user"] = "user"
    profile: str | None = None


ConfigLayerSource = Annotated[
    PackagedDefaultsConfigLayerSource
    | MdmConfigLayerSource
    | SystemConfigLayerSource
    | EnterpriseManagedConfigLayerSource
    | UserConfigLayerSource
    | ProjectConfigLayerSource
    | SessionFlagsConfigLayerSource
    | LegacyManagedConfigTomlFromFileConfigLayerSource
    | LegacyManagedConfigTomlFromMdmConfigLayerSource,
    Field(discriminator="type"),
]


class ConfigLayer(WireModel):
    config: Any = None
    name: ConfigLayerSource
    version: str
    disabled_reason: str | None = None


class ConfigLayerMetadata(WireModel):
    name: ConfigLayerSource
    version: str


class ConfigReadParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"include_layers"})
    cwd: str | None = None
    include_layers: bool | None = None


class ConfigReadResponse(WireModel):
    # The effective config document as it is (the schema's ``Config`` is an open object:
    # ``additionalProperties: true``); :class:`Config` is the typed view of its known keys.
    config: dict[str, Any]
    origins: dict[str, ConfigLayerMetadata]
    layers: list[ConfigLayer] | None = None


# ---- writes (config/value/write, config/batchWrite) ----------------------------------------

MergeStrategy = Literal["replace", "upsert"]
WriteStatus = Literal["ok", "okOverridden"]


class ConfigEdit(WireModel):
    key_path: str
    merge_strategy: MergeStrategy
    value: Any


class ConfigValueWriteParams(WireModel):
    key_path: str
    merge_strategy: MergeStrategy
    value: Any
    expected_version: str | None = None
    file_path: str | None = None


class ConfigBatchWriteParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"reload_user_config"})
    edits: list[ConfigEdit]
    expected_version: str | None = None
    file_path: str | None = None
    reload_user_config: bool | None = None


class OverriddenMetadata(WireModel):
    effective_value: Any = None
    message: str
    overriding_layer: ConfigLayerMetadata


class ConfigWriteResponse(WireModel):
    file_path: AbsolutePathBuf
    status: WriteStatus
    version: str
    overridden_metadata: OverriddenMetadata | None = None


# ---- requirements, features, permission profiles -----------------------------------------


class ConfigRequirementsReadParams(WireModel):
    """``configRequirements/read`` takes no params (null)."""


class ConfigRequirementsReadResponse(WireModel):
    # No managed requirements (requirements.toml / MDM) exist in threadline: always null.
    requirements: dict[str, Any] | None = None
    supports_independent_speed_modes: bool | None = None


ExperimentalFeatureStage = Literal["beta", "underDevelopment", "stable", "deprecated", "removed"]


class ExperimentalFeature(WireModel):
    name: str
    stage: ExperimentalFeatureStage
    display_name: str | None = None
    description: str | None = None
    announcement: str | None = None
    enabled: bool
    default_enabled: bool


class ExperimentalFeatureListParams(WireModel):
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=0)
    thread_id: str | None = None


class ExperimentalFeatureListResponse(WireModel):
    data: list[ExperimentalFeature]
    next_cursor: str | None = None


class ExperimentalFeatureEnablementSetParams(WireModel):
    enablement: dict[str, bool]


class ExperimentalFeatureEnablementSetResponse(WireModel):
    enablement: dict[str, bool]


class PermissionProfileListParams(WireModel):
    cursor: str | None = None
    cwd: str | None = None
    limit: int | None = Field(default=None, ge=0)


class PermissionProfileSummary(WireModel):
    id: str
    description: str | None = None
    allowed: bool


class PermissionProfileListResponse(WireModel):
    data: list[PermissionProfileSummary]
    next_cursor: str | None = None


# ---- importing another agent's config (externalAgentConfig/*) ---------------------------

ExternalAgentConfigMigrationItemType = Literal[
    "AGENTS_MD", "CONFIG", "SKILLS", "PLUGINS", "MCP_SERVER_CONFIG", "SUBAGENTS", "HOOKS",
    "COMMANDS", "MEMORY", "SESSIONS",
]


class NamedMigration(WireModel):
    name: str


class MigrationDetails(WireModel):
    commands: list[Any] = Field(default_factory=list)
    hooks: list[Any] = Field(default_factory=list)
    mcp_servers: list[NamedMigration] = Field(default_factory=list)
    plugins: list[Any] = Field(default_factory=list)
    sessions: list[Any] = Field(default_factory=list)
    skills: list[NamedMigration] = Field(default_factory=list)
    subagents: list[Any] = Field(default_factory=list)


class ExternalAgentConfigMigrationItem(WireModel):
    item_type: ExternalAgentConfigMigrationItemType
    description: str
    cwd: str | None = None
    details: MigrationDetails | None = None


class ExternalAgentConfigDetectParams(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"include_home"})
    cwds: list[str] | None = None
    include_home: bool | None = None
    max_session_age_days: int | None = Field(default=None, ge=0)
    max_sessions: int | None = Field(default=None, ge=0)
    migration_source: str | None = None
    source: str | None = None


class ExternalAgentConfigDetectResponse(WireModel):
    items: list[ExternalAgentConfigMigrationItem]
    connectors: list[Any] = Field(default_factory=list)


class ExternalAgentConfigImportParams(WireModel):
    migration_items: list[ExternalAgentConfigMigrationItem]
    migration_source: str | None = None
    provider_id: str | None = None
    source: str | None = None


class ExternalAgentConfigImportResponse(WireModel):
    import_id: str


class ExternalAgentConfigImportItemTypeSuccess(WireModel):
    item_type: ExternalAgentConfigMigrationItemType
    cwd: str | None = None
    source: str | None = None
    target: str | None = None
    title: str | None = None


class ExternalAgentConfigImportItemTypeFailure(WireModel):
    item_type: ExternalAgentConfigMigrationItemType
    failure_stage: str
    message: str
    cwd: str | None = None
    error_type: str | None = None
    source: str | None = None
    sub_error_type: str | None = None


class ExternalAgentConfigImportTypeResult(WireModel):
    item_type: ExternalAgentConfigMigrationItemType
    successes: list[ExternalAgentConfigImportItemTypeSuccess]
    failures: list[ExternalAgentConfigImportItemTypeFailure]


class ExternalAgentConfigImportCompletedNotification(WireModel):
    import_id: str
    item_type_results: list[ExternalAgentConfigImportTypeResult]


class ExternalAgentConfigImportHistoryRecordTypeResultParams(WireModel):
    item_type: ExternalAgentConfigMigrationItemType
    successes: list[ExternalAgentConfigImportItemTypeSuccess]
    failures: list[ExternalAgentConfigImportItemTypeFailure]


class ExternalAgentConfigImportHistoryRecordParams(WireModel):
    item_type_results: list[ExternalAgentConfigImportHistoryRecordTypeResultParams]
    provider_id: str


class ExternalAgentConfigImportHistoryRecordResponse(WireModel):
    import_id: str


class ExternalAgentConfigImportHistoriesReadParams(WireModel):
    """``externalAgentConfig/import/readHistories`` takes no params (null)."""


class ExternalAgentConfigImportHistory(WireModel):
    import_id: str
    completed_at_ms: int
    provider_id: str | None = None
    successes: list[ExternalAgentConfigImportItemTypeSuccess]
    failures: list[ExternalAgentConfigImportItemTypeFailure]


class ExternalAgentConfigImportHistoriesReadResponse(WireModel):
    data: list[ExternalAgentConfigImportHistory]
    connectors: list[Any] = Field(default_factory=list)


REQUESTS: dict[str, tuple[type[WireModel], type[WireModel]]] = {
    "config/read": (ConfigReadParams, ConfigReadResponse),
    "config/value/write": (ConfigValueWriteParams, ConfigWriteResponse),
    "config/batchWrite": (ConfigBatchWriteParams, ConfigWriteResponse),
    "configRequirements/read": (ConfigRequirementsReadParams, ConfigRequirementsReadResponse),
    "experimentalFeature/list": (ExperimentalFeatureListParams, ExperimentalFeatureListResponse),
    "experimentalFeature/enablement/set": (
        ExperimentalFeatureEnablementSetParams,
        ExperimentalFeatureEnablementSetResponse,
    ),
    "permissionProfile/list": (PermissionProfileListParams, PermissionProfileListResponse),
    "externalAgentConfig/detect": (
        ExternalAgentConfigDetectParams,
        ExternalAgentConfigDetectResponse,
    ),
    "externalAgentConfig/import": (
        ExternalAgentConfigImportParams,
        ExternalAgentConfigImportResponse,
    ),
    "externalAgentConfig/import/recordHistory": (
        ExternalAgentConfigImportHistoryRecordParams,
        ExternalAgentConfigImportHistoryRecordResponse,
    ),
    "externalAgentConfig/import/readHistories": (
        ExternalAgentConfigImportHistoriesReadParams,
        ExternalAgentConfigImportHistoriesReadResponse,
    ),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[WireModel]] = {
    "externalAgentConfig/import/completed": ExternalAgentConfigImportCompletedNotification,
}


__all__ = [
    "AllowDenyRequirement", "AnalyticsConfig", "AutoCompactTokenLimitScope",
    "BrowserUseConfig", "BrowserUseOriginPolicyConfig", "ComputerUseConfig",
    "ComputerUseMacosConfig", "ComputerUseWindowsConfig", "ComputerUseWindowsExeConfig",
    "Config", "ConfigLayer", "ConfigLayerMetadata", "ConfigLayerSource", "ConfigReadParams",
    "ConfigReadResponse", "EnterpriseManagedConfigLayerSource", "ForcedChatgptWorkspaceIds",
    "ForcedLoginMethod", "LegacyManagedConfigTomlFromFileConfigLayerSource",
    "LegacyManagedConfigTomlFromMdmConfigLayerSource", "MdmConfigLayerSource",
    "PackagedDefaultsConfigLayerSource", "ProjectConfigLayerSource", "SandboxWorkspaceWrite",
    "SessionFlagsConfigLayerSource", "SystemConfigLayerSource", "ToolsV2",
    "UserConfigLayerSource", "Verbosity", "WebSearchContextSize", "WebSearchLocation",
    "WebSearchMode", "WebSearchProvider", "WebSearchToolConfig",
    "ConfigBatchWriteParams", "ConfigEdit", "ConfigRequirementsReadParams",
    "ConfigRequirementsReadResponse", "ConfigValueWriteParams", "ConfigWriteResponse",
    "ExperimentalFeature", "ExperimentalFeatureEnablementSetParams",
    "ExperimentalFeatureEnablementSetResponse", "ExperimentalFeatureListParams",
    "ExperimentalFeatureListResponse", "ExperimentalFeatureStage", "MergeStrategy",
    "OverriddenMetadata", "PermissionProfileListParams", "PermissionProfileListResponse",
    "PermissionProfileSummary", "WriteStatus",
    "ExternalAgentConfigDetectParams", "ExternalAgentConfigDetectResponse",
    "ExternalAgentConfigImportCompletedNotification", "ExternalAgentConfigImportHistoriesReadParams",
    "ExternalAgentConfigImportHistoriesReadResponse", "ExternalAgentConfigImportHistory",
    "ExternalAgentConfigImportHistoryRecordParams",
    "ExternalAgentConfigImportHistoryRecordResponse",
    "ExternalAgentConfigImportHistoryRecordTypeResultParams",
    "ExternalAgentConfigImportItemTypeFailure", "ExternalAgentConfigImportItemTypeSuccess",
    "ExternalAgentConfigImportParams", "ExternalAgentConfigImportResponse",
    "ExternalAgentConfigImportTypeResult", "ExternalAgentConfigMigrationItem",
    "ExternalAgentConfigMigrationItemType", "MigrationDetails", "NamedMigration",
]
