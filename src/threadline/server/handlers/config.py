"""The ``config`` methods: ``config/read``, the writes (``config/value/write``,
``config/batchWrite``), ``configRequirements/read``, the experimental features, the
permission profiles, and importing another agent's config (``externalAgentConfig/*``,
``core.external_agents``).

A write edits the user's ``config.toml`` (``core.config_write``) and installs the reloaded
config for the threads started after it; threads already loaded keep the settings they
started with.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

from threadline.core import external_agents
from threadline.core.config import Config, ConfigError
from threadline.core.config_write import (
    Edit,
    Layer,
    layers,
    leaf_keys,
    reload_config,
    write_edits,
)
from threadline.core.errors import InvalidRequest
from threadline.core.features import FEATURES, feature_enabled, runtime_toggle
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.config import (
    ConfigBatchWriteParams,
    ConfigLayer,
    ConfigLayerMetadata,
    ConfigReadParams,
    ConfigReadResponse,
    ConfigRequirementsReadParams,
    ConfigRequirementsReadResponse,
    ConfigValueWriteParams,
    ConfigWriteResponse,
    ExperimentalFeature,
    ExperimentalFeatureEnablementSetParams,
    ExperimentalFeatureEnablementSetResponse,
    ExperimentalFeatureListParams,
    ExperimentalFeatureListResponse,
    ExternalAgentConfigDetectParams,
    ExternalAgentConfigDetectResponse,
    ExternalAgentConfigImportCompletedNotification,
    ExternalAgentConfigImportHistoriesReadParams,
    ExternalAgentConfigImportHistoriesReadResponse,
    ExternalAgentConfigImportHistory,
    ExternalAgentConfigImportHistoryRecordParams,
    ExternalAgentConfigImportHistoryRecordResponse,
    ExternalAgentConfigImportItemTypeFailure,
    ExternalAgentConfigImportItemTypeSuccess,
    ExternalAgentConfigImportParams,
    ExternalAgentConfigImportResponse,
    ExternalAgentConfigImportTypeResult,
    ExternalAgentConfigMigrationItem,
    MigrationDetails,
    NamedMigration,
    OverriddenMetadata,
    PermissionProfileListParams,
    PermissionProfileListResponse,
    PermissionProfileSummary,
    SessionFlagsConfigLayerSource,
    UserConfigLayerSource,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["HANDLERS", "install_config", "page"]

T = TypeVar("T")

PERMISSION_PROFILES = (":read-only", ":workspace", ":danger-full-access")
"""Codex's built-in permission profiles (read-only, workspace-write, full access), in its order."""


def install_config(rt: Runtime, config: Config) -> None:
    """Make ``config`` the one new threads (and ``config/read``) see."""
    rt.manager.config = config
    rt.manager.setup.config = config


def page(items: Sequence[T], cursor: str | None, limit: int | None) -> tuple[list[T], str | None]:
    """One page of ``items``: the cursor is the offset of its first item, as Codex's is."""
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidRequest(f"invalid cursor: {cursor}") from None
    if start < 0 or start > len(items):
        raise InvalidRequest(f"invalid cursor: {cursor}")
    end = len(items) if limit is None or limit == 0 else min(len(items), start + limit)
    return list(items[start:end]), (str(end) if end < len(items) else None)


async def config_read(rt: Runtime, ctx: RequestContext, p: ConfigReadParams) -> ConfigReadResponse:
    config = rt.manager.config
    found = layers(config)
    metas = {id(layer): _layer_meta(layer, config) for layer in found}
    origins: dict[str, ConfigLayerMetadata] = {}
    for layer in reversed(found):  # lowest first: a higher layer's key replaces it
        for key in leaf_keys(layer.tree):
            origins[key] = metas[id(layer)]
    wire_layers = None
    if p.include_layers:
        wire_layers = [
            ConfigLayer(config=layer.tree, name=metas[id(layer)].name, version=layer.version)
            for layer in found
        ]
    return ConfigReadResponse(config=config.to_json(), origins=origins, layers=wire_layers)


def _layer_meta(layer: Layer, config: Config) -> ConfigLayerMetadata:
    if layer.kind == "sessionFlags":
        return ConfigLayerMetadata(name=SessionFlagsConfigLayerSource(), version=layer.version)
    source = UserConfigLayerSource(file=str(layer.file), profile=config.profile)
    return ConfigLayerMetadata(name=source, version=layer.version)


def _write(
    rt: Runtime, edits: list[Edit], expected: str | None, path: str | None
) -> ConfigWriteResponse:
    result = write_edits(rt.manager.config, edits, expected_version=expected, file_path=path)
    install_config(rt, result.config)
    if result.overridden is None:
        return ConfigWriteResponse(
            file_path=str(result.file_path), status="ok", version=result.version
        )
    _key, effective = result.overridden
    layer = ConfigLayerMetadata(
        name=SessionFlagsConfigLayerSource(), version=result.overrides_version
    )
    return ConfigWriteResponse(
        file_path=str(result.file_path),
        status="okOverridden",
        version=result.version,
        overridden_metadata=OverriddenMetadata(
            effective_value=effective,
            message="Overridden by session flags",
            overriding_layer=layer,
        ),
    )


async def config_value_write(
    rt: Runtime, ctx: RequestContext, p: ConfigValueWriteParams
) -> ConfigWriteResponse:
    edit = Edit(p.key_path, p.value, p.merge_strategy)
    return _write(rt, [edit], p.expected_version, p.file_path)


async def config_batch_write(
    rt: Runtime, ctx: RequestContext, p: ConfigBatchWriteParams
) -> ConfigWriteResponse:
    edits = [Edit(e.key_path, e.value, e.merge_strategy) for e in p.edits]
    return _write(rt, edits, p.expected_version, p.file_path)


async def config_requirements_read(
    rt: Runtime, ctx: RequestContext, p: ConfigRequirementsReadParams
) -> ConfigRequirementsReadResponse:
    # threadline reads no managed requirements (requirements.toml, MDM): nothing is enforced.
    return ConfigRequirementsReadResponse(requirements=None, supports_independent_speed_modes=True)


async def experimental_feature_list(
    rt: Runtime, ctx: RequestContext, p: ExperimentalFeatureListParams
) -> ExperimentalFeatureListResponse:
    if p.thread_id is not None:
        rt.manager.get(p.thread_id)  # an unknown thread is an error; loaded ones share the config
    config = rt.manager.config
    data = [
        ExperimentalFeature(
            name=f.name,
            stage=f.stage,
            display_name=f.display_name,
            description=f.description,
            announcement="" if f.stage == "beta" else None,
            enabled=feature_enabled(config, f),
            default_enabled=f.default,
        )
        for f in FEATURES
    ]
    items, cursor = page(data, p.cursor, p.limit)
    return ExperimentalFeatureListResponse(data=items, next_cursor=cursor)


async def experimental_feature_enablement_set(
    rt: Runtime, ctx: RequestContext, p: ExperimentalFeatureEnablementSetParams
) -> ExperimentalFeatureEnablementSetResponse:
    applied = {name: on for name, on in p.enablement.items() if runtime_toggle(name) is not None}
    if applied:
        flags = [f"features.{name}={'true' if on else 'false'}" for name, on in applied.items()]
        try:
            install_config(rt, reload_config(rt.manager.config, flags))
        except ConfigError as exc:
            raise InvalidRequest(f"cannot apply the features: {exc}") from exc
    return ExperimentalFeatureEnablementSetResponse(enablement=applied)


async def permission_profile_list(
    rt: Runtime, ctx: RequestContext, p: PermissionProfileListParams
) -> PermissionProfileListResponse:
    data = [
        PermissionProfileSummary(id=i, description=None, allowed=True) for i in PERMISSION_PROFILES
    ]
    items, cursor = page(data, p.cursor, p.limit)
    return PermissionProfileListResponse(data=items, next_cursor=cursor)


# ---- externalAgentConfig/* ------------------------------------------------------------------


def _wire_item(item: external_agents.DetectedItem) -> ExternalAgentConfigMigrationItem:
    details = None
    if item.skills or item.mcp_servers:
        details = MigrationDetails(
            skills=[NamedMigration(name=n) for n in item.skills],
            mcp_servers=[NamedMigration(name=n) for n in item.mcp_servers],
        )
    return ExternalAgentConfigMigrationItem.model_validate(
        {"itemType": item.item_type, "description": item.description, "cwd": item.cwd}
        | ({"details": details} if details is not None else {})
    )


def _results(
    outcomes: Sequence[external_agents.ItemOutcome],
) -> list[ExternalAgentConfigImportTypeResult]:
    by_type: dict[str, ExternalAgentConfigImportTypeResult] = {}
    for o in outcomes:
        result = by_type.setdefault(
            o.item_type,
            ExternalAgentConfigImportTypeResult.model_validate(
                {"itemType": o.item_type, "successes": [], "failures": []}
            ),
        )
        if o.error is None:
            result.successes.append(
                ExternalAgentConfigImportItemTypeSuccess.model_validate(
                    {"itemType": o.item_type, "cwd": o.cwd, "source": o.source, "target": o.target}
                )
            )
        else:
            result.failures.append(
                ExternalAgentConfigImportItemTypeFailure.model_validate(
                    {
                        "itemType": o.item_type,
                        "cwd": o.cwd,
                        "failureStage": "import",
                        "message": o.error,
                        "source": o.source,
                    }
                )
            )
    return list(by_type.values())


async def external_agent_config_detect(
    rt: Runtime, ctx: RequestContext, p: ExternalAgentConfigDetectParams
) -> ExternalAgentConfigDetectResponse:
    items = external_agents.detect(
        rt.manager.config, include_home=bool(p.include_home), cwds=p.cwds or ()
    )
    return ExternalAgentConfigDetectResponse(items=[_wire_item(i) for i in items], connectors=[])


async def external_agent_config_import(
    rt: Runtime, ctx: RequestContext, p: ExternalAgentConfigImportParams
) -> ExternalAgentConfigImportResponse:
    wanted = [
        external_agents.DetectedItem(i.item_type, i.description, i.cwd) for i in p.migration_items
    ]
    config, record = external_agents.import_items(rt.manager.config, wanted, p.provider_id)
    if config is not rt.manager.config:
        install_config(rt, config)
    external_agents.remember(rt.manager.home, record)
    done = ExternalAgentConfigImportCompletedNotification(
        import_id=record.import_id, item_type_results=_results(record.outcomes)
    )
    ctx.after_response(
        lambda: rt.broadcast("externalAgentConfig/import/completed", dump_wire(done))
    )
    return ExternalAgentConfigImportResponse(import_id=record.import_id)


async def external_agent_config_record_history(
    rt: Runtime, ctx: RequestContext, p: ExternalAgentConfigImportHistoryRecordParams
) -> ExternalAgentConfigImportHistoryRecordResponse:
    outcomes = [
        external_agents.ItemOutcome(s.item_type, s.cwd, s.source, s.target)
        for r in p.item_type_results
        for s in r.successes
    ] + [
        external_agents.ItemOutcome(f.item_type, f.cwd, f.source, None, f.message)
        for r in p.item_type_results
        for f in r.failures
    ]
    record = external_agents.ImportRecord(
        uuid.uuid4().hex, int(time.time() * 1000), p.provider_id, tuple(outcomes)
    )
    external_agents.remember(rt.manager.home, record)
    return ExternalAgentConfigImportHistoryRecordResponse(import_id=record.import_id)


async def external_agent_config_read_histories(
    rt: Runtime, ctx: RequestContext, p: ExternalAgentConfigImportHistoriesReadParams
) -> ExternalAgentConfigImportHistoriesReadResponse:
    data = []
    for record in external_agents.history(rt.manager.home):
        results = _results(record.outcomes)
        data.append(
            ExternalAgentConfigImportHistory(
                import_id=record.import_id,
                completed_at_ms=record.completed_at_ms,
                provider_id=record.provider_id,
                successes=[s for r in results for s in r.successes],
                failures=[f for r in results for f in r.failures],
            )
        )
    return ExternalAgentConfigImportHistoriesReadResponse(data=data, connectors=[])


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "config/read": config_read,
    "config/value/write": config_value_write,
    "config/batchWrite": config_batch_write,
    "configRequirements/read": config_requirements_read,
    "experimentalFeature/list": experimental_feature_list,
    "experimentalFeature/enablement/set": experimental_feature_enablement_set,
    "permissionProfile/list": permission_profile_list,
    "externalAgentConfig/detect": external_agent_config_detect,
    "externalAgentConfig/import": external_agent_config_import,
    "externalAgentConfig/import/recordHistory": external_agent_config_record_history,
    "externalAgentConfig/import/readHistories": external_agent_config_read_histories,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
