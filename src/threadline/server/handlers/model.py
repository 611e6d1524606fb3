"""``model/list``: the models a provider offers, from the model table.

For a remote provider (Responses or Chat Completions) the answer is Codex 0.169's
catalog (``core.model_catalog``) in Codex's order (by priority), hidden models only
with ``includeHidden``, and ``isDefault`` on the model Codex's picker flags (the first
listed one), as Codex answers whatever model the config names. One addition of ours:
when the provider's model (``model`` in the config, else the provider's default) is
not a catalog slug (``mock-model``, ``gpt-oss:20b``), it is listed after the catalog
with the fallback metadata, so a client can find the model it is actually talking to.

For the embedded llama.cpp provider the answer is that one model, flagged default:
the catalog's models cannot run there.

Paging is Codex's: ``cursor`` is the decimal offset of the first entry, ``limit``
(at least 1) caps the page, ``nextCursor`` is the offset after it or ``null``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from threadline.core.errors import InvalidRequest
from threadline.core.model_catalog import ModelInfo, catalog, default_model_slug, model_info
from threadline.protocol.v2.misc import (
    InputModality,
    Model,
    ModelAvailabilityNux,
    ModelListParams,
    ModelListResponse,
    ModelServiceTier,
    ModelUpgradeInfo,
    MultiAgentVersion,
    ReasoningEffortOption,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["model_list"]

_EMBEDDED_EFFORTS = ("low", "medium", "high")
_NO_EFFORT = "medium"
"""What ``defaultReasoningEffort`` (required on the wire) says for a model without one."""


def _embedded(model: str, provider: str) -> Model:
    return Model(
        id=model,
        model=model,
        display_name=model,
        description=f"{model} via the {provider} provider",
        hidden=False,
        is_default=True,
        default_reasoning_effort="medium",
        supported_reasoning_efforts=[
            ReasoningEffortOption(reasoning_effort=e, description=f"{e} reasoning effort")
            for e in _EMBEDDED_EFFORTS
        ],
        input_modalities=["text"],
        supports_personality=False,
        additional_speed_tiers=[],
        service_tiers=[],
    )


def wire_model(info: ModelInfo, *, is_default: bool) -> Model:
    """One ``model/list`` entry, with the fields Codex fills from the same metadata."""
    upgrade = info.upgrade
    return Model(
        id=info.slug,
        model=info.slug,
        display_name=info.display_name,
        description=info.description or "",
        hidden=info.hidden,
        is_default=is_default,
        default_reasoning_effort=info.default_reasoning_effort or _NO_EFFORT,
        supported_reasoning_efforts=[
            ReasoningEffortOption(reasoning_effort=e.effort, description=e.description)
            for e in info.supported_reasoning_efforts
        ],
        input_modalities=[cast(InputModality, m) for m in info.input_modalities],
        supports_personality=False,
        multi_agent_version=cast(MultiAgentVersion | None, info.multi_agent_version),
        additional_speed_tiers=list(info.additional_speed_tiers),
        service_tiers=[
            ModelServiceTier(id=t.id, name=t.name, description=t.description)
            for t in info.service_tiers
        ],
        default_service_tier=info.default_service_tier,
        model_specialty=info.model_specialty,
        availability_nux=(
            ModelAvailabilityNux(message=info.availability_nux) if info.availability_nux else None
        ),
        upgrade=upgrade.model if upgrade else None,
        upgrade_info=(
            ModelUpgradeInfo(
                model=upgrade.model,
                migration_markdown=upgrade.migration_markdown,
                model_link=upgrade.model_link,
                retirement_at=upgrade.retirement_at,
                upgrade_copy=upgrade.upgrade_copy,
            )
            if upgrade
            else None
        ),
    )


def _page(models: list[Model], p: ModelListParams) -> ModelListResponse:
    start = 0
    if p.cursor is not None:
        if not p.cursor.isdigit():
            raise InvalidRequest(f"invalid cursor: {p.cursor}")
        start = int(p.cursor)
        if start > len(models):
            raise InvalidRequest(f"cursor {start} exceeds total models {len(models)}")
    end = len(models) if p.limit is None else min(len(models), start + max(1, p.limit))
    return ModelListResponse(
        data=models[start:end], next_cursor=str(end) if end < len(models) else None
    )


async def model_list(rt: Runtime, ctx: RequestContext, p: ModelListParams) -> ModelListResponse:
    manager = rt.manager
    provider = p.model_provider or manager.default_provider_id()
    model = manager.default_model(provider)
    if manager.setup.is_embedded(provider):
        return _page([_embedded(model, provider)], p)
    default = default_model_slug()
    known = catalog()
    models = [
        wire_model(info, is_default=info.slug == default)
        for info in known
        if p.include_hidden or not info.hidden
    ]
    if all(info.slug != model for info in known):
        listed = replace(model_info(model), visibility="list")
        models.append(wire_model(listed, is_default=False))
    return _page(models, p)
