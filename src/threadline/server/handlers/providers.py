"""The ``modelProvider`` methods: the list, the capabilities, custom-provider edits and
(Codex 0.171) the default provider (``core.provider_settings``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from threadline.core.provider_settings import (
    ProviderView,
    default_provider,
    list_providers,
    set_default_provider,
    write_custom_provider,
)
from threadline.protocol import codes
from threadline.protocol.v2.providers import (
    CustomGatewayProviderSettings,
    CustomGatewayProviderSettingsPatch,
    EnvironmentVariableGatewayAuth,
    ModelProviderCapabilitiesReadParams,
    ModelProviderCapabilitiesReadResponse,
    ModelProviderConfigWriteParams,
    ModelProviderConfigWriteResponse,
    ModelProviderDefaultSetParams,
    ModelProviderDefaultSetResponse,
    ModelProviderListParams,
    ModelProviderListResponse,
    ModelProviderSummary,
    NoneGatewayAuth,
    OpenaiProviderSettings,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime
from threadline.server.handlers.config import install_config

__all__ = ["HANDLERS"]


def _summary(view: ProviderView) -> ModelProviderSummary:
    if view.builtin_openai:
        settings: OpenaiProviderSettings | CustomGatewayProviderSettings = OpenaiProviderSettings()
    else:
        auth = (
            EnvironmentVariableGatewayAuth(env_key=view.env_key)
            if view.env_key
            else NoneGatewayAuth()
        )
        settings = CustomGatewayProviderSettings(auth=auth)
    return ModelProviderSummary(
        id=view.id,
        name=view.name,
        can_edit=view.can_edit,
        base_url=view.base_url,
        settings=settings,
    )


async def model_provider_list(
    rt: Runtime, ctx: RequestContext, p: ModelProviderListParams
) -> ModelProviderListResponse:
    config = rt.manager.config
    return ModelProviderListResponse(
        data=[_summary(v) for v in list_providers(config)],
        default_provider_id=default_provider(config),
        can_change_default=True,
    )


async def model_provider_capabilities_read(
    rt: Runtime, ctx: RequestContext, p: ModelProviderCapabilitiesReadParams
) -> ModelProviderCapabilitiesReadResponse:
    # threadline offers the model neither an image-generation nor a web-search tool, with
    # any provider: a client must not show either.
    return ModelProviderCapabilitiesReadResponse(image_generation=False, web_search=False)


async def model_provider_config_write(
    rt: Runtime, ctx: RequestContext, p: ModelProviderConfigWriteParams
) -> ModelProviderConfigWriteResponse:
    settings = p.settings
    if not isinstance(settings, CustomGatewayProviderSettingsPatch):
        raise RpcError(
            codes.INVALID_REQUEST,
            f"not supported by threadline: {settings.type} providers (threadline has no "
            "Amazon Bedrock or Google Cloud model client)",
            {"unsupported": "modelProvider/config/write"},
        )
    patch = settings.model_dump(by_alias=True, exclude_unset=True)
    provider_id, result = write_custom_provider(rt.manager.config, patch)
    install_config(rt, result.config)
    view = next(v for v in list_providers(result.config) if v.id == provider_id)
    return ModelProviderConfigWriteResponse(provider=_summary(view))


async def model_provider_default_set(
    rt: Runtime, ctx: RequestContext, p: ModelProviderDefaultSetParams
) -> ModelProviderDefaultSetResponse:
    result = set_default_provider(rt.manager.config, p.provider_id)
    install_config(rt, result.config)
    return ModelProviderDefaultSetResponse(default_provider_id=p.provider_id)


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "modelProvider/list": model_provider_list,
    "modelProvider/capabilities/read": model_provider_capabilities_read,
    "modelProvider/config/write": model_provider_config_write,
    "modelProvider/default/set": model_provider_default_set,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
