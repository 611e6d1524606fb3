"""The methods threadline does not serve (``protocol/v2/unsupported.py``): an empty list
where the answer is a list, else ``-32600`` ``not supported by threadline: <why>`` with
``data: {"unsupported": "<method>"}``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from threadline.protocol import codes
from threadline.protocol.v2.unsupported import (
    REFUSED,
    AppsInstalledParams,
    AppsInstalledResponse,
    AppsListParams,
    AppsListResponse,
    AppsReadParams,
    AppsReadResponse,
    GetWorkspaceMessagesParams,
    GetWorkspaceMessagesResponse,
    MarketplaceUpgradeParams,
    MarketplaceUpgradeResponse,
    PluginInstalledParams,
    PluginInstalledResponse,
    PluginListParams,
    PluginListResponse,
    PluginReconcileParams,
    PluginReconcileResponse,
    PluginShareListParams,
    PluginShareListResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = ["HANDLERS", "WHY", "refusal"]

_PLUGINS = "plugins and marketplaces are OpenAI's plugin marketplace, which threadline does not use"
_APPS = "apps (connectors) come from OpenAI's ChatGPT apps directory"
_CHATGPT = "it needs a ChatGPT account; threadline logs in with API keys only"
_GATEWAY = (
    "gateway OAuth sign-in is for administrator-managed (ChatGPT Enterprise) gateways; "
    "no threadline provider uses it"
)
_WINDOWS = "the Windows sandbox exists only in Codex for Windows"

WHY: dict[str, str] = {
    "marketplace/add": _PLUGINS,
    "marketplace/remove": _PLUGINS,
    "marketplace/upgrade": _PLUGINS,
    "plugin/read": _PLUGINS,
    "plugin/skill/read": _PLUGINS,
    "plugin/share/save": _PLUGINS,
    "plugin/share/updateTargets": _PLUGINS,
    "plugin/share/checkout": _PLUGINS,
    "plugin/share/delete": _PLUGINS,
    "plugin/install": _PLUGINS,
    "plugin/uninstall": _PLUGINS,
    "account/gatewayOAuth/login": _GATEWAY,
    "account/gatewayOAuth/cancel": _GATEWAY,
    "windowsSandbox/setupStart": _WINDOWS,
    "windowsSandbox/readiness": _WINDOWS,
    "account/securitySetup/read": _CHATGPT,
    "account/rateLimitResetCredit/consume": _CHATGPT,
    "account/sendAddCreditsNudgeEmail": _CHATGPT,
    "feedback/upload": "feedback uploads go to OpenAI; feedback/save writes a local bundle instead",
}
"""Why each refused method is refused (the text after ``not supported by threadline: ``)."""


def refusal(method: str) -> RpcError:
    return RpcError(
        codes.INVALID_REQUEST,
        f"not supported by threadline: {WHY[method]}",
        {"unsupported": method},
    )


def _refuser(
    method: str, params: type[BaseModel], response: type[BaseModel]
) -> Callable[..., Awaitable[BaseModel]]:
    async def refuse(rt: Runtime, ctx: RequestContext, p: BaseModel) -> BaseModel:
        raise refusal(method)

    # The table checks a handler's annotations against the method's types: state them.
    signature = inspect.signature(refuse, eval_str=True)
    *head, last = signature.parameters.values()
    refuse.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*head, last.replace(annotation=params)], return_annotation=response
    )
    return refuse


async def plugin_list(rt: Runtime, ctx: RequestContext, p: PluginListParams) -> PluginListResponse:
    return PluginListResponse(marketplaces=[], marketplace_load_errors=[], featured_plugin_ids=[])


async def plugin_installed(
    rt: Runtime, ctx: RequestContext, p: PluginInstalledParams
) -> PluginInstalledResponse:
    return PluginInstalledResponse(marketplaces=[], marketplace_load_errors=[])


async def plugin_reconcile(
    rt: Runtime, ctx: RequestContext, p: PluginReconcileParams
) -> PluginReconcileResponse:
    return PluginReconcileResponse(
        changed_plugins=[], failed_materialization_remote_plugin_ids=[], failed_remote_plugin_ids=[]
    )


async def plugin_share_list(
    rt: Runtime, ctx: RequestContext, p: PluginShareListParams
) -> PluginShareListResponse:
    return PluginShareListResponse(data=[])


async def marketplace_upgrade(
    rt: Runtime, ctx: RequestContext, p: MarketplaceUpgradeParams
) -> MarketplaceUpgradeResponse:
    if p.marketplace_name is not None:  # no marketplace by that name (there are none)
        raise refusal("marketplace/upgrade")
    return MarketplaceUpgradeResponse(errors=[], selected_marketplaces=[], upgraded_roots=[])


async def app_list(rt: Runtime, ctx: RequestContext, p: AppsListParams) -> AppsListResponse:
    return AppsListResponse(data=[], next_cursor=None)


async def app_installed(
    rt: Runtime, ctx: RequestContext, p: AppsInstalledParams
) -> AppsInstalledResponse:
    return AppsInstalledResponse(apps=[])


async def app_read(rt: Runtime, ctx: RequestContext, p: AppsReadParams) -> AppsReadResponse:
    return AppsReadResponse(apps=[], missing_app_ids=list(dict.fromkeys(p.app_ids)))


async def workspace_messages_read(
    rt: Runtime, ctx: RequestContext, p: GetWorkspaceMessagesParams
) -> GetWorkspaceMessagesResponse:
    return GetWorkspaceMessagesResponse(feature_enabled=False, messages=[])


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "plugin/list": plugin_list,
    "plugin/installed": plugin_installed,
    "plugin/reconcile": plugin_reconcile,
    "plugin/share/list": plugin_share_list,
    "marketplace/upgrade": marketplace_upgrade,
    "app/list": app_list,
    "app/installed": app_installed,
    "app/read": app_read,
    "account/workspaceMessages/read": workspace_messages_read,
    **{method: _refuser(method, *types) for method, types in REFUSED.items()},
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
