"""Wire types of the ``providers`` area (Codex 0.169 schema), and its rows of the method table.

``modelProvider/default/set`` arrived in Codex 0.171, after the 0.169 schema: its types
(:class:`ModelProviderDefaultSetParams` / :class:`ModelProviderDefaultSetResponse`) are
threadline's own, in :data:`THREADLINE_REQUESTS`: params ``{"providerId": str}``, the answer
``{"defaultProviderId": str}``; the id must be a listed provider.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.protocol.v2.common import WireModel


class NoneGatewayAuth(WireModel):
    mode: Literal["none"] = "none"


class EnvironmentVariableGatewayAuth(WireModel):
    mode: Literal["environmentVariable"] = "environmentVariable"
    env_key: str


class ExternallyConfiguredGatewayAuth(WireModel):
    mode: Literal["externallyConfigured"] = "externallyConfigured"
    env_key: str | None = None


GatewayAuth = Annotated[
    NoneGatewayAuth | EnvironmentVariableGatewayAuth | ExternallyConfiguredGatewayAuth,
    Field(discriminator="mode"),
]


class OpenaiProviderSettings(WireModel):
    type: Literal["openai"] = "openai"


class CustomGatewayProviderSettings(WireModel):
    type: Literal["customGateway"] = "customGateway"
    auth: GatewayAuth


ProviderSettings = Annotated[
    OpenaiProviderSettings | CustomGatewayProviderSettings, Field(discriminator="type")
]


class ModelProviderSummary(WireModel):
    id: str
    name: str
    can_edit: bool
    base_url: str | None = None
    settings: ProviderSettings


class ModelProviderListParams(WireModel):
    pass


class ModelProviderListResponse(WireModel):
    data: list[ModelProviderSummary]
    default_provider_id: str
    can_change_default: bool


class ModelProviderCapabilitiesReadParams(WireModel):
    # Codex's params are an empty object; it answers for the default provider. threadline
    # also takes a ``modelProvider`` id (as Codex clients send it) to ask about another one.
    model_provider: str | None = None


class ModelProviderCapabilitiesReadResponse(WireModel):
    image_generation: bool
    web_search: bool


class CustomGatewayProviderSettingsPatch(WireModel):
    """Omitted fields keep their value; an explicit null clears a nullable one."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["customGateway"]
    name: str | None = None
    provider_id: str | None = None
    base_url: str | None = None
    env_key: str | None = None


class BedrockProviderSettingsPatch(WireModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bedrock"]
    provider_id: Literal["amazon-bedrock", "amazon-bedrock-runtime"]
    profile: str | None = None
    region: str | None = None


class GcpProviderSettingsPatch(WireModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["gcp"]
    provider_id: Literal["gcp"]
    credential_file: str | None = None
    location: str | None = None
    project_id: str | None = None


ProviderSettingsPatch = Annotated[
    CustomGatewayProviderSettingsPatch | BedrockProviderSettingsPatch | GcpProviderSettingsPatch,
    Field(discriminator="type"),
]


class ModelProviderConfigWriteParams(WireModel):
    model_config = ConfigDict(extra="forbid")
    settings: ProviderSettingsPatch


class ModelProviderConfigWriteResponse(WireModel):
    provider: ModelProviderSummary


class ModelProviderDefaultSetParams(WireModel):
    """threadline's (Codex 0.171): make ``providerId`` the config's ``model_provider``."""

    provider_id: str


class ModelProviderDefaultSetResponse(WireModel):
    default_provider_id: str


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "modelProvider/list": (ModelProviderListParams, ModelProviderListResponse),
    "modelProvider/capabilities/read": (
        ModelProviderCapabilitiesReadParams,
        ModelProviderCapabilitiesReadResponse,
    ),
    "modelProvider/config/write": (
        ModelProviderConfigWriteParams,
        ModelProviderConfigWriteResponse,
    ),
}
"""Client requests of this area: method -> (params type, response type)."""

THREADLINE_REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "modelProvider/default/set": (ModelProviderDefaultSetParams, ModelProviderDefaultSetResponse),
}
"""Requests newer than the 0.169 schema (Codex 0.171), with threadline's own types."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "BedrockProviderSettingsPatch",
    "CustomGatewayProviderSettings",
    "CustomGatewayProviderSettingsPatch",
    "EnvironmentVariableGatewayAuth",
    "ExternallyConfiguredGatewayAuth",
    "GatewayAuth",
    "GcpProviderSettingsPatch",
    "ModelProviderCapabilitiesReadParams",
    "ModelProviderCapabilitiesReadResponse",
    "ModelProviderConfigWriteParams",
    "ModelProviderConfigWriteResponse",
    "ModelProviderDefaultSetParams",
    "ModelProviderDefaultSetResponse",
    "ModelProviderListParams",
    "ModelProviderListResponse",
    "ModelProviderSummary",
    "NOTIFICATIONS",
    "NoneGatewayAuth",
    "OpenaiProviderSettings",
    "ProviderSettings",
    "ProviderSettingsPatch",
    "REQUESTS",
    "THREADLINE_REQUESTS",
]
