"""``model/list`` and ``config/read``."""

from __future__ import annotations

from typing import Any

from threadline.protocol.v2.config import ConfigReadParams
from threadline.protocol.v2.misc import ModelListParams
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers.common import Runtime, core_errors

_EFFORTS = ("low", "medium", "high")


def _model_entry(model: str, provider: str, *, is_default: bool) -> dict[str, Any]:
    return {
        "id": model,
        "model": model,
        "displayName": model,
        "description": f"{model} via the {provider} provider",
        "hidden": False,
        "isDefault": is_default,
        "defaultReasoningEffort": "medium",
        "supportedReasoningEfforts": [
            {"reasoningEffort": e, "description": f"{e} reasoning effort"} for e in _EFFORTS
        ],
        "inputModalities": ["text"],
        "supportsPersonality": False,
        "additionalSpeedTiers": [],
        "serviceTiers": [],
    }


def register_meta(table: MethodTable, rt: Runtime) -> None:
    @core_errors
    async def model_list(ctx: RequestContext, p: ModelListParams) -> dict[str, Any]:
        provider = p.model_provider or rt.manager.default_provider_id()
        model = rt.manager.default_model(provider)
        return {"data": [_model_entry(model, provider, is_default=True)], "nextCursor": None}

    async def config_read(ctx: RequestContext, p: ConfigReadParams) -> dict[str, Any]:
        return {"config": rt.manager.config.to_json(), "origins": {}, "layers": None}

    table.register("model/list", ModelListParams, model_list)
    table.register("config/read", ConfigReadParams, config_read)
