"""Wire types of the methods threadline does not serve (Codex 0.169 schema), and their rows
of the method table.

These are tied to a ChatGPT account, to OpenAI's plugin marketplace and apps (connectors),
or to Windows. Where the answer is a list, the handler answers an empty one (the types
below); the others are refused with ``-32600`` ``not supported by threadline: <why>`` and
``data: {"unsupported": <method>}``, so their types only name the schema's definitions:
params are accepted as they come, and the response type is never built.
"""

from typing import Any

from pydantic import BaseModel, create_model

from threadline.protocol.v2.common import WireModel


def _opaque(name: str) -> type[WireModel]:
    """A model named after a schema definition that takes any members (ignored)."""
    return create_model(name, __base__=WireModel, __module__=__name__)


# ---- answered with empty lists -----------------------------------------------------------


class PluginListParams(WireModel):
    cwds: list[str] | None = None


class PluginListResponse(WireModel):
    marketplaces: list[Any]
    marketplace_load_errors: list[Any]
    featured_plugin_ids: list[str]


class PluginInstalledParams(WireModel):
    cwds: list[str] | None = None


class PluginInstalledResponse(WireModel):
    marketplaces: list[Any]
    marketplace_load_errors: list[Any]


class PluginReconcileParams(WireModel):
    reason: str | None = None


class PluginReconcileResponse(WireModel):
    changed_plugins: list[Any]
    failed_materialization_remote_plugin_ids: list[str]
    failed_remote_plugin_ids: list[str]


class PluginShareListParams(WireModel):
    pass


class PluginShareListResponse(WireModel):
    data: list[Any]


class MarketplaceUpgradeParams(WireModel):
    marketplace_name: str | None = None


class MarketplaceUpgradeResponse(WireModel):
    errors: list[Any]
    selected_marketplaces: list[str]
    upgraded_roots: list[str]


class AppsListParams(WireModel):
    cursor: str | None = None
    limit: int | None = None
    thread_id: str | None = None


class AppsListResponse(WireModel):
    data: list[Any]
    next_cursor: str | None = None


class AppsInstalledParams(WireModel):
    thread_id: str | None = None


class AppsInstalledResponse(WireModel):
    apps: list[Any]


class AppsReadParams(WireModel):
    app_ids: list[str]


class AppsReadResponse(WireModel):
    apps: list[Any]
    missing_app_ids: list[str]


class GetWorkspaceMessagesParams(WireModel):
    """``account/workspaceMessages/read`` takes no params (null)."""


class GetWorkspaceMessagesResponse(WireModel):
    feature_enabled: bool
    messages: list[Any]


LISTED: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "plugin/list": (PluginListParams, PluginListResponse),
    "plugin/installed": (PluginInstalledParams, PluginInstalledResponse),
    "plugin/reconcile": (PluginReconcileParams, PluginReconcileResponse),
    "plugin/share/list": (PluginShareListParams, PluginShareListResponse),
    "marketplace/upgrade": (MarketplaceUpgradeParams, MarketplaceUpgradeResponse),
    "app/list": (AppsListParams, AppsListResponse),
    "app/installed": (AppsInstalledParams, AppsInstalledResponse),
    "app/read": (AppsReadParams, AppsReadResponse),
    "account/workspaceMessages/read": (GetWorkspaceMessagesParams, GetWorkspaceMessagesResponse),
}
"""Methods answered with an empty list."""

# ---- refused -----------------------------------------------------------------------------

_REFUSED_NAMES: dict[str, tuple[str, str]] = {
    "marketplace/add": ("MarketplaceAddParams", "MarketplaceAddResponse"),
    "marketplace/remove": ("MarketplaceRemoveParams", "MarketplaceRemoveResponse"),
    "plugin/read": ("PluginReadParams", "PluginReadResponse"),
    "plugin/skill/read": ("PluginSkillReadParams", "PluginSkillReadResponse"),
    "plugin/share/save": ("PluginShareSaveParams", "PluginShareSaveResponse"),
    "plugin/share/updateTargets": (
        "PluginShareUpdateTargetsParams",
        "PluginShareUpdateTargetsResponse",
    ),
    "plugin/share/checkout": ("PluginShareCheckoutParams", "PluginShareCheckoutResponse"),
    "plugin/share/delete": ("PluginShareDeleteParams", "PluginShareDeleteResponse"),
    "plugin/install": ("PluginInstallParams", "PluginInstallResponse"),
    "plugin/uninstall": ("PluginUninstallParams", "PluginUninstallResponse"),
    "account/gatewayOAuth/login": ("GatewayOAuthLoginParams", "GatewayOAuthLoginResponse"),
    "account/gatewayOAuth/cancel": ("GatewayOAuthCancelParams", "GatewayOAuthCancelResponse"),
    "windowsSandbox/setupStart": (
        "WindowsSandboxSetupStartParams",
        "WindowsSandboxSetupStartResponse",
    ),
    "windowsSandbox/readiness": (
        "WindowsSandboxReadinessParams",
        "WindowsSandboxReadinessResponse",
    ),
    "account/securitySetup/read": (
        "GetAccountSecuritySetupParams",
        "GetAccountSecuritySetupResponse",
    ),
    "account/rateLimitResetCredit/consume": (
        "ConsumeAccountRateLimitResetCreditParams",
        "ConsumeAccountRateLimitResetCreditResponse",
    ),
    "account/sendAddCreditsNudgeEmail": (
        "SendAddCreditsNudgeEmailParams",
        "SendAddCreditsNudgeEmailResponse",
    ),
    "feedback/upload": ("FeedbackUploadParams", "FeedbackUploadResponse"),
}

REFUSED: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    method: (_opaque(params), _opaque(response))
    for method, (params, response) in _REFUSED_NAMES.items()
}
"""Methods refused with ``not supported by threadline``."""

REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {**LISTED, **REFUSED}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "LISTED",
    "NOTIFICATIONS",
    "REFUSED",
    "REQUESTS",
    "AppsInstalledParams",
    "AppsInstalledResponse",
    "AppsListParams",
    "AppsListResponse",
    "AppsReadParams",
    "AppsReadResponse",
    "GetWorkspaceMessagesParams",
    "GetWorkspaceMessagesResponse",
    "MarketplaceUpgradeParams",
    "MarketplaceUpgradeResponse",
    "PluginInstalledParams",
    "PluginInstalledResponse",
    "PluginListParams",
    "PluginListResponse",
    "PluginReconcileParams",
    "PluginReconcileResponse",
    "PluginShareListParams",
    "PluginShareListResponse",
]
