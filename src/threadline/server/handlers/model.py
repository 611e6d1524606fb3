"""``model/list``: the configured provider's default model."""

from __future__ import annotations

from threadline.protocol.v2.misc import (
    Model,
    ModelListParams,
    ModelListResponse,
    ReasoningEffortOption,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["model_list"]

_EFFORTS = ("low", "medium", "high")


def _model(model: str, provider: str, *, is_default: bool) -> Model:
    return Model(
        id=model,
        model=model,
        display_name=model,
        description=f"{model} via the {provider} provider",
        hidden=False,
        is_default=is_default,
        default_reasoning_effort="medium",
        supported_reasoning_efforts=[
            ReasoningEffortOption(reasoning_effort=e, description=f"{e} reasoning effort")
            for e in _EFFORTS
        ],
        input_modalities=["text"],
        supports_personality=False,
        additional_speed_tiers=[],
        service_tiers=[],
    )


async def model_list(rt: Runtime, ctx: RequestContext, p: ModelListParams) -> ModelListResponse:
    provider = p.model_provider or rt.manager.default_provider_id()
    model = rt.manager.default_model(provider)
    return ModelListResponse(data=[_model(model, provider, is_default=True)], next_cursor=None)
